#include "controlplane/snapshot_json.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstddef>

#include "common/telemetry/counter_fields.h"
#include "controlplane/server/proto_convert.h"

namespace meshdeck::cp {
namespace json = boost::json;

namespace {
std::string rfc3339(SystemTime t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(secs), ms % 1000);
}

json::object histogramJson(const common::LatencyHistogram& h) {
  json::array buckets;
  for (int i = 0; i < common::LatencyHistogram::kBucketCount; ++i)
    if (const uint64_t c = h.bucketCount(i)) buckets.push_back(json::array{i, c});
  return json::object{{"layout", common::LatencyHistogram::kLayout},
                      {"count", h.count()},
                      {"sum_ns", h.sum()},
                      {"min_ns", h.min()},
                      {"max_ns", h.max()},
                      {"underflow", h.underflow()},
                      {"overflow", h.overflow()},
                      {"buckets", std::move(buckets)}};
}

json::object metricsJson(const WindowMetrics& m) {
  json::object o{{"requests_per_second", m.requests_per_second},
                 {"success_rate", m.success_rate},
                 {"p50_ms", m.p50_ms},
                 {"p90_ms", m.p90_ms},
                 {"p99_ms", m.p99_ms}};
  common::forEachEdgeCounter([&](const common::EdgeCounterField& f, uint64_t v) { o[f.name] = v; },
                             m);
  o["responses_by_class"] = json::object{{"1xx", m.responses_by_class[0]},
                                         {"2xx", m.responses_by_class[1]},
                                         {"3xx", m.responses_by_class[2]},
                                         {"4xx", m.responses_by_class[3]},
                                         {"5xx", m.responses_by_class[4]}};
  json::object grpc;
  for (uint32_t s = 0; s < m.grpc_statuses.size(); ++s)
    if (m.grpc_statuses[s]) grpc[common::grpcStatusName(s)] = m.grpc_statuses[s];
  o["grpc_statuses"] = std::move(grpc);
  o["latency"] = m.latency ? json::value(histogramJson(*m.latency)) : json::value(nullptr);
  return o;
}

json::object classesJson(const std::array<uint64_t, 5>& c) {
  return json::object{{"1xx", c[0]}, {"2xx", c[1]}, {"3xx", c[2]}, {"4xx", c[3]}, {"5xx", c[4]}};
}

json::array edgeHistoryJson(const std::vector<EdgeHistory>& history) {
  json::array out;
  for (const auto& h : history) {
    json::array samples;
    for (const auto& s : h.samples)
      samples.push_back(json::object{{"time", rfc3339(s.time)},
                                     {"requests_per_second", s.requests_per_second},
                                     {"success_rate", s.success_rate},
                                     {"p50_ms", s.p50_ms},
                                     {"p90_ms", s.p90_ms},
                                     {"p99_ms", s.p99_ms},
                                     {"responses_by_class", classesJson(s.responses_by_class)}});
    out.push_back(json::object{
        {"source", h.source}, {"destination", h.destination}, {"samples", std::move(samples)}});
  }
  return out;
}

json::array revisionsJson(const std::vector<RevisionInfo>& revisions) {
  json::array out;
  for (const auto& r : revisions)
    out.push_back(json::object{{"number", r.number},
                               {"author", r.author},
                               {"time", rfc3339(r.time)},
                               {"summary", r.summary}});
  return out;
}
}  // namespace

SnapshotExtras snapshotExtras(ControlPlane& control_plane, const GraphSnapshot& graph,
                              size_t max_samples) {
  SnapshotExtras extras;
  size_t total = 0;
  for (const auto& e : graph.edges) {
    auto samples = control_plane.edgeHistory(e.source, e.destination, kSnapshotHistorySeconds);
    total += samples.size();
    if (!samples.empty())
      extras.edge_history.push_back({e.source, e.destination, std::move(samples)});
  }
  if (total > max_samples) {
    const size_t keep = std::max<size_t>(1, max_samples / extras.edge_history.size());
    for (auto& h : extras.edge_history) {
      if (h.samples.size() > keep)
        h.samples.erase(h.samples.begin(), h.samples.end() - static_cast<std::ptrdiff_t>(keep));
    }
  }
  extras.revisions = control_plane.revisions();
  return extras;
}

std::string snapshotToJson(const GraphSnapshot& g, const std::vector<PolicyInfo>& policies,
                           const std::string& control_plane_version, const SnapshotExtras& extras) {
  json::array services, edges, proxies, pols;
  for (const auto& s : g.services) {
    json::array versions;
    for (const auto& v : s.versions) versions.push_back(json::string(v));
    json::array authorization;
    for (const auto& a : s.authorization)
      authorization.push_back(json::object{{"policy", a.policy},
                                           {"rule", a.rule},
                                           {"action", a.action},
                                           {"dry_run", a.dry_run},
                                           {"allowed", a.allowed},
                                           {"denied", a.denied},
                                           {"dry_run_denied", a.dry_run_denied}});
    json::object service{{"name", s.name},
                         {"namespace", s.ns},
                         {"versions", std::move(versions)},
                         {"tier", s.tier},
                         {"instances", s.instances},
                         {"inbound", metricsJson(s.inbound)},
                         {"authorization", std::move(authorization)}};
    if (s.health) {
      json::array reasons;
      for (const auto& r : s.health->reasons) reasons.push_back(json::string(r));
      service["health"] =
          json::object{{"state", toString(s.health->state)}, {"reasons", std::move(reasons)}};
    }
    services.push_back(std::move(service));
  }
  for (const auto& e : g.edges) {
    json::array ps;
    for (const auto& p : e.policies) ps.push_back(json::string(p));
    json::object split;
    for (const auto& [v, n] : e.requests_by_destination_version) split[v] = n;
    edges.push_back(json::object{{"source", e.source},
                                 {"destination", e.destination},
                                 {"protocol", e.protocol},
                                 {"policies", std::move(ps)},
                                 {"requests_by_destination_version", std::move(split)},
                                 {"metrics", metricsJson(e.metrics)}});
  }
  for (const auto& p : g.proxies) {
    proxies.push_back(json::object{
        {"proxy_id", p.proxy_id},
        {"service", p.service},
        {"version", p.version},
        {"host", p.host},
        {"inbound_port", p.inbound_port},
        {"admin_port", p.admin_port},
        {"state", toString(p.state)},
        {"version_sent", p.version_sent},
        {"version_acked", p.version_acked},
        {"nack_reason", p.nack_reason},
        {"connected_since",
         p.connected_since ? json::value(rfc3339(*p.connected_since)) : json::value(nullptr)},
        {"last_report",
         p.last_report ? json::value(rfc3339(*p.last_report)) : json::value(nullptr)}});
  }
  for (const auto& p : policies) {
    pols.push_back(json::object{{"kind", p.kind},
                                {"name", p.name},
                                {"target", p.target},
                                {"revision", p.revision},
                                {"yaml", p.yaml},
                                {"badges", json::object{{"fault", p.badges.fault},
                                                        {"canary", p.badges.canary},
                                                        {"rate_limit", p.badges.rate_limit},
                                                        {"mtls", p.badges.mtls}}}});
  }
  json::object doc{{"format", "meshdeck-snapshot"},
                   {"format_version", kSnapshotFormatVersion},
                   {"generated_at", rfc3339(g.time)},
                   {"control_plane",
                    json::object{{"version", control_plane_version}, {"listen", g.listen_address}}},
                   {"window_seconds", g.window_seconds},
                   {"topology_version", g.topology_version},
                   {"policy_revision", g.policy_revision},
                   {"services", std::move(services)},
                   {"edges", std::move(edges)},
                   {"proxies", std::move(proxies)},
                   {"policies", std::move(pols)}};
  if (!extras.revisions.empty()) doc["revisions"] = revisionsJson(extras.revisions);
  if (!extras.edge_history.empty()) doc["edge_history"] = edgeHistoryJson(extras.edge_history);
  return json::serialize(doc) + "\n";
}

}  // namespace meshdeck::cp
