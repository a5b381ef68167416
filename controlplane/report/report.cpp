#include "controlplane/report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "controlplane/api/edge_transport.h"
#include "controlplane/health/health.h"
#include "controlplane/policy/policy_parser.h"

namespace meshdeck::cp::report {
namespace {

int64_t epochSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

SystemTime fromEpoch(int64_t s) { return SystemTime(std::chrono::seconds(s)); }

double errorRate(const WindowMetrics& m) {
  uint64_t responses = 0;
  for (auto c : m.responses_by_class) responses += c;
  return responses ? double(m.responses_by_class[4]) / double(responses) : 0.0;
}

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", share * 100.0);
  return buf;
}

std::string hoursText(std::chrono::seconds left) {
  const auto s = left.count();
  if (s < 3600) return std::to_string(std::max<int64_t>(1, s / 60)) + " min";
  if (s < 2 * 86400) return std::to_string(s / 3600) + " h";
  return std::to_string(s / 86400) + " days";
}

// The policies in force as the control plane parsed them (their normalized YAML parses again;
// one that does not is left out of the checkup rather than guessed at).
std::vector<Policy> parsed(const std::vector<PolicyInfo>& infos) {
  std::vector<Policy> out;
  for (const auto& info : infos) {
    std::vector<common::LocatedError> errors;
    auto p = parsePolicies(info.yaml, info.kind + "/" + info.name, &errors);
    if (!errors.empty()) continue;
    for (auto& one : p) out.push_back(std::move(one));
  }
  return out;
}

SeriesPoint pointOf(SystemTime t, double seconds, const WindowMetrics& m) {
  SeriesPoint p;
  p.time = t;
  p.requests = m.requests;
  p.requests_per_second = seconds > 0 ? double(m.requests) / seconds : 0;
  uint64_t responses = 0;
  for (auto c : m.responses_by_class) responses += c;
  p.error_rate = responses ? errorRate(m) : std::nan("");
  p.p99_ms = m.requests ? m.p99_ms : std::nan("");
  return p;
}

}  // namespace

const char* toString(CheckKind kind) {
  switch (kind) {
    case CheckKind::kFaultInjection:
      return "fault injection";
    case CheckKind::kPermissive:
      return "mTLS permissive";
    case CheckKind::kPlaintext:
      return "plaintext";
    case CheckKind::kCertificateExpiring:
      return "certificate";
    case CheckKind::kProxyNotSynced:
      return "proxy";
    case CheckKind::kHighRetryRate:
      return "retries";
    case CheckKind::kAuthorizationDryRun:
      return "authorization dry run";
  }
  return "?";
}

std::vector<CheckItem> checkup(const std::vector<PolicyInfo>& policies,
                               const std::vector<EdgeSection>& edges,
                               const std::vector<CertificateInfo>& certificates,
                               const GraphSnapshot& now_snapshot, SystemTime now,
                               const ReportOptions& options) {
  std::vector<CheckItem> items;
  const auto specs = parsed(policies);

  for (const auto& p : specs) {
    if (const auto* tr = std::get_if<TrafficRouteSpec>(&p.spec); tr && p.badges().fault) {
      uint64_t injected = 0;
      for (const auto& e : edges)
        if (e.destination == p.target()) injected += e.metrics.faults_injected;
      items.push_back({CheckKind::kFaultInjection, p.id(),
                       "injects a fault into requests to " + p.target() + " (" +
                           std::to_string(injected) +
                           " requests delayed or aborted in the range)"});
    }
  }
  for (const auto& p : specs) {
    const auto* pa = std::get_if<PeerAuthenticationSpec>(&p.spec);
    if (!pa) continue;
    const std::string who = pa->service.empty() ? "every service" : pa->service;
    if (pa->mode == MtlsMode::kPermissive)
      items.push_back({CheckKind::kPermissive, p.id(),
                       who + " still accepts plaintext requests (mode PERMISSIVE)"});
    else if (pa->mode == MtlsMode::kDisable)
      items.push_back(
          {CheckKind::kPermissive, p.id(), who + " has mutual TLS turned off (mode DISABLE)"});
  }
  for (const auto& e : edges) {
    if (!e.metrics.plaintext_requests) continue;
    const uint64_t carried = e.metrics.plaintext_requests + e.metrics.mtls_requests;
    items.push_back(
        {CheckKind::kPlaintext, e.source + " -> " + e.destination,
         std::to_string(e.metrics.plaintext_requests) + " of " + std::to_string(carried) +
             " requests in plain text (" +
             toString(edgeTransport(e.metrics.mtls_requests, e.metrics.plaintext_requests)) + ")"});
  }

  // The newest certificate of each proxy: an older one is kept until it expires but is no longer
  // used once renewed.
  std::map<std::string, const CertificateInfo*> newest;
  for (const auto& c : certificates) {
    auto& slot = newest[c.proxy_id];
    if (!slot || c.not_after > slot->not_after) slot = &c;
  }
  for (const auto& [proxy, c] : newest) {
    const auto life = c->not_after - c->not_before;
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(c->not_after - now);
    if (left.count() <= 0) {
      items.push_back({CheckKind::kCertificateExpiring, proxy, "certificate expired"});
    } else if (c->not_after - now <= life / 5) {
      items.push_back({CheckKind::kCertificateExpiring, proxy,
                       "certificate expires in " + hoursText(left) + " (" + c->spiffe_id + ")"});
    }
  }

  for (const auto& px : now_snapshot.proxies) {
    if (px.state != SyncState::kStale && px.state != SyncState::kRejected) continue;
    std::string detail = std::string("configuration ") + toString(px.state) + " (sent " +
                         px.version_sent + ", acknowledged " +
                         (px.version_acked.empty() ? "none" : px.version_acked) + ")";
    if (!px.nack_reason.empty()) detail += ": " + px.nack_reason;
    items.push_back({CheckKind::kProxyNotSynced, px.proxy_id, detail});
  }

  for (const auto& e : edges) {
    if (e.metrics.requests < options.retry_min_requests) continue;
    if (e.retry_rate < options.retry_rate_warning) continue;
    items.push_back({CheckKind::kHighRetryRate, e.source + " -> " + e.destination,
                     std::to_string(e.metrics.retries) + " retries for " +
                         std::to_string(e.metrics.requests) + " requests (" +
                         percent(e.retry_rate) + ")"});
  }

  for (const auto& p : specs) {
    const auto* az = std::get_if<AuthorizationPolicySpec>(&p.spec);
    if (!az || !az->dry_run) continue;
    uint64_t would_deny = 0;
    for (const auto& s : now_snapshot.services)
      for (const auto& r : s.authorization)
        if (r.policy == p.name) would_deny += r.dry_run_denied;
    items.push_back({CheckKind::kAuthorizationDryRun, p.id(),
                     "in dry run on " + (az->service.empty() ? "every service" : az->service) +
                         ": logged, not enforced (" + std::to_string(would_deny) +
                         " requests it would deny in the last window)"});
  }
  return items;
}

MeshReport buildReport(ControlPlane& cp, SystemTime from, SystemTime to, SystemTime now,
                       const ReportOptions& options) {
  MeshReport r;
  r.source = options.source;
  r.from = from, r.to = to, r.generated = now;

  const HistoricalGraph whole = cp.graphBetween(from, to);
  r.available = whole.available;
  r.message = whole.message;
  r.resolution_seconds = whole.resolution_seconds;
  r.policy_revision = whole.policy_revision;
  r.revision_author = whole.revision_author;

  // Summary, edges and the mesh's merged latency.
  const double range_seconds = std::max(0.0, std::chrono::duration<double>(to - from).count());
  common::LatencyHistogram mesh_latency;
  uint64_t responses = 0, errors = 0;
  std::map<std::pair<std::string, std::string>, size_t> edge_index;
  for (const auto& e : whole.edges) {
    if (e.metrics.requests == 0) continue;
    EdgeSection s;
    s.source = e.source;
    s.destination = e.destination;
    s.metrics = e.metrics;
    s.error_rate = errorRate(e.metrics);
    s.retry_rate = double(e.metrics.retries) / double(e.metrics.requests);
    r.requests += e.metrics.requests;
    for (auto c : e.metrics.responses_by_class) responses += c;
    errors += e.metrics.responses_by_class[4];
    if (e.metrics.latency) mesh_latency.merge(*e.metrics.latency);
    edge_index[{s.source, s.destination}] = r.edges.size();
    r.edges.push_back(std::move(s));
  }
  r.requests_per_second = range_seconds > 0 ? double(r.requests) / range_seconds : 0;
  r.error_rate = responses ? double(errors) / double(responses) : 0;
  r.p99_ms = mesh_latency.count() ? mesh_latency.percentile(99) / 1e6 : 0;

  // Series: steps of whole buckets on the history's grid, so that each step is exact.
  if (r.available && to > from) {
    const int64_t res =
        std::max<int64_t>(whole.resolution_seconds ? whole.resolution_seconds : 10, 1);
    const int64_t a = epochSeconds(from) / res * res;
    const int64_t b = epochSeconds(to);
    const int64_t span = std::max<int64_t>(b - a, res);
    const int64_t points = int64_t(std::max<size_t>(options.max_points, 1));
    int64_t step = (span + points - 1) / points;
    step = (step + res - 1) / res * res;
    r.step_seconds = uint32_t(step);
    for (auto& e : r.edges) e.series.clear();
    // The history gets a 10 s bucket a second after it ends: a step ending later than that has
    // no data yet, not no traffic.
    const int64_t written = epochSeconds(now) - 12;
    for (int64_t t = a; t < b && std::min(t + step, b) <= std::max(written, a + step); t += step) {
      const int64_t end = std::min(t + step, b);
      const auto g = cp.graphBetween(fromEpoch(t), fromEpoch(end));
      const double seconds = double(end - t);
      WindowMetrics total;
      common::LatencyHistogram latency;
      std::map<size_t, const ServiceEdge*> seen;
      for (const auto& e : g.edges) {
        const auto it = edge_index.find({e.source, e.destination});
        if (it != edge_index.end()) seen[it->second] = &e;
        total.requests += e.metrics.requests;
        for (size_t i = 0; i < 5; ++i)
          total.responses_by_class[i] += e.metrics.responses_by_class[i];
        if (e.metrics.latency) latency.merge(*e.metrics.latency);
      }
      total.p99_ms = latency.count() ? latency.percentile(99) / 1e6 : 0;
      r.series.push_back(pointOf(fromEpoch(t), seconds, total));
      for (size_t i = 0; i < r.edges.size(); ++i) {
        const auto it = seen.find(i);
        r.edges[i].series.push_back(it == seen.end()
                                        ? pointOf(fromEpoch(t), seconds, WindowMetrics{})
                                        : pointOf(fromEpoch(t), seconds, it->second->metrics));
      }
    }
  }

  // Worst edges.
  std::vector<size_t> order(r.edges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto by_errors = order;
  std::stable_sort(by_errors.begin(), by_errors.end(), [&](size_t x, size_t y) {
    const auto &ex = r.edges[x], &ey = r.edges[y];
    if (ex.error_rate != ey.error_rate) return ex.error_rate > ey.error_rate;
    return ex.metrics.responses_by_class[4] > ey.metrics.responses_by_class[4];
  });
  for (size_t i : by_errors) {
    if (r.worst_by_errors.size() >= options.worst_edges) break;
    if (r.edges[i].metrics.responses_by_class[4] > 0) r.worst_by_errors.push_back(i);
  }
  auto by_p99 = order;
  std::stable_sort(by_p99.begin(), by_p99.end(), [&](size_t x, size_t y) {
    return r.edges[x].metrics.p99_ms > r.edges[y].metrics.p99_ms;
  });
  for (size_t i : by_p99) {
    if (r.worst_by_p99.size() >= options.worst_edges) break;
    r.worst_by_p99.push_back(i);
  }

  // Services, with health judged on the range's traffic.
  const auto policies = cp.policies();
  const auto certificates = cp.certificates();
  const auto current = cp.snapshot();
  GraphSnapshot judged;
  judged.time = to;
  judged.services = whole.services;
  judged.edges = whole.edges;
  for (const auto& px : current->proxies)
    if (px.state != SyncState::kDisconnected) judged.proxies.push_back(px);
  health::computeHealth(&judged, parsed(policies), certificates, now);
  for (const auto& s : judged.services) {
    ServiceSection out;
    out.name = s.name;
    out.inbound = s.inbound;
    if (out.inbound.requests == 0) {
      // No inbound proxy reported: the callers' view, as the health model uses.
      for (const auto& e : whole.edges) {
        if (e.destination != s.name) continue;
        out.inbound.requests += e.metrics.requests;
        for (size_t i = 0; i < 5; ++i)
          out.inbound.responses_by_class[i] += e.metrics.responses_by_class[i];
        out.inbound.p99_ms = std::max(out.inbound.p99_ms, e.metrics.p99_ms);
      }
      out.inbound.requests_per_second =
          range_seconds > 0 ? double(out.inbound.requests) / range_seconds : 0;
    }
    out.error_rate = errorRate(out.inbound);
    if (s.health) out.health = *s.health;
    r.services.push_back(std::move(out));
  }

  const auto events = cp.events(from, to, {}, options.max_events);
  r.events = events.events;
  r.events_truncated = events.events.size() >= options.max_events;

  r.checkup = checkup(policies, r.edges, certificates, *current, now, options);
  return r;
}

}  // namespace meshdeck::cp::report
