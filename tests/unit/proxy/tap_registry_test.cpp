// The proxy's tap registry (docs/tap.md) as plain calls with a simulated clock: start and end
// filters, the token bucket of a tap's rate share, the bounded buffer and its drops, header
// redaction, and that nothing is built while no tap is open. No sockets.
#include "proxy/tap/tap_registry.h"

#include <QtTest>
#include <chrono>
#include <map>

using namespace meshdeck::proxy;
using namespace std::chrono_literals;
using SteadyTime = TapRegistry::SteadyTime;

namespace {

const SteadyTime kT0{std::chrono::seconds(1000)};

TapSpec spec(uint64_t id) {
  TapSpec s;
  s.tap_id = id;
  s.events_per_second = 1000;
  s.burst = 1000;
  return s;
}

// A request from productpage to reviews/v2, as the outbound proxy of productpage sees it.
TapStartFacts outbound(std::string_view path = "/api/reviews/1", std::string_view method = "GET") {
  TapStartFacts f;
  f.outbound = true;
  f.workload_service = "productpage";
  f.workload_version = "v1";
  f.method = method;
  f.target = path;
  f.host = "reviews:9080";
  return f;
}

TapEndFacts end(uint32_t status = 200, uint64_t latency_us = 1500) {
  TapEndFacts f;
  f.client_side = true;
  f.source_service = "productpage";
  f.source_version = "v1";
  f.destination_service = "reviews";
  f.destination_version = "v2";
  f.protocol = "http/1.1";
  f.route = "reviews-default";
  f.status = status;
  f.latency_us = latency_us;
  f.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  return f;
}

// Runs one request through start and finish; true when a capture was made.
bool request(TapRegistry& r, const TapStartFacts& s, const TapEndFacts& e, SteadyTime now = kT0) {
  if (!r.active()) return false;
  auto capture = r.start(s);
  if (!capture) return false;
  r.finish(*capture, e, now);
  return true;
}

}  // namespace

class TapRegistryTest : public QObject {
  Q_OBJECT

 private slots:
  void idleBuildsNothing() {
    TapRegistry r;
    QVERIFY(!r.active());
    QVERIFY(!request(r, outbound(), end()));
    // Even called directly, with no tap there is nothing to match.
    QVERIFY(r.start(outbound()) == nullptr);
    QCOMPARE(r.counters().built.load(), 0u);
    std::map<uint64_t, uint64_t> dropped;
    QVERIFY(r.drain(&dropped).empty());
    QVERIFY(dropped.empty());
  }

  void closingTheLastTapMakesItIdle() {
    TapRegistry r;
    r.set({spec(1)});
    QVERIFY(r.active());
    r.set({});
    QVERIFY(!r.active());
  }

  void startFilters() {
    TapRegistry r;
    auto by_path = spec(1);
    by_path.path_prefix = "/api";
    auto by_method = spec(2);
    by_method.method = "POST";
    auto by_authority = spec(3);
    by_authority.authority = "reviews";  // matches "reviews:9080" by host
    auto wrong_source = spec(4);
    wrong_source.source_service = "catalog";
    r.set({by_path, by_method, by_authority, wrong_source});
    auto c = r.start(outbound("/api/reviews/1?x=/other"));
    QVERIFY(c);
    QCOMPARE(c->mask, uint64_t{0b101});  // path and authority; not POST; not from catalog
    QCOMPARE(c->path, std::string("/api/reviews/1?x=/other"));
    QCOMPARE(c->authority, std::string("reviews:9080"));
    QVERIFY(r.start(outbound("/health")) != nullptr);  // tap 3 (authority) still matches
    auto only_path = spec(5);
    only_path.path_prefix = "/api";
    r.set({only_path});
    QVERIFY(r.start(outbound("/health")) == nullptr);
    // The query is not part of the path the prefix is matched against.
    only_path.path_prefix = "/health?";
    r.set({only_path});
    QVERIFY(r.start(outbound("/health?x=1")) == nullptr);
  }

  void absoluteFormTargets() {
    TapRegistry r;
    auto s = spec(1);
    s.path_prefix = "/api";
    s.authority = "reviews";
    r.set({s});
    auto f = outbound("http://reviews:9080/api/x");
    f.host = "";
    auto c = r.start(f);
    QVERIFY(c);
    QCOMPARE(c->path, std::string("/api/x"));
    QCOMPARE(c->authority, std::string("reviews:9080"));
  }

  void directionAndWorkloadSide() {
    TapRegistry r;
    auto in = spec(1);
    in.direction = TapSpec::Direction::kInbound;
    auto to_reviews = spec(2);
    to_reviews.destination_service = "reviews";  // decided at the end on an outbound proxy
    r.set({in, to_reviews});
    auto c = r.start(outbound());
    QVERIFY(c);
    QCOMPARE(c->mask, uint64_t{0b10});
    // Inbound on the reviews proxy: the workload is the destination, known at the start.
    TapStartFacts inbound = outbound();
    inbound.outbound = false;
    inbound.workload_service = "ratings";
    c = r.start(inbound);
    QVERIFY(c);
    QCOMPARE(c->mask, uint64_t{0b01});  // to_reviews cannot match a ratings proxy's inbound
  }

  void endFilters() {
    TapRegistry r;
    auto errors = spec(1);
    errors.status_class = 5;
    auto slow = spec(2);
    slow.min_latency_us = 100'000;
    auto to_v1 = spec(3);
    to_v1.destination_version = "v1";
    auto either_side = spec(4);
    either_side.service = "reviews";
    r.set({errors, slow, to_v1, either_side});
    QVERIFY(request(r, outbound(), end(200, 1500)));
    QVERIFY(request(r, outbound(), end(503, 1500)));
    QVERIFY(request(r, outbound(), end(200, 250'000)));
    std::map<uint64_t, uint64_t> dropped;
    const auto events = r.drain(&dropped);
    std::map<uint64_t, int> per_tap;
    for (const auto& e : events) ++per_tap[e.tap_id];
    QCOMPARE(per_tap[1], 1);  // the 503
    QCOMPARE(per_tap[2], 1);  // the 250 ms one
    QCOMPARE(per_tap[3], 0);  // reviews v2, never v1
    QCOMPARE(per_tap[4], 3);  // reviews is the destination of all three
    QVERIFY(dropped.empty());
  }

  void grpcStatusClassIsItsHttpEquivalent() {
    TapRegistry r;
    auto errors = spec(1);
    errors.status_class = 5;
    r.set({errors});
    auto e = end(200);
    e.grpc_status = 14;  // UNAVAILABLE stands for 503
    QVERIFY(request(r, outbound(), e));
    e.grpc_status = 0;
    QVERIFY(request(r, outbound(), e));
    const auto events = r.drain(nullptr);
    QCOMPARE(events.size(), size_t{1});
    QCOMPARE(events[0].grpc_status.value_or(99), 14u);
  }

  void eventCarriesTheFacts() {
    TapRegistry r;
    r.set({spec(7)});
    auto e = end(201, 4321);
    e.bytes_in = 10;
    e.bytes_out = 20;
    e.retries = 2;
    e.mtls = true;
    e.error_code = "UT";
    QVERIFY(request(r, outbound("/api/x", "PUT"), e));
    const auto events = r.drain(nullptr);
    QCOMPARE(events.size(), size_t{1});
    const TapRecord& ev = events[0];
    QCOMPARE(ev.tap_id, 7u);
    QCOMPARE(ev.method, std::string("PUT"));
    QCOMPARE(ev.path, std::string("/api/x"));
    QCOMPARE(ev.status, 201u);
    QCOMPARE(ev.latency_us, 4321u);
    QCOMPARE(ev.bytes_in, 10u);
    QCOMPARE(ev.bytes_out, 20u);
    QCOMPARE(ev.retries, 2u);
    QVERIFY(ev.mtls);
    QVERIFY(ev.client_side);
    QCOMPARE(ev.error_code, std::string("UT"));
    QCOMPARE(ev.route, std::string("reviews-default"));
    QCOMPARE(ev.destination_version, std::string("v2"));
    QCOMPARE(ev.trace_id, std::string("0af7651916cd43dd8448eb211c80319c"));
    QCOMPARE(ev.span_id, std::string("b7ad6b7169203331"));
    QVERIFY(ev.request_headers.empty());  // not asked for
    QCOMPARE(r.counters().built.load(), 1u);
  }

  // Issue 23: an event names both ends' SPIFFE ids. The proxy's own is the source's on the
  // client side and the destination's on the server side; the other end's is the one its
  // mutual TLS peer presented (the upstream's, the downstream's), "" over plain text.
  void eventCarriesBothIdentities() {
    const std::string productpage = "spiffe://mesh.local/ns/default/sa/productpage";
    const std::string reviews = "spiffe://mesh.local/ns/default/sa/reviews";
    TapRegistry r;
    r.set({spec(1)});

    // Client side over mutual TLS: productpage's proxy, reviews upstream.
    auto client = end();
    client.own_identity = productpage;
    client.upstream_identity = reviews;
    QVERIFY(request(r, outbound(), client));
    // Client side over plain text, with a certificate of its own.
    client.upstream_identity = "";
    QVERIFY(request(r, outbound(), client));
    // Client side without a workload certificate.
    client.own_identity = "";
    QVERIFY(request(r, outbound(), client));

    // Server side: reviews' inbound proxy, productpage the mutual TLS peer. The upstream
    // (the local workload) does not count on this side.
    TapStartFacts in = outbound();
    in.outbound = false;
    in.workload_service = "reviews";
    in.peer_identity = productpage;
    auto server = end();
    server.client_side = false;
    server.own_identity = reviews;
    server.upstream_identity = "spiffe://mesh.local/ns/default/sa/not-a-mesh-peer";
    QVERIFY(request(r, in, server));
    // Server side over plain text.
    in.peer_identity = "";
    QVERIFY(request(r, in, server));

    const auto events = r.drain(nullptr);
    QCOMPARE(events.size(), size_t{5});
    QVERIFY(events[0].client_side);
    QCOMPARE(events[0].source_identity, productpage);
    QCOMPARE(events[0].destination_identity, reviews);
    QCOMPARE(events[1].source_identity, productpage);
    QCOMPARE(events[1].destination_identity, std::string());
    QCOMPARE(events[2].source_identity, std::string());
    QCOMPARE(events[2].destination_identity, std::string());
    QVERIFY(!events[3].client_side);
    QCOMPARE(events[3].source_identity, productpage);
    QCOMPARE(events[3].destination_identity, reviews);
    QCOMPARE(events[4].source_identity, std::string());
    QCOMPARE(events[4].destination_identity, reviews);
  }

  void rateShareIsATokenBucket() {
    TapRegistry r;
    auto s = spec(1);
    s.events_per_second = 10;
    s.burst = 10;
    r.set({s});
    // 50 requests at the same instant: the burst passes, the rest are dropped and counted.
    for (int i = 0; i < 50; ++i) QVERIFY(request(r, outbound(), end(), kT0));
    std::map<uint64_t, uint64_t> dropped;
    QCOMPARE(r.drain(&dropped).size(), size_t{10});
    QCOMPARE(dropped[1], 40u);
    QCOMPARE(r.counters().dropped_rate.load(), 40u);
    // Half a second later five more tokens have come back, no more.
    for (int i = 0; i < 20; ++i) QVERIFY(request(r, outbound(), end(), kT0 + 500ms));
    QCOMPARE(r.drain(&dropped).size(), size_t{5});
    QCOMPARE(dropped[1], 15u);
    // Over ten simulated seconds at 100 requests a second: never more than rate x time + burst.
    size_t events = 0;
    for (int i = 0; i < 1000; ++i) {
      request(r, outbound(), end(), kT0 + 500ms + std::chrono::milliseconds(10 * i));
      events += r.drain(nullptr).size();
    }
    QVERIFY2(events <= 10 * 10 + 10, qPrintable(QString::number(events)));
    QVERIFY2(events >= 10 * 10 - 1, qPrintable(QString::number(events)));
  }

  void aNewShareKeepsTheBucket() {
    TapRegistry r;
    auto s = spec(1);
    s.events_per_second = 2;
    s.burst = 2;
    r.set({s});
    for (int i = 0; i < 5; ++i) request(r, outbound(), end(), kT0);
    QCOMPARE(r.drain(nullptr).size(), size_t{2});
    s.events_per_second = 1;
    r.set({s});  // re-planned (a proxy joined): the bucket is not refilled
    request(r, outbound(), end(), kT0);
    QCOMPARE(r.drain(nullptr).size(), size_t{0});
  }

  void bufferIsBoundedAndDropsAreCounted() {
    TapRegistry r;
    auto s = spec(1);
    s.events_per_second = 1e6;
    s.burst = 1'000'000;
    r.set({s});
    const size_t n = TapRegistry::kBufferEvents + 100;
    for (size_t i = 0; i < n; ++i) request(r, outbound(), end());
    std::map<uint64_t, uint64_t> dropped;
    QCOMPARE(r.drain(&dropped).size(), TapRegistry::kBufferEvents);
    QCOMPARE(dropped[1], 100u);
    QCOMPARE(r.counters().dropped_buffer.load(), 100u);
    // Drained: room again.
    request(r, outbound(), end());
    QCOMPARE(r.drain(&dropped).size(), size_t{1});
    QVERIFY(dropped.empty());
  }

  void headersAreRedacted() {
    TapRegistry r;
    auto with = spec(1);
    with.headers = true;
    with.redact_headers = {"X-Api-Key"};
    auto without = spec(2);
    r.set({with, without});
    auto c = r.start(outbound());
    QVERIFY(c);
    QVERIFY(c->wants_headers);
    c->addHeader("Authorization", "Bearer secret");
    c->addHeader("cookie", "session=1");
    c->addHeader("Set-Cookie", "a=b");
    c->addHeader("proxy-authorization", "Basic x");
    c->addHeader("x-api-key", "k");
    c->addHeader("user-agent", "curl/8");
    r.finish(*c, end(), kT0);
    const auto events = r.drain(nullptr);
    QCOMPARE(events.size(), size_t{2});
    for (const auto& e : events) {
      if (e.tap_id == 2) {
        QVERIFY(e.request_headers.empty());
        continue;
      }
      QCOMPARE(e.request_headers.size(), size_t{6});
      for (const auto& [name, value] : e.request_headers) {
        if (name == "user-agent")
          QCOMPARE(value, std::string("curl/8"));
        else
          QCOMPARE(value, std::string(TapRegistry::kRedacted));
        QVERIFY(value.find("secret") == std::string::npos);
      }
    }
  }

  void responseHeadersAreRedactedToo() {
    TapRegistry r;
    auto with = spec(1);
    with.headers = true;
    with.redact_headers = {"x-session-token"};
    auto without = spec(2);
    r.set({with, without});
    auto c = r.start(outbound());
    QVERIFY(c);
    // A Beast-like head and a list of pairs (the HTTP/2 codec's) take the same way.
    const std::vector<std::pair<std::string, std::string>> head{
        {"Content-Type", "text/plain"},
        {"Set-Cookie", "session=TOPSECRET1"},
        {"X-Session-Token", "TOPSECRET2"},
        {"x-served-by", "reviews-v2"}};
    c->addResponseHead(head);
    r.finish(*c, end(), kT0);
    const auto events = r.drain(nullptr);
    QCOMPARE(events.size(), size_t{2});
    for (const auto& e : events) {
      if (e.tap_id == 2) {
        QVERIFY(e.response_headers.empty());  // not asked for
        continue;
      }
      std::map<std::string, std::string> h(e.response_headers.begin(), e.response_headers.end());
      QCOMPARE(h.size(), size_t{4});
      QCOMPARE(h["content-type"], std::string("text/plain"));
      QCOMPARE(h["x-served-by"], std::string("reviews-v2"));
      QCOMPARE(h["set-cookie"], std::string(TapRegistry::kRedacted));
      QCOMPARE(h["x-session-token"], std::string(TapRegistry::kRedacted));
      for (const auto& [name, value] : e.response_headers)
        QVERIFY(value.find("TOPSECRET") == std::string::npos);
      QVERIFY(e.request_headers.empty());  // none were offered
    }
    // Headers not asked for by any tap: none kept.
    r.set({spec(3)});
    auto bare = r.start(outbound());
    QVERIFY(bare && !bare->wants_headers);
    bare->addResponseHead(head);
    QVERIFY(bare->response_headers.empty());
  }

  void thePeersErrorCodeWhenRelayed() {
    TapRegistry r;
    r.set({spec(1)});
    // The outbound proxy relayed the inbound proxy's 403 (its authorization said no).
    auto c = r.start(outbound());
    QVERIFY(c);
    c->addResponseHead(std::vector<std::pair<std::string, std::string>>{
        {"x-meshdeck-error", "DENY"}, {"content-type", "text/plain"}});
    r.finish(*c, end(403), kT0);
    // Its own reply's code wins over the head's.
    auto own = r.start(outbound());
    own->addResponseHead(
        std::vector<std::pair<std::string, std::string>>{{"x-meshdeck-error", "UT"}});
    auto facts = end(504);
    facts.error_code = "UT";
    r.finish(*own, facts, kT0);
    // A plain response: no code.
    auto plain = r.start(outbound());
    plain->addResponseHead(
        std::vector<std::pair<std::string, std::string>>{{"content-type", "text/plain"}});
    r.finish(*plain, end(200), kT0);
    const auto events = r.drain(nullptr);
    QCOMPARE(events.size(), size_t{3});
    QCOMPARE(events[0].error_code, std::string("DENY"));
    QCOMPARE(events[1].error_code, std::string("UT"));
    QCOMPARE(events[2].error_code, std::string());
  }

  void firstHopSeesEachRequestOnce() {
    TapRegistry r;
    auto mesh = spec(1);
    mesh.direction = TapSpec::Direction::kFirstHop;
    r.set({mesh});
    // Outbound: the caller's proxy is the first mesh proxy.
    QVERIFY(r.start(outbound()) != nullptr);
    // Inbound from a caller's sidecar (labelled): already seen by that sidecar's outbound.
    TapStartFacts in;
    in.outbound = false;
    in.workload_service = "reviews";
    in.workload_version = "v2";
    in.method = "GET";
    in.target = "/api/reviews/1";
    in.host = "reviews:9080";
    in.from_mesh_proxy = true;
    QVERIFY(r.start(in) == nullptr);
    // Inbound from outside the mesh: this proxy is the first.
    in.from_mesh_proxy = false;
    QVERIFY(r.start(in) != nullptr);
    // Other directions ignore the label.
    auto both = spec(2);
    r.set({both});
    in.from_mesh_proxy = true;
    QVERIFY(r.start(in) != nullptr);
  }

  void closedTapsLoseTheirEvents() {
    TapRegistry r;
    r.set({spec(1), spec(2)});
    request(r, outbound(), end());
    r.set({spec(2)});
    const auto events = r.drain(nullptr);
    QCOMPARE(events.size(), size_t{1});
    QCOMPARE(events[0].tap_id, 2u);
  }

  void atMostKMaxTaps() {
    TapRegistry r;
    std::vector<TapSpec> many;
    for (uint64_t i = 0; i < TapRegistry::kMaxTaps + 5; ++i) many.push_back(spec(i + 1));
    r.set(many);
    QCOMPARE(r.size(), TapRegistry::kMaxTaps);
    auto c = r.start(outbound());
    QVERIFY(c);
    QCOMPARE(c->mask, ~uint64_t{0});
  }

  void prometheusText() {
    TapRegistry r;
    r.set({spec(1)});
    request(r, outbound(), end());
    const std::string text = r.renderPrometheus();
    QVERIFY(text.find("meshdeck_tap_active 1\n") != std::string::npos);
    QVERIFY(text.find("meshdeck_tap_events_built_total 1\n") != std::string::npos);
    QVERIFY(text.find("meshdeck_tap_events_dropped_total{reason=\"rate\"} 0\n") !=
            std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TapRegistryTest)
#include "tap_registry_test.moc"
