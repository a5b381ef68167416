// Admission as a pure function: route match, local replies (404, 403, 429, fault), the
// upstream head, with a simulated clock and scripted random values. No sockets.
#include "proxy/admission.h"

#include <QtTest>
#include <string>

#include "fake_admission_services.h"
#include "meshdeck/v1/discovery.pb.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"
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
