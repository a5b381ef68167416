#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/latency_histogram.h"
#include "common/located_error.h"
#include "common/telemetry/counter_fields.h"
#include "common/telemetry/grpc_status.h"

// Plain C++ types of the ControlPlane interface. No protobuf, no Qt: the UI and the control
// plane's inside both use these; protobuf stays at the gRPC edge.
namespace meshdeck::cp {

using SystemTime = std::chrono::system_clock::time_point;

// Rates and percentiles of an edge or a node over a window.
struct WindowMetrics {
  double requests_per_second = 0;
  double success_rate = 1.0;  // share of non-5xx responses, 0..1; 1 when idle
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
  // One uint64_t per entry of MESHDECK_EDGE_COUNTERS (common/telemetry/counter_fields.h):
  // sums over the window.
  MESHDECK_EDGE_COUNTERS(MESHDECK_COUNTER_MEMBER)
  std::array<uint64_t, 5> responses_by_class{};  // [0]=1xx .. [4]=5xx
  // gRPC calls by grpc-status code (index 0 OK .. 16 UNAUTHENTICATED; all zero without gRPC
  // traffic). A gRPC call is also in responses_by_class, under the HTTP status its gRPC status
  // stands for (common/telemetry/grpc_status.h), so success_rate sees its server errors.
  common::GrpcStatusCounts grpc_statuses{};
  // Merged latency of the window; shared because it is large and immutable once published.
  std::shared_ptr<const common::LatencyHistogram> latency;
};

// Decisions of one authorization rule over a window, summed over a service's inbound proxies.
struct AuthorizationRuleStats {
  std::string policy;  // AuthorizationPolicy name; "" for the default decision
  std::string rule;    // position in the policy ("rules[0]"); "default" for the default decision
  std::string action;  // "ALLOW", "DENY", or "DEFAULT"
  bool dry_run = false;
  uint64_t allowed = 0, denied = 0, dry_run_denied = 0;
};

// A service's health as the control plane computes it (docs/health-and-metrics.md): the worst
// of its reasons; idle when it had no requests in the window and nothing else is wrong.
enum class HealthState { kIdle, kHealthy, kDegraded, kFailing };
// "idle", "healthy", "degraded", "failing" (the snapshot file's spelling); healthStateFromString
// reads it back (nullopt for any other text).
const char* toString(HealthState state);
std::optional<HealthState> healthStateFromString(const std::string& text);

struct ServiceHealth {
  HealthState state = HealthState::kIdle;
  // Why it is not healthy, worst first: "5xx 12.0% ≥ 10%", "p99 840 ms > 500 ms target",
  // "2 proxies not synced", "certificate expires in 3 h". Empty when healthy or idle.
  std::vector<std::string> reasons;
  bool operator==(const ServiceHealth&) const = default;
};

struct ServiceNode {
  std::string name;
  std::string ns = "default";
  std::vector<std::string> versions;
  std::string tier;
  uint32_t instances = 0;
  WindowMetrics inbound;  // server-side, measured by its inbound proxies
  // Authorization decisions of its inbound proxies over the window, per rule (rules seen in the
  // retained history, sorted by policy then rule).
  std::vector<AuthorizationRuleStats> authorization;
  // Computed by the control plane; unset in snapshots that do not carry it (files written
  // before it existed): clients then judge by their own thresholds.
  std::optional<ServiceHealth> health;
};

struct ServiceEdge {
  std::string source;
  std::string destination;
  WindowMetrics metrics;              // client-side
  std::vector<std::string> policies;  // "TrafficRoute/reviews-canary"
  // Requests of the window per destination version (client side): how a canary split really
  // went.
  std::map<std::string, uint64_t> requests_by_destination_version;
  // Protocols seen on the edge since the control plane started, comma-separated in the order
  // "http1", "http2", "grpc" ("" before traffic): protocolNames() of the proxies' reports.
  std::string protocol;
  bool idle() const { return metrics.requests == 0; }
};

// Protocol bits of an edge's traffic (EdgeReport::protocol, from the proxies' EdgeKey.protocol).
inline constexpr uint8_t kProtocolHttp1 = 1, kProtocolHttp2 = 2, kProtocolGrpc = 4;
// "http1,grpc" for kProtocolHttp1 | kProtocolGrpc; "" for 0.
std::string protocolNames(uint8_t bits);
// The top `max` gRPC statuses with calls, by count (ties by code): "OK=97,UNAVAILABLE=3"; ""
// without gRPC calls.
std::string grpcStatusSummary(const common::GrpcStatusCounts& counts, size_t max = 3);

enum class SyncState { kNeverSent, kSynced, kStale, kRejected, kDisconnected };
// "never-sent", "synced", "stale", "rejected", "disconnected" (the snapshot file's spelling).
const char* toString(SyncState state);

struct ProxyInfo {
  std::string proxy_id, service, version, host;
  uint32_t inbound_port = 0, admin_port = 0;
  SyncState state = SyncState::kNeverSent;
  std::string version_sent, version_acked, nack_reason;
  std::optional<SystemTime> connected_since, last_report;
};

// An immutable picture of the mesh. Published as std::shared_ptr<const GraphSnapshot>.
struct GraphSnapshot {
  SystemTime time{};
  uint64_t topology_version = 0;  // changes only when nodes or edges appear or disappear
  uint64_t policy_revision = 0;
  uint32_t window_seconds = 10;
  std::vector<ServiceNode> services;
  std::vector<ServiceEdge> edges;
  std::vector<ProxyInfo> proxies;
  std::string listen_address;  // where the control plane accepts proxies
};

// One point of an edge's history (one interval).
struct EdgeSample {
  SystemTime time{};
  double requests_per_second = 0, success_rate = 1.0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
  std::array<uint64_t, 5> responses_by_class{};
};

// What a policy means for the graph's edge badges. Computed by the control plane from the
// parsed policy (Policy::badges()), so that no client reads the policy's YAML to find out.
struct PolicyBadges {
  bool fault = false;       // a TrafficRoute injecting a fault (delay or abort) on some route
  bool canary = false;      // a TrafficRoute splitting some route over 2+ weighted destinations
  bool rate_limit = false;  // a RateLimit
  bool mtls = false;        // a PeerAuthentication asking for mTLS (any mode but DISABLE)
  bool any() const { return fault || canary || rate_limit || mtls; }
  bool operator==(const PolicyBadges&) const = default;
};

struct PolicyInfo {
  std::string kind, name, target, yaml;
  uint64_t revision = 0;
  PolicyBadges badges{};  // braces: PolicyInfo{kind, name, ...} may leave it out
};

// One directed edge of the graph, by service name.
struct EdgeRef {
  std::string source, destination;
  bool operator==(const EdgeRef&) const = default;
  bool operator<(const EdgeRef& o) const {
    return source != o.source ? source < o.source : destination < o.destination;
  }
};

// A policy that is valid but would not do what it seems to (docs/policies.md, "Warnings"): a
// route to a subset with no running instances, a weight to a version that does not exist, a
// route that an earlier one shadows. Computed by the control plane on every apply and dry run;
// never blocks the change.
struct PolicyWarning {
  common::LocatedError where;  // located in the text the user submitted, like an error
  std::vector<EdgeRef> edges;  // the edges whose traffic it changes (caller -> destination)
  bool operator==(const PolicyWarning&) const = default;
};

struct ApplyResult {
  bool ok = false;
  uint64_t revision = 0;
  std::vector<common::LocatedError> errors;
  std::string summary;
  // Set when ok (or on a dry run that would be ok): what the change would do that is probably
  // not meant. Empty when the change is refused.
  std::vector<PolicyWarning> warnings;
};

struct RevisionInfo {
  uint64_t number = 0;
  std::string author;
  SystemTime time{};
  std::string summary;
};

struct ProcessInfo {
  std::string name, service, version, role, state;
  uint32_t instance = 0, restarts = 0;
  int32_t pid = 0;
  double uptime_seconds = 0, cpu_percent = 0;
  uint64_t rss_bytes = 0;
  std::vector<uint32_t> ports;
};

// One workload certificate issued by the mesh CA (`meshdeckctl get certs`, the certificates
// panel).
struct CertificateInfo {
  std::string proxy_id;   // who asked ("controlplane" for the control plane's own TLS cert)
  std::string spiffe_id;  // spiffe://<trust-domain>/ns/<ns>/sa/<service>
  std::string issuer;     // issuer distinguished name (RFC 2253)
  std::string serial;     // serial number, upper-case hex
  SystemTime not_before;
  SystemTime not_after;
};

// One root certificate of the mesh CA.
struct CaRootInfo {
  std::string fingerprint_sha256;  // of the DER certificate, "AB:CD:..."
  std::string subject;             // RFC 2253
  SystemTime not_before;
  SystemTime not_after;
};

enum class RootRotationAction { kStatus, kBegin, kRetire };

// The mesh CA's roots and rotation state (ControlPlane::rotateRoot).
struct CaStatus {
  bool ok = false;      // false: the action was refused or failed (`message` says why)
  std::string message;  // what happened, or why not
  std::string trust_domain;
  CaRootInfo active_root;
  std::vector<CaRootInfo> retiring_roots;  // non-empty exactly while a rotation is in progress
  bool rotation_in_progress = false;
  std::vector<std::string> proxies_on_retiring_root;  // connected, newest cert from an old root
  std::vector<std::string> proxies_unknown_issuer;    // connected, no cert known since start
};

struct ActionResult {
  bool ok = false;
  std::string message;
};

// One thing that happened in the mesh, kept by the history store (docs/history.md, "Events"):
// kind "policy.apply", "proxy.connect", "push.nack", "identity.issue", ...
struct MeshEvent {
  SystemTime time{};
  std::string kind;     // dotted, most general word first
  std::string subject;  // what it happened to: a proxy id, "TrafficRoute/canary", ...
  std::string detail;   // free text
  std::string author;   // who did it, when a person did ("" otherwise)
};

// The graph over a past range, from the history store (ControlPlane::graphBetween).
struct HistoricalGraph {
  bool available = false;  // false: this control plane keeps no history (`message` says why)
  std::string message;
  SystemTime from{}, to{};          // the range asked, [from, to)
  uint32_t resolution_seconds = 0;  // 10 within the last 24 h, else 60
  // Client side, metrics over the range, by source then dest; `policies` those of the revision
  // in force at `to` that apply to the edge (when the control plane still keeps it).
  std::vector<ServiceEdge> edges;
  // Name, inbound metrics (server side) and health (on that traffic and the HealthPolicies of
  // that revision; no proxy or certificate reasons: the history keeps neither), by name.
  std::vector<ServiceNode> services;
  uint64_t policy_revision = 0;  // the revision in force at `to` (0: none recorded)
  std::string revision_author;
};

// Events of a range (ControlPlane::events).
struct EventList {
  bool available = false;  // false: this control plane keeps no history (`message` says why)
  std::string message;
  std::vector<MeshEvent> events;  // oldest first
};

// Who the control plane takes the caller for (ControlPlane::whoAmI; docs/security.md,
// "Operators and roles").
struct CallerIdentity {
  std::string identity;  // the operator's name; "plaintext" on the plaintext port; "in-process"
  std::string role;      // "viewer", "operator" or "admin"
  bool tls = false;      // authenticated by an operator certificate on the TLS port
  std::string error;     // why it could not be asked ("" when it was)
};

}  // namespace meshdeck::cp
