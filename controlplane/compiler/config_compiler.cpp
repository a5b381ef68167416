#include "controlplane/compiler/config_compiler.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace meshdeck::cp {
namespace v1 = meshdeck::v1;
using google::protobuf::util::TimeUtil;

namespace {

using Subsets = std::map<std::string, std::map<std::string, std::string>>;

constexpr const char* kInbound = "inbound";
constexpr const char* kOutbound = "outbound";
constexpr const char* kLocalCluster = "inbound|local";
// Connections a sidecar may open to its own app per worker before the streams of an HTTP/2
// hop queue for one (docs/http2.md, "Fan-in to an HTTP/1.1 upstream"), and idle ones it keeps:
// Envoy's default circuit breaker. Fan-in keeps an outbound cluster to 64, but on the inbound
// side every request an app holds open (a long poll, a stream of events) came on its own
// client connection before the hop was multiplexed, and must not wait behind 64 of them.
constexpr uint32_t kLocalMaxConnections = 1024;

void setDuration(Nanos d, google::protobuf::Duration* out) {
  *out = TimeUtil::NanosecondsToDuration(d.count());
}

template <typename Spec>
std::vector<std::pair<const Policy*, const Spec*>> policiesOf(const PolicySet& set) {
  std::vector<std::pair<const Policy*, const Spec*>> out;
  for (const auto& p : set.policies)
    if (const auto* s = std::get_if<Spec>(&p.spec)) out.emplace_back(&p, s);
  return out;
}

void fillStringMatch(const StringMatch& m, v1::HeaderMatch* out) {
  switch (m.type) {
    case StringMatch::Type::kExact:
      out->set_exact(m.value);
      break;
    case StringMatch::Type::kPrefix:
      out->set_prefix(m.value);
      break;
    case StringMatch::Type::kRegex:
      out->set_regex(m.value);
      break;
  }
}

void fillHeaders(const std::vector<HeaderCondition>& headers,
                 google::protobuf::RepeatedPtrField<v1::HeaderMatch>* out) {
  for (const auto& h : headers) {
    auto* hm = out->Add();
    hm->set_name(h.name);
    hm->set_invert(h.invert);
    if (h.value) fillStringMatch(*h.value, hm);
  }
}

void fillEdits(const HeaderEditSpec& e, v1::HeaderEdits* out) {
  for (const auto& [k, v] : e.set) (*out->mutable_set())[k] = v;
  for (const auto& [k, v] : e.add) (*out->mutable_add())[k] = v;
  for (const auto& r : e.remove) out->add_remove(r);
}

std::string subsetVersion(const Subsets& subsets, const std::string& host,
                          const std::string& subset) {
  if (subset.empty()) return {};
  auto h = subsets.find(host);
  if (h == subsets.end()) return subset;
  auto s = h->second.find(subset);
  return s == h->second.end() ? subset : s->second;
}

std::string deterministicBytes(const google::protobuf::Message& m) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// FNV-1a: stable across runs and builds, unlike std::hash.
uint64_t fnv1a(const std::string& bytes, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t fnv1a(const google::protobuf::Message& m, uint64_t h = 1469598103934665603ull) {
  return fnv1a(deterministicBytes(m), h);
}

v1::TlsMode inboundMode(MtlsMode mode) {
  switch (mode) {
    case MtlsMode::kStrict:
      return v1::MUTUAL_TLS;
    case MtlsMode::kPermissive:
      return v1::PERMISSIVE;
    default:
      return v1::PLAINTEXT;
  }
}

// The SPIFFE ids a service's workloads have: the ids its connected proxies hold, plus the id
// of its service account in each namespace those proxies run in (a proxy still waiting for
// its certificate will have it); "default" when no proxy of the service is connected.
std::vector<std::string> serviceIdentities(const MeshState& state, const std::string& service) {
  std::set<std::string> ids;
  for (const auto& p : state.proxies) {
    if (p.service != service) continue;
    if (!p.spiffe_id.empty()) ids.insert(p.spiffe_id);
    ids.insert(fmt::format("spiffe://{}/ns/{}/sa/{}", state.trust_domain,
                           p.ns.empty() ? "default" : p.ns, service));
  }
  if (ids.empty())
    ids.insert(fmt::format("spiffe://{}/ns/default/sa/{}", state.trust_domain, service));
  return {ids.begin(), ids.end()};
}

// One HttpRoute of a TrafficRoute as the proxy's route (without its match).
v1::Route compileRoute(const HttpRoute& http, const Subsets& subsets) {
  v1::Route proto;
  proto.set_name(http.name);
  for (const auto& d : http.destinations) {
    auto* wc = proto.add_destinations();
    wc->set_cluster(clusterName(d.host, subsetVersion(subsets, d.host, d.subset)));
    wc->set_weight(d.weight);
  }
  if (http.timeout) setDuration(*http.timeout, proto.mutable_timeout());
  if (http.retries) {
    auto* r = proto.mutable_retry();
    r->set_attempts(http.retries->attempts);
    if (http.retries->per_try_timeout)
      setDuration(*http.retries->per_try_timeout, r->mutable_per_try_timeout());
    for (const auto& on : http.retries->retry_on) r->add_retry_on(on);
  }
  if (http.fault) {
    auto* f = proto.mutable_fault();
    if (http.fault->delay_percent) {
      f->set_delay_percent(*http.fault->delay_percent);
      setDuration(http.fault->delay, f->mutable_delay());
    }
    if (http.fault->abort_percent) {
      f->set_abort_percent(*http.fault->abort_percent);
      f->set_abort_status(http.fault->abort_status);
      if (http.fault->abort_grpc_status) f->set_abort_grpc_status(*http.fault->abort_grpc_status);
    }
  }
  if (http.mirror) {
    proto.mutable_mirror()->set_cluster(clusterName(
        http.mirror->host, subsetVersion(subsets, http.mirror->host, http.mirror->subset)));
    proto.mutable_mirror()->set_percent(http.mirror->percent);
  }
  if (!http.request_headers.empty())
    fillEdits(http.request_headers, proto.mutable_request_headers());
  if (!http.response_headers.empty())
    fillEdits(http.response_headers, proto.mutable_response_headers());
  return proto;
}

void fillMatch(const HttpMatch& m, v1::RouteMatch* match) {
  if (m.uri) {
    switch (m.uri->type) {
      case StringMatch::Type::kExact:
        match->set_path_exact(m.uri->value);
        break;
      case StringMatch::Type::kPrefix:
        match->set_path_prefix(m.uri->value);
        break;
      case StringMatch::Type::kRegex:
        match->set_path_regex(m.uri->value);
        break;
    }
  }
  for (const auto& meth : m.methods) match->add_methods(meth);
  fillHeaders(m.headers, match->mutable_headers());
}

// A DestinationPolicy's load balancing, connect timeout, circuit breaker and outlier detection.
void applyDestinationPolicy(const DestinationPolicySpec& d, v1::Cluster* c) {
  switch (d.load_balancer) {
    case LoadBalancer::kDefault:
      break;
    case LoadBalancer::kRoundRobin:
      c->set_lb_policy(v1::Cluster::ROUND_ROBIN);
      break;
    case LoadBalancer::kLeastRequest:
      c->set_lb_policy(v1::Cluster::LEAST_REQUEST);
      break;
    case LoadBalancer::kRandom:
      c->set_lb_policy(v1::Cluster::RANDOM);
      break;
    case LoadBalancer::kRingHash:
      c->set_lb_policy(v1::Cluster::RING_HASH);
      c->set_hash_header(d.hash_header);
      break;
  }
  if (d.connect_timeout) setDuration(*d.connect_timeout, c->mutable_connect_timeout());
  if (d.max_connections || d.max_pending_requests || d.max_requests) {
    auto* cb = c->mutable_circuit_breaker();
    cb->set_max_connections(d.max_connections);
    cb->set_max_pending_requests(d.max_pending_requests);
    cb->set_max_requests(d.max_requests);
  }
  if (d.consecutive_errors) {
    auto* od = c->mutable_outlier_detection();
    od->set_consecutive_errors(d.consecutive_errors);
    if (d.base_ejection_time) setDuration(*d.base_ejection_time, od->mutable_base_ejection_time());
    od->set_max_ejection_percent(d.max_ejection_percent);
  }
}

v1::Cluster::Protocol toProto(Protocol p) {
  switch (p) {
    case Protocol::kHttp1:
      return v1::Cluster::HTTP1;
    case Protocol::kHttp2:
      return v1::Cluster::HTTP2;
    case Protocol::kGrpc:
      return v1::Cluster::GRPC;
    case Protocol::kUnset:
      break;
  }
  return v1::Cluster::PROTOCOL_UNSPECIFIED;
}

Protocol declaredProtocol(const std::string& app_protocol) {
  if (app_protocol == "http1") return Protocol::kHttp1;
  if (app_protocol == "http2") return Protocol::kHttp2;
  if (app_protocol == "grpc") return Protocol::kGrpc;
  return Protocol::kUnset;
}

}  // namespace

std::string clusterName(const std::string& service, const std::string& version) {
  return version.empty() ? service : fmt::format("{}|{}", service, version);
}

ConfigCompiler::ConfigCompiler(MeshState state) : state_(std::move(state)) {
  if (!state_.policies) state_.policies = std::make_shared<PolicySet>();
  buildShared();
}

const Policy* ConfigCompiler::peerAuthFor(const std::string& service) const {
  // Istio precedence: a policy selecting the service wins over the mesh-wide one.
  const Policy* mesh_wide = nullptr;
  for (const auto& [p, s] : policiesOf<PeerAuthenticationSpec>(*state_.policies)) {
    if (s->service == service) return p;
    if (s->service.empty()) mesh_wide = p;
  }
  return mesh_wide;
}

void ConfigCompiler::buildShared() {
  const PolicySet& set = *state_.policies;
  // Every service: registered, or named by a policy.
  std::set<std::string> services = state_.services;
  std::map<std::string, std::set<std::string>> versions;
  for (const auto& p : state_.proxies) {
    services.insert(p.service);
    versions[p.service].insert(p.version);
  }
  for (const auto& e : state_.source_endpoints) {
    services.insert(e.service);
    versions[e.service].insert(e.version);
  }
  Subsets subsets;
  std::map<std::string, const DestinationPolicySpec*> dest_policy;
  for (const auto& [p, s] : policiesOf<DestinationPolicySpec>(set)) {
    services.insert(s->host);
    dest_policy[s->host] = s;
    for (const auto& sub : s->subsets) {
      subsets[s->host][sub.name] = sub.version;
      versions[s->host].insert(sub.version);
    }
  }
  for (const auto& [p, s] : policiesOf<TrafficRouteSpec>(set)) services.insert(s->host);

  outbound_.set_name(kOutbound);
  for (const auto& service : services) buildVirtualHost(service, subsets);
  for (const auto& service : services) {
    const auto it = dest_policy.find(service);
    buildClusters(service, versions[service], it == dest_policy.end() ? nullptr : it->second);
  }
  resources_ = makeSharedResources(outbound_, clusters_);
  shared_hash_ = fnv1a(resources_->digest);
}

const std::string& ConfigCompiler::sharedBytes() const {
  std::call_once(shared_bytes_once_, [this] {
    v1::ProxyConfig shared;
    *shared.add_route_tables() = outbound_;
    for (const auto& c : clusters_) *shared.add_clusters() = c;
    shared_bytes_ = deterministicBytes(shared);
  });
  return shared_bytes_;
}

void ConfigCompiler::buildVirtualHost(const std::string& service, const Subsets& subsets) {
  // One virtual host per service: its TrafficRoutes in name order, then a default route to
  // every version unless a route already matches everything.
  auto* vh = outbound_.add_virtual_hosts();
  vh->set_name(service);
  vh->add_domains(service);
  bool catch_all = false;
  for (const auto& [p, tr] : policiesOf<TrafficRouteSpec>(*state_.policies)) {
    if (tr->host != service) continue;
    for (const auto& http : tr->http) {
      const v1::Route proto = compileRoute(http, subsets);
      if (http.matches.empty()) {
        catch_all = true;
        *vh->add_routes() = proto;
      }
      // Istio semantics: any one of the match conditions selects the route, so each becomes
      // its own route with the same behaviour.
      for (const auto& m : http.matches) {
        auto* route = vh->add_routes();
        *route = proto;
        fillMatch(m, route->mutable_match());
      }
    }
  }
  if (!catch_all) {
    auto* route = vh->add_routes();
    route->set_name("default");
    auto* wc = route->add_destinations();
    wc->set_cluster(service);
    wc->set_weight(100);
  }
}

void ConfigCompiler::buildClusters(const std::string& service,
                                   const std::set<std::string>& versions,
                                   const DestinationPolicySpec* destination) {
  // Every version of the service, and the service as a whole (version "").
  const Policy* pa = peerAuthFor(service);
  const MtlsMode mode = pa ? std::get<PeerAuthenticationSpec>(pa->spec).mode : MtlsMode::kUnset;
  std::vector<std::string> cluster_versions{""};
  for (const auto& v : versions) cluster_versions.push_back(v);
  for (const auto& version : cluster_versions) {
    v1::Cluster c;
    c.set_name(clusterName(service, version));
    c.set_service(service);
    c.set_version(version);
    for (const auto& p : state_.proxies) {
      if (p.service != service || (!version.empty() && p.version != version)) continue;
      auto* ep = c.add_endpoints();
      ep->mutable_address()->set_host(p.host.empty() ? "127.0.0.1" : p.host);
      ep->mutable_address()->set_port(p.inbound_port);
      ep->set_version(p.version);
      ep->set_proxy_id(p.proxy_id);
    }
    for (const auto& e : state_.source_endpoints) {
      if (e.service != service || (!version.empty() && e.version != version)) continue;
      auto* ep = c.add_endpoints();
      ep->mutable_address()->set_host(e.host);
      ep->mutable_address()->set_port(e.port);
      ep->set_version(e.version);
    }
    if (destination) applyDestinationPolicy(*destination, &c);
    c.set_protocol(toProto(serviceProtocol(service, destination, version)));
    applyAutoMtls(service, version, mode, &c);
    markHopHttp2(destination, &c);
    clusters_.push_back(std::move(c));
  }
}

void ConfigCompiler::applyAutoMtls(const std::string& service, const std::string& version,
                                   MtlsMode mode, v1::Cluster* c) const {
  // Istio auto-mTLS: callers use mutual TLS when the callee requires it (STRICT), and
  // otherwise (PERMISSIVE or no PeerAuthentication) whenever every endpoint of the cluster
  // has an identity and so accepts it. DISABLE: plaintext.
  std::set<std::string> identities;
  bool all_have_identity = c->endpoints_size() > 0;
  for (const auto& p : state_.proxies) {
    if (p.service != service || (!version.empty() && p.version != version)) continue;
    if (p.spiffe_id.empty())
      all_have_identity = false;
    else
      identities.insert(p.spiffe_id);
  }
  for (const auto& e : state_.source_endpoints)
    if (e.service == service && (version.empty() || e.version == version))
      all_have_identity = false;
  auto* tls = c->mutable_tls();
  const bool mutual =
      mode == MtlsMode::kStrict ||
      ((mode == MtlsMode::kPermissive || mode == MtlsMode::kUnset) && all_have_identity);
  if (!mutual) {
    tls->set_mode(v1::PLAINTEXT);
    return;
  }
  tls->set_mode(v1::MUTUAL_TLS);
  if (identities.empty())
    for (const auto& id : serviceIdentities(state_, service)) identities.insert(id);
  for (const auto& id : identities) tls->add_expected_identities(id);
}

void ConfigCompiler::markHopHttp2(const DestinationPolicySpec* destination, v1::Cluster* c) {
  // Between two sidecars the hop is HTTP/2 over the mutual TLS whatever the app speaks: every
  // endpoint is a sidecar (its inbound port takes HTTP/1.1 and HTTP/2 alike), the connection is
  // mutual TLS, and the app's protocol is HTTP/1.1 (HTTP/2 and gRPC clusters use HTTP/2
  // already). A DestinationPolicy that declares `protocol: http1` keeps the hop HTTP/1.1
  // (docs/http2.md, "The sidecar hop as HTTP/2").
  if (destination && destination->protocol == Protocol::kHttp1) return;
  if (c->protocol() != v1::Cluster::PROTOCOL_UNSPECIFIED && c->protocol() != v1::Cluster::HTTP1)
    return;
  if (c->tls().mode() != v1::MUTUAL_TLS || c->endpoints_size() == 0) return;
  for (const auto& ep : c->endpoints())
    if (ep.proxy_id().empty()) return;
  c->set_hop_http2(true);
}

Protocol ConfigCompiler::serviceProtocol(const std::string& service,
                                         const DestinationPolicySpec* destination,
                                         const std::string& version) const {
  if (destination && destination->protocol != Protocol::kUnset) return destination->protocol;
  // Otherwise what the sidecars of the cluster's endpoints declare, when they all agree.
  std::optional<Protocol> common;
  for (const auto& p : state_.proxies) {
    if (p.service != service || (!version.empty() && p.version != version)) continue;
    const Protocol declared = declaredProtocol(p.app_protocol);
    if (common && *common != declared) return Protocol::kUnset;
    common = declared;
  }
  return common.value_or(Protocol::kUnset);
}

const DestinationPolicySpec* ConfigCompiler::destinationFor(const std::string& service) const {
  for (const auto& [p, s] : policiesOf<DestinationPolicySpec>(*state_.policies))
    if (s->host == service) return s;
  return nullptr;
}

v1::ProxyConfig ConfigCompiler::compile(const ProxyNode& self) const {
  v1::ProxyConfig config;
  compileInto(self, &config);
  return config;
}

void ConfigCompiler::compileInto(const ProxyNode& self, v1::ProxyConfig* out) const {
  compileLocal(self, out);
  // Route tables: "inbound" (local) then "outbound"; clusters: "inbound|local" then the rest.
  *out->add_route_tables() = outbound_;
  out->mutable_clusters()->Reserve(static_cast<int>(clusters_.size()) + 1);
  for (const auto& c : clusters_) *out->add_clusters() = c;
}

std::string ConfigCompiler::version(const ProxyNode& self) const {
  return compileLocalBytes(self).version;
}

ConfigCompiler::LocalPart ConfigCompiler::compileLocalBytes(const ProxyNode& self,
                                                            const SharedResources* scoped) const {
  v1::ProxyConfig local;
  compileLocal(self, &local);
  LocalPart part;
  part.bytes = deterministicBytes(local);
  part.version =
      fmt::format("{:016x}", fnv1a(part.bytes, scoped ? fnv1a(scoped->digest) : shared_hash_));
  return part;
}

void ConfigCompiler::compileLocal(const ProxyNode& self, v1::ProxyConfig* result) const {
  const PolicySet& set = *state_.policies;
  v1::ProxyConfig& config = *result;
  const Policy* pa = peerAuthFor(self.service);
  // Without a PeerAuthentication (Istio's default): PERMISSIVE on a proxy with an identity,
  // PLAINTEXT on one without.
  const MtlsMode configured =
      pa ? std::get<PeerAuthenticationSpec>(pa->spec).mode : MtlsMode::kUnset;
  const v1::TlsMode mode = configured == MtlsMode::kUnset
                               ? (self.spiffe_id.empty() ? v1::PLAINTEXT : v1::PERMISSIVE)
                               : inboundMode(configured);

  auto* in = config.add_listeners();
  in->set_name(kInbound);
  in->mutable_address()->set_host(self.host.empty() ? "127.0.0.1" : self.host);
  in->mutable_address()->set_port(self.inbound_port);
  in->set_direction(v1::Listener::INBOUND);
  in->set_route_table(kInbound);
  in->set_tls_mode(mode);
  auto* out = config.add_listeners();
  out->set_name(kOutbound);
  out->mutable_address()->set_host("127.0.0.1");
  out->mutable_address()->set_port(self.outbound_port);
  out->set_direction(v1::Listener::OUTBOUND);
  out->set_route_table(kOutbound);

  auto* inbound = config.add_route_tables();
  inbound->set_name(kInbound);
  auto* vh = inbound->add_virtual_hosts();
  vh->set_name(kInbound);
  vh->add_domains()->assign(1, '*');
  for (const auto& [p, rl] : policiesOf<RateLimitSpec>(set)) {
    if (rl->service != self.service) continue;
    vh->mutable_rate_limit()->set_requests_per_second(rl->requests_per_second);
    vh->mutable_rate_limit()->set_burst(rl->burst);
  }
  auto* route = vh->add_routes();
  route->set_name(kInbound);
  auto* wc = route->add_destinations();
  wc->set_cluster(kLocalCluster);
  wc->set_weight(100);
  auto* local = config.add_clusters();
  local->set_name(kLocalCluster);
  local->set_service(self.service);
  local->set_version(self.version);
  auto* ep = local->add_endpoints();
  ep->mutable_address()->set_host("127.0.0.1");
  ep->mutable_address()->set_port(self.app_port);
  ep->set_version(self.version);
  ep->set_proxy_id(self.proxy_id);
  local->mutable_tls()->set_mode(v1::PLAINTEXT);
  local->set_max_idle_connections(kLocalMaxConnections);
  // The application speaks what the DestinationPolicy of its service says, else what its
  // sidecar declares.
  const DestinationPolicySpec* own = destinationFor(self.service);
  const Protocol app = own && own->protocol != Protocol::kUnset
                           ? own->protocol
                           : declaredProtocol(self.app_protocol);
  local->set_protocol(toProto(app));

  auto* security = config.mutable_security();
  security->set_inbound_mode(mode);
  security->set_trust_domain(state_.trust_domain);
  for (const auto& pem : state_.trust_bundle_pem) security->add_trust_bundle_pem(pem);
  // DENY rules are listed first: a request matching any DENY is refused whatever ALLOWs say.
  bool any_allow_policy = false;
  for (int pass = 0; pass < 2; ++pass) {
    const auto wanted = pass == 0 ? AuthorizationPolicySpec::Action::kDeny
                                  : AuthorizationPolicySpec::Action::kAllow;
    for (const auto& [p, ap] : policiesOf<AuthorizationPolicySpec>(set)) {
      if (ap->action != wanted || (!ap->service.empty() && ap->service != self.service)) continue;
      if (wanted == AuthorizationPolicySpec::Action::kAllow && !ap->dry_run)
        any_allow_policy = true;
      for (size_t i = 0; i < ap->rules.size(); ++i) {
        const auto& rule = ap->rules[i];
        std::vector<std::string> sources = rule.principals;
        for (const auto& s : rule.source_services)
          for (auto& id : serviceIdentities(state_, s)) sources.push_back(std::move(id));
        const size_t ops = std::max<size_t>(1, rule.methods.size());
        for (size_t op = 0; op < ops; ++op) {
          auto* r = security->add_authorization();
          r->set_name(ap->rules.size() == 1 && ops == 1 ? p->name
                                                        : fmt::format("{}-{}-{}", p->name, i, op));
          r->set_action(wanted == AuthorizationPolicySpec::Action::kDeny
                            ? v1::AuthorizationRule::DENY
                            : v1::AuthorizationRule::ALLOW);
          r->set_dry_run(ap->dry_run);
          r->set_policy(p->name);
          r->set_rule(ops == 1 ? fmt::format("rules[{}]", i)
                               : fmt::format("rules[{}].to[{}]", i, op));
          for (const auto& s : sources) r->add_sources(s);
          if (op < rule.methods.size()) {
            for (const auto& m : rule.methods[op]) r->add_methods(m);
            for (const auto& path : rule.paths[op]) r->add_paths(path);
          }
          fillHeaders(rule.headers, r->mutable_headers());
        }
      }
    }
  }
  // An ALLOW policy with no rules allows nothing (Istio "allow-nothing"): default deny.
  security->set_default_deny(any_allow_policy);

  config.mutable_telemetry()->mutable_interval()->set_seconds(1);
  config.mutable_telemetry()->set_sample_percent(1);
  config.mutable_workload()->set_service(self.service);
  config.mutable_workload()->set_version(self.version);
  config.mutable_workload()->set_namespace_(self.ns.empty() ? "default" : self.ns);
}

std::string ConfigCompiler::contentHash(const v1::ProxyConfig& config) {
  return fmt::format("{:016x}", fnv1a(config));
}

}  // namespace meshdeck::cp
