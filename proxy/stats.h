#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "common/latency_histogram.h"
#include "common/telemetry/counter_fields.h"
#include "common/telemetry/grpc_status.h"

namespace meshdeck::proxy {

// Per-worker statistics. Each worker owns one WorkerStats and is its only writer (plain
// integers, no atomics, no locks); readers ask every worker to copy its stats on its own
// thread and merge the copies (Proxy::collectStats), so nothing on the request path
// synchronises.

// Responses by class: index 1..5 for 1xx..5xx, 0 for requests that got no response.
using ClassCounters = std::array<uint64_t, 6>;
inline size_t statusClass(unsigned status) {
  return status >= 100 && status < 600 ? status / 100 : 0;
}

struct ListenerStats {
  // One uint64_t per entry of MESHDECK_LISTENER_COUNTERS (common/telemetry/counter_fields.h:
  // the scalar counters and gauges, their merge and their /stats families).
  MESHDECK_LISTENER_COUNTERS(MESHDECK_COUNTER_MEMBER)
  ClassCounters responses{};
  // Inbound connections refused by transport security, by reason (plaintext, protocol_version,
  // no_client_certificate, expired, self_signed, unknown_ca, wrong_trust_domain, ...).
  std::map<std::string, uint64_t> tls_refused;
  common::GrpcStatusCounts grpc_statuses{};  // downstream gRPC calls by grpc-status
  std::shared_ptr<common::LatencyHistogram> latency = std::make_shared<common::LatencyHistogram>();
  void merge(const ListenerStats& o);
};

struct RouteStats {
  uint64_t rq_total = 0;
  ClassCounters responses{};
  void merge(const RouteStats& o);
};

struct ClusterStats {
  uint64_t rq_total = 0;
  ClassCounters responses{};
  // One uint64_t per upstream event of MESHDECK_CLUSTER_EVENT_COUNTERS
  // (common/telemetry/counter_fields.h), merged and exposed from there.
  MESHDECK_CLUSTER_EVENT_COUNTERS(MESHDECK_COUNTER_MEMBER)
  // A gauge: attempts waiting in an endpoint's queue now (upstream_queue.h), summed over the
  // workers by merge(); meshdeck_cluster_pending_active in /stats.
  uint64_t rq_pending_active = 0;
  std::shared_ptr<common::LatencyHistogram> latency = std::make_shared<common::LatencyHistogram>();
  void merge(const ClusterStats& o);
};

// Authorization decisions, counted per rule. A rule is named by the policy it comes from and its
// position there; the default decision (no enforced rule matched) has policy "" and rule
// "default".
enum class AuthzAction { kAllow, kDeny, kDefault };
const char* toString(AuthzAction a);  // "ALLOW", "DENY", "DEFAULT"

struct AuthzRuleId {
  std::string policy, rule;
  AuthzAction action = AuthzAction::kDefault;
  bool dry_run = false;
  auto tie() const { return std::tie(policy, rule, action, dry_run); }
  bool operator<(const AuthzRuleId& o) const { return tie() < o.tie(); }
};

struct AuthzCounts {
  uint64_t allowed = 0;         // requests the rule let through
  uint64_t denied = 0;          // requests the rule refused (403)
  uint64_t dry_run_denied = 0;  // requests a dry-run rule would have refused
  void merge(const AuthzCounts& o) {
    allowed += o.allowed;
    denied += o.denied;
    dry_run_denied += o.dry_run_denied;
  }
};

using AuthzCounterMap = std::map<AuthzRuleId, AuthzCounts>;

// The ids of one compiled config's authorization rules by dense slot: slot i is rule i of
// SecurityConfig::authorization, the last slot the default decision. Built once per config by
// compileConfig(), so that counting a request is an index into a vector, with no string work.
using AuthzSlotTable = std::vector<AuthzRuleId>;
using AuthzSlotTablePtr = std::shared_ptr<const AuthzSlotTable>;

// Counters by slot of one slot table. Requests are counted into `counts`; when a request of
// another config comes, bind() first adds the counts so far to a cumulative map (by id), so
// totals never go down across config changes.
struct AuthzSlotCounters {
  AuthzSlotTablePtr table;
  std::vector<AuthzCounts> counts;  // counts[i]: slot i of *table

  // Makes `t` the current table with zeroed counts; the counts for the previous table are added
  // to `into` first.
  void bind(const AuthzSlotTablePtr& t, AuthzCounterMap& into);
  // Adds the counts to `into` by id, leaving them as they are.
  void addTo(AuthzCounterMap& into) const;
};

// One directed edge of the service graph as measured by this proxy (telemetry deltas).
struct EdgeId {
  std::string source_service, source_version, destination_service, destination_version, route;
  bool client_side = false;  // true: measured on an outbound listener
  uint8_t protocol = 0;      // Exchange::Protocol of the requests: 0 HTTP/1.x, 1 HTTP/2, 2 gRPC
  auto tie() const {
    return std::tie(source_service, source_version, destination_service, destination_version, route,
                    client_side, protocol);
  }
  bool operator<(const EdgeId& o) const { return tie() < o.tie(); }
};

struct EdgeDelta {
  // One uint64_t per entry of MESHDECK_EDGE_COUNTERS and MESHDECK_EDGE_PROXY_COUNTERS
  // (common/telemetry/counter_fields.h), merged and reported from there.
  MESHDECK_EDGE_COUNTERS(MESHDECK_COUNTER_MEMBER)
  MESHDECK_EDGE_PROXY_COUNTERS(MESHDECK_COUNTER_MEMBER)
  std::map<uint32_t, uint64_t> responses_by_code;
  // gRPC calls by grpc-status (an edge of protocol gRPC only; zeros elsewhere).
  common::GrpcStatusCounts grpc_statuses{};
  // Server side only: decisions of the callee's rules, by id and (for the config the worker
  // counted last) by slot. merge() adds `o`'s slots to `authz` by id.
  AuthzCounterMap authz;
  AuthzSlotCounters authz_slots;
  std::shared_ptr<common::LatencyHistogram> latency = std::make_shared<common::LatencyHistogram>();
  void merge(const EdgeDelta& o);
};

using EdgeMap = std::map<EdgeId, EdgeDelta>;

struct WorkerStats {
  std::map<std::string, ListenerStats> listeners;
  std::map<std::string, RouteStats> routes;
  std::map<std::string, ClusterStats> clusters;
  std::map<std::string, uint64_t> errors;               // by x-meshdeck-error code
  std::map<std::string, uint64_t> malformed;            // by reason
  std::map<std::string, uint64_t> malformed_responses;  // upstream responses refused, by reason
  uint64_t config_applied = 0;
  // gRPC calls whose grpc-timeout header was malformed (treated as absent, not passed on).
  uint64_t grpc_timeout_malformed = 0;
  // Authorization decisions since start: by id for earlier configs, by slot for the config
  // counted last (the request path). clone(), merge() and renderPrometheus() add the slots to
  // the ids; authzTotals() gives both together.
  AuthzCounterMap authz;
  AuthzSlotCounters authz_slots;
  AuthzCounterMap authzTotals() const;
  // The proxy's own certificate (set by Proxy::collectStats, not by workers).
  std::string tls_identity;
  int64_t tls_not_after = 0;  // seconds since the epoch; 0: no identity

  // Deep copy (histograms are copied, not shared).
  WorkerStats clone() const;
  void merge(const WorkerStats& o);
  // Prometheus text exposition format 0.0.4.
  std::string renderPrometheus() const;
};

}  // namespace meshdeck::proxy
