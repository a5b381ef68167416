#include "proxy/upstream_queue.h"

#include <algorithm>
#include <cassert>

#include "proxy/cluster_runtime.h"
#include "proxy/exchange.h"
#include "proxy/session_host.h"
#include "proxy/upstream_attempt.h"
#include "proxy/upstream_pool.h"

namespace meshdeck::proxy {

void EndpointSlots::closed() {
  assert(open_ > 0 && "endpoint connection count underflow");
  if (open_ > 0) --open_;
  while (!waiters_.empty() && open_ < waiters_.front()->limit_) {
    ConnectionWaiter* w = waiters_.front();
    waiters_.pop_front();
    ++open_;  // the waiter's SlotHold owns this count
    w->grant(nullptr);
  }
}

bool EndpointSlots::handOver(std::unique_ptr<UpstreamConnection>& c) {
  if (waiters_.empty()) return false;
  ConnectionWaiter* w = waiters_.front();
  waiters_.pop_front();
  w->grant(std::move(c));
  return true;
}

void SlotHold::attachTo(UpstreamConnection& c) {
  assert(slots_ && !c.endpoint_slots && "a connection holds one slot");
  c.endpoint_slots = std::move(slots_);
}

void SlotHold::reset() {
  if (auto s = std::move(slots_)) s->closed();
}

ConnectionWaiter::ConnectionWaiter(const Executor& ex,
                                   std::shared_ptr<EndpointSlots> endpoint_slots, uint32_t limit)
    : timer_(ex), slots_(std::move(endpoint_slots)), limit_(limit) {}

ConnectionWaiter::~ConnectionWaiter() {
  if (state_ == State::kWaiting) leave();
}

void ConnectionWaiter::leave() {
  assert(state_ == State::kWaiting);
  slots_->waiters_.erase(pos_);
}

void ConnectionWaiter::grant(std::unique_ptr<UpstreamConnection> c) {
  assert(state_ == State::kWaiting);
  if (c) {
    connection = std::move(c);
    state_ = State::kConnection;
  } else {
    slot = SlotHold(slots_);
    state_ = State::kSlot;
  }
  timer_.cancel();
}

void ConnectionWaiter::cancel() {
  if (state_ != State::kWaiting) return;
  leave();
  state_ = State::kCancelled;
  timer_.cancel();
}

Awaitable<ConnectionWaiter::State> ConnectionWaiter::wait(TimePoint deadline, size_t max_waiting) {
  assert(state_ == State::kIdle && "a waiter waits once");
  if (slots_->waiters_.size() >= max_waiting) {
    state_ = State::kOverflow;
    co_return state_;
  }
  pos_ = slots_->waiters_.insert(slots_->waiters_.end(), this);
  state_ = State::kWaiting;
  while (state_ == State::kWaiting) {
    timer_.expires_at(deadline);
    auto [ec] = co_await timer_.async_wait(kNoThrow);
    // A cancelled wait without a grant (none is expected) waits again for the rest.
    if (state_ == State::kWaiting && (!ec || std::chrono::steady_clock::now() >= deadline)) {
      leave();
      state_ = State::kTimedOut;
    }
  }
  co_return state_;
}

Awaitable<bool> admitUpstreamConnection(SessionHost& host, Downstream& downstream, Exchange& ex,
                                        ClusterRuntime& cluster, ClusterStats& cs, size_t idx,
                                        bool queue, std::chrono::steady_clock::time_point deadline,
                                        Attempt& at, SlotHold& slot) {
  const ClusterConfig& cc = *cluster.config;
  const auto& endpoint_slots = host.pool().endpointSlots(cluster.pool_keys[idx]);
  const uint32_t limit = cc.max_idle_connections;
  if (!queue || (endpoint_slots->open() < limit && endpoint_slots->waiting() == 0)) {
    endpoint_slots->opened();
    slot = SlotHold(endpoint_slots);
    co_return true;
  }
  auto overflow = [&] {
    ++cs.rq_pending_overflow;
    ex.circuit_open = true;
    at.local_status = 503;
    at.local_code = error_code::kOverflow;
  };
  if (downstream.cancelled()) {
    at.downstream_failed = true;
    co_return false;
  }
  const size_t max_waiting = cc.circuit_breaker.max_pending_requests
                                 ? cc.circuit_breaker.max_pending_requests
                                 : kDefaultMaxWaiting;
  ConnectionWaiter waiter(host.io().get_executor(), endpoint_slots, limit);
  // The client giving the request up takes the attempt out of the queue. The hook goes with
  // the waiter, even when the coroutine frame is destroyed while it waits (shutdown).
  struct CancelHook {
    Downstream& d;
    ~CancelHook() { d.on_cancel = nullptr; }
  };
  ConnectionWaiter::State state;
  {
    const CancelHook hook{downstream};
    downstream.on_cancel = [&waiter] { waiter.cancel(); };
    ++cs.rq_pending_active;
    state = co_await waiter.wait(std::min(deadline, host.now() + kQueueTimeout), max_waiting);
    --cs.rq_pending_active;
  }
  if (state != ConnectionWaiter::State::kOverflow) ++cs.rq_pending;
  switch (state) {
    case ConnectionWaiter::State::kConnection:
      if (downstream.cancelled()) {
        // Handed over after the client left: on to the next waiter, or idle.
        host.pool().give(std::move(waiter.connection), cc.max_idle_connections, host.now());
        at.downstream_failed = true;
        co_return false;
      }
      at.conn = std::move(waiter.connection);
      at.reused = true;
      ++cs.cx_reused;
      co_return true;
    case ConnectionWaiter::State::kSlot:
      if (downstream.cancelled()) {
        at.downstream_failed = true;  // the slot goes to the next waiter
        co_return false;
      }
      slot = std::move(waiter.slot);
      co_return true;
    case ConnectionWaiter::State::kCancelled:
      at.downstream_failed = true;
      co_return false;
    case ConnectionWaiter::State::kOverflow:
    case ConnectionWaiter::State::kTimedOut:
    case ConnectionWaiter::State::kIdle:
    case ConnectionWaiter::State::kWaiting:
      break;
  }
  overflow();
  co_return false;
}

}  // namespace meshdeck::proxy
