#include "proxy/policy/load_balancer.h"

#include <algorithm>

namespace meshdeck::proxy {

uint64_t LoadBalancer::hashKey(std::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // FNV mixes the low bits poorly for short keys; finish with a murmur-style avalanche.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

LoadBalancer::LoadBalancer(LbPolicy policy, const std::vector<std::string>& endpoint_keys)
    : policy_(policy) {
  if (policy_ != LbPolicy::kRingHash) return;
  ring_.reserve(endpoint_keys.size() * kRingPointsPerEndpoint);
  for (uint32_t i = 0; i < endpoint_keys.size(); ++i)
    for (int p = 0; p < kRingPointsPerEndpoint; ++p)
      ring_.emplace_back(hashKey(endpoint_keys[i] + "_" + std::to_string(p)), i);
  std::sort(ring_.begin(), ring_.end());
}

int LoadBalancer::pickRandomAvailable(std::span<const EndpointView> endpoints,
                                      uint64_t random) const {
  const size_t n = endpoints.size();
  const size_t start = random % n;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (endpoints[i].available) return static_cast<int>(i);
  }
  return -1;
}

int LoadBalancer::pick(std::span<const EndpointView> endpoints, uint64_t random,
                       const uint64_t* hash) {
  const size_t n = endpoints.size();
  if (n == 0) return -1;
  switch (policy_) {
    case LbPolicy::kRoundRobin:
      for (size_t k = 0; k < n; ++k) {
        const size_t i = next_++ % n;
        if (endpoints[i].available) return static_cast<int>(i);
      }
      return -1;
    case LbPolicy::kRandom:
      return pickRandomAvailable(endpoints, random);
    case LbPolicy::kLeastRequest: {
      // Power of two choices: two random available endpoints, the less loaded wins.
      const int a = pickRandomAvailable(endpoints, random);
      if (a < 0) return -1;
      const int b = pickRandomAvailable(endpoints, random >> 32);
      if (b < 0 || a == b) return a;
      return endpoints[static_cast<size_t>(b)].active_requests <
                     endpoints[static_cast<size_t>(a)].active_requests
                 ? b
                 : a;
    }
    case LbPolicy::kRingHash: {
      if (!hash || ring_.empty()) return pickRandomAvailable(endpoints, random);
      auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(*hash, uint32_t{0}));
      // Walk clockwise past unavailable endpoints so only their keys move elsewhere.
      for (size_t k = 0; k < ring_.size(); ++k, ++it) {
        if (it == ring_.end()) it = ring_.begin();
        if (it->second < n && endpoints[it->second].available) return static_cast<int>(it->second);
      }
      return -1;
    }
  }
  return -1;
}

}  // namespace meshdeck::proxy
