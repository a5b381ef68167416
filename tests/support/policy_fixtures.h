#pragma once

#include <string>

namespace meshdeck::testing {

// The canary fixture of the policy, push, history and warning tests: a DestinationPolicy named
// `destination_name` with subsets v1 and v2 of `service`, and a TrafficRoute "<service>-canary"
// sending (100 - canary_percent) % to v1 and canary_percent % to v2. 18 lines, the second
// route's subset on line 18 (tests point at it).
inline std::string canaryPolicies(const std::string& service, const std::string& destination_name,
                                  int canary_percent = 10) {
  return "apiVersion: meshdeck.io/v1alpha1\n"
         "kind: DestinationPolicy\n"
         "metadata: {name: " +
         destination_name +
         "}\n"
         "spec:\n"
         "  host: " +
         service +
         "\n"
         "  subsets:\n"
         "  - {name: v1, labels: {version: v1}}\n"
         "  - {name: v2, labels: {version: v2}}\n"
         "---\n"
         "apiVersion: meshdeck.io/v1alpha1\n"
         "kind: TrafficRoute\n"
         "metadata: {name: " +
         service +
         "-canary}\n"
         "spec:\n"
         "  host: " +
         service +
         "\n"
         "  http:\n"
         "  - route:\n"
         "    - {destination: {host: " +
         service + ", subset: v1}, weight: " + std::to_string(100 - canary_percent) +
         "}\n"
         "    - {destination: {host: " +
         service + ", subset: v2}, weight: " + std::to_string(canary_percent) + "}\n";
}

// What a Canary split form made on recommendations (before forms and scenarios shared one
// naming scheme): a DestinationPolicy and a TrafficRoute with names of their own, which the
// scenario-collision tests set aside and restore.
inline constexpr const char* kFormCanaryOnRecommendations = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: recommendations-form}
spec:
  host: recommendations
  subsets:
    - {name: v1, labels: {version: v1}}
---
apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: recommendations-form-split}
spec:
  host: recommendations
  http:
    - name: default
      route:
        - {destination: {host: recommendations, subset: v1}, weight: 100}
)";

}  // namespace meshdeck::testing
