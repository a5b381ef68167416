#include "proxy/config/config_compiler.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <set>
#include <string_view>
#include <unordered_map>

#include "common/telemetry/grpc_status.h"
#include "meshdeck/v1/discovery.pb.h"
#include "proxy/policy/authorization.h"
#include "proxy/tls/spiffe.h"

namespace meshdeck::proxy {
namespace {

namespace pb = meshdeck::v1;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Duration toDuration(const google::protobuf::Duration& d) {
  return std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nanos());
}

class Compiler {
 public:
  void fail(const std::string& path, const std::string& what) {
    assert(!path.empty() && !what.empty());
    errors_.push_back(common::LocatedError{"", 0, 0, path, what});
  }
  std::vector<common::LocatedError>& errors() { return errors_; }

  std::shared_ptr<const std::regex> regex(const std::string& path, const std::string& pattern) {
    try {
      return std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      fail(path, fmt::format("invalid regular expression \"{}\": {}", pattern, e.what()));
      return nullptr;
    }
  }

  bool nonNegative(const std::string& path, const google::protobuf::Duration& d) {
    if (d.seconds() < 0 || d.nanos() < 0) {
      fail(path, "must not be negative");
      return false;
    }
    return true;
  }

  HeaderMatcher header(const std::string& path, const pb::HeaderMatch& m) {
    HeaderMatcher out;
    out.name = lower(m.name());
    if (out.name.empty()) fail(path + ".name", "must not be empty");
    out.invert = m.invert();
    switch (m.value_match_case()) {
      case pb::HeaderMatch::kExact:
        out.value = {StringMatcher::Kind::kExact, m.exact(), nullptr};
        break;
      case pb::HeaderMatch::kPrefix:
        out.value = {StringMatcher::Kind::kPrefix, m.prefix(), nullptr};
        break;
      case pb::HeaderMatch::kRegex:
        out.value = {StringMatcher::Kind::kRegex, m.regex(), regex(path + ".regex", m.regex())};
        break;
      default:
        break;
    }
    return out;
  }

  HeaderEdits edits(const std::string& path, const pb::HeaderEdits& e) {
    HeaderEdits out;
    // Maps iterate in an unspecified order; sort so the compiled config is deterministic.
    for (const auto& [k, v] : e.set()) out.set.emplace_back(lower(k), v);
    for (const auto& [k, v] : e.add()) out.add.emplace_back(lower(k), v);
    std::sort(out.set.begin(), out.set.end());
    std::sort(out.add.begin(), out.add.end());
    for (const auto& k : e.remove()) out.remove.push_back(lower(k));
    for (const auto& [k, v] : out.set)
      if (k.empty()) fail(path + ".set", "header name must not be empty");
    return out;
  }

  RateLimitConfig rateLimit(const std::string& path, const pb::RateLimit& r) {
    RateLimitConfig out;
    if (r.requests_per_second() < 0) fail(path + ".requests_per_second", "must not be negative");
    out.requests_per_second = r.requests_per_second();
    out.burst = r.burst();
    if (out.enabled() && out.burst == 0)
      out.burst = std::max<uint32_t>(1, static_cast<uint32_t>(out.requests_per_second));
    return out;
  }

  static bool percent(double p) { return p >= 0 && p <= 100; }

  RouteConfig route(const std::string& path, const pb::Route& r) {
    RouteConfig out;
    out.name = r.name();
    const auto& m = r.match();
    switch (m.path_specifier_case()) {
      case pb::RouteMatch::kPathExact:
        out.match.path = {StringMatcher::Kind::kExact, m.path_exact(), nullptr};
        break;
      case pb::RouteMatch::kPathPrefix:
        out.match.path = {StringMatcher::Kind::kPrefix, m.path_prefix(), nullptr};
        break;
      case pb::RouteMatch::kPathRegex:
        out.match.path = {StringMatcher::Kind::kRegex, m.path_regex(),
                          regex(path + ".match.path_regex", m.path_regex())};
        break;
      default:
        break;
    }
    for (const auto& method : m.methods()) {
      std::string up = method;
      std::transform(up.begin(), up.end(), up.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      out.match.methods.push_back(up);
    }
    for (int i = 0; i < m.headers_size(); ++i)
      out.match.headers.push_back(
          header(fmt::format("{}.match.headers[{}]", path, i), m.headers(i)));
    if (r.destinations_size() == 0) fail(path + ".destinations", "at least one is required");
    for (int i = 0; i < r.destinations_size(); ++i) {
      const auto& d = r.destinations(i);
      const std::string dpath = fmt::format("{}.destinations[{}]", path, i);
      if (!cluster_names_.count(d.cluster()))
        fail(dpath + ".cluster", fmt::format("unknown cluster \"{}\"", d.cluster()));
      // A single destination without a weight gets everything.
      const uint32_t weight = (d.weight() == 0 && r.destinations_size() == 1) ? 1 : d.weight();
      out.destinations.push_back({d.cluster(), weight});
      out.total_weight += weight;
    }
    if (r.destinations_size() > 0 && out.total_weight == 0)
      fail(path + ".destinations", "weights must not all be zero");
    if (nonNegative(path + ".timeout", r.timeout())) out.timeout = toDuration(r.timeout());
    if (r.has_retry()) {
      const auto& rp = r.retry();
      out.retry.attempts = rp.attempts();
      if (rp.attempts() > 10) fail(path + ".retry.attempts", "at most 10");
      if (nonNegative(path + ".retry.per_try_timeout", rp.per_try_timeout()))
        out.retry.per_try_timeout = toDuration(rp.per_try_timeout());
      for (int i = 0; i < rp.retry_on_size(); ++i) {
        const auto& on = rp.retry_on(i);
        if (on == "5xx")
          out.retry.retry_on |= kRetryOn5xx;
        else if (on == "gateway-error")
          out.retry.retry_on |= kRetryOnGatewayError;
        else if (on == "connect-failure")
          out.retry.retry_on |= kRetryOnConnectFailure;
        else if (on == "reset")
          out.retry.retry_on |= kRetryOnReset;
        else if (on == "cancelled")
          out.retry.retry_on |= kRetryOnGrpcCancelled;
        else if (on == "deadline-exceeded")
          out.retry.retry_on |= kRetryOnGrpcDeadlineExceeded;
        else if (on == "internal")
          out.retry.retry_on |= kRetryOnGrpcInternal;
        else if (on == "resource-exhausted")
          out.retry.retry_on |= kRetryOnGrpcResourceExhausted;
        else if (on == "unavailable")
          out.retry.retry_on |= kRetryOnGrpcUnavailable;
        else
          fail(fmt::format("{}.retry.retry_on[{}]", path, i),
               fmt::format("unknown condition \"{}\" (expected 5xx, gateway-error, "
                           "connect-failure, reset, cancelled, deadline-exceeded, internal, "
                           "resource-exhausted or unavailable)",
                           on));
      }
      if (rp.attempts() > 0 && rp.retry_on_size() == 0)
        out.retry.retry_on = kRetryOnConnectFailure | kRetryOnReset | kRetryOnGatewayError;
      if (rp.has_base_interval() && nonNegative(path + ".retry.base_interval", rp.base_interval()))
        out.retry.base_interval = toDuration(rp.base_interval());
      if (rp.has_max_interval() && nonNegative(path + ".retry.max_interval", rp.max_interval()))
        out.retry.max_interval = toDuration(rp.max_interval());
      if (out.retry.max_interval < out.retry.base_interval)
        fail(path + ".retry.max_interval", "must not be below base_interval");
      if (rp.budget_percent() != 0) out.retry.budget_percent = rp.budget_percent();
      if (!percent(out.retry.budget_percent))
        fail(path + ".retry.budget_percent", "must be within 0..100");
      if (rp.min_retry_concurrency() != 0)
        out.retry.min_retry_concurrency = rp.min_retry_concurrency();
    }
    if (r.has_fault()) {
      const auto& f = r.fault();
      out.fault.delay_percent = f.delay_percent();
      out.fault.abort_percent = f.abort_percent();
      out.fault.abort_status = f.abort_status();
      if (f.has_abort_grpc_status()) {
        if (f.abort_grpc_status() >= common::kGrpcStatusCount)
          fail(path + ".fault.abort_grpc_status", "must be a gRPC status 0..16");
        else
          out.fault.abort_grpc_status = static_cast<int32_t>(f.abort_grpc_status());
        // Callers that are not gRPC get the HTTP status it stands for.
        if (f.abort_status() == 0)
          out.fault.abort_status = common::grpcStatusHttpEquivalent(f.abort_grpc_status());
      }
      if (nonNegative(path + ".fault.delay", f.delay())) out.fault.delay = toDuration(f.delay());
      if (!percent(f.delay_percent())) fail(path + ".fault.delay_percent", "must be within 0..100");
      if (!percent(f.abort_percent())) fail(path + ".fault.abort_percent", "must be within 0..100");
      if (f.abort_percent() > 0 && (out.fault.abort_status < 200 || out.fault.abort_status > 599))
        fail(path + ".fault.abort_status", "must be an HTTP status 200..599");
    }
    if (r.has_mirror() && !r.mirror().cluster().empty()) {
      out.mirror = {r.mirror().cluster(), r.mirror().percent()};
      if (!cluster_names_.count(r.mirror().cluster()))
        fail(path + ".mirror.cluster", fmt::format("unknown cluster \"{}\"", r.mirror().cluster()));
      if (!percent(r.mirror().percent())) fail(path + ".mirror.percent", "must be within 0..100");
    }
    out.request_headers = edits(path + ".request_headers", r.request_headers());
    out.response_headers = edits(path + ".response_headers", r.response_headers());
    out.rate_limit = rateLimit(path + ".rate_limit", r.rate_limit());
    return out;
  }

  ClusterConfig cluster(const std::string& path, const pb::Cluster& c) {
    ClusterConfig out;
    out.name = c.name();
    for (int i = 0; i < c.endpoints_size(); ++i) {
      const auto& e = c.endpoints(i);
      EndpointConfig ep;
      if (!e.address().host().empty()) ep.host = e.address().host();
      if (e.address().port() == 0 || e.address().port() > 65535)
        fail(fmt::format("{}.endpoints[{}].address.port", path, i), "must be 1..65535");
      ep.port = static_cast<uint16_t>(e.address().port());
      boost_check(fmt::format("{}.endpoints[{}].address.host", path, i), ep.host);
      ep.version = e.version();
      ep.proxy_id = e.proxy_id();
      out.endpoints.push_back(std::move(ep));
    }
    switch (c.lb_policy()) {
      case pb::Cluster::LEAST_REQUEST:
        out.lb_policy = LbPolicy::kLeastRequest;
        break;
      case pb::Cluster::RANDOM:
        out.lb_policy = LbPolicy::kRandom;
        break;
      case pb::Cluster::RING_HASH:
        out.lb_policy = LbPolicy::kRingHash;
        break;
      default:
        out.lb_policy = LbPolicy::kRoundRobin;
        break;
    }
    out.hash_header = lower(c.hash_header());
    if (out.lb_policy == LbPolicy::kRingHash && out.hash_header.empty())
      fail(path + ".hash_header", "required by RING_HASH");
    if (c.has_connect_timeout() && nonNegative(path + ".connect_timeout", c.connect_timeout()) &&
        toDuration(c.connect_timeout()).count() > 0)
      out.connect_timeout = toDuration(c.connect_timeout());
    out.circuit_breaker = {c.circuit_breaker().max_connections(),
                           c.circuit_breaker().max_pending_requests(),
                           c.circuit_breaker().max_requests()};
    const auto& od = c.outlier_detection();
    out.outlier.consecutive_errors = od.consecutive_errors();
    if (od.has_base_ejection_time() &&
        nonNegative(path + ".outlier_detection.base_ejection_time", od.base_ejection_time()) &&
        toDuration(od.base_ejection_time()).count() > 0)
      out.outlier.base_ejection_time = toDuration(od.base_ejection_time());
    if (od.max_ejection_percent() > 100)
      fail(path + ".outlier_detection.max_ejection_percent", "must be within 0..100");
    if (od.max_ejection_percent() != 0)
      out.outlier.max_ejection_percent = od.max_ejection_percent();
    out.service = c.service();
    out.version = c.version();
    if (c.max_idle_connections() != 0) out.max_idle_connections = c.max_idle_connections();
    out.protocol = c.protocol() == pb::Cluster::HTTP2  ? UpstreamProtocol::kHttp2
                   : c.protocol() == pb::Cluster::GRPC ? UpstreamProtocol::kGrpc
                                                       : UpstreamProtocol::kHttp1;
    switch (c.tls().mode()) {
      case pb::TLS_MODE_UNSPECIFIED:
      case pb::PLAINTEXT:
        break;
      case pb::MUTUAL_TLS:
        out.tls.mutual = true;
        break;
      default:
        fail(path + ".tls.mode", "must be PLAINTEXT or MUTUAL_TLS towards an upstream");
        break;
    }
    out.hop_http2 = c.hop_http2() && out.tls.mutual;
    for (int i = 0; i < c.tls().expected_identities_size(); ++i) {
      const auto& id = c.tls().expected_identities(i);
      if (!tls::isSpiffeId(id))
        fail(fmt::format("{}.tls.expected_identities[{}]", path, i),
             fmt::format("\"{}\" is not a SPIFFE id (spiffe://<trust-domain>/ns/<ns>/sa/<service>)",
                         id));
      out.tls.expected_identities.push_back(id);
    }
    if (!out.tls.mutual && !out.tls.expected_identities.empty())
      fail(path + ".tls.expected_identities", "needs tls.mode MUTUAL_TLS");
    return out;
  }

  void boost_check(const std::string& path, const std::string& host) {
    // Hosts are IP literals: the proxy never resolves names on the data path.
    bool ok = !host.empty();
    for (char ch : host)
      if (!(std::isxdigit(static_cast<unsigned char>(ch)) || ch == '.' || ch == ':')) ok = false;
    if (!ok) fail(path, fmt::format("\"{}\" is not an IP address", host));
  }

  std::set<std::string> cluster_names_;

 private:
  std::vector<common::LocatedError> errors_;
};

}  // namespace

ConfigPtr compileConfig(const pb::ProxyConfig& proto, std::string* error) {
  std::vector<common::LocatedError> errors;
  ConfigPtr config = compileConfig(proto, &errors);
  if (!config && error) *error = common::toString(errors);
  return config;
}

ConfigPtr compileConfig(const pb::ProxyConfig& proto, std::vector<common::LocatedError>* errors) {
  Compiler c;
  auto config = std::make_shared<Config>();

  auto tlsMode = [](pb::TlsMode m) {
    return m == pb::MUTUAL_TLS   ? TlsMode::kStrict
           : m == pb::PERMISSIVE ? TlsMode::kPermissive
                                 : TlsMode::kPlaintext;
  };
  config->security.inbound_mode = tlsMode(proto.security().inbound_mode());
  config->security.trust_domain = proto.security().trust_domain();
  if (!config->security.trust_domain.empty() &&
      tls::trustDomainOf("spiffe://" + config->security.trust_domain + "/ns/a/sa/b").empty())
    c.fail("security.trust_domain",
           fmt::format("\"{}\" is not a trust domain (lower-case letters, digits, '.', '-', '_')",
                       config->security.trust_domain));

  for (int i = 0; i < proto.clusters_size(); ++i) {
    const auto& name = proto.clusters(i).name();
    const std::string path = fmt::format("clusters[{}]", i);
    if (name.empty())
      c.fail(path + ".name", "must not be empty");
    else if (!c.cluster_names_.insert(name).second)
      c.fail(path + ".name", fmt::format("duplicate cluster \"{}\"", name));
  }
  for (int i = 0; i < proto.clusters_size(); ++i) {
    auto cl = c.cluster(fmt::format("clusters[{}]", i), proto.clusters(i));
    const std::string name = cl.name;
    config->clusters[name] = std::make_shared<const ClusterConfig>(std::move(cl));
  }

  for (int t = 0; t < proto.route_tables_size(); ++t) {
    const auto& table = proto.route_tables(t);
    const std::string tpath = fmt::format("route_tables[{}]", t);
    RouteTableConfig rt;
    rt.name = table.name();
    if (config->route_tables.count(rt.name))
      c.fail(tpath + ".name", fmt::format("duplicate route table \"{}\"", rt.name));
    for (int h = 0; h < table.virtual_hosts_size(); ++h) {
      const auto& vh = table.virtual_hosts(h);
      const std::string hpath = fmt::format("{}.virtual_hosts[{}]", tpath, h);
      VirtualHostConfig host;
      host.name = vh.name();
      for (const auto& d : vh.domains()) host.domains.push_back(lower(d));
      if (host.domains.empty()) c.fail(hpath + ".domains", "at least one is required");
      for (int r = 0; r < vh.routes_size(); ++r)
        host.routes.push_back(c.route(fmt::format("{}.routes[{}]", hpath, r), vh.routes(r)));
      host.rate_limit = c.rateLimit(hpath + ".rate_limit", vh.rate_limit());
      rt.virtual_hosts.push_back(std::move(host));
    }
    const std::string name = rt.name;
    config->route_tables[name] = std::move(rt);
  }

  std::set<std::string> listener_names;
  std::set<std::pair<std::string, uint32_t>> addresses;
  for (int i = 0; i < proto.listeners_size(); ++i) {
    const auto& l = proto.listeners(i);
    const std::string path = fmt::format("listeners[{}]", i);
    ListenerConfig lc;
    lc.name = l.name();
    if (lc.name.empty())
      c.fail(path + ".name", "must not be empty");
    else if (!listener_names.insert(lc.name).second)
      c.fail(path + ".name", fmt::format("duplicate listener \"{}\"", lc.name));
    if (!l.address().host().empty()) lc.host = l.address().host();
    c.boost_check(path + ".address.host", lc.host);
    if (l.address().port() > 65535) c.fail(path + ".address.port", "must be 0..65535");
    lc.port = static_cast<uint16_t>(l.address().port());
    if (lc.port != 0 && !addresses.insert({lc.host, lc.port}).second)
      c.fail(path + ".address", "another listener uses the same address");
    lc.direction =
        l.direction() == pb::Listener::OUTBOUND ? Direction::kOutbound : Direction::kInbound;
    lc.route_table = l.route_table();
    if (!config->route_tables.count(lc.route_table))
      c.fail(path + ".route_table", fmt::format("unknown route table \"{}\"", lc.route_table));
    lc.max_connections = l.max_connections();
    if (l.has_header_timeout() && c.nonNegative(path + ".header_timeout", l.header_timeout()) &&
        toDuration(l.header_timeout()).count() > 0)
      lc.header_timeout = toDuration(l.header_timeout());
    if (l.has_idle_timeout() && c.nonNegative(path + ".idle_timeout", l.idle_timeout()) &&
        toDuration(l.idle_timeout()).count() > 0)
      lc.idle_timeout = toDuration(l.idle_timeout());
    if (l.tls_mode() != pb::TLS_MODE_UNSPECIFIED)
      lc.tls_mode = tlsMode(l.tls_mode());
    else if (lc.direction == Direction::kInbound)
      lc.tls_mode = config->security.inbound_mode;
    if (lc.direction == Direction::kOutbound && lc.tls_mode != TlsMode::kPlaintext)
      c.fail(path + ".tls_mode", "outbound listeners face the local application: PLAINTEXT only");
    config->listeners.push_back(std::move(lc));
  }

  config->workload.service = proto.workload().service();
  config->workload.version = proto.workload().version();
  if (!proto.workload().namespace_().empty()) config->workload.ns = proto.workload().namespace_();

  for (int i = 0; i < proto.security().authorization_size(); ++i) {
    const auto& r = proto.security().authorization(i);
    const std::string path = fmt::format("security.authorization[{}]", i);
    AuthorizationRuleConfig rule;
    rule.name = r.name();
    rule.policy = r.policy().empty() ? r.name() : r.policy();
    rule.rule = r.rule().empty() ? std::to_string(i) : r.rule();
    rule.deny = r.action() == pb::AuthorizationRule::DENY;
    rule.sources.assign(r.sources().begin(), r.sources().end());
    rule.methods.assign(r.methods().begin(), r.methods().end());
    rule.paths.assign(r.paths().begin(), r.paths().end());
    for (int h = 0; h < r.headers_size(); ++h)
      rule.headers.push_back(c.header(fmt::format("{}.headers[{}]", path, h), r.headers(h)));
    rule.dry_run = r.dry_run();
    config->security.authorization.push_back(std::move(rule));
  }
  config->security.default_deny = proto.security().default_deny();
  config->security.authorization_slots = authorizationSlotTable(config->security.authorization);

  if (proto.telemetry().has_interval()) {
    const auto interval = toDuration(proto.telemetry().interval());
    if (interval < std::chrono::milliseconds(100))
      c.fail("telemetry.interval", "must be at least 100ms");
    else
      config->telemetry_interval = interval;
  }

  if (!c.errors().empty()) {
    if (errors) errors->insert(errors->end(), c.errors().begin(), c.errors().end());
    return nullptr;
  }
  indexClusters(*config);
  (void)proto.SerializeToString(&config->proto_bytes);
  return config;
}

void indexClusters(Config& config) {
  config.cluster_slots.clear();
  std::unordered_map<std::string_view, int32_t> slot_of;
  for (const auto& [name, cluster] : config.clusters) {
    slot_of.emplace(name, static_cast<int32_t>(config.cluster_slots.size()));
    config.cluster_slots.push_back(cluster);
  }
  auto slot = [&](const std::string& name) {
    auto it = slot_of.find(name);
    return it == slot_of.end() ? -1 : it->second;
  };
  for (auto& [_, table] : config.route_tables)
    for (auto& host : table.virtual_hosts)
      for (auto& route : host.routes) {
        for (auto& d : route.destinations) d.cluster_slot = slot(d.cluster);
        route.mirror.cluster_slot = route.mirror.cluster.empty() ? -1 : slot(route.mirror.cluster);
      }
}

std::string configJson(const Config& config) {
  pb::ProxyConfig proto;
  if (!proto.ParseFromString(config.proto_bytes)) return "{}";
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(proto, &json, options);
  return json;
}

bool parseHostPort(const std::string& text, std::string* host, uint16_t* port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 >= text.size()) return false;
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return false;
  unsigned value = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || end != last || value > 65535) return false;
  *host = h;
  *port = static_cast<uint16_t>(value);
  return true;
}

bool standaloneConfig(const std::string& listen, const std::vector<std::string>& upstreams,
                      pb::ProxyConfig* out, std::string* error) {
  std::string host;
  uint16_t port = 0;
  if (!parseHostPort(listen, &host, &port)) {
    *error = fmt::format("--listen: \"{}\" is not host:port", listen);
    return false;
  }
  if (upstreams.empty()) {
    *error = "--upstream: at least one is required";
    return false;
  }
  out->Clear();
  auto* l = out->add_listeners();
  l->set_name("main");
  l->mutable_address()->set_host(host);
  l->mutable_address()->set_port(port);
  l->set_direction(pb::Listener::INBOUND);
  l->set_route_table("main");
  auto* table = out->add_route_tables();
  table->set_name("main");
  auto* vh = table->add_virtual_hosts();
  vh->set_name("any");
  vh->add_domains("*");
  auto* route = vh->add_routes();
  route->set_name("default");
  auto* dest = route->add_destinations();
  dest->set_cluster("upstream");
  dest->set_weight(1);
  auto* cluster = out->add_clusters();
  cluster->set_name("upstream");
  cluster->set_lb_policy(pb::Cluster::ROUND_ROBIN);
  for (const auto& u : upstreams) {
    if (!parseHostPort(u, &host, &port) || port == 0) {
      *error = fmt::format("--upstream: \"{}\" is not host:port", u);
      return false;
    }
    auto* ep = cluster->add_endpoints();
    ep->mutable_address()->set_host(host);
    ep->mutable_address()->set_port(port);
  }
  return true;
}

}  // namespace meshdeck::proxy
