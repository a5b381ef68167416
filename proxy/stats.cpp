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
  cx_total += o.cx_total;
  cx_active += o.cx_active;
  cx_overflow += o.cx_overflow;
  rq_total += o.rq_total;
  add(responses, o.responses);
  header_timeouts += o.header_timeouts;
  idle_timeouts += o.idle_timeouts;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  tls_handshakes += o.tls_handshakes;
  tls_resumed += o.tls_resumed;
  for (const auto& [k, v] : o.tls_refused) tls_refused[k] += v;
  rq_mtls += o.rq_mtls;
  rq_plaintext += o.rq_plaintext;
  latency->merge(*o.latency);
}

void RouteStats::merge(const RouteStats& o) {
  rq_total += o.rq_total;
  add(responses, o.responses);
}

void ClusterStats::merge(const ClusterStats& o) {
  rq_total += o.rq_total;
  add(responses, o.responses);
  cx_connect += o.cx_connect;
  cx_connect_fail += o.cx_connect_fail;
  cx_reused += o.cx_reused;
  rq_reset += o.rq_reset;
  rq_timeout += o.rq_timeout;
  rq_retry += o.rq_retry;
  rq_retry_budget_exhausted += o.rq_retry_budget_exhausted;
  cb_overflow += o.cb_overflow;
  outlier_ejections += o.outlier_ejections;
  no_healthy += o.no_healthy;
  mirror_sent += o.mirror_sent;
  tls_handshakes += o.tls_handshakes;
  tls_resumed += o.tls_resumed;
  tls_failures += o.tls_failures;
  tls_identity_mismatch += o.tls_identity_mismatch;
  latency->merge(*o.latency);
}

void EdgeDelta::merge(const EdgeDelta& o) {
  requests += o.requests;
  for (const auto& [code, n] : o.responses_by_code) responses_by_code[code] += n;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  retries += o.retries;
  timeouts += o.timeouts;
  circuit_breaker_rejections += o.circuit_breaker_rejections;
  rate_limited += o.rate_limited;
  faults_injected += o.faults_injected;
  denied += o.denied;
  mtls_requests += o.mtls_requests;
  plaintext_requests += o.plaintext_requests;
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

  counter("meshdeck_listener_connections_total", "Downstream connections accepted.");
  for (const auto& [n, l] : listeners)
    out += fmt::format("meshdeck_listener_connections_total{{listener=\"{}\"}} {}\n", esc(n),
                       l.cx_total);
  gauge("meshdeck_listener_connections_active", "Downstream connections open.");
  for (const auto& [n, l] : listeners)
    out += fmt::format("meshdeck_listener_connections_active{{listener=\"{}\"}} {}\n", esc(n),
                       l.cx_active);
  counter("meshdeck_listener_connections_overflow_total",
          "Connections refused by the connection limit.");
  for (const auto& [n, l] : listeners)
    out += fmt::format("meshdeck_listener_connections_overflow_total{{listener=\"{}\"}} {}\n",
                       esc(n), l.cx_overflow);
  counter("meshdeck_listener_timeouts_total", "Downstream connections closed by a timeout.");
  for (const auto& [n, l] : listeners) {
    out += fmt::format("meshdeck_listener_timeouts_total{{listener=\"{}\",kind=\"header\"}} {}\n",
                       esc(n), l.header_timeouts);
    out += fmt::format("meshdeck_listener_timeouts_total{{listener=\"{}\",kind=\"idle\"}} {}\n",
                       esc(n), l.idle_timeouts);
  }
  counter("meshdeck_listener_requests_total", "Downstream requests by response class.");
  for (const auto& [n, l] : listeners)
    for (size_t c = 0; c < l.responses.size(); ++c)
      out += fmt::format("meshdeck_listener_requests_total{{listener=\"{}\",class=\"{}\"}} {}\n",
                         esc(n), kClassNames[c], l.responses[c]);
  counter("meshdeck_listener_body_bytes_total", "Body bytes received from / sent to downstream.");
  for (const auto& [n, l] : listeners) {
    out +=
        fmt::format("meshdeck_listener_body_bytes_total{{listener=\"{}\",direction=\"in\"}} {}\n",
                    esc(n), l.bytes_in);
    out +=
        fmt::format("meshdeck_listener_body_bytes_total{{listener=\"{}\",direction=\"out\"}} {}\n",
                    esc(n), l.bytes_out);
  }
  counter("meshdeck_listener_tls_handshakes_total",
          "Inbound TLS handshakes completed, full or resumed.");
  for (const auto& [n, l] : listeners) {
    out += fmt::format(
        "meshdeck_listener_tls_handshakes_total{{listener=\"{}\",resumed=\"false\"}} {}\n", esc(n),
        l.tls_handshakes);
    out += fmt::format(
        "meshdeck_listener_tls_handshakes_total{{listener=\"{}\",resumed=\"true\"}} {}\n", esc(n),
        l.tls_resumed);
  }
  counter("meshdeck_listener_tls_refused_total",
          "Inbound connections refused by transport security, by reason.");
  for (const auto& [n, l] : listeners)
    for (const auto& [reason, v] : l.tls_refused)
      out +=
          fmt::format("meshdeck_listener_tls_refused_total{{listener=\"{}\",reason=\"{}\"}} {}\n",
                      esc(n), esc(reason), v);
  counter("meshdeck_listener_requests_by_transport_total",
          "Downstream requests by transport (mtls or plaintext).");
  for (const auto& [n, l] : listeners) {
    out += fmt::format(
        "meshdeck_listener_requests_by_transport_total{{listener=\"{}\",transport=\"mtls\"}} "
        "{}\n",
        esc(n), l.rq_mtls);
    out += fmt::format(
        "meshdeck_listener_requests_by_transport_total{{listener=\"{}\",transport=\"plaintext\"}} "
        "{}\n",
        esc(n), l.rq_plaintext);
  }
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
  for (const auto& [n, cl] : clusters) {
    const std::pair<const char*, uint64_t> events[] = {
        {"connect", cl.cx_connect},
        {"connect_fail", cl.cx_connect_fail},
        {"reused", cl.cx_reused},
        {"reset", cl.rq_reset},
        {"timeout", cl.rq_timeout},
        {"retry", cl.rq_retry},
        {"retry_budget_exhausted", cl.rq_retry_budget_exhausted},
        {"circuit_breaker_overflow", cl.cb_overflow},
        {"outlier_ejection", cl.outlier_ejections},
        {"no_healthy", cl.no_healthy},
        {"mirror", cl.mirror_sent},
        {"tls_handshake", cl.tls_handshakes},
        {"tls_resumed", cl.tls_resumed},
        {"tls_failure", cl.tls_failures},
        {"tls_identity_mismatch", cl.tls_identity_mismatch}};
    for (const auto& [event, v] : events)
      out += fmt::format("meshdeck_cluster_events_total{{cluster=\"{}\",event=\"{}\"}} {}\n",
                         esc(n), event, v);
  }
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
