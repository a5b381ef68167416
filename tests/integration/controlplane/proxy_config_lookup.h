// Looking into a compiled proxy config from the control-plane tests that watch pushes
// (controlplane_push_test, controlplane_incremental_discovery_test).
#pragma once

#include <string>

#include "meshdeck/v1/discovery.pb.h"

namespace meshdeck::testing {

// A fault route for reviews (abort 50 % with 503), applied over the canary to make a push.
inline constexpr const char* kReviewsFault = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: reviews-canary}
spec:
  host: reviews
  http:
  - route:
    - {destination: {host: reviews, subset: v1}}
    fault:
      abort: {percentage: 50, httpStatus: 503}
)";

inline const v1::Cluster* findCluster(const v1::ProxyConfig& c, const std::string& name) {
  for (const auto& cl : c.clusters())
    if (cl.name() == name) return &cl;
  return nullptr;
}

// The outbound virtual host `name`, or nullptr.
inline const v1::VirtualHost* findHost(const v1::ProxyConfig& c, const std::string& name) {
  for (const auto& rt : c.route_tables())
    if (rt.name() == "outbound")
      for (const auto& vh : rt.virtual_hosts())
        if (vh.name() == name) return &vh;
  return nullptr;
}

}  // namespace meshdeck::testing
