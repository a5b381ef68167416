#include "controlplane/health/health.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace meshdeck::cp::health {

namespace {

void merge(HealthRules::Tolerance* out, const HealthToleranceSpec& spec) {
  if (spec.degraded) out->degraded = *spec.degraded;
  if (spec.failed) out->failed = *spec.failed;
}

void apply(HealthRules* rules, const HealthPolicySpec& spec) {
  merge(&rules->http5xx, spec.http5xx);
  merge(&rules->http4xx, spec.http4xx);
  merge(&rules->grpc, spec.grpc);
  if (spec.p99_target_ms) rules->p99_target_ms = spec.p99_target_ms;
  if (spec.proxies_not_synced) rules->proxies_not_synced = *spec.proxies_not_synced;
  if (spec.certificate_expiry) rules->certificate_expiry = *spec.certificate_expiry;
  if (spec.certificate_warning)
    rules->certificate_warning =
        std::chrono::duration_cast<std::chrono::seconds>(*spec.certificate_warning);
}

struct Finding {
  HealthState state;
  std::string text;
};

// A rate against its tolerance: failing at or above `failed`; degraded above 0 and at or above
// `degraded`.
void judgeRate(const char* what, uint64_t part, uint64_t total, const HealthRules::Tolerance& t,
               std::vector<Finding>* out) {
  if (total == 0 || part == 0) return;
  const double percent = 100.0 * double(part) / double(total);
  if (percent >= t.failed) {
    out->push_back(
        {HealthState::kFailing, fmt::format("{} {:.1f}% ≥ {:g}%", what, percent, t.failed)});
  } else if (percent >= t.degraded) {
    out->push_back({HealthState::kDegraded,
                    t.degraded > 0 ? fmt::format("{} {:.1f}% ≥ {:g}%", what, percent, t.degraded)
                                   : fmt::format("{} {:.1f}% > 0%", what, percent)});
  }
}

std::string inHours(std::chrono::seconds left) {
  if (left >= std::chrono::hours(48)) return fmt::format("{} d", left.count() / 86400);
  if (left >= std::chrono::hours(1)) return fmt::format("{} h", left.count() / 3600);
  return fmt::format("{} min", std::max<int64_t>(1, left.count() / 60));
}

}  // namespace

HealthRules rulesFor(const std::string& service,
                     const std::vector<const HealthPolicySpec*>& specs) {
  HealthRules rules;
  for (const auto* s : specs)
    if (s->service.empty()) apply(&rules, *s);
  for (const auto* s : specs)
    if (!s->service.empty() && s->service == service) apply(&rules, *s);
  return rules;
}

ServiceHealth evaluate(const HealthRules& rules, const HealthInputs& in) {
  std::vector<Finding> findings;
  uint64_t responses = 0;
  for (auto c : in.responses_by_class) responses += c;
  judgeRate("5xx", in.responses_by_class[4], responses, rules.http5xx, &findings);
  judgeRate("4xx", in.responses_by_class[3], responses, rules.http4xx, &findings);
  uint64_t calls = 0, server_errors = 0;
  for (uint32_t code = 0; code < common::kGrpcStatusCount; ++code) {
    calls += in.grpc_statuses[code];
    if (code != common::kGrpcOk && common::grpcStatusIsServerError(code))
      server_errors += in.grpc_statuses[code];
  }
  judgeRate("gRPC errors", server_errors, calls, rules.grpc, &findings);
  if (rules.p99_target_ms && in.requests > 0 && in.p99_ms > *rules.p99_target_ms)
    findings.push_back({HealthState::kDegraded, fmt::format("p99 {:.0f} ms > {:g} ms target",
                                                            in.p99_ms, *rules.p99_target_ms)});
  if (rules.proxies_not_synced) {
    const auto unsynced =
        std::count_if(in.proxy_states.begin(), in.proxy_states.end(), [](SyncState s) {
          return s == SyncState::kNeverSent || s == SyncState::kStale || s == SyncState::kRejected;
        });
    if (unsynced > 0)
      findings.push_back({HealthState::kDegraded, fmt::format("{} prox{} not synced", unsynced,
                                                              unsynced == 1 ? "y" : "ies")});
  }
  if (rules.certificate_expiry && !in.certificates.empty()) {
    // The certificates inside their warning period, the soonest expiry first.
    std::vector<SystemTime> close;
    bool expired = false;
    for (const auto& [not_before, not_after] : in.certificates) {
      if (not_after <= in.now) {
        expired = true;
        continue;
      }
      const auto warning =
          rules.certificate_warning
              ? std::chrono::duration_cast<SystemTime::duration>(*rules.certificate_warning)
              : (not_after - not_before) / 5;
      if (not_after - in.now < warning) close.push_back(not_after);
    }
    std::sort(close.begin(), close.end());
    if (expired) findings.push_back({HealthState::kFailing, "certificate expired"});
    if (!close.empty()) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(close.front() - in.now);
      findings.push_back(
          {HealthState::kDegraded, close.size() == 1
                                       ? "certificate expires in " + inHours(left)
                                       : fmt::format("{} certificates expire soon, the first in {}",
                                                     close.size(), inHours(left))});
    }
  }
  ServiceHealth h;
  h.state = in.requests > 0 ? HealthState::kHealthy : HealthState::kIdle;
  std::stable_sort(findings.begin(), findings.end(),
                   [](const Finding& a, const Finding& b) { return a.state > b.state; });
  for (const auto& f : findings) {
    h.state = std::max(h.state, f.state);
    h.reasons.push_back(f.text);
  }
  return h;
}

void computeHealth(GraphSnapshot* g, const std::vector<Policy>& policies,
                   const std::vector<CertificateInfo>& certificates, SystemTime now) {
  std::vector<const HealthPolicySpec*> specs;
  for (const auto& p : policies)
    if (const auto* h = std::get_if<HealthPolicySpec>(&p.spec)) specs.push_back(h);
  // Newest certificate per proxy.
  std::map<std::string, const CertificateInfo*> newest;
  for (const auto& c : certificates) {
    auto& slot = newest[c.proxy_id];
    if (!slot || c.not_before >= slot->not_before) slot = &c;
  }
  for (auto& node : g->services) {
    HealthInputs in;
    in.now = now;
    if (node.inbound.requests > 0) {
      in.requests = node.inbound.requests;
      in.responses_by_class = node.inbound.responses_by_class;
      in.grpc_statuses = node.inbound.grpc_statuses;
      in.p99_ms = node.inbound.p99_ms;
    } else {
      // No inbound proxy reported: judge by what the callers saw.
      common::LatencyHistogram latency;
      for (const auto& e : g->edges) {
        if (e.destination != node.name || e.metrics.requests == 0) continue;
        in.requests += e.metrics.requests;
        for (size_t i = 0; i < 5; ++i) in.responses_by_class[i] += e.metrics.responses_by_class[i];
        for (size_t i = 0; i < in.grpc_statuses.size(); ++i)
          in.grpc_statuses[i] += e.metrics.grpc_statuses[i];
        if (e.metrics.latency) latency.merge(*e.metrics.latency);
      }
      in.p99_ms = latency.percentile(99) / 1e6;
    }
    for (const auto& p : g->proxies) {
      if (p.service != node.name || p.state == SyncState::kDisconnected) continue;
      in.proxy_states.push_back(p.state);
      if (auto it = newest.find(p.proxy_id); it != newest.end())
        in.certificates.emplace_back(it->second->not_before, it->second->not_after);
    }
    node.health = evaluate(rulesFor(node.name, specs), in);
  }
}

}  // namespace meshdeck::cp::health
