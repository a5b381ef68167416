#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "proxy/config/config.h"

namespace meshdeck::proxy {

// What the balancer needs to know about each endpoint at pick time.
struct EndpointView {
  bool available = true;  // false while ejected by outlier detection
  uint32_t active_requests = 0;
};

// Picks an endpoint index for each request. One instance per cluster per worker: not
// thread-safe, never blocks, never allocates on pick().
class LoadBalancer {
 public:
  // `endpoint_keys` name the endpoints (host:port) and place them on the hash ring.
  LoadBalancer(LbPolicy policy, const std::vector<std::string>& endpoint_keys);

  // Returns the chosen index, or -1 when no endpoint is available. `random` is a fresh
  // uniformly distributed value per call; `hash` is the request's hash key (RING_HASH only,
  // when the request carries the header; otherwise a random endpoint is used).
  int pick(std::span<const EndpointView> endpoints, uint64_t random, const uint64_t* hash);

  static uint64_t hashKey(std::string_view key);  // FNV-1a, stable across processes
  static constexpr int kRingPointsPerEndpoint = 128;

 private:
  int pickRandomAvailable(std::span<const EndpointView> endpoints, uint64_t random) const;

  LbPolicy policy_;
  size_t next_ = 0;
  std::vector<std::pair<uint64_t, uint32_t>> ring_;  // (point, endpoint), sorted by point
};

}  // namespace meshdeck::proxy
