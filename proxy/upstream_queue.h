#pragma once

#include <boost/asio/basic_waitable_timer.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>

#include "proxy/awaitable.h"

namespace meshdeck::proxy {

struct UpstreamConnection;
class ConnectionWaiter;
class SessionHost;
class Downstream;
struct Exchange;
struct ClusterRuntime;
struct ClusterStats;
struct Attempt;

// The queue's defaults (docs/http2.md, "Fan-in to an HTTP/1.1 upstream"): at most this many
// attempts wait per endpoint and worker unless the cluster's circuit breaker sets
// max_pending_requests, and each waits at most this long (bounded by its own deadline too).
inline constexpr size_t kDefaultMaxWaiting = 8192;
inline constexpr std::chrono::seconds kQueueTimeout{5};

// The HTTP/1.1 upstream connections of one worker to one endpoint (one pool key): how many are
// open (being connected, carrying an exchange or idle in the pool), and the attempts waiting for
// one, first come first served (HAProxy's per-server `maxconn` and queue; docs/http2.md,
// "Fan-in to an HTTP/1.1 upstream"). Owned by the worker's UpstreamPool and shared with its
// connections and waiters. One thread only.
class EndpointSlots {
 public:
  EndpointSlots() = default;
  EndpointSlots(const EndpointSlots&) = delete;
  EndpointSlots& operator=(const EndpointSlots&) = delete;

  uint32_t open() const { return open_; }
  size_t waiting() const { return waiters_.size(); }
  // One more connection to the endpoint (about to be connected); SlotHold gives it back.
  void opened() { ++open_; }
  // One fewer: the first waiters the limit now leaves room for may each open one (a SlotHold is
  // granted to them).
  void closed();
  // Gives `c`, released by its exchange, to the first waiter (no new connect): true; false when
  // nobody waits (`c` is left as it was).
  bool handOver(std::unique_ptr<UpstreamConnection>& c);

 private:
  friend class ConnectionWaiter;
  uint32_t open_ = 0;
  std::list<ConnectionWaiter*> waiters_;
};

// One connection counted in EndpointSlots::open(): counted down when the hold ends, unless a
// connection took it over (attachTo(): then when that connection is destroyed).
class SlotHold {
 public:
  SlotHold() = default;
  // Takes over one count already in `endpoint_slots`'s open().
  explicit SlotHold(std::shared_ptr<EndpointSlots> endpoint_slots)
      : slots_(std::move(endpoint_slots)) {}
  ~SlotHold() { reset(); }
  SlotHold(SlotHold&& o) noexcept : slots_(std::move(o.slots_)) {}
  SlotHold& operator=(SlotHold&& o) noexcept {
    if (this != &o) {
      reset();
      slots_ = std::move(o.slots_);
    }
    return *this;
  }
  explicit operator bool() const { return slots_ != nullptr; }
  // `c` now holds the count (UpstreamConnection::endpoint_slots).
  void attachTo(UpstreamConnection& c);
  void reset();

 private:
  std::shared_ptr<EndpointSlots> slots_;
};

// An attempt waiting in an endpoint's queue for a connection released by another exchange, or
// for room under the limit to open one. Lives on the waiting coroutine's frame; leaving the
// queue (timeout, cancel(), destruction) never loses a connection or a count.
class ConnectionWaiter {
 public:
  enum class State {
    kIdle,        // not waited yet
    kWaiting,     // in the queue
    kConnection,  // a connection was handed over: `connection`
    kSlot,        // room to open one: `slot`
    kOverflow,    // the queue held `max_waiting` already: not queued
    kTimedOut,    // the deadline passed in the queue
    kCancelled,   // cancel() (the client gave the request up)
  };
  using TimePoint = std::chrono::steady_clock::time_point;

  // Waits on `endpoint_slots` for room under `limit` connections.
  ConnectionWaiter(const Executor& ex, std::shared_ptr<EndpointSlots> endpoint_slots,
                   uint32_t limit);
  ~ConnectionWaiter();
  ConnectionWaiter(const ConnectionWaiter&) = delete;
  ConnectionWaiter& operator=(const ConnectionWaiter&) = delete;

  // Joins the tail of the queue unless `max_waiting` attempts wait already, and waits until a
  // connection or a slot is granted, `deadline` passes, or cancel(). Once per waiter.
  Awaitable<State> wait(TimePoint deadline, size_t max_waiting);
  // Leaves the queue (the waiting wait() returns kCancelled); nothing once granted.
  void cancel();
  State state() const { return state_; }

  std::unique_ptr<UpstreamConnection> connection;  // kConnection
  SlotHold slot;                                   // kSlot

 private:
  friend class EndpointSlots;
  void grant(std::unique_ptr<UpstreamConnection> c);  // by EndpointSlots, already dequeued
  void leave();

  boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                    boost::asio::wait_traits<std::chrono::steady_clock>, Executor>
      timer_;
  std::shared_ptr<EndpointSlots> slots_;
  uint32_t limit_;
  State state_ = State::kIdle;
  std::list<ConnectionWaiter*>::iterator pos_;
};

// Before an HTTP/1.1 attempt to endpoint `idx` of `cluster` opens a connection (none idle was
// usable). An HTTP/2 client's stream (`queue`: Downstream::concurrentBody(), and not an attempt
// that must use a fresh connection) may open one only while the endpoint has fewer than the
// cluster's max_idle_connections open on this worker; otherwise it waits, first come first
// served, for a connection another exchange releases (`at.conn`, reused) or for room to open
// one. Every other attempt opens one at once. true: go on (`at.conn` set, or `slot` holds the
// count of the connection to open: SlotHold::attachTo() it); false: the attempt ends here (503
// UO when the queue was full or the wait ran out, counted as pending_overflow; or the client
// gave the request up: at.downstream_failed).
Awaitable<bool> admitUpstreamConnection(SessionHost& host, Downstream& downstream, Exchange& ex,
                                        ClusterRuntime& cluster, ClusterStats& cs, size_t idx,
                                        bool queue, std::chrono::steady_clock::time_point deadline,
                                        Attempt& at, SlotHold& slot);

}  // namespace meshdeck::proxy
