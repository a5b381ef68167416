#include "controlplane/server/proto_convert.h"

#include <google/protobuf/util/time_util.h>

#include "common/histogram_proto.h"
#include "common/telemetry/counter_fields.h"

namespace meshdeck::cp {
namespace v1 = meshdeck::v1;
using google::protobuf::util::TimeUtil;

namespace {
google::protobuf::Timestamp ts(SystemTime t) {
  return TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}
SystemTime fromTs(const google::protobuf::Timestamp& t) {
  return SystemTime{} + std::chrono::duration_cast<SystemTime::duration>(
                            std::chrono::nanoseconds(TimeUtil::TimestampToNanoseconds(t)));
}
}  // namespace

void toProto(const WindowMetrics& in, v1::WindowMetrics* out) {
  out->set_requests_per_second(in.requests_per_second);
  out->set_success_rate(in.success_rate);
  out->set_p50_ms(in.p50_ms);
  out->set_p90_ms(in.p90_ms);
  out->set_p99_ms(in.p99_ms);
#define MESHDECK_SET_(member, ...) out->set_##member(in.member);
  MESHDECK_EDGE_COUNTERS(MESHDECK_SET_)
#undef MESHDECK_SET_
  for (auto c : in.responses_by_class) out->add_responses_by_class(c);
  for (uint32_t s = 0; s < in.grpc_statuses.size(); ++s)
    if (in.grpc_statuses[s]) (*out->mutable_grpc_statuses())[s] = in.grpc_statuses[s];
  if (in.latency && in.latency->count()) common::toProto(*in.latency, out->mutable_latency());
}

WindowMetrics fromProto(const v1::WindowMetrics& in) {
  WindowMetrics m;
  m.requests_per_second = in.requests_per_second();
  m.success_rate = in.success_rate();
  m.p50_ms = in.p50_ms();
  m.p90_ms = in.p90_ms();
  m.p99_ms = in.p99_ms();
#define MESHDECK_GET_(member, ...) m.member = in.member();
  MESHDECK_EDGE_COUNTERS(MESHDECK_GET_)
#undef MESHDECK_GET_
  for (int i = 0; i < in.responses_by_class_size() && i < 5; ++i)
    m.responses_by_class[static_cast<size_t>(i)] = in.responses_by_class(i);
  for (const auto& [code, n] : in.grpc_statuses())
    if (code < m.grpc_statuses.size()) m.grpc_statuses[code] = n;
  if (in.has_latency()) {
    auto h = std::make_shared<common::LatencyHistogram>();
    std::string error;
    if (common::fromProto(in.latency(), h.get(), &error)) m.latency = std::move(h);
  }
  return m;
}

void toProto(const ProxyInfo& in, v1::ProxyStatus* out) {
  out->set_proxy_id(in.proxy_id);
  out->set_service(in.service);
  out->set_version(in.version);
  out->set_host(in.host);
  out->set_inbound_port(in.inbound_port);
  out->set_admin_port(in.admin_port);
  switch (in.state) {
    case SyncState::kNeverSent:
      out->set_state(v1::ProxyStatus::SYNC_STATE_UNSPECIFIED);
      break;
    case SyncState::kSynced:
      out->set_state(v1::ProxyStatus::SYNCED);
      break;
    case SyncState::kStale:
      out->set_state(v1::ProxyStatus::STALE);
      break;
    case SyncState::kRejected:
      out->set_state(v1::ProxyStatus::REJECTED);
      break;
    case SyncState::kDisconnected:
      out->set_state(v1::ProxyStatus::DISCONNECTED);
      break;
  }
  out->set_version_sent(in.version_sent);
  out->set_version_acked(in.version_acked);
  out->set_nack_reason(in.nack_reason);
  if (in.connected_since) *out->mutable_connected_since() = ts(*in.connected_since);
  if (in.last_report) *out->mutable_last_report() = ts(*in.last_report);
}

ProxyInfo fromProto(const v1::ProxyStatus& in) {
  ProxyInfo p;
  p.proxy_id = in.proxy_id();
  p.service = in.service();
  p.version = in.version();
  p.host = in.host();
  p.inbound_port = in.inbound_port();
  p.admin_port = in.admin_port();
  switch (in.state()) {
    case v1::ProxyStatus::SYNCED:
      p.state = SyncState::kSynced;
      break;
    case v1::ProxyStatus::STALE:
      p.state = SyncState::kStale;
      break;
    case v1::ProxyStatus::REJECTED:
      p.state = SyncState::kRejected;
      break;
    case v1::ProxyStatus::DISCONNECTED:
      p.state = SyncState::kDisconnected;
      break;
    default:
      p.state = SyncState::kNeverSent;
      break;
  }
  p.version_sent = in.version_sent();
  p.version_acked = in.version_acked();
  p.nack_reason = in.nack_reason();
  if (in.has_connected_since()) p.connected_since = fromTs(in.connected_since());
  if (in.has_last_report()) p.last_report = fromTs(in.last_report());
  return p;
}

void toProto(const GraphSnapshot& in, v1::GraphSnapshot* out) {
  *out->mutable_time() = ts(in.time);
  out->set_topology_version(in.topology_version);
  out->set_policy_revision(in.policy_revision);
  out->set_window_seconds(in.window_seconds);
  for (const auto& s : in.services) {
    auto* n = out->add_services();
    n->set_name(s.name);
    n->set_namespace_(s.ns);
    for (const auto& v : s.versions) n->add_versions(v);
    n->set_tier(s.tier);
    n->set_instances(s.instances);
    toProto(s.inbound, n->mutable_inbound());
    for (const auto& a : s.authorization) toProto(a, n->add_authorization());
    if (s.health) {
      auto* h = n->mutable_health();
      h->set_state(static_cast<v1::HealthState>(static_cast<int>(s.health->state) + 1));
      for (const auto& r : s.health->reasons) h->add_reasons(r);
    }
  }
  for (const auto& e : in.edges) {
    auto* pe = out->add_edges();
    pe->set_source(e.source);
    pe->set_destination(e.destination);
    toProto(e.metrics, pe->mutable_metrics());
    for (const auto& p : e.policies) pe->add_policies(p);
    for (const auto& [v, n] : e.requests_by_destination_version)
      (*pe->mutable_requests_by_destination_version())[v] = n;
    pe->set_protocol(e.protocol);
  }
  for (const auto& p : in.proxies) toProto(p, out->add_proxies());
}

void toProto(const AuthorizationRuleStats& in, v1::AuthorizationCount* out) {
  out->set_policy(in.policy);
  out->set_rule(in.rule);
  out->set_action(in.action);
  out->set_dry_run(in.dry_run);
  out->set_allowed(in.allowed);
  out->set_denied(in.denied);
  out->set_dry_run_denied(in.dry_run_denied);
}

AuthorizationRuleStats fromProto(const v1::AuthorizationCount& in) {
  AuthorizationRuleStats out;
  out.policy = in.policy();
  out.rule = in.rule();
  out.action = in.action();
  out.dry_run = in.dry_run();
  out.allowed = in.allowed();
  out.denied = in.denied();
  out.dry_run_denied = in.dry_run_denied();
  return out;
}

GraphSnapshot fromProto(const v1::GraphSnapshot& in) {
  GraphSnapshot g;
  g.time = fromTs(in.time());
  g.topology_version = in.topology_version();
  g.policy_revision = in.policy_revision();
  g.window_seconds = in.window_seconds();
  for (const auto& n : in.services()) {
    ServiceNode s;
    s.name = n.name();
    s.ns = n.namespace_();
    s.versions.assign(n.versions().begin(), n.versions().end());
    s.tier = n.tier();
    s.instances = n.instances();
    s.inbound = fromProto(n.inbound());
    for (const auto& a : n.authorization()) s.authorization.push_back(fromProto(a));
    // HEALTH_STATE_IDLE..FAILING are HealthState + 1; unspecified (or unknown): not computed.
    if (n.has_health() && n.health().state() >= v1::HEALTH_STATE_IDLE &&
        n.health().state() <= v1::HEALTH_STATE_FAILING) {
      ServiceHealth h;
      h.state = static_cast<HealthState>(static_cast<int>(n.health().state()) - 1);
      h.reasons.assign(n.health().reasons().begin(), n.health().reasons().end());
      s.health = std::move(h);
    }
    g.services.push_back(std::move(s));
  }
  for (const auto& pe : in.edges()) {
    ServiceEdge e;
    e.source = pe.source();
    e.destination = pe.destination();
    e.metrics = fromProto(pe.metrics());
    e.policies.assign(pe.policies().begin(), pe.policies().end());
    for (const auto& [v, n] : pe.requests_by_destination_version())
      e.requests_by_destination_version[v] = n;
    e.protocol = pe.protocol();
    g.edges.push_back(std::move(e));
  }
  for (const auto& p : in.proxies()) g.proxies.push_back(fromProto(p));
  return g;
}

void toProto(const ApplyResult& in, v1::ApplyPoliciesResponse* out) {
  out->set_ok(in.ok);
  out->set_revision(in.revision);
  out->set_summary(in.summary);
  for (const auto& e : in.errors) {
    auto* pe = out->add_errors();
    pe->set_file(e.file);
    pe->set_line(e.line);
    pe->set_column(e.column);
    pe->set_field(e.field);
    pe->set_message(e.message);
  }
  for (const auto& w : in.warnings) {
    auto* pw = out->add_warnings();
    auto* pe = pw->mutable_where();
    pe->set_file(w.where.file);
    pe->set_line(w.where.line);
    pe->set_column(w.where.column);
    pe->set_field(w.where.field);
    pe->set_message(w.where.message);
    for (const auto& e : w.edges) {
      auto* pedge = pw->add_edges();
      pedge->set_source(e.source);
      pedge->set_destination(e.destination);
    }
  }
}

ApplyResult fromProto(const v1::ApplyPoliciesResponse& in) {
  ApplyResult r;
  r.ok = in.ok();
  r.revision = in.revision();
  r.summary = in.summary();
  for (const auto& e : in.errors())
    r.errors.push_back(
        common::LocatedError{e.file(), e.line(), e.column(), e.field(), e.message()});
  for (const auto& w : in.warnings()) {
    PolicyWarning pw;
    const auto& e = w.where();
    pw.where = common::LocatedError{e.file(), e.line(), e.column(), e.field(), e.message()};
    for (const auto& edge : w.edges())
      pw.edges.push_back(EdgeRef{edge.source(), edge.destination()});
    r.warnings.push_back(std::move(pw));
  }
  return r;
}

void toProto(const PolicyInfo& in, v1::Policy* out) {
  out->set_kind(in.kind);
  out->set_name(in.name);
  out->set_target(in.target);
  out->set_yaml(in.yaml);
  out->set_revision(in.revision);
  auto* b = out->mutable_badges();
  b->set_fault(in.badges.fault);
  b->set_canary(in.badges.canary);
  b->set_rate_limit(in.badges.rate_limit);
  b->set_mtls(in.badges.mtls);
}

PolicyInfo fromProto(const v1::Policy& in) {
  const auto& b = in.badges();
  return PolicyInfo{in.kind(),     in.name(),
                    in.target(),   in.yaml(),
                    in.revision(), PolicyBadges{b.fault(), b.canary(), b.rate_limit(), b.mtls()}};
}

// The edges and services travel as in a GraphSnapshot.
void toProto(const HistoricalGraph& in, v1::GetGraphAtResponse* out) {
  out->set_available(in.available);
  out->set_message(in.message);
  out->set_resolution_seconds(in.resolution_seconds);
  out->set_policy_revision(in.policy_revision);
  out->set_revision_author(in.revision_author);
  *out->mutable_from() = ts(in.from);
  *out->mutable_to() = ts(in.to);
  GraphSnapshot g;
  g.services = in.services;
  g.edges = in.edges;
  v1::GraphSnapshot p;
  toProto(g, &p);
  out->mutable_edges()->Swap(p.mutable_edges());
  out->mutable_services()->Swap(p.mutable_services());
}

HistoricalGraph fromProto(const v1::GetGraphAtResponse& in) {
  HistoricalGraph g;
  g.available = in.available();
  g.message = in.message();
  g.resolution_seconds = in.resolution_seconds();
  g.policy_revision = in.policy_revision();
  g.revision_author = in.revision_author();
  g.from = fromTs(in.from());
  g.to = fromTs(in.to());
  v1::GraphSnapshot p;
  *p.mutable_edges() = in.edges();
  *p.mutable_services() = in.services();
  auto snapshot = fromProto(p);
  g.edges = std::move(snapshot.edges);
  g.services = std::move(snapshot.services);
  return g;
}

void toProto(const MeshEvent& in, v1::MeshEvent* out) {
  *out->mutable_time() = ts(in.time);
  out->set_kind(in.kind);
  out->set_subject(in.subject);
  out->set_detail(in.detail);
  out->set_author(in.author);
}

MeshEvent fromProto(const v1::MeshEvent& in) {
  return MeshEvent{fromTs(in.time()), in.kind(), in.subject(), in.detail(), in.author()};
}

}  // namespace meshdeck::cp
