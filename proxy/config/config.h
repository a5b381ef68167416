#pragma once

// The proxy's configuration as plain, immutable C++ objects. Protobuf stays at the edge
// (config_compiler.cpp turns a meshdeck::v1::ProxyConfig into a Config); workers only ever see
// a `std::shared_ptr<const Config>`, so a request keeps the config it started with while a new
// one is swapped in.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/stats.h"

namespace meshdeck::proxy {

using Duration = std::chrono::nanoseconds;

struct StringMatcher {
  enum class Kind { kAny, kExact, kPrefix, kRegex };
  Kind kind = Kind::kAny;
  std::string value;
  std::shared_ptr<const std::regex> regex;  // set when kind == kRegex
  bool matches(std::string_view s) const;
};

struct HeaderMatcher {
  std::string name;     // lower case
  StringMatcher value;  // kAny: presence only
  bool invert = false;
};

struct RouteMatch {
  StringMatcher path;  // compared with the path without query
  std::vector<std::string> methods;
  std::vector<HeaderMatcher> headers;
};

struct WeightedDestination {
  std::string cluster;
  uint32_t weight = 1;
  // Index of `cluster` in Config::cluster_slots (indexClusters() sets it once per config, so
  // that the request path finds the cluster without hashing its name); -1: not indexed.
  int32_t cluster_slot = -1;
};

// Bits of RetryConfig::retry_on.
enum RetryOn : uint32_t {
  kRetryOn5xx = 1u << 0,
  kRetryOnGatewayError = 1u << 1,  // 502, 503, 504
  kRetryOnConnectFailure = 1u << 2,
  kRetryOnReset = 1u << 3,
  // gRPC statuses (Envoy's names), retried only when they arrive in a trailers-only response.
  kRetryOnGrpcCancelled = 1u << 4,
  kRetryOnGrpcDeadlineExceeded = 1u << 5,
  kRetryOnGrpcInternal = 1u << 6,
  kRetryOnGrpcResourceExhausted = 1u << 7,
  kRetryOnGrpcUnavailable = 1u << 8,
};

struct RetryConfig {
  uint32_t attempts = 0;  // retries after the first attempt
  Duration per_try_timeout{0};
  uint32_t retry_on = 0;
  Duration base_interval = std::chrono::milliseconds(25);
  Duration max_interval = std::chrono::milliseconds(250);
  double budget_percent = 20.0;
  uint32_t min_retry_concurrency = 3;
};

struct FaultConfig {
  double delay_percent = 0;
  Duration delay{0};
  double abort_percent = 0;
  uint32_t abort_status = 0;       // with abort_grpc_status: the HTTP status it stands for
  int32_t abort_grpc_status = -1;  // 0..16: gRPC calls are aborted with it (trailers-only)
  bool enabled() const { return delay_percent > 0 || abort_percent > 0; }
};

struct MirrorConfig {
  std::string cluster;  // empty: no mirroring
  double percent = 0;
  int32_t cluster_slot = -1;  // as WeightedDestination::cluster_slot
};

struct HeaderEdits {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

struct RateLimitConfig {
  double requests_per_second = 0;  // 0: no limit
  uint32_t burst = 0;
  bool enabled() const { return requests_per_second > 0; }
};

struct RouteConfig {
  std::string name;
  RouteMatch match;
  std::vector<WeightedDestination> destinations;
  uint32_t total_weight = 0;
  Duration timeout{0};
  RetryConfig retry;
  FaultConfig fault;
  MirrorConfig mirror;
  HeaderEdits request_headers;
  HeaderEdits response_headers;
  RateLimitConfig rate_limit;
};

struct VirtualHostConfig {
  std::string name;
  std::vector<std::string> domains;  // lower case; "*" matches anything
  std::vector<RouteConfig> routes;
  RateLimitConfig rate_limit;
};

struct RouteTableConfig {
  std::string name;
  std::vector<VirtualHostConfig> virtual_hosts;
};

enum class LbPolicy { kRoundRobin, kLeastRequest, kRandom, kRingHash };

// What a cluster's endpoints speak (docs/http2.md, "Upstream HTTP/2").
enum class UpstreamProtocol { kHttp1, kHttp2, kGrpc };

struct EndpointConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string version;
  std::string proxy_id;
  std::string address() const { return host + ":" + std::to_string(port); }
  bool operator==(const EndpointConfig&) const = default;
};

struct CircuitBreakerConfig {
  uint32_t max_connections = 0;  // 0: unlimited
  uint32_t max_pending_requests = 0;
  uint32_t max_requests = 0;
  bool operator==(const CircuitBreakerConfig&) const = default;
};

struct OutlierConfig {
  uint32_t consecutive_errors = 0;  // 0: disabled
  Duration base_ejection_time = std::chrono::seconds(30);
  uint32_t max_ejection_percent = 50;
  bool operator==(const OutlierConfig&) const = default;
};

// Transport security of a listener or towards a cluster's endpoints.
enum class TlsMode {
  kPlaintext,   // plain TCP
  kStrict,      // mutual TLS 1.3 required (MUTUAL_TLS)
  kPermissive,  // inbound only: mutual TLS or plain text, told apart by the first byte
};

struct UpstreamTlsConfig {
  bool mutual = false;                           // MUTUAL_TLS towards the endpoints
  std::vector<std::string> expected_identities;  // SPIFFE ids; empty: any of the trust domain
  bool operator==(const UpstreamTlsConfig&) const = default;
};

struct ClusterConfig {
  std::string name;
  std::vector<EndpointConfig> endpoints;
  LbPolicy lb_policy = LbPolicy::kRoundRobin;
  std::string hash_header;  // lower case
  Duration connect_timeout = std::chrono::seconds(1);
  CircuitBreakerConfig circuit_breaker;
  OutlierConfig outlier;
  std::string service;
  std::string version;
  uint32_t max_idle_connections = 64;
  UpstreamTlsConfig tls;
  UpstreamProtocol protocol = UpstreamProtocol::kHttp1;
  // The sidecar hop as HTTP/2 over mutual TLS for an HTTP/1.1 cluster (Cluster.hop_http2; set
  // only with tls.mutual): its requests go as streams, except those HTTP/2 cannot carry.
  bool hop_http2 = false;
  bool http2() const { return protocol != UpstreamProtocol::kHttp1; }
  // Whether a request goes as an HTTP/2 stream: an HTTP/2 or gRPC cluster, or the HTTP/2 hop for
  // a request other than an Upgrade (WebSocket), which keeps HTTP/1.1 to the same endpoint.
  bool streamsRequest(bool upgrade) const { return http2() || (hop_http2 && !upgrade); }
  bool operator==(const ClusterConfig&) const = default;
};

enum class Direction { kInbound, kOutbound };

struct ListenerConfig {
  std::string name;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  Direction direction = Direction::kInbound;
  std::string route_table;
  uint32_t max_connections = 0;  // 0: the proxy default
  Duration header_timeout = std::chrono::seconds(10);
  Duration idle_timeout = std::chrono::seconds(60);
  // Effective mode: the listener's tls_mode, else (inbound listeners) security.inbound_mode.
  TlsMode tls_mode = TlsMode::kPlaintext;
};

struct WorkloadConfig {
  std::string service;
  std::string version;
  std::string ns = "default";
};

struct AuthorizationRuleConfig {
  std::string name;
  // Stable id of the rule in stats and telemetry: the policy it comes from and its position
  // there ("rules[0]").
  std::string policy;
  std::string rule;
  bool deny = false;
  std::vector<std::string> sources;  // exact, or prefix ending in '*'
  std::vector<std::string> methods;
  std::vector<std::string> paths;  // exact, or prefix ending in '*'
  std::vector<HeaderMatcher> headers;
  bool dry_run = false;
};

struct SecurityConfig {
  // A rule's dense index is its position here; authorization_slots names them (and the default
  // decision, the last slot) for the per-rule counters. compileConfig() sets it; a Config built
  // by hand with rules and no slots is counted by id, the slow way.
  std::vector<AuthorizationRuleConfig> authorization;
  AuthzSlotTablePtr authorization_slots;
  bool default_deny = false;
  TlsMode inbound_mode = TlsMode::kPlaintext;
  // Trust domain peers must belong to; empty: the trust domain of the proxy's own certificate.
  std::string trust_domain;
};

struct Config {
  std::vector<ListenerConfig> listeners;
  std::unordered_map<std::string, RouteTableConfig> route_tables;
  std::unordered_map<std::string, std::shared_ptr<const ClusterConfig>> clusters;
  // The clusters by dense slot (indexClusters()); destinations and mirrors name theirs by slot.
  std::vector<std::shared_ptr<const ClusterConfig>> cluster_slots;
  WorkloadConfig workload;
  SecurityConfig security;
  Duration telemetry_interval = std::chrono::seconds(1);
  // The source configuration, binary protobuf (meshdeck.v1.ProxyConfig): the admin /config
  // endpoint renders it as JSON on request (configJson()). Kept binary because the JSON printer
  // builds protobuf's descriptor pool and reflection: at every start and config push that cost
  // ~1 MB of resident code pages and CPU for an endpoint an operator reads now and then.
  std::string proto_bytes;

  // Whether some listener or cluster needs a TLS identity (certificate, key, trust bundle).
  bool needsTls() const {
    for (const auto& l : listeners)
      if (l.tls_mode != TlsMode::kPlaintext) return true;
    for (const auto& [_, c] : clusters)
      if (c->tls.mutual) return true;
    return false;
  }

  const ClusterConfig* findCluster(const std::string& name) const {
    auto it = clusters.find(name);
    return it == clusters.end() ? nullptr : it->second.get();
  }
};

using ConfigPtr = std::shared_ptr<const Config>;

// Numbers the clusters of `config` (Config::cluster_slots) and points every route destination
// and mirror at its cluster's slot (-1 for a name that is no cluster). compileConfig() calls it;
// a Config built by hand without it is served by cluster name, the slow way.
void indexClusters(Config& config);

}  // namespace meshdeck::proxy
