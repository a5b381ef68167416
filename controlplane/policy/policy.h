#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "controlplane/api/types.h"

// The typed form of the policy kinds (docs/policies.md). Parsed from YAML by PolicyParser,
// cross-checked by validatePolicySet() and compiled into proxy configs by ConfigCompiler.
// Plain C++: no YAML or protobuf types leak out of the parser and the compiler.
namespace meshdeck::cp {

using Nanos = std::chrono::nanoseconds;

enum class PolicyKind {
  kTrafficRoute,
  kDestinationPolicy,
  kAuthorizationPolicy,
  kPeerAuthentication,
  kRateLimit,
  kHealthPolicy
};

// The YAML's `kind` ("TrafficRoute", ...); policyKindFromString() reads it back (nullopt for any
// other text).
const char* toString(PolicyKind kind);
std::optional<PolicyKind> policyKindFromString(const std::string& name);

// Where a value came from, so that cross-reference errors found after parsing still point at
// the right line and column.
struct SourceLocation {
  std::string file;
  uint32_t line = 0, column = 0;  // 1-based; 0 when unknown
};

struct StringMatch {
  enum class Type { kExact, kPrefix, kRegex };
  Type type = Type::kExact;
  std::string value;
  bool operator==(const StringMatch&) const = default;
};

struct HeaderCondition {
  std::string name;                  // lower case
  std::optional<StringMatch> value;  // unset: presence only
  bool invert = false;
  bool operator==(const HeaderCondition&) const = default;
};

// One match condition of an HTTP route; all set parts must hold (Istio HTTPMatchRequest).
struct HttpMatch {
  std::optional<StringMatch> uri;
  std::vector<std::string> methods;      // upper case, sorted
  std::vector<HeaderCondition> headers;  // sorted by name
  SourceLocation where;
  bool invalid = false;  // had errors; kept so the route is not mistaken for a catch-all
  // Canonical text; two matches with the same key claim the same requests.
  std::string key() const;
};

struct RouteDestination {
  std::string host;
  std::string subset;  // empty: every version of host
  uint32_t weight = 100;
  SourceLocation where;
};

struct RetrySpec {
  uint32_t attempts = 0;
  std::optional<Nanos> per_try_timeout;
  std::vector<std::string> retry_on;
};

struct FaultSpec {
  std::optional<double> delay_percent;
  Nanos delay{0};
  std::optional<double> abort_percent;
  uint32_t abort_status = 0;                  // httpStatus (0: grpcStatus given instead)
  std::optional<uint32_t> abort_grpc_status;  // grpcStatus: 1..16
};

struct MirrorSpec {
  std::string host, subset;
  double percent = 100;
  SourceLocation where;
};

struct HeaderEditSpec {
  std::map<std::string, std::string> set, add;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

struct HttpRoute {
  std::string name;
  std::vector<HttpMatch> matches;  // empty: every request
  std::vector<RouteDestination> destinations;
  std::optional<Nanos> timeout;
  std::optional<RetrySpec> retries;
  std::optional<FaultSpec> fault;
  std::optional<MirrorSpec> mirror;
  HeaderEditSpec request_headers, response_headers;
  SourceLocation where;
};

// Istio VirtualService, for one destination host.
struct TrafficRouteSpec {
  std::string host;
  SourceLocation host_where;
  std::vector<HttpRoute> http;
};

struct SubsetSpec {
  std::string name, version;
  SourceLocation where;
};

enum class LoadBalancer { kDefault, kRoundRobin, kLeastRequest, kRandom, kRingHash };

// What a service's workloads speak (trafficPolicy.protocol): the protocol of the clusters of the
// host and of the callee's inbound proxy to its application. kUnset: what the service's sidecars
// declare (--app-protocol), else HTTP/1.1.
enum class Protocol { kUnset, kHttp1, kHttp2, kGrpc };

// Istio DestinationRule.
struct DestinationPolicySpec {
  std::string host;
  SourceLocation host_where;
  LoadBalancer load_balancer = LoadBalancer::kDefault;
  std::string hash_header;  // RING_HASH
  Protocol protocol = Protocol::kUnset;
  std::optional<Nanos> connect_timeout;
  uint32_t max_connections = 0, max_pending_requests = 0, max_requests = 0;
  uint32_t consecutive_errors = 0;  // 0: outlier detection off
  std::optional<Nanos> base_ejection_time;
  uint32_t max_ejection_percent = 0;  // 0: proxy default
  std::vector<SubsetSpec> subsets;
};

struct AuthorizationRuleSpec {
  std::vector<std::string> principals;                // full SPIFFE ids or prefixes ending in "*"
  std::vector<std::string> source_services;           // expanded to SPIFFE ids by the compiler
  std::vector<SourceLocation> source_services_where;  // same length as source_services
  std::vector<std::vector<std::string>> methods;      // per `to` entry
  std::vector<std::vector<std::string>> paths;        // per `to` entry (same length as methods)
  std::vector<HeaderCondition> headers;               // from `when`
};

// Istio AuthorizationPolicy.
struct AuthorizationPolicySpec {
  std::string service;  // selector.service; empty: every service
  SourceLocation service_where;
  enum class Action { kAllow, kDeny } action = Action::kAllow;
  bool dry_run = false;
  std::vector<AuthorizationRuleSpec> rules;  // ALLOW with no rules allows nothing
};

enum class MtlsMode { kUnset, kStrict, kPermissive, kDisable };

// Istio PeerAuthentication.
struct PeerAuthenticationSpec {
  std::string service;  // empty: mesh-wide
  SourceLocation service_where;
  MtlsMode mode = MtlsMode::kUnset;
};

// Local token bucket on every inbound proxy of a service (Envoy local rate limit).
struct RateLimitSpec {
  std::string service;
  SourceLocation service_where;
  double requests_per_second = 0;
  uint32_t burst = 0;
};

// Degraded and failing thresholds of one status class, in percent of responses (docs/
// health-and-metrics.md); unset: the mesh-wide HealthPolicy's, then the built-in default.
struct HealthToleranceSpec {
  std::optional<double> degraded, failed;
};

// How the control plane judges a service's health (a Kiali-like health config): one mesh-wide
// (no selector) and at most one per service.
struct HealthPolicySpec {
  std::string service;  // empty: mesh-wide
  SourceLocation service_where;
  HealthToleranceSpec http5xx, http4xx, grpc;
  std::optional<double> p99_target_ms;       // latency.p99
  std::optional<bool> proxies_not_synced;    // count unsynced proxies
  std::optional<bool> certificate_expiry;    // count expiring certificates
  std::optional<Nanos> certificate_warning;  // how close to expiry degrades
};

using PolicySpec = std::variant<TrafficRouteSpec, DestinationPolicySpec, AuthorizationPolicySpec,
                                PeerAuthenticationSpec, RateLimitSpec, HealthPolicySpec>;

// One policy document.
struct Policy {
  PolicyKind kind = PolicyKind::kTrafficRoute;
  std::string name;
  std::string yaml;      // the document, normalized (comments dropped, stable key order kept)
  SourceLocation where;  // start of the document
  PolicySpec spec;
  uint64_t changed_in = 0;  // revision that last created or changed it (set by PolicyStore)

  std::string id() const;      // "TrafficRoute/reviews-canary"
  std::string target() const;  // service acted on; "*" for mesh-wide
  // The edge badges it implies (PolicyInfo::badges): fault and canary for a TrafficRoute with a
  // fault on a route or a route over two or more destinations of weight > 0, rate_limit for a
  // RateLimit, mtls for a PeerAuthentication in any mode but DISABLE.
  PolicyBadges badges() const;
};

}  // namespace meshdeck::cp
