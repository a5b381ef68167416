// Fixtures of the mesh-health report's tests (tests/unit/controlplane/report_test.cpp and
// tests/integration/controlplane/report_test.cpp; docs/reports.md). Header only.
#pragma once

#include <cstddef>
#include <vector>

#include "controlplane/report/report.h"

namespace meshdeck::test {

// Three policies the checkup lists, one of each kind left on: a fault injected
// (TrafficRoute/reviews-delay), a service still PERMISSIVE
// (PeerAuthentication/reviews-migration), an authorization rule in dry run
// (AuthorizationPolicy/audit-reviews). Documents separated by "\n---\n".
inline constexpr const char* kLeftOnPolicies = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata:
  name: reviews-delay
spec:
  host: reviews
  http:
  - route:
    - destination:
        host: reviews
    fault:
      delay:
        percentage: 10
        fixedDelay: 300ms
---
apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata:
  name: reviews-migration
spec:
  selector:
    service: reviews
  mtls:
    mode: PERMISSIVE
---
apiVersion: meshdeck.io/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: audit-reviews
spec:
  selector:
    service: reviews
  action: DENY
  dryRun: true
  rules:
  - to:
    - operation:
        methods: [DELETE]
)";

// How many of the checkup's `items` are of `kind`.
inline size_t countChecks(const std::vector<cp::report::CheckItem>& items,
                          cp::report::CheckKind kind) {
  size_t n = 0;
  for (const auto& i : items) n += i.kind == kind;
  return n;
}

}  // namespace meshdeck::test
