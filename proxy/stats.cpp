#include "proxy/stats.h"

#include <fmt/format.h>

#include <algorithm>

namespace meshdeck::proxy {
namespace {

void add(ClassCounters& a, const ClassCounters& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
}

std::shared_ptr<common::LatencyHistogram> copyOf(
    const std::shared_ptr<common::LatencyHistogram>& h) {
  return std::make_shared<common::LatencyHistogram>(*h);
}

// Label values escape backslash, quote and newline (exposition format).
std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

constexpr const char* kClassNames[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr double kBucketsSeconds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void histogram(std::string& out, const std::string& name, const std::string& labels,
               const common::LatencyHistogram& h) {
  uint64_t cumulative = 0;
  int index = 0;
  for (double le : kBucketsSeconds) {
    const auto limit_ns = static_cast<uint64_t>(le * 1e9);
    while (index < common::LatencyHistogram::kBucketCount &&
           common::LatencyHistogram::bucketUpper(index) <= limit_ns)
      cumulative += h.bucketCount(index++);
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, le, cumulative);
  }
  out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, h.count());
  out += fmt::format("{}_sum{{{}}} {}\n", name, labels, double(h.sum()) / 1e9);
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, h.count());
}

}  // namespace

void ListenerStats::merge(const ListenerStats& o) {
  common::forEachListenerCounter([](const auto&, uint64_t& a, uint64_t b) { a += b; }, *this, o);
  add(responses, o.responses);
  for (const auto& [k, v] : o.tls_refused) tls_refused[k] += v;
  for (size_t i = 0; i < grpc_statuses.size(); ++i) grpc_statuses[i] += o.grpc_statuses[i];
  latency->merge(*o.latency);
}

void RouteStats::merge(const RouteStats& o) {
  rq_total += o.rq_total;
  add(responses, o.responses);
}

void ClusterStats::merge(const ClusterStats& o) {
  rq_total += o.rq_total;
  add(responses, o.responses);
  rq_pending_active += o.rq_pending_active;
  common::forEachClusterEvent([](const auto&, uint64_t& a, uint64_t b) { a += b; }, *this, o);
  latency->merge(*o.latency);
}

void EdgeDelta::merge(const EdgeDelta& o) {
  common::addEdgeCounters(*this, o);
  common::forEachEdgeProxyCounter([](const auto&, uint64_t& a, uint64_t b) { a += b; }, *this, o);
  for (const auto& [code, n] : o.responses_by_code) responses_by_code[code] += n;
  for (size_t i = 0; i < grpc_statuses.size(); ++i) grpc_statuses[i] += o.grpc_statuses[i];
  for (const auto& [k, v] : o.authz) authz[k].merge(v);
  o.authz_slots.addTo(authz);
  latency->merge(*o.latency);
}

void AuthzSlotCounters::bind(const AuthzSlotTablePtr& t, AuthzCounterMap& into) {
  addTo(into);
  table = t;
  counts.assign(t ? t->size() : 0, AuthzCounts{});
}

void AuthzSlotCounters::addTo(AuthzCounterMap& into) const {
  if (!table) return;
  const size_t n = std::min(table->size(), counts.size());
  for (size_t i = 0; i < n; ++i) {
    const auto& c = counts[i];
    if (c.allowed || c.denied || c.dry_run_denied) into[(*table)[i]].merge(c);
  }
}

AuthzCounterMap WorkerStats::authzTotals() const {
  AuthzCounterMap all = authz;
  authz_slots.addTo(all);
  return all;
}

const char* toString(AuthzAction a) {
  switch (a) {
    case AuthzAction::kAllow:
      return "ALLOW";
    case AuthzAction::kDeny:
      return "DENY";
    case AuthzAction::kDefault:
      break;
  }
  return "DEFAULT";
}

WorkerStats WorkerStats::clone() const {
  WorkerStats c = *this;
  for (auto& [_, l] : c.listeners) l.latency = copyOf(l.latency);
  for (auto& [_, cl] : c.clusters) cl.latency = copyOf(cl.latency);
  c.authz = authzTotals();
  c.authz_slots = {};
  return c;
}

void WorkerStats::merge(const WorkerStats& o) {
  for (const auto& [k, v] : o.listeners) {
    auto [it, fresh] = listeners.try_emplace(k);
    it->second.merge(v);
  }
  for (const auto& [k, v] : o.routes) routes[k].merge(v);
  for (const auto& [k, v] : o.clusters) {
    auto [it, fresh] = clusters.try_emplace(k);
    it->second.merge(v);
  }
  for (const auto& [k, v] : o.errors) errors[k] += v;
  for (const auto& [k, v] : o.malformed) malformed[k] += v;
  for (const auto& [k, v] : o.malformed_responses) malformed_responses[k] += v;
  config_applied += o.config_applied;
  grpc_timeout_malformed += o.grpc_timeout_malformed;
  for (const auto& [k, v] : o.authz) authz[k].merge(v);
  o.authz_slots.addTo(authz);
  if (!o.tls_identity.empty()) {
    tls_identity = o.tls_identity;
    tls_not_after = o.tls_not_after;
  }
}

std::string WorkerStats::renderPrometheus() const {
  std::string out;
  out.reserve(16384);
  auto counter = [&](const char* name, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
  };
  auto gauge = [&](const char* name, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
  };

  // Scalar listener families from the table, then the ones with a structure of their own.
  std::string_view family;
  for (const auto& f : common::kListenerCounters) {
    if (f.metric.empty() || f.metric == family) continue;
    family = f.metric;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.metric, f.help, f.metric,
                       common::metricTypeName(f.type));
    for (const auto& [listener_name, l] : listeners)
      common::forEachListenerCounter(
          // The name by an init-capture: clang 14 cannot capture a structured binding.
          [&, &n = listener_name](const common::ListenerCounterField& g, uint64_t v) {
            if (g.metric != family) return;
            out += fmt::format("{}{{listener=\"{}\"{}{}}} {}\n", g.metric, esc(n),
                               g.label.empty() ? "" : ",", g.label, v);
          },
          l);
  }
  counter("meshdeck_listener_requests_total", "Downstream requests by response class.");
  for (const auto& [n, l] : listeners)
    for (size_t c = 0; c < l.responses.size(); ++c)
      out += fmt::format("meshdeck_listener_requests_total{{listener=\"{}\",class=\"{}\"}} {}\n",
                         esc(n), kClassNames[c], l.responses[c]);
  counter("meshdeck_listener_grpc_calls_total",
          "Downstream gRPC calls by grpc-status (docs/http2.md#grpc); statuses with calls only.");
  for (const auto& [n, l] : listeners)
    for (uint32_t s = 0; s < l.grpc_statuses.size(); ++s)
      if (l.grpc_statuses[s])
        out += fmt::format(
            "meshdeck_listener_grpc_calls_total{{listener=\"{}\",grpc_status=\"{}\"}} {}\n", esc(n),
            common::grpcStatusName(s), l.grpc_statuses[s]);
  counter("meshdeck_listener_tls_refused_total",
          "Inbound connections refused by transport security, by reason.");
  for (const auto& [n, l] : listeners)
    for (const auto& [reason, v] : l.tls_refused)
      out +=
          fmt::format("meshdeck_listener_tls_refused_total{{listener=\"{}\",reason=\"{}\"}} {}\n",
                      esc(n), esc(reason), v);
  out +=
      "# HELP meshdeck_listener_request_duration_seconds Downstream request latency.\n"
      "# TYPE meshdeck_listener_request_duration_seconds histogram\n";
  for (const auto& [n, l] : listeners)
    histogram(out, "meshdeck_listener_request_duration_seconds",
              fmt::format("listener=\"{}\"", esc(n)), *l.latency);

  counter("meshdeck_route_requests_total", "Requests per route by response class.");
  for (const auto& [n, r] : routes)
    for (size_t c = 0; c < r.responses.size(); ++c)
      out += fmt::format("meshdeck_route_requests_total{{route=\"{}\",class=\"{}\"}} {}\n", esc(n),
                         kClassNames[c], r.responses[c]);

  counter("meshdeck_cluster_requests_total", "Upstream attempts per cluster by response class.");
  for (const auto& [n, cl] : clusters)
    for (size_t c = 0; c < cl.responses.size(); ++c)
      out += fmt::format("meshdeck_cluster_requests_total{{cluster=\"{}\",class=\"{}\"}} {}\n",
                         esc(n), kClassNames[c], cl.responses[c]);
  counter("meshdeck_cluster_events_total", "Upstream events per cluster.");
  for (const auto& [cluster_name, cl] : clusters)
    common::forEachClusterEvent(
        [&, &n = cluster_name](const common::ClusterEventField& f, uint64_t v) {
          out += fmt::format("meshdeck_cluster_events_total{{cluster=\"{}\",event=\"{}\"}} {}\n",
                             esc(n), f.event, v);
        },
        cl);
  gauge("meshdeck_cluster_pending_active",
        "Upstream attempts waiting for an HTTP/1.1 connection to an endpoint, per cluster.");
  for (const auto& [n, cl] : clusters)
    out += fmt::format("meshdeck_cluster_pending_active{{cluster=\"{}\"}} {}\n", esc(n),
                       cl.rq_pending_active);
  out +=
      "# HELP meshdeck_cluster_upstream_duration_seconds Upstream attempt latency to response "
      "headers.\n"
      "# TYPE meshdeck_cluster_upstream_duration_seconds histogram\n";
  for (const auto& [n, cl] : clusters)
    histogram(out, "meshdeck_cluster_upstream_duration_seconds",
              fmt::format("cluster=\"{}\"", esc(n)), *cl.latency);

  counter("meshdeck_proxy_errors_total",
          "Responses generated by the proxy, by x-meshdeck-error code.");
  for (const auto& [code, v] : errors)
    out += fmt::format("meshdeck_proxy_errors_total{{code=\"{}\"}} {}\n", esc(code), v);
  counter("meshdeck_malformed_requests_total", "Requests refused as malformed, by reason.");
  for (const auto& [reason, v] : malformed)
    out += fmt::format("meshdeck_malformed_requests_total{{reason=\"{}\"}} {}\n", esc(reason), v);
  counter("meshdeck_malformed_responses_total",
          "Upstream responses refused as malformed (answered 502 UR), by reason.");
  for (const auto& [reason, v] : malformed_responses)
    out += fmt::format("meshdeck_malformed_responses_total{{reason=\"{}\"}} {}\n", esc(reason), v);
  counter("meshdeck_grpc_timeout_malformed_total",
          "gRPC calls whose grpc-timeout header was malformed (treated as absent).");
  out += fmt::format("meshdeck_grpc_timeout_malformed_total {}\n", grpc_timeout_malformed);
  counter("meshdeck_authz_requests_total",
          "Inbound authorization decisions by rule (rule \"default\": no enforced rule matched; "
          "dry_run_deny: a dry-run rule would have denied).");
  {
    // A rule whose action changed between configs is still one series.
    std::map<std::pair<std::string, std::string>, AuthzCounts> by_rule;
    for (const auto& [id, c] : authzTotals()) by_rule[{id.policy, id.rule}].merge(c);
    for (const auto& [id, c] : by_rule) {
      const std::pair<const char*, uint64_t> decisions[] = {
          {"allow", c.allowed}, {"deny", c.denied}, {"dry_run_deny", c.dry_run_denied}};
      for (const auto& [decision, v] : decisions)
        out += fmt::format(
            "meshdeck_authz_requests_total{{policy=\"{}\",rule=\"{}\",decision=\"{}\"}} {}\n",
            esc(id.first), esc(id.second), decision, v);
    }
  }
  gauge("meshdeck_tls_certificate_expiry_seconds",
        "Expiry (not after, seconds since the epoch) of the proxy's own certificate.");
  if (!tls_identity.empty())
    out += fmt::format("meshdeck_tls_certificate_expiry_seconds{{identity=\"{}\"}} {}\n",
                       esc(tls_identity), tls_not_after);
  return out;
}

}  // namespace meshdeck::proxy
