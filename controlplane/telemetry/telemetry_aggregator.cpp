#include "controlplane/telemetry/telemetry_aggregator.h"

#include <algorithm>
#include <functional>

#include "common/input_limits.h"

namespace meshdeck::cp {

using common::LatencyHistogram;

void SparseHistogram::merge(const SparseHistogram& other) {
  if (other.count == 0) return;
  auto add = [](uint32_t a, uint64_t b) {
    return static_cast<uint32_t>(std::min<uint64_t>(uint64_t{a} + b, UINT32_MAX));
  };
  // Common case once a slot has seen a few reports: every incoming bucket already exists, so
  // the counts are added in place without allocating.
  size_t i = 0;
  bool in_place = true;
  for (const auto& [index, n] : other.buckets) {
    while (i < buckets.size() && buckets[i].first < index) ++i;
    if (i == buckets.size() || buckets[i].first != index) {
      in_place = false;
      break;
    }
  }
  if (in_place) {
    i = 0;
    for (const auto& [index, n] : other.buckets) {
      while (buckets[i].first < index) ++i;
      buckets[i].second = add(buckets[i].second, n);
    }
  } else {
    std::vector<std::pair<uint16_t, uint32_t>> out;
    out.reserve(buckets.size() + other.buckets.size());
    size_t j = 0;
    i = 0;
    while (i < buckets.size() || j < other.buckets.size()) {
      if (j == other.buckets.size() ||
          (i < buckets.size() && buckets[i].first < other.buckets[j].first)) {
        out.push_back(buckets[i++]);
      } else if (i == buckets.size() || other.buckets[j].first < buckets[i].first) {
        out.push_back(other.buckets[j++]);
      } else {
        out.emplace_back(buckets[i].first, add(buckets[i].second, other.buckets[j].second));
        ++i;
        ++j;
      }
    }
    buckets = std::move(out);
  }
  count += other.count;
  sum += other.sum;
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  underflow += other.underflow;
  overflow += other.overflow;
}

bool SparseHistogram::consistent() const {
  uint64_t total = 0;
  for (const auto& b : buckets) total += b.second;
  return total == count && underflow + overflow <= count &&
         (count == 0 || (min <= max && min >= LatencyHistogram::kLowestTrackable &&
                         max <= LatencyHistogram::kHighestTrackable));
}

void SparseHistogram::addTo(LatencyHistogram* dense) const {
  if (count == 0 || !consistent()) return;
  for (const auto& [index, n] : buckets) dense->addToBucket(index, n);
  dense->addSummary(count, sum, min, max, underflow, overflow);
}

double SparseHistogram::percentile(double p) const {
  // LatencyHistogram::percentile() over the non-empty buckets, in index order.
  if (count == 0 || !consistent()) return 0.0;
  p = std::clamp(p, 0.0, 100.0);
  const double rank = std::max(1.0, p / 100.0 * static_cast<double>(count));
  uint64_t cumulative = 0;
  for (const auto& [index, c] : buckets) {
    if (c == 0) continue;
    if (static_cast<double>(cumulative + c) >= rank) {
      const double lower = static_cast<double>(LatencyHistogram::bucketLower(index));
      const double width = static_cast<double>(LatencyHistogram::bucketUpper(index) -
                                               LatencyHistogram::bucketLower(index));
      const double within = (rank - static_cast<double>(cumulative)) / static_cast<double>(c);
      const double value = lower + within * width;
      return std::clamp(value, static_cast<double>(min), static_cast<double>(max));
    }
    cumulative += c;
  }
  return static_cast<double>(max);
}

SparseHistogram SparseHistogram::fromDense(const LatencyHistogram& h) {
  SparseHistogram s;
  for (int i = 0; i < LatencyHistogram::kBucketCount; ++i)
    if (const uint64_t c = h.bucketCount(i))
      s.buckets.emplace_back(static_cast<uint16_t>(i),
                             static_cast<uint32_t>(std::min<uint64_t>(c, UINT32_MAX)));
  s.count = h.count();
  s.sum = h.sum();
  s.min = h.count() ? h.min() : UINT64_MAX;
  s.max = h.max();
  s.underflow = h.underflow();
  s.overflow = h.overflow();
  return s;
}

namespace {
uint32_t addSaturated(uint32_t a, uint64_t b) {
  return static_cast<uint32_t>(std::min<uint64_t>(uint64_t{a} + b, UINT32_MAX));
}
}  // namespace

void LatencyAccumulator::cover(size_t lo, size_t hi) {
  if (counts_.empty()) {
    first_ = lo;
    counts_.assign(hi - lo + 1, 0);
    return;
  }
  const size_t last = first_ + counts_.size() - 1;
  if (hi > last) {
    // Geometric growth (as push_back), but never past the layout's bucket count.
    const size_t size = hi - first_ + 1;
    if (size > counts_.capacity())
      counts_.reserve(std::min(std::max(size, 2 * counts_.capacity()),
                               static_cast<size_t>(LatencyHistogram::kBucketCount)));
    counts_.resize(size, 0);
  }
  if (lo < first_) {
    counts_.insert(counts_.begin(), first_ - lo, 0);
    first_ = lo;
  }
}

void LatencyAccumulator::mergeSummary(uint64_t count, uint64_t sum, uint64_t min, uint64_t max,
                                      uint64_t underflow, uint64_t overflow) {
  count_ += count;
  sum_ += sum;
  min_ = std::min(min_, min);
  max_ = std::max(max_, max);
  underflow_ += underflow;
  overflow_ += overflow;
}

void LatencyAccumulator::merge(const SparseHistogram& other) {
  if (other.count == 0) return;
  size_t lo = SIZE_MAX, hi = 0;
  for (const auto& [index, n] : other.buckets) {
    // Indexes come validated (common::validateProto); one outside the layout is not counted.
    if (n == 0 || index >= LatencyHistogram::kBucketCount) continue;
    lo = std::min<size_t>(lo, index);
    hi = std::max<size_t>(hi, index);
  }
  if (lo <= hi) {
    cover(lo, hi);
    for (const auto& [index, n] : other.buckets)
      if (n != 0 && index < LatencyHistogram::kBucketCount) {
        uint32_t& c = counts_[index - first_];
        c = addSaturated(c, n);
      }
  }
  mergeSummary(other.count, other.sum, other.min, other.max, other.underflow, other.overflow);
}

void LatencyAccumulator::merge(const LatencyAccumulator& other) {
  if (other.count_ == 0) return;
  if (!other.counts_.empty()) {
    cover(other.first_, other.first_ + other.counts_.size() - 1);
    uint32_t* into = counts_.data() + (other.first_ - first_);
    for (size_t i = 0; i < other.counts_.size(); ++i)
      into[i] = addSaturated(into[i], other.counts_[i]);
  }
  mergeSummary(other.count_, other.sum_, other.min_, other.max_, other.underflow_, other.overflow_);
}

SparseHistogram LatencyAccumulator::toSparse() const {
  SparseHistogram s;
  size_t non_empty = 0;
  for (uint32_t c : counts_) non_empty += c != 0;
  s.buckets.reserve(non_empty);
  for (size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i]) s.buckets.emplace_back(static_cast<uint16_t>(first_ + i), counts_[i]);
  s.count = count_;
  s.sum = sum_;
  s.min = min_;
  s.max = max_;
  s.underflow = underflow_;
  s.overflow = overflow_;
  return s;
}

bool LatencyAccumulator::consistent() const {
  uint64_t total = 0;
  for (uint32_t c : counts_) total += c;
  return total == count_ && underflow_ + overflow_ <= count_ &&
         (count_ == 0 || (min_ <= max_ && min_ >= LatencyHistogram::kLowestTrackable &&
                          max_ <= LatencyHistogram::kHighestTrackable));
}

void LatencyAccumulator::addTo(LatencyHistogram* dense) const {
  if (count_ == 0 || !consistent()) return;
  for (size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i]) dense->addToBucket(static_cast<int>(first_ + i), counts_[i]);
  dense->addSummary(count_, sum_, min_, max_, underflow_, overflow_);
}

double LatencyAccumulator::percentile(double p) const {
  // SparseHistogram::percentile() over the same non-empty buckets.
  if (count_ == 0 || !consistent()) return 0.0;
  p = std::clamp(p, 0.0, 100.0);
  const double rank = std::max(1.0, p / 100.0 * static_cast<double>(count_));
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    const uint32_t c = counts_[i];
    if (c == 0) continue;
    if (static_cast<double>(cumulative + c) >= rank) {
      const int index = static_cast<int>(first_ + i);
      const double lower = static_cast<double>(LatencyHistogram::bucketLower(index));
      const double width = static_cast<double>(LatencyHistogram::bucketUpper(index) -
                                               LatencyHistogram::bucketLower(index));
      const double within = (rank - static_cast<double>(cumulative)) / static_cast<double>(c);
      const double value = lower + within * width;
      return std::clamp(value, static_cast<double>(min_), static_cast<double>(max_));
    }
    cumulative += c;
  }
  return static_cast<double>(max_);
}

void TelemetryAggregator::Counters::add(const EdgeReport& r) {
  common::addEdgeCounters(*this, r);
  for (size_t i = 0; i < classes.size(); ++i) classes[i] += r.responses_by_class[i];
  for (size_t i = 0; i < grpc.size(); ++i) grpc[i] += r.grpc_statuses[i];
}

void TelemetryAggregator::Counters::add(const Counters& c) {
  common::addEdgeCounters(*this, c);
  for (size_t i = 0; i < classes.size(); ++i) classes[i] += c.classes[i];
  for (size_t i = 0; i < grpc.size(); ++i) grpc[i] += c.grpc[i];
}

TelemetryAggregator::TelemetryAggregator(const common::TimeSource& time, uint32_t history_seconds,
                                         uint32_t histogram_seconds)
    : time_(time),
      history_seconds_(std::max(1u, history_seconds)),
      histogram_seconds_(std::max(1u, std::min(histogram_seconds, history_seconds))) {}

int64_t TelemetryAggregator::nowSecond() const {
  return std::chrono::duration_cast<std::chrono::seconds>(time_.systemNow().time_since_epoch())
      .count();
}

TelemetryAggregator::Shard& TelemetryAggregator::shardOf(const std::string& key) const {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

TelemetryAggregator::CompactSample TelemetryAggregator::summarize(const Second& s) {
  CompactSample c;
  c.t = s.t;
  c.requests = static_cast<uint32_t>(std::min<uint64_t>(s.counters.requests, UINT32_MAX));
  for (size_t i = 0; i < c.classes.size(); ++i)
    c.classes[i] = static_cast<uint32_t>(std::min<uint64_t>(s.counters.classes[i], UINT32_MAX));
  if (s.latency.count()) {
    c.p50_ms = static_cast<float>(s.latency.percentile(50) / 1e6);
    c.p90_ms = static_cast<float>(s.latency.percentile(90) / 1e6);
    c.p99_ms = static_cast<float>(s.latency.percentile(99) / 1e6);
  }
  return c;
}

void TelemetryAggregator::expireLocked(Series& s, int64_t now) const {
  // Seconds leaving the fine window keep their summary in the history and their counts and
  // histogram in the block of their ten seconds.
  while (!s.recent.empty() && s.recent.front().t <= now - kFineSeconds) {
    Second& sec = s.recent.front();
    s.history.push_back(summarize(sec));
    const int64_t start = sec.t - ((sec.t % kFineSeconds) + kFineSeconds) % kFineSeconds;
    if (s.blocks.empty() || s.blocks.back().t != start) {
      s.blocks.push_back(Second{});
      s.blocks.back().t = start;
    }
    Second& block = s.blocks.back();
    block.counters.add(sec.counters);
    block.latency.merge(sec.latency);
    for (const auto& [v, n] : sec.by_version) {
      auto it = std::find_if(block.by_version.begin(), block.by_version.end(),
                             [&version = v](const auto& b) { return b.first == version; });
      if (it == block.by_version.end())
        block.by_version.emplace_back(v, n);
      else
        it->second += n;
    }
    s.recent.pop_front();
  }
  while (!s.blocks.empty() && s.blocks.front().t + kFineSeconds <= now - histogram_seconds_)
    s.blocks.pop_front();
  while (!s.history.empty() && s.history.front().t <= now - history_seconds_) s.history.pop_front();
}

template <typename F>
void TelemetryAggregator::forWindow(const Series& s, int64_t now, uint32_t window, F&& f) const {
  const int64_t from = now - static_cast<int64_t>(window);  // window is (from, now]
  // Windows up to kFineSeconds are exact; longer ones take a block when most of it lies in the
  // window.
  if (window > kFineSeconds)
    for (const auto& b : s.blocks)
      if (b.t + kFineSeconds / 2 > from) f(b);
  for (const auto& sec : s.recent)
    if (sec.t > from && sec.t <= now) f(sec);
}

bool TelemetryAggregator::ingest(const EdgeReport& r) {
  if (!ingestSeries(r)) return false;
  if (!r.client_side && !r.authorization.empty()) ingestAuthorization(r);
  // Authorization and local rate limits are decided by the callee's inbound proxy, so only the
  // server side counts them; the caller just sees a 403 or a 429. Attribute them to the edge
  // too, so that an edge shows why its calls were refused.
  if (!r.client_side && !r.source_service.empty() && (r.denied || r.rate_limited)) {
    EdgeReport callee;
    callee.client_side = true;
    callee.source_service = r.source_service;
    callee.destination_service = r.destination_service;
    callee.denied = r.denied;
    callee.rate_limited = r.rate_limited;
    ingestSeries(callee);
  }
  return true;
}

bool TelemetryAggregator::ingestSeries(const EdgeReport& r) {
  const int64_t now = nowSecond();
  const std::string source = r.source_service.empty() ? "(external)" : r.source_service;
  const std::string key =
      r.client_side ? "c|" + source + "|" + r.destination_service : "s||" + r.destination_service;
  Shard& shard = shardOf(key);
  std::lock_guard lock(shard.mutex);
  auto found = shard.series.find(key);
  if (found == shard.series.end()) {
    // Series are never dropped (idle ones cost their history only): the count bounds memory.
    if (series_count_.load() >= common::limits::kMaxTelemetrySeries) return false;
    ++series_count_;
    found = shard.series.emplace(key, Series{}).first;
  }
  Series& s = found->second;
  if (s.destination.empty()) {
    s.source = r.client_side ? source : "";
    s.destination = r.destination_service;
  }
  expireLocked(s, now);
  if (s.recent.empty() || s.recent.back().t != now) {
    s.recent.push_back(Second{});
    s.recent.back().t = now;
  }
  Second& sec = s.recent.back();
  if (r.requests) s.protocols |= r.protocol;
  sec.counters.add(r);
  sec.latency.merge(r.latency);
  if (r.client_side) {
    s.total.add(r);
    s.total_latency.merge(r.latency);
  }
  if (r.client_side && r.requests) {
    auto it = std::find_if(sec.by_version.begin(), sec.by_version.end(),
                           [&](const auto& v) { return v.first == r.destination_version; });
    if (it != sec.by_version.end())
      it->second += r.requests;
    else if (sec.by_version.size() < common::limits::kMaxVersionsPerEdgeSecond)
      sec.by_version.emplace_back(r.destination_version, r.requests);
  }
  return true;
}

WindowMetrics TelemetryAggregator::windowOf(const Series& s, int64_t now, uint32_t window) const {
  WindowMetrics m;
  Counters total;
  // The window's seconds are merged as runs of counts, and the dense histogram (27 KiB) is
  // filled once from the result, its percentiles read from the run: the same values as adding
  // every second into the dense histogram (LatencyAccumulator::addTo and percentile give the
  // dense ones), without a dense pass per second. A second that is not consistent is skipped, as
  // addTo skips it; if the merge saturates a bucket (over 2^32 - 1 in the window), the window is
  // added second by second into the dense histogram instead, whose buckets hold 64 bits.
  LatencyAccumulator latency;
  forWindow(s, now, window, [&](const Second& sec) {
    total.add(sec.counters);
    if (sec.latency.consistent()) latency.merge(sec.latency);
  });
  auto hist = std::make_shared<LatencyHistogram>();
  const bool merged = latency.consistent();
  if (merged)
    latency.addTo(hist.get());
  else
    forWindow(s, now, window, [&](const Second& sec) { sec.latency.addTo(hist.get()); });
  common::addEdgeCounters(m, total);
  m.requests_per_second = double(total.requests) / window;
  m.responses_by_class = total.classes;
  m.grpc_statuses = total.grpc;
  uint64_t responses = 0;
  for (auto c : total.classes) responses += c;
  m.success_rate = responses ? 1.0 - double(total.classes[4]) / double(responses) : 1.0;
  m.p50_ms = (merged ? latency.percentile(50) : hist->percentile(50)) / 1e6;
  m.p90_ms = (merged ? latency.percentile(90) : hist->percentile(90)) / 1e6;
  m.p99_ms = (merged ? latency.percentile(99) : hist->percentile(99)) / 1e6;
  m.latency = std::move(hist);
  return m;
}

std::vector<ServiceEdge> TelemetryAggregator::edges(uint32_t window_seconds) const {
  const int64_t now = nowSecond();
  const uint32_t window = std::clamp(window_seconds, 1u, histogram_seconds_);
  std::vector<ServiceEdge> out;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto& [key, s] : shard.series) {
      if (key[0] != 'c') continue;
      expireLocked(s, now);
      if (s.recent.empty() && s.blocks.empty() && s.history.empty()) continue;
      ServiceEdge e;
      e.source = s.source;
      e.destination = s.destination;
      e.metrics = windowOf(s, now, window);
      e.protocol = protocolNames(s.protocols);
      forWindow(s, now, window, [&](const Second& sec) {
        for (const auto& [v, n] : sec.by_version) e.requests_by_destination_version[v] += n;
      });
      out.push_back(std::move(e));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.source, a.destination) < std::tie(b.source, b.destination);
  });
  return out;
}

std::vector<EdgeReport> TelemetryAggregator::block(int64_t start) const {
  const int64_t now = nowSecond();
  std::vector<EdgeReport> out;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto& [key, s] : shard.series) {
      expireLocked(s, now);
      Counters total;
      LatencyAccumulator latency;
      bool any = false;
      auto take = [&](const Second& sec) {
        total.add(sec.counters);
        latency.merge(sec.latency);
        any = true;
      };
      for (const auto& b : s.blocks)
        if (b.t == start) take(b);
      for (const auto& sec : s.recent)
        if (sec.t >= start && sec.t < start + kFineSeconds) take(sec);
      if (!any) continue;
      EdgeReport r;
      r.client_side = key[0] == 'c';
      r.source_service = s.source;
      r.destination_service = s.destination;
      common::addEdgeCounters(r, total);
      r.responses_by_class = total.classes;
      r.grpc_statuses = total.grpc;
      r.latency = latency.toSparse();
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<EdgeTotals> TelemetryAggregator::totals() const {
  std::vector<EdgeTotals> out;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto& [key, s] : shard.series) {
      if (key[0] != 'c') continue;
      EdgeTotals t;
      t.source = s.source;
      t.destination = s.destination;
      t.requests = s.total.requests;
      t.responses_by_class = s.total.classes;
      t.grpc_statuses = s.total.grpc;
      t.latency = s.total_latency.toSparse();
      out.push_back(std::move(t));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.source, a.destination) < std::tie(b.source, b.destination);
  });
  return out;
}

std::map<std::string, WindowMetrics> TelemetryAggregator::nodes(uint32_t window_seconds) const {
  const int64_t now = nowSecond();
  const uint32_t window = std::clamp(window_seconds, 1u, histogram_seconds_);
  std::map<std::string, WindowMetrics> out;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto& [key, s] : shard.series) {
      if (key[0] != 's') continue;
      expireLocked(s, now);
      out[s.destination] = windowOf(s, now, window);
    }
  }
  return out;
}

void TelemetryAggregator::ingestAuthorization(const EdgeReport& r) {
  const int64_t now = nowSecond();
  std::lock_guard lock(authz_mutex_);
  for (const auto& a : r.authorization) {
    const auto key = std::make_tuple(r.destination_service, a.policy, a.rule);
    auto found = authz_.find(key);
    if (found == authz_.end()) {
      if (authz_.size() >= common::limits::kMaxAuthorizationSeries) continue;
      found = authz_.emplace(key, AuthzSeries{}).first;
    }
    AuthzSeries& s = found->second;
    s.action = a.action;
    s.dry_run = a.dry_run;
    if (s.seconds.empty() || s.seconds.back().t != now) s.seconds.push_back(AuthzSecond{now});
    AuthzSecond& sec = s.seconds.back();
    sec.allowed += a.allowed;
    sec.denied += a.denied;
    sec.dry_run_denied += a.dry_run_denied;
    while (s.seconds.front().t <= now - static_cast<int64_t>(histogram_seconds_))
      s.seconds.pop_front();
  }
}

std::map<std::string, std::vector<AuthorizationRuleStats>> TelemetryAggregator::authorization(
    uint32_t window_seconds) const {
  const int64_t now = nowSecond();
  const int64_t from =
      now - static_cast<int64_t>(std::clamp(window_seconds, 1u, histogram_seconds_));
  const int64_t kept = now - static_cast<int64_t>(histogram_seconds_);
  std::map<std::string, std::vector<AuthorizationRuleStats>> out;
  std::lock_guard lock(authz_mutex_);
  for (auto it = authz_.begin(); it != authz_.end();) {
    auto& s = it->second;
    while (!s.seconds.empty() && s.seconds.front().t <= kept) s.seconds.pop_front();
    if (s.seconds.empty()) {
      it = authz_.erase(it);
      continue;
    }
    const auto& [service, policy, rule] = it->first;
    AuthorizationRuleStats stats;
    stats.policy = policy;
    stats.rule = rule;
    stats.action = s.action;
    stats.dry_run = s.dry_run;
    for (const auto& sec : s.seconds) {
      if (sec.t <= from || sec.t > now) continue;
      stats.allowed += sec.allowed;
      stats.denied += sec.denied;
      stats.dry_run_denied += sec.dry_run_denied;
    }
    out[service].push_back(std::move(stats));
    ++it;
  }
  return out;
}

std::vector<EdgeSample> TelemetryAggregator::history(const std::string& source,
                                                     const std::string& destination,
                                                     uint32_t seconds) const {
  const int64_t now = nowSecond();
  const std::string key = "c|" + source + "|" + destination;
  Shard& shard = shardOf(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.series.find(key);
  if (it == shard.series.end()) return {};
  Series& s = it->second;
  expireLocked(s, now);
  std::vector<EdgeSample> out;
  auto emit = [&](const CompactSample& c) {
    if (c.t <= now - static_cast<int64_t>(seconds)) return;
    EdgeSample e;
    e.time = SystemTime{} + std::chrono::seconds(c.t);
    e.requests_per_second = c.requests;
    uint64_t responses = 0;
    for (size_t i = 0; i < c.classes.size(); ++i) {
      e.responses_by_class[i] = c.classes[i];
      responses += c.classes[i];
    }
    e.success_rate = responses ? 1.0 - double(c.classes[4]) / double(responses) : 1.0;
    e.p50_ms = c.p50_ms;
    e.p90_ms = c.p90_ms;
    e.p99_ms = c.p99_ms;
    out.push_back(e);
  };
  for (const auto& c : s.history) emit(c);
  for (const auto& sec : s.recent) emit(summarize(sec));
  return out;
}

size_t TelemetryAggregator::memoryBytes() const {
  size_t bytes = sizeof(*this);
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto& [key, s] : shard.series) {
      bytes += key.capacity() + sizeof(s) + s.source.capacity() + s.destination.capacity() + 64;
      for (const auto* slots : {&s.recent, &s.blocks}) {
        for (const auto& sec : *slots) {
          bytes += sizeof(sec) - sizeof(sec.latency) + sec.latency.memoryBytes();
          for (const auto& v : sec.by_version) bytes += sizeof(v) + v.first.capacity();
        }
      }
      bytes += s.history.size() * sizeof(CompactSample);
      bytes += s.total_latency.memoryBytes() - sizeof(s.total_latency);
    }
  }
  return bytes;
}

size_t TelemetryAggregator::seriesCount() const {
  size_t n = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.series.size();
  }
  return n;
}

}  // namespace meshdeck::cp
