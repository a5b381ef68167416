#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

// The mesh's counters, declared once. Every layer that holds, merges, sends, stores, prints or
// reads a counter expands these tables instead of naming the counter again (the way Envoy
// declares ALL_*_STATS once and expands it into the struct and the scope's stat names), so a
// counter added here reaches the proxy's merge, the telemetry proto copy, the aggregator, the
// API type, the management proto copy, the snapshot JSON (written and read), the Prometheus
// text and meshdeckctl's columns. See docs/counters.md, which also says where a new counter
// must be declared besides this table (the .proto files) and where it is incremented.
//
// Plain C++ with no dependency (no Qt, no protobuf), so proxy, control plane, API, tools and
// UI all include it.
//
// Three kinds of X-macro tables. Each entry is COUNTER(member, ...metadata): `member` is the C++
// member name (the same in every struct), and for edge counters also the proto field name
// (proto accessors are `member()` / `set_member()`) and the snapshot JSON key.

// Edge counters that travel the whole way: counted per edge by the proxy (EdgeDelta), sent in
// meshdeck.v1.EdgeStats, summed per second by the control plane (EdgeReport, the aggregator's
// slots), published over a window (cp::WindowMetrics, meshdeck.v1.WindowMetrics), written to
// and read from snapshots, and shown by meshdeckctl.
//   EDGE(member, jsonCamel, column, help)
//     member     C++ member, proto field, snapshot JSON key (snake_case, as written)
//     jsonCamel  the key protobuf's JSON mapping writes (the snapshot reader accepts both)
//     column     meshdeckctl's column header (`get edges -o wide`)
//     help       one line: what is counted
#define MESHDECK_EDGE_COUNTERS(EDGE)                                                     \
  EDGE(requests, "requests", "REQUESTS", "Requests completed.")                          \
  EDGE(retries, "retries", "RETRIES", "Retries performed.")                              \
  EDGE(timeouts, "timeouts", "TIMEOUTS", "Requests that hit a timeout.")                 \
  EDGE(circuit_breaker_rejections, "circuitBreakerRejections", "CB-REJECTED",            \
       "Requests refused by a circuit breaker.")                                         \
  EDGE(rate_limited, "rateLimited", "RATE-LIMITED", "Requests refused by a rate limit.") \
  EDGE(faults_injected, "faultsInjected", "FAULTS",                                      \
       "Requests delayed or aborted by fault injection.")                                \
  EDGE(denied, "denied", "DENIED", "Requests denied by authorization.")                  \
  EDGE(mtls_requests, "mtlsRequests", "MTLS", "Requests carried over mutual TLS.")       \
  EDGE(plaintext_requests, "plaintextRequests", "PLAINTEXT", "Requests carried in plain text.")

// Edge counters the proxy counts and reports (EdgeDelta, meshdeck.v1.EdgeStats) but the control
// plane does not keep. Same entry shape as MESHDECK_EDGE_COUNTERS.
#define MESHDECK_EDGE_PROXY_COUNTERS(EDGE)                                              \
  EDGE(bytes_in, "bytesIn", "BYTES-IN", "Request body bytes received from downstream.") \
  EDGE(bytes_out, "bytesOut", "BYTES-OUT", "Response body bytes sent downstream.")

// Scalar counters and gauges of a proxy listener (proxy::ListenerStats) and how /stats exposes
// them in the Prometheus text format.
//   LISTENER(member, type, metric, label, help)
//     type    kCounter or kGauge (the Prometheus TYPE)
//     metric  the Prometheus family; "" when the value is kept and merged but not exposed.
//             Entries of one family are consecutive; the first carries the help text, the
//             others "".
//     label   the extra label that tells a family's entries apart (`kind="header"`), or ""
//     help    the family's HELP text
#define MESHDECK_LISTENER_COUNTERS(LISTENER)                                                    \
  LISTENER(cx_total, kCounter, "meshdeck_listener_connections_total", "",                       \
           "Downstream connections accepted.")                                                  \
  LISTENER(cx_active, kGauge, "meshdeck_listener_connections_active", "",                       \
           "Downstream connections open.")                                                      \
  LISTENER(cx_overflow, kCounter, "meshdeck_listener_connections_overflow_total", "",           \
           "Connections refused by the connection limit.")                                      \
  LISTENER(header_timeouts, kCounter, "meshdeck_listener_timeouts_total", "kind=\"header\"",    \
           "Downstream connections closed by a timeout.")                                       \
  LISTENER(idle_timeouts, kCounter, "meshdeck_listener_timeouts_total", "kind=\"idle\"", "")    \
  LISTENER(bytes_in, kCounter, "meshdeck_listener_body_bytes_total", "direction=\"in\"",        \
           "Body bytes received from / sent to downstream.")                                    \
  LISTENER(bytes_out, kCounter, "meshdeck_listener_body_bytes_total", "direction=\"out\"", "")  \
  LISTENER(tls_handshakes, kCounter, "meshdeck_listener_tls_handshakes_total",                  \
           "resumed=\"false\"", "Inbound TLS handshakes completed, full or resumed.")           \
  LISTENER(tls_resumed, kCounter, "meshdeck_listener_tls_handshakes_total", "resumed=\"true\"", \
           "")                                                                                  \
  LISTENER(rq_mtls, kCounter, "meshdeck_listener_requests_by_transport_total",                  \
           "transport=\"mtls\"", "Downstream requests by transport (mtls or plaintext).")       \
  LISTENER(rq_plaintext, kCounter, "meshdeck_listener_requests_by_transport_total",             \
           "transport=\"plaintext\"", "")                                                       \
  LISTENER(rq_total, kCounter, "", "", "Downstream requests (kept, not exposed).")              \
  LISTENER(h2_connections, kCounter, "meshdeck_listener_http2_connections_total", "",           \
           "Downstream connections that spoke HTTP/2.")                                         \
  LISTENER(h2_rapid_reset, kCounter, "meshdeck_listener_http2_refused_total",                   \
           "reason=\"rapid_reset\"",                                                            \
           "HTTP/2 connections, streams or header lists refused by a guard, by reason.")        \
  LISTENER(h2_continuation_flood, kCounter, "meshdeck_listener_http2_refused_total",            \
           "reason=\"continuation_flood\"", "")                                                 \
  LISTENER(h2_hpack_bomb, kCounter, "meshdeck_listener_http2_refused_total",                    \
           "reason=\"hpack_bomb\"", "")                                                         \
  LISTENER(h2_empty_frames, kCounter, "meshdeck_listener_http2_refused_total",                  \
           "reason=\"empty_frames\"", "")                                                       \
  LISTENER(h2_frame_flood, kCounter, "meshdeck_listener_http2_refused_total",                   \
           "reason=\"frame_flood\"", "")                                                        \
  LISTENER(h2_header_list_too_large, kCounter, "meshdeck_listener_http2_refused_total",         \
           "reason=\"header_list_too_large\"", "")                                              \
  LISTENER(h2_stream_limit, kCounter, "meshdeck_listener_http2_refused_total",                  \
           "reason=\"stream_limit\"", "")                                                       \
  LISTENER(h2_bad_preface, kCounter, "meshdeck_listener_http2_refused_total",                   \
           "reason=\"bad_preface\"", "")                                                        \
  LISTENER(h2_protocol_error, kCounter, "meshdeck_listener_http2_refused_total",                \
           "reason=\"protocol_error\"", "")

// Upstream events of a proxy cluster (proxy::ClusterStats), exposed as
// meshdeck_cluster_events_total{cluster="...",event="<event>"}.
//   CLUSTER(member, event)
#define MESHDECK_CLUSTER_EVENT_COUNTERS(CLUSTER)               \
  CLUSTER(cx_connect, "connect")                               \
  CLUSTER(cx_connect_fail, "connect_fail")                     \
  CLUSTER(cx_reused, "reused")                                 \
  CLUSTER(rq_reset, "reset")                                   \
  CLUSTER(rq_timeout, "timeout")                               \
  CLUSTER(rq_retry, "retry")                                   \
  CLUSTER(rq_retry_budget_exhausted, "retry_budget_exhausted") \
  CLUSTER(cb_overflow, "circuit_breaker_overflow")             \
  CLUSTER(outlier_ejections, "outlier_ejection")               \
  CLUSTER(no_healthy, "no_healthy")                            \
  CLUSTER(mirror_sent, "mirror")                               \
  CLUSTER(tls_handshakes, "tls_handshake")                     \
  CLUSTER(tls_resumed, "tls_resumed")                          \
  CLUSTER(tls_failures, "tls_failure")                         \
  CLUSTER(tls_identity_mismatch, "tls_identity_mismatch")      \
  CLUSTER(rq_pending, "pending")                               \
  CLUSTER(rq_pending_overflow, "pending_overflow")

// Declares one `uint64_t member = 0;` per entry: `MESHDECK_EDGE_COUNTERS(MESHDECK_COUNTER_MEMBER)`.
#define MESHDECK_COUNTER_MEMBER(member, ...) uint64_t member = 0;

namespace meshdeck::common {

// The metadata of one edge counter (an entry of MESHDECK_EDGE_COUNTERS or
// MESHDECK_EDGE_PROXY_COUNTERS), for code that iterates: JSON readers and writers, columns,
// tests.
struct EdgeCounterField {
  std::string_view name;       // member, proto field, snapshot JSON key
  std::string_view json_name;  // lowerCamelCase key of protobuf's JSON mapping
  std::string_view column;     // meshdeckctl column header
  std::string_view help;
};

enum class MetricType { kCounter, kGauge };
inline constexpr std::string_view metricTypeName(MetricType t) {
  return t == MetricType::kGauge ? "gauge" : "counter";
}

struct ListenerCounterField {
  std::string_view name;
  MetricType type;
  std::string_view metric;  // "" when not exposed
  std::string_view label;   // "" or `key="value"`
  std::string_view help;    // on the first entry of a family
};

struct ClusterEventField {
  std::string_view name;
  std::string_view event;
};

#define MESHDECK_EDGE_FIELD_(member, json, column, help) \
  EdgeCounterField{#member, json, column, help},
#define MESHDECK_LISTENER_FIELD_(member, type, metric, label, help) \
  ListenerCounterField{#member, MetricType::type, metric, label, help},
#define MESHDECK_CLUSTER_FIELD_(member, event) ClusterEventField{#member, event},

inline constexpr std::array kEdgeCounters{MESHDECK_EDGE_COUNTERS(MESHDECK_EDGE_FIELD_)};
inline constexpr std::array kEdgeProxyCounters{MESHDECK_EDGE_PROXY_COUNTERS(MESHDECK_EDGE_FIELD_)};
inline constexpr std::array kListenerCounters{MESHDECK_LISTENER_COUNTERS(MESHDECK_LISTENER_FIELD_)};
inline constexpr std::array kClusterEvents{
    MESHDECK_CLUSTER_EVENT_COUNTERS(MESHDECK_CLUSTER_FIELD_)};

#undef MESHDECK_EDGE_FIELD_
#undef MESHDECK_LISTENER_FIELD_
#undef MESHDECK_CLUSTER_FIELD_

// forEach*(f, objs...) calls f(field, objs.member...) for every entry of a table, in table
// order, where `field` is the entry's metadata and objs are any structs that have the table's
// members (declared with MESHDECK_COUNTER_MEMBER). With two objects it merges:
//   forEachEdgeCounter([](const auto&, uint64_t& a, uint64_t b) { a += b; }, *this, other);
// With one it reads or writes each counter by its metadata (JSON, columns, tests).
#define MESHDECK_VISIT_(member, ...) f(table[i++], objs.member...);

template <typename F, typename... T>
constexpr void forEachEdgeCounter(F&& f, T&&... objs) {
  [[maybe_unused]] const auto& table = kEdgeCounters;
  size_t i = 0;
  MESHDECK_EDGE_COUNTERS(MESHDECK_VISIT_)
}

template <typename F, typename... T>
constexpr void forEachEdgeProxyCounter(F&& f, T&&... objs) {
  [[maybe_unused]] const auto& table = kEdgeProxyCounters;
  size_t i = 0;
  MESHDECK_EDGE_PROXY_COUNTERS(MESHDECK_VISIT_)
}

template <typename F, typename... T>
constexpr void forEachListenerCounter(F&& f, T&&... objs) {
  [[maybe_unused]] const auto& table = kListenerCounters;
  size_t i = 0;
  MESHDECK_LISTENER_COUNTERS(MESHDECK_VISIT_)
}

template <typename F, typename... T>
constexpr void forEachClusterEvent(F&& f, T&&... objs) {
  [[maybe_unused]] const auto& table = kClusterEvents;
  size_t i = 0;
  MESHDECK_CLUSTER_EVENT_COUNTERS(MESHDECK_VISIT_)
}

#undef MESHDECK_VISIT_

// Adds every MESHDECK_EDGE_COUNTERS counter of `from` to `to` (any two structs with the
// table's members).
template <typename To, typename From>
constexpr void addEdgeCounters(To& to, const From& from) {
  forEachEdgeCounter([](const auto&, uint64_t& a, uint64_t b) { a += b; }, to, from);
}

}  // namespace meshdeck::common
