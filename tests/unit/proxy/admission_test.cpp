// Admission as a pure function: route match, local replies (404, 403, 429, fault), the
// upstream head, with a simulated clock and scripted random values. No sockets.
#include "proxy/admission.h"

#include <QtTest>
#include <random>
#include <string>
#include <vector>

#include "fake_admission_services.h"
#include "meshdeck/v1/discovery.pb.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"
#include "proxy/http/h1_parser.h"
#include "proxy/http/headers.h"
#include "unit/proxy/compile_yaml.h"

using namespace meshdeck::proxy;
using meshdeck::proxy::testing::FakeAdmissionServices;
namespace http = boost::beast::http;

namespace {

const char* kYaml = R"(
workload: {service: productpage, version: v1}
listeners:
  - name: outbound
    address: {port: 15001}
    direction: OUTBOUND
    route_table: outbound
  - name: inbound
    address: {port: 15006}
    direction: INBOUND
    route_table: inbound
route_tables:
  - name: outbound
    virtual_hosts:
      - name: reviews
        domains: [reviews]
        routes:
          - name: reviews-api
            match: {path_prefix: /api}
            timeout: 2s
            destinations: [{cluster: "reviews|v1", weight: 90}, {cluster: "reviews|v2", weight: 10}]
            request_headers: {set: {x-route: api}}
      - name: ratings
        domains: [ratings]
        routes:
          - name: ratings-limited
            match: {path_prefix: /limited}
            rate_limit: {requests_per_second: 1, burst: 2}
            destinations: [{cluster: "reviews|v1"}]
          - name: ratings-abort
            match: {path_prefix: /abort}
            fault: {abort_percent: 50, abort_status: 503}
            destinations: [{cluster: "reviews|v1"}]
          - name: ratings-delay
            match: {path_prefix: /delay}
            fault: {delay_percent: 100, delay: 2s}
            destinations: [{cluster: "reviews|v2"}]
          - name: ratings-grpc-abort
            match: {path_prefix: /grpc-abort}
            fault: {abort_percent: 100, abort_grpc_status: 8}
            destinations: [{cluster: "reviews|v1"}]
  - name: inbound
    virtual_hosts:
      - name: local
        domains: ["*"]
        routes:
          - name: local
            match: {path_prefix: /}
            destinations: [{cluster: "reviews|v1"}]
clusters:
  - name: "reviews|v1"
    endpoints: [{address: {port: 9001}}]
  - name: "reviews|v2"
    endpoints: [{address: {port: 9002}}]
)"
                    // Outside the raw string: moc takes a "//" in a raw string for a comment.
                    "security:\n"
                    "  default_deny: true\n"
                    "  authorization:\n"
                    "    - name: allow-productpage\n"
                    "      action: ALLOW\n"
                    "      sources: [\"spiffe://mesh.local/ns/default/sa/productpage\"]\n";

ConfigPtr compile(const char* yaml) { return meshdeck::proxy::test::compileYaml(yaml); }

RequestHeader get(std::string_view host, std::string_view target) {
  RequestHeader req;
  req.method(http::verb::get);
  req.target(target);
  req.version(11);
  if (!host.empty()) req.set(http::field::host, host);
  return req;
}

CodecFraming noBody() {
  CodecFraming codec;
  codec.body_done = true;
  return codec;
}

const PeerInfo kPlainPeer{"10.0.0.7", "", false};

struct Fixture {
  ConfigPtr config = compile(kYaml);
  FakeAdmissionServices services;
  Exchange exchange(const std::string& listener) {
    Exchange ex;
    ex.config = config;
    for (const auto& l : config->listeners)
      if (l.name == listener) ex.listener = &l;
    ex.start = services.now();
    return ex;
  }
};

// For admitView(): routes without edits, faults or mirrors, a header matcher, an inbound
// listener without authorization, and routes admitView() leaves to admit().
const char* kViewYaml = R"(
workload: {service: productpage, version: v1}
listeners:
  - name: outbound
    address: {port: 15001}
    direction: OUTBOUND
    route_table: outbound
  - name: inbound
    address: {port: 15006}
    direction: INBOUND
    route_table: inbound
route_tables:
  - name: outbound
    virtual_hosts:
      - name: reviews
        domains: [reviews]
        routes:
          - name: debug
            match:
              path_prefix: /
              headers: [{name: X-Debug, exact: "1"}]
            destinations: [{cluster: "reviews|v2"}]
          - name: edited
            match: {path_prefix: /edited}
            destinations: [{cluster: "reviews|v1"}]
            request_headers:
              set: {x-route: api, traceparent: fixed, Accept: set}
              add: {x-added: one, x-request-id: two, x-forwarded-proto: three}
              remove: [x-forwarded-for, cookie, x-debug]
          - name: mirrored
            match: {path_prefix: /mirrored}
            destinations: [{cluster: "reviews|v1"}]
            mirror: {cluster: "reviews|v2"}
          - name: limited
            match: {path_prefix: /limited}
            rate_limit: {requests_per_second: 1, burst: 1}
            destinations: [{cluster: "reviews|v1"}]
          - name: all
            match: {path_prefix: /}
            timeout: 3s
            destinations: [{cluster: "reviews|v1", weight: 50}, {cluster: "reviews|v2", weight: 50}]
  - name: inbound
    virtual_hosts:
      - name: local
        domains: ["*"]
        routes:
          - name: local
            match: {path_prefix: /}
            destinations: [{cluster: "reviews|v1"}]
clusters:
  - name: "reviews|v1"
    endpoints: [{address: {port: 9001}}]
  - name: "reviews|v2"
    endpoints: [{address: {port: 9002}}]
)";

// What admission made of one request, by either path.
struct Admitted {
  bool view = false;  // admitView() took it
  Verdict verdict;
  std::string wire;  // the upstream head (kAdmit)
  std::string route, cluster, source_service, source_version;
  Exchange::TimePoint deadline;
  unsigned version = 0;
  bool is_head = false, te_trailers = false, upgrade = false, rate_limited = false;
  size_t draws = 0;
  bool head_empty = true;  // ex.head (admitView() leaves it empty)
  bool denied = false;
  int authz_rule = -2;  // ex.authz->rule, -2: no decision
  std::string code, detail;
};

// kViewYaml with inbound authorization: a DENY rule on a header, an ALLOW rule on a header
// for a source, default deny.
ConfigPtr withAuthorization(const ConfigPtr& base) {
  auto c = std::make_shared<Config>(*base);
  AuthorizationRuleConfig deny;
  deny.name = deny.policy = "no-debug";
  deny.rule = "rules[0]";
  deny.deny = true;
  HeaderMatcher debug;
  debug.name = "x-debug";
  debug.value.kind = StringMatcher::Kind::kExact;
  debug.value.value = "0";
  deny.headers.push_back(debug);
  AuthorizationRuleConfig allow;
  allow.name = allow.policy = "cookies";
  allow.rule = "rules[0]";
  allow.sources = {"id"};
  HeaderMatcher cookie;
  cookie.name = "cookie";
  allow.headers.push_back(cookie);
  AuthorizationRuleConfig plain;
  plain.name = plain.policy = "plain";
  plain.rule = "rules[1]";
  plain.paths = {"/api*"};
  c->security.authorization = {deny, allow, plain};
  c->security.default_deny = true;
  return c;
}

// `raw` through admitView() (view = true) or through the Beast fields the session builds
// (Session::buildFields()), admit() and appendHead() (view = false), with fresh services.
Admitted admitRaw(const ConfigPtr& config, const std::string& listener, std::string_view raw,
                  const PeerInfo& peer, bool view, uint64_t draw) {
  h1::RequestHead h;
  const auto r = h1::parseRequestHead(raw, h);
  if (r.status != h1::Status::kDone) qFatal("a test head does not parse");
  Framing framing;
  framing.kind = framing.declared = h.body == h1::BodyFraming::kChunked ? BodyFraming::kChunked
                                    : h.body == h1::BodyFraming::kContentLength
                                        ? BodyFraming::kContentLength
                                        : BodyFraming::kNone;
  framing.length = h.content_length;
  framing.rewrite = h.rewrite_framing;
  framing.h2c = h.h2c;
  CodecFraming codec;
  codec.body_done = framing.kind == BodyFraming::kNone;
  codec.chunked = framing.kind == BodyFraming::kChunked;
  if (framing.kind == BodyFraming::kContentLength) codec.content_length = framing.length;
  codec.upgrade = h.connection_upgrade;
  codec.decided = &framing;
  FakeAdmissionServices services;
  services.draws = {draw};
  Exchange ex;
  ex.config = config;
  for (const auto& l : config->listeners)
    if (l.name == listener) ex.listener = &l;
  ex.start = services.now();
  Admitted out;
  if (view) {
    out.view = admitView(h, codec, peer, ex, services, out.wire, out.verdict);
    out.draws = services.draws_taken;
    if (!out.view) return out;
    out.head_empty = ex.head.begin() == ex.head.end();
  } else {
    RequestHeader req;
    req.method_string(h.method);
    req.target(h.target);
    req.version(h.version);
    for (size_t i = 0; i < h.fieldCount(); ++i) req.insert(h.field(i).name, h.field(i).value);
    out.verdict = admit(req, codec, peer, ex, services);
    if (out.verdict.kind == Verdict::kAdmit) appendHead(out.wire, ex.head);
  }
  out.route = ex.route ? ex.route->name : "";
  out.cluster = ex.clusterName();
  out.source_service = ex.source_service;
  out.source_version = ex.source_version;
  out.deadline = ex.deadline;
  out.version = ex.version;
  out.is_head = ex.is_head;
  out.te_trailers = ex.te_trailers;
  out.upgrade = ex.upgrade;
  out.rate_limited = ex.rate_limited;
  out.draws = services.draws_taken;
  out.denied = ex.denied;
  if (ex.authz) out.authz_rule = ex.authz->rule;
  out.code = out.verdict.code ? out.verdict.code : "";
  out.detail = out.verdict.detail;
  return out;
}

}  // namespace

class AdmissionTest : public QObject {
  Q_OBJECT

 private slots:
  void routesAndBuildsTheUpstreamHead() {
    Fixture f;
    auto ex = f.exchange("outbound");
    auto req = get("reviews", "/api/items?x=1");
    req.set("connection", "keep-alive, x-hop");
    req.set("x-hop", "1");
    req.set("x-meshdeck-source", "spoofed/v9");
    // Fault checks draw nothing on a route without faults; the destination draw picks by
    // weight: 95 % 100 = 95 falls in the 10 % of reviews|v2.
    f.services.draws = {95};
    const auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
    QCOMPARE(v.kind, Verdict::kAdmit);
    QVERIFY(!v.delay);
    QVERIFY(ex.route);
    QCOMPARE(ex.route->name, std::string("reviews-api"));
    QVERIFY(ex.destination);
    QCOMPARE(ex.clusterName(), std::string("reviews|v2"));
    QVERIFY(ex.clusterConfig());
    QCOMPARE(ex.clusterConfig()->name, std::string("reviews|v2"));
    QCOMPARE(ex.deadline, ex.start + std::chrono::seconds(2));
    // The head that goes upstream.
    QCOMPARE(std::string(ex.head.target()), std::string("/api/items?x=1"));
    QCOMPARE(std::string(ex.head["x-forwarded-for"]), std::string("10.0.0.7"));
    QCOMPARE(std::string(ex.head["x-forwarded-proto"]), std::string("http"));
    QCOMPARE(std::string(ex.head["x-route"]), std::string("api"));
    QCOMPARE(ex.head["x-request-id"].size(), size_t(36));
    QVERIFY(ex.head.count("traceparent") == 1);
    QVERIFY(ex.head.count("x-hop") == 0);  // named by Connection: hop-by-hop
    QVERIFY(ex.head.count(http::field::connection) == 0);
    // Outbound: the source is our own workload, whatever the client claimed.
    QCOMPARE(std::string(ex.head["x-meshdeck-source"]), std::string("productpage/v1"));
    QCOMPARE(ex.source_service, std::string("productpage"));
  }

  void absoluteFormTargetBecomesOriginForm() {
    Fixture f;
    auto ex = f.exchange("outbound");
    // Host must be present (RFC 9112 §3.2); the authority of the target replaces it.
    auto req = get("other.example", "http://REVIEWS/api/x?q=2");
    const auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
    QCOMPARE(v.kind, Verdict::kAdmit);
    QCOMPARE(std::string(ex.head.target()), std::string("/api/x?q=2"));
    QCOMPARE(std::string(ex.head[http::field::host]), std::string("reviews"));
  }

  void noRouteIs404() {
    Fixture f;
    auto ex = f.exchange("outbound");
    auto req = get("unknown", "/api");
    auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
    QCOMPARE(v.kind, Verdict::kLocal);
    QCOMPARE(v.status, 404u);
    QCOMPARE(std::string(v.code), std::string(error_code::kNoRoute));
    QCOMPARE(v.detail, std::string("no virtual host"));

    auto ex2 = f.exchange("outbound");
    auto req2 = get("reviews", "/other");
    v = admit(req2, noBody(), kPlainPeer, ex2, f.services);
    QCOMPARE(v.status, 404u);
    QCOMPARE(v.detail, std::string("no route"));
    QVERIFY(ex2.vhost && !ex2.route);
  }

  void noConfigIs503() {
    Fixture f;
    auto ex = f.exchange("outbound");
    ex.config = nullptr;
    auto req = get("reviews", "/api");
    const auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
    QCOMPARE(v.kind, Verdict::kLocal);
    QCOMPARE(v.status, 503u);
  }

  void malformedRequestsAreRefused() {
    Fixture f;
    {
      auto ex = f.exchange("outbound");
      auto req = get("reviews", "/api");
      req.set(http::field::content_length, "5");
      // The codec read no body: it disagrees with the framing decision.
      const auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
      QCOMPARE(v.kind, Verdict::kRefuse);
      QCOMPARE(v.status, 400u);
      QCOMPARE(std::string(v.code), std::string("framing_mismatch"));
    }
    {
      auto ex = f.exchange("outbound");
      auto req = get("reviews", "/api");
      req.set(http::field::content_length, "5");
      CodecFraming codec;
      codec.content_length = 5;
      const auto v = admit(req, codec, kPlainPeer, ex, f.services);
      QCOMPARE(v.kind, Verdict::kAdmit);
    }
    {
      auto ex = f.exchange("outbound");
      auto req = get("", "/api");  // HTTP/1.1 without Host
      const auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
      QCOMPARE(v.kind, Verdict::kRefuse);
      QCOMPARE(v.status, 400u);
    }
    {
      auto ex = f.exchange("outbound");
      auto req = get("reviews", "reviews:443");
      req.method(http::verb::connect);
      const auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
      QCOMPARE(v.kind, Verdict::kRefuse);
      QCOMPARE(v.status, 501u);
    }
  }

  // The HTTP/1.1 codec makes checkRequestHead()'s checks itself and hands its decision over
  // (CodecFraming::decided): admission takes it as it is instead of deciding again.
  void aDecidedFramingIsTakenAsItIs() {
    RequestHeader req;
    req.method(boost::beast::http::verb::post);
    req.target("/");
    req.version(10);  // no Host, no framing lines: refused if admission decided itself
    Framing decided;
    decided.kind = decided.declared = BodyFraming::kChunked;
    decided.rewrite = true;
    CodecFraming codec;
    codec.chunked = true;
    codec.decided = &decided;
    Exchange ex;
    QCOMPARE(checkRequestHead(req, codec, ex).kind, Verdict::kAdmit);
    QCOMPARE(ex.version, 10u);
    QVERIFY(ex.framing.kind == BodyFraming::kChunked);
    QVERIFY(ex.framing.rewrite);
    codec.decided = nullptr;
    req.version(11);
    const Verdict v = checkRequestHead(req, codec, ex);
    QCOMPARE(v.kind, Verdict::kRefuse);
    QCOMPARE(std::string(v.code), std::string("missing_host"));
  }

  void authorizationDeniesWith403() {
    Fixture f;
    auto ex = f.exchange("inbound");
    auto req = get("local", "/x");
    const PeerInfo stranger{"10.0.0.9", "spiffe://mesh.local/ns/default/sa/stranger", true};
    auto v = admit(req, noBody(), stranger, ex, f.services);
    QCOMPARE(v.kind, Verdict::kLocal);
    QCOMPARE(v.status, 403u);
    QCOMPARE(std::string(v.code), std::string(error_code::kDenied));
    QVERIFY(ex.denied);
    QVERIFY(ex.authz && !ex.authz->allowed);

    auto ex2 = f.exchange("inbound");
    auto req2 = get("local", "/x");
    req2.set("x-meshdeck-source", "productpage/v1");
    const PeerInfo friendly{"10.0.0.8", "spiffe://mesh.local/ns/default/sa/productpage", true};
    v = admit(req2, noBody(), friendly, ex2, f.services);
    QCOMPARE(v.kind, Verdict::kAdmit);
    QVERIFY(!ex2.denied);
    // Inbound: the source label is taken from the peer's proxy, and not passed on.
    QCOMPARE(ex2.source_service, std::string("productpage"));
    QCOMPARE(ex2.source_version, std::string("v1"));
    QCOMPARE(std::string(ex2.head["x-forwarded-proto"]), std::string("https"));
    QVERIFY(ex2.head.count("x-meshdeck-source") == 0);
    // Both decisions counted, by slot.
    const auto totals = f.services.stats().authzTotals();
    uint64_t allowed = 0, denied = 0;
    for (const auto& [id, counts] : totals) {
      allowed += counts.allowed;
      denied += counts.denied;
    }
    QCOMPARE(allowed, uint64_t(1));
    QCOMPARE(denied, uint64_t(1));
  }

  void rateLimitIs429UntilTheBucketRefills() {
    Fixture f;
    auto once = [&]() -> unsigned {
      auto ex = f.exchange("outbound");
      auto req = get("ratings", "/limited");
      const auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
      if (v.kind == Verdict::kLocal && !ex.rate_limited) return 0;  // a 429 is flagged
      return v.kind == Verdict::kAdmit ? 200u : v.status;
    };
    QCOMPARE(once(), 200u);  // burst of 2
    QCOMPARE(once(), 200u);
    QCOMPARE(once(), 429u);
    f.services.advance(std::chrono::milliseconds(500));
    QCOMPARE(once(), 429u);  // half a token
    f.services.advance(std::chrono::milliseconds(500));
    QCOMPARE(once(), 200u);  // one token per second
    QCOMPARE(once(), 429u);
  }

  void faultAbortsItsPercentage() {
    Fixture f;
    // Draws: delay percentage (0 %: never), abort percentage (50 %: values below 500000 of
    // each million abort), then the destination.
    f.services.draws = {0, 499999, 0, 500000, 0};
    auto ex = f.exchange("outbound");
    auto req = get("ratings", "/abort");
    auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
    QCOMPARE(v.kind, Verdict::kLocal);
    QCOMPARE(v.status, 503u);
    QCOMPARE(std::string(v.code), std::string(error_code::kFault));
    QVERIFY(ex.fault);
    QVERIFY(!ex.destination);

    auto ex2 = f.exchange("outbound");
    auto req2 = get("ratings", "/abort");
    v = admit(req2, noBody(), kPlainPeer, ex2, f.services);
    QCOMPARE(v.kind, Verdict::kAdmit);
    QVERIFY(!ex2.fault);
    QVERIFY(ex2.destination);
    QCOMPARE(f.services.draws_taken, size_t(5));
  }

  // A fault with a gRPC status: the verdict carries it (gRPC callers get it trailers-only), and
  // its HTTP status is the one that status stands for (RESOURCE_EXHAUSTED: 429).
  void faultAbortsWithAGrpcStatus() {
    Fixture f;
    auto ex = f.exchange("outbound");
    auto req = get("ratings", "/grpc-abort");
    const auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
    QCOMPARE(v.kind, Verdict::kLocal);
    QCOMPARE(v.status, 429u);
    QCOMPARE(v.grpc_status, 8);
    QVERIFY(ex.fault);
    // A fault with an HTTP status only leaves the gRPC status to the status's mapping.
    f.services.draws = {0, 0};
    auto ex2 = f.exchange("outbound");
    auto req2 = get("ratings", "/abort");
    QCOMPARE(admit(req2, noBody(), kPlainPeer, ex2, f.services).grpc_status, -1);
  }

  // grpc-timeout: the earlier of it and the route's timeout (2 s) is the call's deadline; a
  // malformed one is counted and not passed on; a request that is not gRPC keeps its header
  // as it is and the route's deadline.
  void grpcTimeoutCapsTheDeadline() {
    using namespace std::chrono_literals;
    Fixture f;
    const auto call = [&](const char* timeout, Exchange::Protocol protocol) {
      auto ex = f.exchange("outbound");
      ex.protocol = protocol;
      auto req = get("reviews", "/api/x");
      req.set(http::field::content_type, "application/grpc");
      req.set("grpc-timeout", timeout);
      const auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
      [&] { QCOMPARE(v.kind, Verdict::kAdmit); }();
      return ex;
    };
    auto ex = call("500m", Exchange::Protocol::kGrpc);
    QCOMPARE(ex.deadline - ex.start, Duration(500ms));
    QCOMPARE(std::string(ex.head["grpc-timeout"]), std::string("500m"));
    ex = call("10S", Exchange::Protocol::kGrpc);
    QCOMPARE(ex.deadline - ex.start, Duration(2s));
    QCOMPARE(f.services.stats().grpc_timeout_malformed, uint64_t{0});
    for (const char* bad : {"1x", "", "123456789m", "-5S", "5 S"}) {
      ex = call(bad, Exchange::Protocol::kGrpc);
      QCOMPARE(ex.deadline - ex.start, Duration(2s));
      QVERIFY(ex.head.find("grpc-timeout") == ex.head.end());
    }
    QCOMPARE(f.services.stats().grpc_timeout_malformed, uint64_t{5});
    ex = call("500m", Exchange::Protocol::kHttp2);
    QCOMPARE(ex.deadline - ex.start, Duration(2s));
    QCOMPARE(std::string(ex.head["grpc-timeout"]), std::string("500m"));
    ex = call("1x", Exchange::Protocol::kHttp1);
    QCOMPARE(std::string(ex.head["grpc-timeout"]), std::string("1x"));
    QCOMPARE(f.services.stats().grpc_timeout_malformed, uint64_t{5});
  }

  void faultDelaysThenPreparesTheRequest() {
    Fixture f;
    auto ex = f.exchange("outbound");
    auto req = get("ratings", "/delay");
    auto v = admit(req, noBody(), kPlainPeer, ex, f.services);
    QCOMPARE(v.kind, Verdict::kAdmit);
    QVERIFY(v.delay);
    QCOMPARE(*v.delay, Duration(std::chrono::seconds(2)));
    QVERIFY(ex.fault);
    QVERIFY(!ex.destination);  // not yet: the caller waits first
    v = prepareUpstreamRequest(req, noBody(), kPlainPeer, ex, f.services);
    QCOMPARE(v.kind, Verdict::kAdmit);
    QVERIFY(!v.delay);
    QCOMPARE(ex.clusterName(), std::string("reviews|v2"));
  }

  void expectContinueIsAnsweredByTheProxy() {
    Fixture f;
    auto ex = f.exchange("outbound");
    auto req = get("reviews", "/api");
    req.method(http::verb::post);
    req.set(http::field::content_length, "3");
    req.set(http::field::expect, "100-continue");
    CodecFraming codec;
    codec.content_length = 3;
    const auto v = admit(req, codec, kPlainPeer, ex, f.services);
    QCOMPARE(v.kind, Verdict::kAdmit);
    QVERIFY(v.expect_continue);
    QVERIFY(ex.head.count(http::field::expect) == 0);
  }

  // admitView() against the Beast path (admit() + appendHead() over the fields the session
  // builds) on seeded random heads: the same upstream bytes and the same exchange, or a
  // fallback that drew nothing.
  void viewAdmissionWritesTheHeadAdmitWould() {
    const ConfigPtr plainConfig = compile(kViewYaml);
    const ConfigPtr authzConfig = withAuthorization(plainConfig);
    const std::vector<std::string> lines = {
        "Accept: */*",
        "User-Agent: load/1.0",
        "accept:   text/html  ",
        "X-Empty:",
        "X-Empty2: ",
        "Connection: keep-alive",
        "Connection: close, X-Hop",
        "connection: Keep-Alive, x-forwarded-for, TE",
        "X-Hop: 1",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "TE: trailers",
        "te: gzip, Trailers",
        "Trailer: X-Sum",
        "Proxy-Authorization: Basic eA==",
        "Proxy-Authenticate: Basic",
        "Upgrade: websocket",
        "Expect: 100-continue",
        "expect: 100-Continue",
        "X-Forwarded-For: 1.2.3.4",
        "x-forwarded-for: 5.6.7.8",
        "X-Forwarded-Proto: https",
        "X-Request-Id: abc",
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Traceparent: garbage",
        "x-meshdeck-source: ratings/v2",
        "X-Meshdeck-Source: nover",
        "X-Debug: 1",
        "X-Debug: 0",
        "Cookie: a=b; c=d",
        "Content-Length: 5",
        "Cache-Control: no-cache",
    };
    const std::vector<std::string> requestLines = {
        "GET / HTTP/1.1",
        "POST /edited/p HTTP/1.1",
        "GET /edited?a=b HTTP/1.1",
        "GET /api/x?q=1 HTTP/1.1",
        "HEAD /x HTTP/1.1",
        "POST /post HTTP/1.1",
        "GET /edited HTTP/1.1",
        "GET /mirrored HTTP/1.1",
        "GET /limited HTTP/1.1",
        "GET /x HTTP/1.0",
        "OPTIONS * HTTP/1.1",
        "GET http://reviews/ HTTP/1.1",
        "CONNECT reviews:80 HTTP/1.1",
        "BREW / HTTP/1.1",
    };
    const std::vector<PeerInfo> peers = {kPlainPeer, {"", "", false}, {"10.0.0.9", "id", true}};
    std::mt19937_64 rng(20);
    size_t viewed = 0, fellBack = 0, admitted = 0, denied = 0;
    for (int round = 0; round < 6000; ++round) {
      std::string raw = requestLines[rng() % requestLines.size()] + "\r\n";
      const bool host = rng() % 8 != 0;
      const std::string hostLine = rng() % 4 == 0 ? "Host: Reviews:80" : "Host: reviews";
      const size_t count = rng() % 8;
      std::vector<std::string> chosen;
      for (size_t i = 0; i < count; ++i) chosen.push_back(lines[rng() % lines.size()]);
      const size_t hostAt = chosen.empty() ? 0 : rng() % (chosen.size() + 1);
      for (size_t i = 0; i <= chosen.size(); ++i) {
        if (host && i == hostAt) raw += hostLine + "\r\n";
        if (i < chosen.size()) raw += chosen[i] + "\r\n";
      }
      raw += "\r\n";
      if (raw.find("Content-Length") != std::string::npos) raw += "hello";
      h1::RequestHead probe;
      if (h1::parseRequestHead(raw, probe).status != h1::Status::kDone) continue;
      const std::string listener = rng() % 3 == 0 ? "inbound" : "outbound";
      const ConfigPtr& config = rng() % 2 ? authzConfig : plainConfig;
      const PeerInfo& peer = peers[rng() % peers.size()];
      const uint64_t draw = rng() % 100;
      const Admitted v = admitRaw(config, listener, raw, peer, true, draw);
      if (QTest::currentTestFailed()) return;
      QVERIFY(v.head_empty);
      if (!v.view) {
        QCOMPARE(v.draws, size_t(0));  // a fallback drew nothing
        ++fellBack;
        continue;
      }
      ++viewed;
      const Admitted b = admitRaw(config, listener, raw, peer, false, draw);
      const QByteArray what = QByteArray::fromStdString(listener + " " + raw);
      QVERIFY2(v.verdict.kind == b.verdict.kind, what);
      QVERIFY2(v.verdict.status == b.verdict.status, what);
      QVERIFY2(v.verdict.expect_continue == b.verdict.expect_continue, what);
      QVERIFY2(v.wire == b.wire, (what + "\n---\n" + QByteArray::fromStdString(v.wire) + "---\n" +
                                  QByteArray::fromStdString(b.wire))
                                     .constData());
      QVERIFY2(v.route == b.route && v.cluster == b.cluster && v.deadline == b.deadline, what);
      QVERIFY2(v.source_service == b.source_service && v.source_version == b.source_version, what);
      QVERIFY2(v.version == b.version && v.is_head == b.is_head && v.upgrade == b.upgrade, what);
      QVERIFY2(v.te_trailers == b.te_trailers && v.rate_limited == b.rate_limited, what);
      QVERIFY2(v.draws == b.draws, what);
      QVERIFY2(v.denied == b.denied && v.authz_rule == b.authz_rule, what);
      QVERIFY2(v.code == b.code && v.detail == b.detail, what);
      if (v.verdict.kind == Verdict::kAdmit) ++admitted;
      if (v.denied) ++denied;
    }
    qInfo("admitView took %zu heads (%zu admitted, %zu denied), left %zu to admit()", viewed,
          admitted, denied, fellBack);
    QVERIFY(denied > 100);
    QVERIFY(viewed > 1000);
    QVERIFY(admitted > 1000);
    QVERIFY(fellBack > 1000);
  }

  // What admitView() leaves to admit(), and what it takes.
  void viewAdmissionLeavesRarePathsToAdmit() {
    const ConfigPtr config = compile(kViewYaml);
    const auto took = [&](const std::string& raw, const char* listener = "outbound") {
      return admitRaw(config, listener, raw, kPlainPeer, true, 0).view;
    };
    QVERIFY(took("GET / HTTP/1.1\r\nHost: reviews\r\nA: 1\r\nA: 2\r\nB: 3\r\n\r\n"));
    QVERIFY(took("GET /x HTTP/1.1\r\nHost: nowhere\r\n\r\n", "inbound"));
    // Beast's order differs from the received one.
    QVERIFY(!took("GET / HTTP/1.1\r\nHost: reviews\r\nA: 1\r\nB: 3\r\na: 2\r\n\r\n"));
    QVERIFY(took("GET /edited HTTP/1.1\r\nHost: reviews\r\nCookie: a\r\n\r\n"));  // edits
    // A route's `add` of a name the head has (Beast puts it after that line).
    QVERIFY(!took("GET /edited HTTP/1.1\r\nHost: reviews\r\nX-Added: 0\r\n\r\n"));
    QVERIFY(!took("GET /mirrored HTTP/1.1\r\nHost: reviews\r\n\r\n"));        // mirror
    QVERIFY(!took("GET / HTTP/1.1\r\nHost: nowhere\r\n\r\n"));                // no virtual host
    QVERIFY(!took("GET http://reviews/ HTTP/1.1\r\nHost: reviews\r\n\r\n"));  // absolute
    QVERIFY(
        !took("GET / HTTP/1.1\r\nHost: reviews\r\nConnection: upgrade\r\n"
              "Upgrade: websocket\r\n\r\n"));
    QVERIFY(!took("POST / HTTP/1.1\r\nHost: reviews\r\nContent-Length: 01\r\n\r\nx"));
  }

  void clustersAreResolvedOncePerConfig() {
    Fixture f;
    const auto& c = *f.config;
    QCOMPARE(c.cluster_slots.size(), size_t(2));
    for (const auto& [_, table] : c.route_tables)
      for (const auto& host : table.virtual_hosts)
        for (const auto& route : host.routes)
          for (const auto& d : route.destinations) {
            QVERIFY(d.cluster_slot >= 0);
            QCOMPARE(c.cluster_slots[static_cast<size_t>(d.cluster_slot)]->name, d.cluster);
          }
    // A hand-built config without slots is served by name.
    Config plain;
    ClusterConfig a;
    a.name = "a";
    plain.clusters["a"] = std::make_shared<const ClusterConfig>(a);
    WeightedDestination d{"a", 1};
    Exchange ex;
    ex.config = std::make_shared<const Config>(plain);
    ex.destination = &d;
    QVERIFY(ex.clusterConfig());
    QCOMPARE(ex.clusterConfig()->name, std::string("a"));
  }
};

QTEST_APPLESS_MAIN(AdmissionTest)
#include "admission_test.moc"
