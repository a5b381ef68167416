#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/api/types.h"
#include "controlplane/policy/policy.h"

// The health model (docs/health-and-metrics.md): computed once by the control plane from a
// snapshot, the HealthPolicies in force and the issued certificates; every client reads the
// result (ServiceNode::health). Pure functions: no clock, no I/O.
namespace meshdeck::cp::health {

// The rules of one service with every default filled in.
struct HealthRules {
  struct Tolerance {
    double degraded = 0, failed = 10;  // percent; degraded 0: any rate above 0 degrades
  };
  Tolerance http5xx{0, 10}, http4xx{10, 20}, grpc{0, 10};
  std::optional<double> p99_target_ms;
  bool proxies_not_synced = true;
  bool certificate_expiry = true;
  // How close to its expiry a certificate degrades; unset: in the last 20 % of its lifetime
  // (the inspector's amber; workload certificates live 24 h and renew well before that).
  std::optional<std::chrono::seconds> certificate_warning;
};

// The rules of `service`: its own HealthPolicy's fields, then the mesh-wide one's (no
// selector), then the defaults.
HealthRules rulesFor(const std::string& service, const std::vector<const HealthPolicySpec*>& specs);

// What the health of one service is judged on.
struct HealthInputs {
  uint64_t requests = 0;
  std::array<uint64_t, 5> responses_by_class{};
  common::GrpcStatusCounts grpc_statuses{};
  double p99_ms = 0;
  std::vector<SyncState> proxy_states;  // connected proxies of the service
  // Validity (not before, not after) of the newest certificate of each of its connected proxies.
  std::vector<std::pair<SystemTime, SystemTime>> certificates;
  SystemTime now{};
};

ServiceHealth evaluate(const HealthRules& rules, const HealthInputs& in);

// Fills ServiceNode::health of every service of `snapshot` (traffic: the service's inbound
// metrics, or the sum of the edges into it when no inbound proxy reported; proxies: the
// snapshot's; certificates: the newest of each of its proxies among `certificates`).
void computeHealth(GraphSnapshot* snapshot, const std::vector<Policy>& policies,
                   const std::vector<CertificateInfo>& certificates, SystemTime now);

}  // namespace meshdeck::cp::health
