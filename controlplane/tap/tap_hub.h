#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/api/tap.h"
#include "controlplane/registry/registry.h"

namespace meshdeck::cp {

// What one proxy is asked to do for one tap (meshdeck.v1.TapSubscription).
struct ProxyTapSubscription {
  // kFirstHop: each request once, by the first mesh proxy it passes (meshdeck.v1.TAP_FIRST_HOP).
  enum class Direction { kBoth, kInbound, kOutbound, kFirstHop };
  uint64_t tap_id = 0;
  TapFilter filter;
  double events_per_second = 1;  // this proxy's share of the tap's rate
  uint32_t burst = 1;
  Direction direction = Direction::kBoth;
  bool operator==(const ProxyTapSubscription& o) const;
};

// TapHub is the control plane's half of the taps (docs/tap.md): the open taps, which proxies
// each one needs and their share of its rate (plan()), and the way back of the events
// (deliver()) into a bounded queue per tap, emptied by a delivery thread that calls each tap's
// callback with a batch every kDeliveryInterval. Plain C++ types only; the discovery and
// telemetry services convert to and from protobuf.
//
// Which proxies a tap needs: with `service`, that service's proxies (both directions); else with
// a source, the source's proxies (their outbound requests); else (a destination alone, or the
// whole mesh) every proxy, each request once by the first mesh proxy it passes: the caller's
// outbound side when the caller has a sidecar (it sees retries, the route, its own failures
// such as a connect failure), else the callee's inbound side (a caller outside the mesh). The
// tap's rate is split evenly across them.
//
// Threading: every method from any thread. The change listener (the discovery service pushing
// new tap sets) is called without the hub's lock, after open() and after a tap closes.
// Callbacks run on the delivery thread; closing a tap (releasing its token) waits for its
// running callback.
class TapHub {
 public:
  using ChangeListener = std::function<void()>;
  static constexpr size_t kQueueEvents = 4096;
  static constexpr std::chrono::milliseconds kDeliveryInterval{100};

  TapHub();
  ~TapHub();
  TapHub(const TapHub&) = delete;
  TapHub& operator=(const TapHub&) = delete;

  void setChangeListener(ChangeListener listener);
  // Opens a tap; it stays open while the token lives. The rate is clamped to
  // [1, TapFilter::kMaxTapRate] (0: the default).
  std::shared_ptr<void> open(TapFilter filter, TapCallback callback);
  // The subscriptions of each proxy in `proxies` that some tap needs (by proxy id).
  std::map<std::string, std::vector<ProxyTapSubscription>> plan(
      const std::vector<ProxyNode>& proxies) const;
  // Which direction of `node`'s requests `filter` needs, or false when none.
  static bool needs(const TapFilter& filter, const ProxyNode& node,
                    ProxyTapSubscription::Direction* direction);
  // Events and drop counts (tap id -> events) reported by a proxy. Events of taps that are no
  // longer open are counted and dropped.
  void deliver(std::vector<TapEvent> events, const std::map<uint64_t, uint64_t>& dropped);

  size_t openTaps() const;
  uint64_t eventsDelivered() const { return delivered_.load(); }
  uint64_t eventsForClosedTaps() const { return closed_tap_events_.load(); }

 private:
  struct Tap;
  void run();
  void notifyChanged();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<uint64_t, std::shared_ptr<Tap>> taps_;
  uint64_t next_id_ = 0;
  bool stopping_ = false;
  ChangeListener listener_;  // guarded by listener_mutex_
  std::mutex listener_mutex_;
  std::atomic<uint64_t> delivered_{0}, closed_tap_events_{0};
  std::thread thread_;
};

}  // namespace meshdeck::cp
