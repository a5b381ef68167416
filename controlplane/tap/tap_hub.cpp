#include "controlplane/tap/tap_hub.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace meshdeck::cp {

struct TapHub::Tap {
  uint64_t id = 0;
  TapFilter filter;
  TapCallback callback;
  std::recursive_mutex call_mutex;  // held while the callback runs; closing waits for it
  bool active = true;               // guarded by call_mutex
  // Guarded by the hub's mutex:
  std::deque<TapEvent> queue;
  uint64_t dropped = 0, reported_dropped = 0;
  bool first = true;  // the first batch goes out even when empty (the client learns the plan)
  std::atomic<uint32_t> proxies{0};
};

namespace {
// The token of an open tap: never null (ControlPlane::startTap's contract), closes it when the
// last copy goes.
struct TapToken {
  std::function<void()> close;
  ~TapToken() {
    if (close) close();
  }
};
}  // namespace

bool ProxyTapSubscription::operator==(const ProxyTapSubscription& o) const {
  const auto& a = filter;
  const auto& b = o.filter;
  return tap_id == o.tap_id && events_per_second == o.events_per_second && burst == o.burst &&
         direction == o.direction && a.service == b.service &&
         a.service_version == b.service_version && a.source_service == b.source_service &&
         a.source_version == b.source_version && a.destination_service == b.destination_service &&
         a.destination_version == b.destination_version && a.method == b.method &&
         a.path_prefix == b.path_prefix && a.authority == b.authority &&
         a.status_class == b.status_class && a.min_latency_us == b.min_latency_us &&
         a.headers == b.headers && a.redact_headers == b.redact_headers;
}

TapHub::TapHub() : thread_([this] { run(); }) {}

TapHub::~TapHub() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void TapHub::setChangeListener(ChangeListener listener) {
  std::lock_guard lock(listener_mutex_);
  listener_ = std::move(listener);
}

void TapHub::notifyChanged() {
  std::lock_guard lock(listener_mutex_);
  if (listener_) listener_();
}

std::shared_ptr<void> TapHub::open(TapFilter filter, TapCallback callback) {
  if (filter.events_per_second <= 0) filter.events_per_second = TapFilter::kDefaultRate;
  filter.events_per_second = std::clamp(filter.events_per_second, 1.0, TapFilter::kMaxTapRate);
  auto tap = std::make_shared<Tap>();
  tap->filter = std::move(filter);
  tap->callback = std::move(callback);
  {
    std::lock_guard lock(mutex_);
    tap->id = ++next_id_;
    taps_[tap->id] = tap;
  }
  spdlog::info("tap {} opened: {}", tap->id, tap->filter.describe());
  notifyChanged();
  auto token = std::make_shared<TapToken>();
  token->close = [this, tap] {
    {
      std::lock_guard call(tap->call_mutex);
      tap->active = false;
    }
    {
      std::lock_guard lock(mutex_);
      taps_.erase(tap->id);
    }
    spdlog::info("tap {} closed", tap->id);
    notifyChanged();
  };
  return token;
}

size_t TapHub::openTaps() const {
  std::lock_guard lock(mutex_);
  return taps_.size();
}

bool TapHub::needs(const TapFilter& f, const ProxyNode& node,
                   ProxyTapSubscription::Direction* direction) {
  using D = ProxyTapSubscription::Direction;
  const auto is = [&](const std::string& service, const std::string& version) {
    return node.service == service && (version.empty() || node.version == version);
  };
  if (!f.service.empty()) {
    *direction = D::kBoth;
    return is(f.service, f.service_version);
  }
  if (!f.source_service.empty()) {
    *direction = D::kOutbound;
    return is(f.source_service, f.source_version);
  }
  // A destination alone or the whole mesh: the destination's requests may fail in any caller's
  // proxy (the proxy filters the destination once the request is routed).
  *direction = D::kFirstHop;
  return true;
}

std::map<std::string, std::vector<ProxyTapSubscription>> TapHub::plan(
    const std::vector<ProxyNode>& proxies) const {
  std::map<std::string, std::vector<ProxyTapSubscription>> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, tap] : taps_) {
    std::vector<std::pair<const ProxyNode*, ProxyTapSubscription::Direction>> chosen;
    for (const auto& node : proxies) {
      ProxyTapSubscription::Direction d{};
      if (needs(tap->filter, node, &d)) chosen.emplace_back(&node, d);
    }
    tap->proxies = static_cast<uint32_t>(chosen.size());
    if (chosen.empty()) continue;
    // Each proxy gets an even share, at least one event a second.
    const double share =
        std::max(1.0, tap->filter.events_per_second / static_cast<double>(chosen.size()));
    for (const auto& [node, d] : chosen) {
      ProxyTapSubscription s;
      s.tap_id = id;
      s.filter = tap->filter;
      s.events_per_second = share;
      s.burst = static_cast<uint32_t>(std::max(1.0, std::ceil(share)));
      s.direction = d;
      out[node->proxy_id].push_back(std::move(s));
    }
  }
  return out;
}

void TapHub::deliver(std::vector<TapEvent> events, const std::map<uint64_t, uint64_t>& dropped) {
  std::lock_guard lock(mutex_);
  for (auto& e : events) {
    const auto it = taps_.find(e.tap_id);
    if (it == taps_.end()) {
      ++closed_tap_events_;
      continue;
    }
    Tap& tap = *it->second;
    if (tap.queue.size() >= kQueueEvents) {
      ++tap.dropped;
      continue;
    }
    tap.queue.push_back(std::move(e));
  }
  for (const auto& [id, n] : dropped)
    if (const auto it = taps_.find(id); it != taps_.end()) it->second->dropped += n;
}

void TapHub::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kDeliveryInterval, [&] { return stopping_; });
    if (stopping_) break;
    std::vector<std::pair<std::shared_ptr<Tap>, TapBatch>> due;
    for (auto& [id, tap] : taps_) {
      if (tap->queue.empty() && tap->dropped == tap->reported_dropped && !tap->first) continue;
      TapBatch batch;
      batch.events.assign(std::make_move_iterator(tap->queue.begin()),
                          std::make_move_iterator(tap->queue.end()));
      tap->queue.clear();
      batch.dropped = tap->dropped;
      batch.proxies = tap->proxies.load();
      tap->reported_dropped = tap->dropped;
      tap->first = false;
      due.emplace_back(tap, std::move(batch));
    }
    lock.unlock();
    for (auto& [tap, batch] : due) {
      std::lock_guard call(tap->call_mutex);
      if (!tap->active) continue;
      delivered_ += batch.events.size();
      tap->callback(batch);
    }
    lock.lock();
  }
}

}  // namespace meshdeck::cp
