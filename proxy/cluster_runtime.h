#pragma once

#include <cassert>
#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/policy/load_balancer.h"
#include "proxy/policy/outlier_detector.h"
#include "proxy/policy/retry_policy.h"
#include "proxy/stats.h"
#include "proxy/upstream_pool.h"

namespace meshdeck::proxy {

namespace h2 {
class ClientConnection;
}

// Runtime state of one cluster on one worker: balancer, outlier detector, circuit breaker
// counters, retry budget, the idle-pool key of each endpoint. Rebuilt when the cluster's config
// changes; kept (with its counters) when a config push leaves it as it was.
struct ClusterRuntime {
  explicit ClusterRuntime(std::shared_ptr<const ClusterConfig> cfg);
  std::shared_ptr<const ClusterConfig> config;
  LoadBalancer lb;
  OutlierDetector outlier;
  RetryBudget retry_budget;
  std::vector<EndpointView> endpoints;
  std::vector<std::string> pool_keys;  // poolKey() of each endpoint, made once
  // The multiplexed connections of each endpoint of an HTTP/2 or gRPC cluster on this worker
  // (proxy/http2/h2_upstream.h); closed ones are dropped when the next attempt looks.
  std::vector<std::vector<std::shared_ptr<h2::ClientConnection>>> h2_connections;
  std::shared_ptr<ClusterCounters> counters = std::make_shared<ClusterCounters>();
  uint32_t active_requests = 0;
  uint32_t pending_requests = 0;

  // This cluster's counters in `stats`, looked up by name once (entries of WorkerStats are
  // never removed, so the address stays valid).
  ClusterStats& statsIn(WorkerStats& stats) {
    if (!stats_) stats_ = &stats.clusters[config->name];
    assert(stats_ == &stats.clusters[config->name]);
    return *stats_;
  }

  // The entry of endpoint `idx`'s pool key in `pool` (this worker's), found by the key once:
  // a pool never removes an entry, so its address stays valid.
  UpstreamPoolEntry& poolEntry(UpstreamPool& pool, size_t idx) {
    if (entries_pool_ != &pool) {
      entries_pool_ = &pool;
      pool_entries_.assign(pool_keys.size(), nullptr);
    }
    auto*& e = pool_entries_[idx];
    if (!e) e = &pool.entry(pool_keys[idx]);
    return *e;
  }

 private:
  ClusterStats* stats_ = nullptr;
  const UpstreamPool* entries_pool_ = nullptr;
  std::vector<UpstreamPoolEntry*> pool_entries_;
};

}  // namespace meshdeck::proxy
