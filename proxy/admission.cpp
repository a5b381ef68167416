#include "proxy/admission.h"

#include <fmt/format.h>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/url/parse.hpp>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cstring>
#include <iterator>
#include <optional>
#include <vector>

#include "proxy/http/ascii_fold.h"
#include "proxy/http/grpc.h"
#include "proxy/http/headers.h"
#include "proxy/policy/router.h"

namespace meshdeck::proxy {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// ASCII only, as std::tolower in the "C" locale the proxy runs in, without a call per character.
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  return out;
}

// Inserts a field whose name Beast's field table does not know (x-forwarded-*, x-request-id,
// traceparent): insert(name, value) would look the name up in that table first, for nothing.
void insertUnknown(RequestHeader& head, std::string_view name, std::string_view value) {
  assert(http::string_to_field(name) == http::field::unknown);
  head.insert(http::field::unknown, name, value);
}

// Whether the codec reads the body as `f` says: the body is read by the decision through the
// codec, so a message on which they could differ is refused instead.
bool codecAgrees(const CodecFraming& codec, const Framing& f) {
  switch (f.kind) {
    case BodyFraming::kNone:
      return codec.body_done;
    case BodyFraming::kContentLength:
      return !codec.chunked && codec.content_length == f.length;
    case BodyFraming::kChunked:
      return codec.chunked && !codec.content_length;
    case BodyFraming::kCloseDelimited:  // a request body is never close-delimited
    case BodyFraming::kRefuse:
      break;
  }
  return false;
}

Verdict refuse(unsigned version, unsigned status, const char* reason) {
  Verdict v;
  v.kind = Verdict::kRefuse;
  v.version = version;
  v.status = status;
  v.code = reason;
  return v;
}

Verdict local(unsigned status, const char* code, std::string detail = {}) {
  Verdict v;
  v.kind = Verdict::kLocal;
  v.status = status;
  v.code = code;
  v.detail = std::move(detail);
  return v;
}

bool ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && beast::iequals(a, b);
}

// Whether the fields' order is Beast's: a field is placed after the last one of its name, so
// the orders agree unless a name comes back after another name.
bool beastOrder(const h1::RequestHead& h) {
  const size_t n = h.fieldCount();
  for (size_t i = 2; i < n; ++i) {
    const std::string_view name = h.field(i).name;
    if (ieq(h.field(i - 1).name, name)) continue;
    for (size_t j = 0; j + 1 < i; ++j)
      if (ieq(h.field(j).name, name)) return false;
  }
  return true;
}

// Whether the request's destinations are all sent as HTTP/1.1 without reading ex.head (an
// HTTP/2 attempt builds its fields from it, ring hash looks a header up in it).
bool destinationsTakeWireHead(const Config& config, const RouteConfig& route) {
  for (const auto& d : route.destinations) {
    const ClusterConfig* cc = nullptr;
    if (d.cluster_slot >= 0 && static_cast<size_t>(d.cluster_slot) < config.cluster_slots.size())
      cc = config.cluster_slots[static_cast<size_t>(d.cluster_slot)].get();
    else
      cc = config.findCluster(d.cluster);
    if (cc && (cc->streamsRequest(false) || cc->lb_policy == LbPolicy::kRingHash)) return false;
  }
  return true;
}

// Writes the fields of `h` not in `drop` at `p`, as appendHead() writes fields: a run of lines
// laid out as "name: value\r\n" in the receive buffer is copied as one range.
char* putKeptLines(char* p, const h1::RequestHead& h, uint32_t drop) {
  const auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  const char* run = nullptr;
  const char* run_end = nullptr;
  for (size_t i = 0; i < h.fieldCount(); ++i) {
    if (drop & (1u << i)) continue;
    const h1::Field& f = h.field(i);
    const char* at = f.name.data();
    const char* value_end = f.value.data() + f.value.size();
    if (at[f.name.size()] == ':' && at[f.name.size() + 1] == ' ' &&
        f.value.data() == at + f.name.size() + 2 && value_end[0] == '\r' && value_end[1] == '\n') {
      if (at != run_end) {
        if (run) put({run, static_cast<size_t>(run_end - run)});
        run = at;
      }
      run_end = value_end + 2;
      continue;
    }
    if (run) put({run, static_cast<size_t>(run_end - run)});
    run = run_end = nullptr;
    put(f.name);
    put(": ");
    put(f.value);
    put("\r\n");
  }
  if (run) put({run, static_cast<size_t>(run_end - run)});
  return p;
}

// The upstream head up to its added lines: the request line in HTTP/1.1 and the kept fields
// (putKeptLines()).
char* putHeadStart(char* p, const h1::RequestHead& h, std::string_view target, uint32_t drop) {
  std::memcpy(p, h.method.data(), h.method.size());
  p += h.method.size();
  *p++ = ' ';
  std::memcpy(p, target.data(), target.size());
  p += target.size();
  constexpr std::string_view kVersion = " HTTP/1.1\r\n";
  std::memcpy(p, kVersion.data(), kVersion.size());
  return putKeptLines(p + kVersion.size(), h, drop);
}

}  // namespace

void countDecision(const SecurityConfig& security, const AuthorizationDecision& decision,
                   AuthzSlotCounters& slots, AuthzCounterMap& by_id) {
  if (const auto& table = security.authorization_slots) {
    if (slots.table != table) slots.bind(table, by_id);
    countAuthorization(decision, slots.counts);
  } else {
    countAuthorization(security.authorization, decision, by_id);
  }
}

namespace {

// Inbound authorization of one request, the same for admit() (Beast fields) and admitView()
// (the codec's views): the decision kept on the exchange, counted by the rule's dense slot (the
// telemetry edge's count is added in finish(), where the edge is looked up anyway; a config
// without slot table is counted by id), dry-run denials logged; a 403 when it is denied.
std::optional<Verdict> authorizeInbound(const SecurityConfig& security,
                                        const AuthorizationRequest& request, Exchange& ex,
                                        AdmissionServices& services) {
  auto& decision =
      ex.authz.emplace(authorize(security.authorization, security.default_deny, request));
  auto& stats = services.stats();
  countDecision(security, decision, stats.authz_slots, stats.authz);
  logDryRunDenials(security.authorization, decision, request);
  if (decision.allowed) return std::nullopt;
  ex.denied = true;
  const auto rule = authorizationRuleId(security.authorization, decision.rule);
  return local(403, error_code::kDenied,
               rule.policy.empty() ? std::string("no rule allows the request")
                                   : fmt::format("policy {} rule {}", rule.policy, rule.rule));
}

}  // namespace

Verdict checkRequestHead(const RequestHeader& req, const CodecFraming& codec, Exchange& ex) {
  ex.version = req.version() == 10 ? 10 : 11;
  if (codec.decided) {
    ex.framing = *codec.decided;
    return {};
  }
  const size_t header_count = static_cast<size_t>(std::distance(req.begin(), req.end()));
  if (header_count > kMaxHeaderCount) return refuse(ex.version, 431, "too_many_headers");
  if (req.version() != 10 && req.version() != 11) return refuse(11, 505, "bad_version");
  // Framing and Host: one decision, by which the body is read and the upstream head framed.
  ex.framing = decideRequestFraming(req);
  if (ex.framing.refused()) return refuse(ex.version, ex.framing.status, ex.framing.reason);
  if (!codecAgrees(codec, ex.framing)) return refuse(ex.version, 400, "framing_mismatch");
  return {};
}

Verdict admit(RequestHeader& req, const CodecFraming& codec, const PeerInfo& peer, Exchange& ex,
              AdmissionServices& services) {
  assert(ex.listener && "admission needs the listener's config");
  ex.is_head = req.method() == http::verb::head;
  if (Verdict v = checkRequestHead(req, codec, ex); v.kind != Verdict::kAdmit) return v;
  if (req.method() == http::verb::unknown || req.method() == http::verb::connect)
    return refuse(ex.version, 501, "unsupported_method");

  // The authority comes from an absolute-form target (HTTP-proxy mode) or the Host header.
  std::string authority;
  const std::string_view target = sv(req.target());
  if (target.size() > 7 && beast::iequals(target.substr(0, 7), "http://")) {
    auto url = boost::urls::parse_absolute_uri(target);
    // The authority replaces Host (RFC 9112 §3.2.2); userinfo in it is an error (RFC 9110
    // §4.2.4).
    if (!url || url->encoded_host().empty() || url->has_userinfo() ||
        !isValidHost(sv(url->encoded_host_and_port()), false))
      return refuse(ex.version, 400, "bad_target");
    authority = lower(sv(url->encoded_host_and_port()));
    std::string origin(sv(url->encoded_path()));
    if (origin.empty()) origin = "/";
    if (url->has_query()) origin += "?" + std::string(sv(url->encoded_query()));
    req.target(origin);
    req.set(http::field::host, authority);
  } else if (!target.empty() &&
             (target[0] == '/' || (target == "*" && req.method() == http::verb::options))) {
    // Presence and syntax of Host were checked with the framing.
    auto host = req.find(http::field::host);
    if (host != req.end()) authority = lower(sv(host->value()));
  } else {
    return refuse(ex.version, 400, "bad_target");
  }

  const bool outbound = ex.listener->direction == Direction::kOutbound;

  // Source of the request for telemetry: our own workload on the way out, the peer's outbound
  // proxy's label on the way in. The label is only trusted on inbound listeners.
  if (!outbound) {
    auto src = req.find(kSourceHeader);
    if (src != req.end()) {
      const std::string_view v = sv(src->value());
      const auto slash = v.find('/');
      ex.source_service = std::string(v.substr(0, slash));
      if (slash != std::string_view::npos) ex.source_version = std::string(v.substr(slash + 1));
      req.erase(kSourceHeader);  // all of them (absent: nothing to look up again)
    }
  } else {
    if (ex.config) {
      ex.source_service = ex.config->workload.service;
      ex.source_version = ex.config->workload.version;
    }
    req.erase(kSourceHeader);
  }

  if (!ex.config) return local(503, error_code::kNoRoute, "no configuration yet");
  auto table = ex.config->route_tables.find(ex.listener->route_table);
  if (table == ex.config->route_tables.end()) return local(404, error_code::kNoRoute);
  ex.vhost = matchVirtualHost(table->second, authority);
  if (!ex.vhost) {
    Verdict v = local(404, error_code::kNoRoute, "no virtual host");
    if (outbound) v.missing_host = std::move(authority);
    return v;
  }
  std::string_view path = sv(req.target());
  path = path.substr(0, path.find('?'));
  const Fields& fields = req;
  ex.route = matchRoute(*ex.vhost, sv(req.method_string()), path, fields);
  if (!ex.route) return local(404, error_code::kNoRoute, "no route");

  // Authorization (inbound only). The source identity is the verified SPIFFE id of an mTLS
  // peer; plain peers have none (a label header proves nothing).
  const auto& security = ex.config->security;
  if (!outbound && (!security.authorization.empty() || security.default_deny)) {
    const AuthorizationRequest request{peer.identity, sv(req.method_string()), path, &fields};
    if (auto denied = authorizeInbound(security, request, ex, services)) return std::move(*denied);
  }

  // The clock is read only for a limit that is on.
  for (const RateLimitConfig* limit : {&ex.vhost->rate_limit, &ex.route->rate_limit}) {
    if (limit->enabled() && !services.bucket(*limit).tryTake(services.now())) {
      ex.rate_limited = true;
      return local(429, error_code::kRateLimited);
    }
  }

  const FaultConfig& fault = ex.route->fault;
  if (fault.enabled() && selectPercent(fault.delay_percent, services.random())) {
    ex.fault = true;
    Verdict delayed;
    delayed.delay = fault.delay;  // the caller waits, then prepareUpstreamRequest()
    return delayed;
  }
  return prepareUpstreamRequest(req, codec, peer, ex, services);
}

Verdict prepareUpstreamRequest(RequestHeader& req, const CodecFraming& codec, const PeerInfo& peer,
                               Exchange& ex, AdmissionServices& services) {
  assert(ex.route && "prepareUpstreamRequest() after an admitting verdict only");
  const FaultConfig& fault = ex.route->fault;
  if (fault.enabled() && selectPercent(fault.abort_percent, services.random())) {
    ex.fault = true;
    Verdict v;
    v.kind = Verdict::kLocal;
    v.status = fault.abort_status;
    v.code = error_code::kFault;
    v.grpc_status = fault.abort_grpc_status;
    return v;
  }

  ex.destination = &pickDestination(*ex.route, services.random());
  if (ex.route->timeout.count() > 0) ex.deadline = ex.start + ex.route->timeout;
  // A gRPC call's own deadline (grpc-timeout) applies when it is shorter than the route's. A
  // malformed value is treated as absent: counted, and not passed on. The upstream is told the
  // time left at each attempt (the HTTP/2 codec rewrites the header).
  if (ex.protocol == Exchange::Protocol::kGrpc) {
    if (const auto gt = req.find("grpc-timeout"); gt != req.end()) {
      if (const auto t = parseGrpcTimeout(sv(gt->value()))) {
        const auto left = ex.deadline - ex.start;
        if (*t < left) ex.deadline = ex.start + *t;
      } else {
        ++services.stats().grpc_timeout_malformed;
        req.erase(gt);
      }
    }
  }

  // The request head as it goes upstream.
  ex.upgrade = codec.upgrade;
  Verdict v;
  // Moved, not copied: the request's own header is not looked at again (an HTTP/1.1 parser
  // keeps its framing flags; trailers of a chunked body go into the emptied fields).
  auto& head = ex.head;
  head = std::move(req);
  // The first Expect and TE fields in one pass over the handful of fields, by their known name,
  // instead of a look-up of each name string in Beast's tree (operator[], erase(field)).
  std::optional<std::string_view> expect, te;
  for (const auto& f : head) {
    if (f.name() == http::field::expect && !expect) expect = sv(f.value());
    if (f.name() == http::field::te && !te) te = sv(f.value());
  }
  v.expect_continue = head.version() == 11 && expect && beast::iequals(*expect, "100-continue");
  if (te)
    for (auto t : http::token_list{beast::string_view(te->data(), te->size())})
      if (beast::iequals(t, "trailers")) ex.te_trailers = true;
  // An HTTP/2 upgrade is never passed on (the backend would switch protocols under us).
  // (removeH2c() leaves Expect and TE alone.)
  if (ex.framing.h2c && !removeH2c(head)) ex.upgrade = false;
  removeHopByHopHeaders(head, ex.upgrade);
  if (expect) head.erase(http::field::expect);
  head.version(11);
  // The fields added below when absent, found in one pass (names Beast's field table does not
  // know, so their field is `unknown`): the first of each name, as find() would return.
  auto xff = head.end(), incoming_trace = head.end();
  bool has_proto = false, has_request_id = false;
  for (auto it = head.begin(); it != head.end(); ++it) {
    if (it->name() != http::field::unknown) continue;
    const std::string_view name = sv(it->name_string());
    if (name.size() == 15 && xff == head.end() && beast::iequals(name, "x-forwarded-for"))
      xff = it;
    else if (name.size() == 17 && beast::iequals(name, "x-forwarded-proto"))
      has_proto = true;
    else if (name.size() == 12 && beast::iequals(name, "x-request-id"))
      has_request_id = true;
    else if (name.size() == 11 && incoming_trace == head.end() &&
             beast::iequals(name, "traceparent"))
      incoming_trace = it;
  }
  // A header known to be absent is inserted rather than set (set() looks it up again to erase).
  if (!peer.ip.empty()) {
    if (xff == head.end())
      insertUnknown(head, "x-forwarded-for", peer.ip);
    else
      head.set("x-forwarded-for", std::string(sv(xff->value())) + ", " + std::string(peer.ip));
  }
  if (!has_proto) insertUnknown(head, "x-forwarded-proto", peer.mtls ? "https" : "http");
  auto& ids = services.idGenerator();
  if (!has_request_id) insertUnknown(head, "x-request-id", makeRequestId(ids).view());
  const bool has_trace = incoming_trace != head.end();
  const auto trace =
      makeTraceparent(has_trace ? sv(incoming_trace->value()) : std::string_view{}, ids);
  if (has_trace)
    head.set("traceparent", trace.view());
  else
    insertUnknown(head, "traceparent", trace.view());
  const auto& edits = ex.route->request_headers;
  for (const auto& name : edits.remove) head.erase(name);
  for (const auto& [k, v] : edits.set) head.set(k, v);
  for (const auto& [k, v] : edits.add) head.insert(k, v);
  if (ex.listener->direction == Direction::kOutbound && !ex.source_service.empty())
    head.set(kSourceHeader, ex.source_service + "/" + ex.source_version);
  // Last: the forwarded head states exactly the framing the body is read and sent with,
  // whatever the client or the route's edits wrote.
  if (ex.framing.rewrite || !edits.set.empty() || !edits.add.empty() || !edits.remove.empty())
    writeFramingHeaders(head, ex.framing.declared, ex.framing.length);
  return v;
}

static_assert(kSourceHeader == "x-meshdeck-source", "admitView() compares the literal");

bool admitView(const h1::RequestHead& h, const CodecFraming& codec, const PeerInfo& peer,
               Exchange& ex, AdmissionServices& services, std::string& wire, Verdict& verdict) {
  assert(ex.listener && "admission needs the listener's config");
  // First what only the Beast path handles, before anything counts.
  if (!codec.decided || codec.upgrade || codec.decided->rewrite || codec.decided->h2c) return false;
  const size_t n = h.fieldCount();
  if (n > h1::kInlineFields || !ex.config) return false;
  const http::verb method =
      h.method == "GET"
          ? http::verb::get
          : http::string_to_verb(beast::string_view(h.method.data(), h.method.size()));
  if (method == http::verb::unknown || method == http::verb::connect) return false;
  const std::string_view target = h.target;
  if (target.empty() || !(target[0] == '/' || (target == "*" && method == http::verb::options)))
    return false;
  if (!beastOrder(h)) return false;
  auto table = ex.config->route_tables.find(ex.listener->route_table);
  if (table == ex.config->route_tables.end()) return false;
  // Host and the source label (the first of each) in one pass.
  const std::string_view* host = nullptr;
  const std::string_view* source = nullptr;
  for (size_t i = 0; i < n; ++i) {
    const h1::Field& f = h.field(i);
    if (f.name.size() == 4 && !host && h1::equalsFolded(f.name.data(), "host"))
      host = &f.value;
    else if (f.name.size() == kSourceHeader.size() && !source &&
             h1::equalsFolded(f.name.data(), "x-meshdeck-source"))
      source = &f.value;
  }
  // The authority lower-cased on the stack (a longer Host goes the Beast path).
  char lowered[256];
  std::string_view authority;
  if (host) {
    if (host->size() > sizeof lowered) return false;
    if (!h1::hasUpperCase(*host)) {
      authority = *host;  // the usual case: already lower-case, nothing to copy
    } else {
      for (size_t i = 0; i < host->size(); ++i) {
        const auto c = static_cast<unsigned char>((*host)[i]);
        lowered[i] = static_cast<char>(c | (static_cast<unsigned>(c - 'A') < 26u ? 0x20u : 0u));
      }
      authority = {lowered, host->size()};
    }
  }
  const VirtualHostConfig* vhost = matchVirtualHost(table->second, authority);
  if (!vhost) return false;
  const std::string_view path = target.substr(0, target.find('?'));
  const RouteConfig* route = matchRoute(*vhost, h.method, path, h);
  if (!route) return false;
  const bool outbound = ex.listener->direction == Direction::kOutbound;
  if (route->fault.enabled() || !route->mirror.cluster.empty()) return false;
  // A route's `add` lands after the last line of its name: only among the added lines here.
  for (const auto& [name, value] : route->request_headers.add)
    if (h.find(name)) return false;
  if (!destinationsTakeWireHead(*ex.config, *route)) return false;

  // admit(), from here on in its order.
  ex.is_head = method == http::verb::head;
  ex.version = h.version == 10 ? 10 : 11;
  ex.framing = *codec.decided;
  ex.vhost = vhost;
  ex.route = route;
  if (!outbound) {
    if (const std::string_view* src = source) {
      const auto slash = src->find('/');
      ex.source_service = std::string(src->substr(0, slash));
      if (slash != std::string_view::npos) ex.source_version = std::string(src->substr(slash + 1));
    }
  } else {
    ex.source_service = ex.config->workload.service;
    ex.source_version = ex.config->workload.version;
  }
  // Authorization (inbound only), as admit() does it, the rules' header conditions on the views.
  const auto& security = ex.config->security;
  if (!outbound && (!security.authorization.empty() || security.default_deny)) {
    AuthorizationRequest request{peer.identity, h.method, path, nullptr};
    request.h1_headers = &h;
    if (auto denied = authorizeInbound(security, request, ex, services)) {
      verdict = std::move(*denied);
      return true;
    }
  }
  // The clock is read only for a limit that is on.
  for (const RateLimitConfig* limit : {&vhost->rate_limit, &route->rate_limit}) {
    if (limit->enabled() && !services.bucket(*limit).tryTake(services.now())) {
      ex.rate_limited = true;
      verdict = local(429, error_code::kRateLimited);
      return true;
    }
  }

  // prepareUpstreamRequest() (no fault, not gRPC: an HTTP/1.1 request).
  ex.destination = &pickDestination(*route, services.random());
  if (route->timeout.count() > 0) ex.deadline = ex.start + route->timeout;
  ex.upgrade = false;
  // The fields that do not go upstream, by index (n <= 24): the hop-by-hop ones
  // (removeHopByHopHeaders() without an upgrade: Connection and the fields it names,
  // Keep-Alive, Proxy-Connection, TE, Trailer, Proxy-Authenticate/-Authorization, Upgrade),
  // Expect and the source label.
  uint32_t drop = 0;
  std::optional<std::string_view> expect, te;
  for (size_t i = 0; i < n; ++i) {
    const h1::Field& f = h.field(i);
    const std::string_view name = f.name;
    bool dropped = false;
    switch (name.size()) {
      case 2:
        dropped = h1::equalsFolded(name.data(), "te");
        if (dropped && !te) te = f.value;
        break;
      case 6:
        dropped = h1::equalsFolded(name.data(), "expect");
        if (dropped && !expect) expect = f.value;
        break;
      case 7:
        dropped =
            h1::equalsFolded(name.data(), "trailer") || h1::equalsFolded(name.data(), "upgrade");
        break;
      case 10:
        if (h1::equalsFolded(name.data(), "connection")) {
          dropped = true;
          for (auto token : http::token_list{beast::string_view(f.value.data(), f.value.size())}) {
            const std::string_view t(token.data(), token.size());
            if (ieq(t, "upgrade") || ieq(t, "close") || ieq(t, "keep-alive") ||
                ieq(t, "transfer-encoding"))
              continue;
            for (size_t k = 0; k < n; ++k)
              if (ieq(h.field(k).name, t)) drop |= 1u << k;
          }
        } else {
          dropped = h1::equalsFolded(name.data(), "keep-alive");
        }
        break;
      case 16:
        dropped = h1::equalsFolded(name.data(), "proxy-connection");
        break;
      case 17:
        dropped = h1::equalsFolded(name.data(), "x-meshdeck-source");
        break;
      case 18:
        dropped = h1::equalsFolded(name.data(), "proxy-authenticate");
        break;
      case 19:
        dropped = h1::equalsFolded(name.data(), "proxy-authorization");
        break;
      default:
        break;
    }
    if (dropped) drop |= 1u << i;
  }
  verdict.expect_continue = h.version == 11 && expect && beast::iequals(*expect, "100-continue");
  if (te)
    for (auto t : http::token_list{beast::string_view(te->data(), te->size())})
      if (beast::iequals(t, "trailers")) ex.te_trailers = true;
  // The fields added when absent, among those that stay: the first of each name.
  const h1::Field* xff = nullptr;
  const h1::Field* incoming_trace = nullptr;
  bool has_proto = false, has_request_id = false;
  for (size_t i = 0; i < n; ++i) {
    if (drop & (1u << i)) continue;
    const h1::Field& f = h.field(i);
    const std::string_view name = f.name;
    if (name.size() == 15 && !xff && h1::equalsFolded(name.data(), "x-forwarded-for"))
      xff = &f;
    else if (name.size() == 17 && h1::equalsFolded(name.data(), "x-forwarded-proto"))
      has_proto = true;
    else if (name.size() == 12 && h1::equalsFolded(name.data(), "x-request-id"))
      has_request_id = true;
    else if (name.size() == 11 && !incoming_trace && h1::equalsFolded(name.data(), "traceparent"))
      incoming_trace = &f;
  }
  // A field that is set (X-Forwarded-For with a peer address, traceparent) leaves its place
  // for one line at the end, as Beast's set() does.
  const bool set_xff = !peer.ip.empty() && xff;
  const bool set_trace = incoming_trace != nullptr;
  if (set_xff || set_trace)
    for (size_t i = 0; i < n; ++i) {
      const std::string_view name = h.field(i).name;
      if ((set_xff && ieq(name, "x-forwarded-for")) || (set_trace && ieq(name, "traceparent")))
        drop |= 1u << i;
    }

  const HeaderEdits& edits = route->request_headers;
  if (!edits.empty()) [[unlikely]] {
    // The route's edits, then the framing lines, as prepareUpstreamRequest() applies them to
    // Beast's fields: on the lines that stay and on a list of the added ones.
    std::string xff_value, source_value;
    std::vector<std::pair<std::string_view, std::string_view>> added;
    if (!peer.ip.empty()) {
      if (xff) {
        xff_value.append(xff->value);
        xff_value.append(", ");
      }
      xff_value.append(peer.ip);
      added.emplace_back("x-forwarded-for", xff_value);
    }
    if (!has_proto) added.emplace_back("x-forwarded-proto", peer.mtls ? "https" : "http");
    auto& ids = services.idGenerator();
    RequestId id{};
    if (!has_request_id) {
      id = makeRequestId(ids);
      added.emplace_back("x-request-id", id.view());
    }
    const auto trace =
        makeTraceparent(incoming_trace ? incoming_trace->value : std::string_view{}, ids);
    added.emplace_back("traceparent", trace.view());
    const auto erase = [&](std::string_view name) {
      for (size_t i = 0; i < n; ++i)
        if (ieq(h.field(i).name, name)) drop |= 1u << i;
      std::erase_if(added, [&](const auto& f) { return ieq(f.first, name); });
    };
    for (const auto& name : edits.remove) erase(name);
    for (const auto& [k, v] : edits.set) {
      erase(k);
      added.emplace_back(k, v);
    }
    for (const auto& [k, v] : edits.add) {
      auto at = added.end();  // after the last line of the name, else at the end
      for (auto it = added.begin(); it != added.end(); ++it)
        if (ieq(it->first, k)) at = it + 1;
      added.emplace(at, k, v);
    }
    if (outbound && !ex.source_service.empty()) {
      erase(kSourceHeader);
      source_value = ex.source_service + "/" + ex.source_version;
      added.emplace_back(kSourceHeader, source_value);
    }
    // writeFramingHeaders(): the framing the body is read and sent with, whatever was written.
    erase("transfer-encoding");
    erase("content-length");
    char digits[24];
    if (ex.framing.declared == BodyFraming::kChunked) {
      added.emplace_back("Transfer-Encoding", "chunked");
    } else if (ex.framing.declared == BodyFraming::kContentLength) {
      const auto r = std::to_chars(digits, digits + sizeof digits, ex.framing.length);
      added.emplace_back("Content-Length",
                         std::string_view(digits, static_cast<size_t>(r.ptr - digits)));
    }
    size_t room = h.method.size() + target.size() + 12 + h.size + 2 * n + 2;
    for (const auto& [k, v] : added) room += k.size() + v.size() + 4;
    wire.resize(room);
    char* const begin = wire.data();
    char* p = begin;
    const auto put = [&p](std::string_view s) {
      std::memcpy(p, s.data(), s.size());
      p += s.size();
    };
    p = putHeadStart(p, h, target, drop);
    for (const auto& [k, v] : added) {
      put(k);
      put(": ");
      put(v);
      put("\r\n");
    }
    put("\r\n");
    assert(static_cast<size_t>(p - begin) <= room);
    wire.resize(static_cast<size_t>(p - begin));
    return true;
  }

  // The head: the request line, the lines that stay (a run of lines laid out as
  // "name: value\r\n" in the receive buffer is copied as one range), the added lines. Written
  // through a pointer into room sized once: a rewritten kept line is at most two bytes longer
  // than received ("name:value" gets its SP; 2 * n even were a bare LF line end accepted); the
  // added lines are bounded below. (Request line 1 + 11 more than method and target;
  // X-Forwarded-For 19 + its old value and ", "; x-forwarded-proto 26, x-request-id 52,
  // traceparent 70; the source label 5 more than its parts; the blank line 2.)
  const size_t room =
      h.method.size() + target.size() + 12 + h.size + 2 * n +
      (peer.ip.empty() ? 0 : 19 + (xff ? xff->value.size() + 2 : 0) + peer.ip.size()) + 26 + 52 +
      70 + 2 +
      (outbound ? kSourceHeader.size() + 5 + ex.source_service.size() + ex.source_version.size()
                : 0);
  wire.resize(room);
  char* const begin = wire.data();
  char* p = begin;
  const auto put = [&p](std::string_view s) __attribute__((always_inline)) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  p = putHeadStart(p, h, target, drop);
  if (!peer.ip.empty()) {
    put("x-forwarded-for: ");
    if (xff) {
      put(xff->value);
      put(", ");
    }
    put(peer.ip);
    put("\r\n");
  }
  // (Each added line's name, ": " and value put as few constant-size pieces.)
  if (!has_proto)
    put(peer.mtls ? std::string_view("x-forwarded-proto: https\r\n")
                  : std::string_view("x-forwarded-proto: http\r\n"));
  auto& ids = services.idGenerator();
  if (!has_request_id) {
    put("x-request-id: ");
    const RequestId id = makeRequestId(ids);
    std::memcpy(p, id.data, sizeof id.data);
    p += sizeof id.data;
    put("\r\n");
  }
  const auto trace =
      makeTraceparent(incoming_trace ? incoming_trace->value : std::string_view{}, ids);
  put("traceparent: ");
  std::memcpy(p, trace.data, sizeof trace.data);
  p += sizeof trace.data;
  put("\r\n");
  if (outbound && !ex.source_service.empty()) {
    put(kSourceHeader);
    put(": ");
    put(ex.source_service);
    *p++ = '/';
    put(ex.source_version);
    put("\r\n");
  }
  put("\r\n");
  assert(static_cast<size_t>(p - begin) <= room);
  wire.resize(static_cast<size_t>(p - begin));
  return true;
}

}  // namespace meshdeck::proxy
