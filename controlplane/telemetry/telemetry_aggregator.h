#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/latency_histogram.h"
#include "common/telemetry/counter_fields.h"
#include "common/telemetry/grpc_status.h"
#include "controlplane/api/types.h"

namespace meshdeck::cp {

// A latency histogram of the common layout stored sparsely: only non-empty buckets, sorted by
// index. One second of one edge rarely fills more than a few dozen of the 3456 buckets.
struct SparseHistogram {
  std::vector<std::pair<uint16_t, uint32_t>> buckets;  // counts saturate at 2^32-1
  uint64_t count = 0, sum = 0, min = UINT64_MAX, max = 0, underflow = 0, overflow = 0;

  void merge(const SparseHistogram& other);
  // Merges into a dense histogram (as merging a dense copy would, without building one).
  void addTo(common::LatencyHistogram* dense) const;
  // The same value as LatencyHistogram::percentile() of a dense copy, without building one.
  double percentile(double p) const;
  static SparseHistogram fromDense(const common::LatencyHistogram& h);
  size_t memoryBytes() const { return sizeof(*this) + buckets.capacity() * sizeof(buckets[0]); }

 private:
  // Whether a dense copy would take this summary (LatencyHistogram::restoreSummary()); one
  // that would not (a bucket saturated at 2^32-1) counts as empty, as its dense copy did.
  bool consistent() const;
};

// A latency histogram that takes many merges (the aggregator's slots: one second of an edge,
// a block, the totals): the counts of every bucket from its lowest to its highest non-empty
// one, in one run of 4-byte counts, so that merging a report's sparse histogram costs the
// report's buckets and not the buckets held (a second of an edge that 100 proxies report to
// holds ~600 buckets; a report brings ~70). At most kBucketCount counts (13.5 KiB). It gives
// the values a SparseHistogram merged the same way gives (counts saturate at 2^32-1, and one
// whose counts do not add up reads as empty).
class LatencyAccumulator {
 public:
  void merge(const SparseHistogram& other);
  void merge(const LatencyAccumulator& other);
  SparseHistogram toSparse() const;
  // SparseHistogram::percentile() / addTo() of toSparse(), without building it.
  double percentile(double p) const;
  void addTo(common::LatencyHistogram* dense) const;
  uint64_t count() const { return count_; }
  // The counts add up to the count and the summary is in range (a count saturated at 2^32-1
  // breaks it); addTo() and percentile() read one that is not as empty.
  bool consistent() const;
  size_t memoryBytes() const { return sizeof(*this) + counts_.capacity() * sizeof(uint32_t); }

 private:
  // Grows the run to cover bucket indexes [lo, hi].
  void cover(size_t lo, size_t hi);
  void mergeSummary(uint64_t count, uint64_t sum, uint64_t min, uint64_t max, uint64_t underflow,
                    uint64_t overflow);
  size_t first_ = 0;              // bucket index of counts_[0]
  std::vector<uint32_t> counts_;  // buckets first_ .. first_ + size - 1
  uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0, underflow_ = 0, overflow_ = 0;
};

// The counters of one edge, as measured by one side during one report interval (the plain C++
// form of a validated meshdeck.v1.EdgeStats).
struct EdgeReport {
  std::string source_service, source_version, destination_service, destination_version, route;
  bool client_side = true;  // false: measured by the callee's inbound proxy
  MESHDECK_EDGE_COUNTERS(MESHDECK_COUNTER_MEMBER)
  std::array<uint64_t, 5> responses_by_class{};
  // Protocol of the requests: kProtocolHttp1, kProtocolHttp2 or kProtocolGrpc (0: unknown).
  uint8_t protocol = 0;
  common::GrpcStatusCounts grpc_statuses{};  // gRPC calls by grpc-status
  SparseHistogram latency;
  // Server side only: decisions per authorization rule of the callee's inbound proxy.
  std::vector<AuthorizationRuleStats> authorization;
};

// What one client-side edge measured since the control plane started (for /metrics: Prometheus
// counters must only grow). Never reset; bounded by one sparse histogram per edge.
struct EdgeTotals {
  std::string source, destination;
  uint64_t requests = 0;
  std::array<uint64_t, 5> responses_by_class{};  // [0]=1xx .. [4]=5xx
  common::GrpcStatusCounts grpc_statuses{};
  SparseHistogram latency;  // every reported request's latency, merged
};

// TelemetryAggregator merges edge reports into per-second slots of service-level edges
// (client side, keyed by source and destination service) and nodes (server side, keyed by the
// destination service), and answers window and history queries.
//
// Memory is bounded whatever the run time. Per edge and per node:
//  - the last kFineSeconds seconds with traffic, each with its sparse histogram;
//  - older seconds up to `histogram_seconds`, merged into blocks of kFineSeconds (the
//    distribution of ten seconds occupies about the same buckets as one, so this divides the
//    histogram memory by ~10; windows longer than kFineSeconds are exact to a block);
//  - one CompactSample (48 bytes) per second with traffic for `history_seconds`.
// A slot's histogram (LatencyAccumulator) holds at most one 4-byte count per layout bucket
// (3456). Seconds without traffic cost nothing.
//
// Slots are chosen by arrival time at the control plane, so proxies' clock skew does not
// matter. Thread-safe; ingest locks one of kShards shards per edge.
class TelemetryAggregator {
 public:
  static constexpr size_t kShards = 16;
  static constexpr int64_t kFineSeconds = 10;

  TelemetryAggregator(const common::TimeSource& time, uint32_t history_seconds,
                      uint32_t histogram_seconds);

  // Merges one report. A server-side report's denials and rate-limit refusals are also
  // counted on its edge (source → destination), since only the callee sees them. Returns
  // false (and merges nothing) when the report would start a new series while
  // limits::kMaxTelemetrySeries are held; new authorization rules beyond
  // kMaxAuthorizationSeries and destination versions beyond kMaxVersionsPerEdgeSecond in one
  // second are dropped.
  bool ingest(const EdgeReport& report);

  // Client-side metrics of every edge over the last `window_seconds` (capped at
  // histogram_seconds), sorted by source then destination. Edges idle in the whole history are
  // dropped.
  std::vector<ServiceEdge> edges(uint32_t window_seconds) const;
  // Server-side metrics per service over the window.
  std::map<std::string, WindowMetrics> nodes(uint32_t window_seconds) const;
  // Authorization decisions per rule of each service's inbound proxies over the window (capped
  // at histogram_seconds), keyed by service; every rule with decisions in the last
  // histogram_seconds is listed (with zeros when none fall in the window), sorted by policy then
  // rule. Memory: one 32-byte slot per rule and second with decisions.
  std::map<std::string, std::vector<AuthorizationRuleStats>> authorization(
      uint32_t window_seconds) const;
  // One sample per second with traffic over the last `seconds` of one edge, oldest first.
  std::vector<EdgeSample> history(const std::string& source, const std::string& destination,
                                  uint32_t seconds) const;
  // Every series' counters and merged histogram over the kFineSeconds block starting at
  // `start` (seconds since the epoch, a multiple of kFineSeconds), one EdgeReport per series
  // with traffic in it (client_side tells edges from services; a service's source is ""). For
  // the history store, which takes each block once it has closed; a block is held for
  // histogram_seconds.
  std::vector<EdgeReport> block(int64_t start) const;
  // Cumulative totals of every client-side edge since start, sorted by source then
  // destination. The totals only grow (monotonic counters).
  std::vector<EdgeTotals> totals() const;
  // Approximate bytes held (for the documented memory bound and the benchmark).
  size_t memoryBytes() const;
  size_t seriesCount() const;

 private:
  bool ingestSeries(const EdgeReport& report);
  struct Counters {
    MESHDECK_EDGE_COUNTERS(MESHDECK_COUNTER_MEMBER)
    std::array<uint64_t, 5> classes{};
    common::GrpcStatusCounts grpc{};
    void add(const EdgeReport& r);
    void add(const Counters& c);
  };
  struct Second {
    int64_t t = 0;
    Counters counters;
    LatencyAccumulator latency;
    std::vector<std::pair<std::string, uint64_t>> by_version;  // destination version -> requests
  };
  // Summary of one second, kept for the long history.
  struct CompactSample {
    int64_t t = 0;
    float p50_ms = 0, p90_ms = 0, p99_ms = 0;
    std::array<uint32_t, 5> classes{};
    uint32_t requests = 0;
  };
  struct Series {
    std::string source, destination;
    uint8_t protocols = 0;      // EdgeReport::protocol bits of every report with requests
    std::deque<Second> recent;  // one per second, the last kFineSeconds
    std::deque<Second> blocks;  // t = start of a kFineSeconds block, up to histogram_seconds
    std::deque<CompactSample> history;
    Counters total;                    // since start, never expired
    LatencyAccumulator total_latency;  // since start
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Series> series;  // key: side|source|destination
  };

  int64_t nowSecond() const;
  void expireLocked(Series& s, int64_t now) const;
  WindowMetrics windowOf(const Series& s, int64_t now, uint32_t window) const;
  // Calls f(second) for the slots (seconds or blocks) that fall in the window.
  template <typename F>
  void forWindow(const Series& s, int64_t now, uint32_t window, F&& f) const;
  static CompactSample summarize(const Second& s);
  Shard& shardOf(const std::string& key) const;

  struct AuthzSecond {
    int64_t t = 0;
    uint64_t allowed = 0, denied = 0, dry_run_denied = 0;
  };
  struct AuthzSeries {
    std::string action;
    bool dry_run = false;
    std::deque<AuthzSecond> seconds;  // the last histogram_seconds with decisions
  };
  void ingestAuthorization(const EdgeReport& report);

  const common::TimeSource& time_;
  const uint32_t history_seconds_, histogram_seconds_;
  mutable std::array<Shard, kShards> shards_;
  std::atomic<size_t> series_count_{0};
  mutable std::mutex authz_mutex_;
  // Key: service, policy, rule.
  mutable std::map<std::tuple<std::string, std::string, std::string>, AuthzSeries> authz_;
};

}  // namespace meshdeck::cp
