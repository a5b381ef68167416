// The control plane's tap hub (docs/tap.md): which proxies a tap needs and their share of its
// rate, the change notifications, delivery in batches with the drop count, the client queue's
// bound, and closing.
#include "controlplane/tap/tap_hub.h"

#include <QtTest>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>

#include "controlplane/tap/tap_proto.h"
#include "meshdeck/v1/telemetry.pb.h"

using namespace meshdeck::cp;

namespace {

ProxyNode node(const std::string& id, const std::string& service, const std::string& version) {
  ProxyNode n;
  n.proxy_id = id;
  n.service = service;
  n.version = version;
  return n;
}

const std::vector<ProxyNode> kMesh{
    node("productpage-v1-0", "productpage", "v1"), node("reviews-v1-0", "reviews", "v1"),
    node("reviews-v2-0", "reviews", "v2"), node("reviews-v2-1", "reviews", "v2"),
    node("ratings-v1-0", "ratings", "v1")};

// Collects what a tap's callback receives; waits (bounded) for a condition.
struct Sink {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<TapEvent> events;
  uint64_t dropped = 0;
  int batches = 0;
  TapCallback callback() {
    return [this](const TapBatch& b) {
      std::lock_guard lock(mutex);
      events.insert(events.end(), b.events.begin(), b.events.end());
      dropped = b.dropped;
      ++batches;
      changed.notify_all();
    };
  }
  bool waitFor(const std::function<bool()>& done) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), done);
  }
};

TapEvent tapEvent(uint64_t tap, const std::string& path) {
  TapEvent e;
  e.tap_id = tap;
  e.path = path;
  return e;
}

}  // namespace

class TapHubTest : public QObject {
  Q_OBJECT

 private slots:
  void aServiceTapNeedsItsProxiesBothWays() {
    TapHub hub;
    TapFilter f;
    f.service = "reviews";
    f.events_per_second = 90;
    auto token = hub.open(f, [](const TapBatch&) {});
    const auto plan = hub.plan(kMesh);
    QCOMPARE(plan.size(), size_t{3});
    for (const auto& id : {"reviews-v1-0", "reviews-v2-0", "reviews-v2-1"}) {
      QVERIFY(plan.count(id));
      const auto& subs = plan.at(id);
      QCOMPARE(subs.size(), size_t{1});
      QCOMPARE(subs[0].events_per_second, 30.0);  // 90 split three ways
      QCOMPARE(subs[0].burst, 30u);
      QVERIFY(subs[0].direction == ProxyTapSubscription::Direction::kBoth);
    }
  }

  void aVersionTap() {
    TapHub hub;
    TapFilter f;
    f.service = "reviews";
    f.service_version = "v2";
    auto token = hub.open(f, [](const TapBatch&) {});
    const auto plan = hub.plan(kMesh);
    QCOMPARE(plan.size(), size_t{2});
    QVERIFY(plan.count("reviews-v2-0") && plan.count("reviews-v2-1"));
    QCOMPARE(plan.at("reviews-v2-0")[0].events_per_second, 50.0);  // the default 100, halved
  }

  void anEdgeTapAsksTheCallers() {
    TapHub hub;
    TapFilter f;
    f.source_service = "productpage";
    f.destination_service = "reviews";
    auto token = hub.open(f, [](const TapBatch&) {});
    const auto plan = hub.plan(kMesh);
    QCOMPARE(plan.size(), size_t{1});
    QVERIFY(plan.at("productpage-v1-0")[0].direction == ProxyTapSubscription::Direction::kOutbound);
    // Only a destination: every proxy, each request once at its first mesh proxy (a caller's
    // outbound side, or ratings' inbound side for a caller outside the mesh).
    TapFilter to;
    to.destination_service = "ratings";
    auto t2 = hub.open(to, [](const TapBatch&) {});
    const auto plan2 = hub.plan(kMesh);
    QCOMPARE(plan2.size(), kMesh.size());
    for (const auto& [id, subs] : plan2) {
      const auto& last = subs.back();  // the productpage proxy has the edge tap's first
      QCOMPARE(last.filter.destination_service, std::string("ratings"));
      QVERIFY(last.direction == ProxyTapSubscription::Direction::kFirstHop);
    }
  }

  void theMeshTapIsEveryProxysFirstHop() {
    TapHub hub;
    TapFilter f;
    f.events_per_second = 2;  // fewer than proxies: each still gets one a second
    auto token = hub.open(f, [](const TapBatch&) {});
    const auto plan = hub.plan(kMesh);
    QCOMPARE(plan.size(), kMesh.size());
    for (const auto& [id, subs] : plan) {
      QCOMPARE(subs[0].events_per_second, 1.0);
      QVERIFY(subs[0].direction == ProxyTapSubscription::Direction::kFirstHop);
    }
  }

  void rateIsClamped() {
    TapHub hub;
    TapFilter f;
    f.service = "ratings";
    f.events_per_second = 1e9;
    auto token = hub.open(f, [](const TapBatch&) {});
    QCOMPARE(hub.plan(kMesh).at("ratings-v1-0")[0].events_per_second, TapFilter::kMaxTapRate);
  }

  void openAndCloseNotify() {
    TapHub hub;
    std::atomic<int> changes{0};
    hub.setChangeListener([&] { ++changes; });
    TapFilter f;
    f.service = "reviews";
    auto token = hub.open(f, [](const TapBatch&) {});
    QVERIFY(token);  // never null: Mesh.Tap tells an open tap from a refused one by it
    QCOMPARE(changes.load(), 1);
    QCOMPARE(hub.openTaps(), size_t{1});
    token.reset();
    QCOMPARE(changes.load(), 2);
    QCOMPARE(hub.openTaps(), size_t{0});
    QVERIFY(hub.plan(kMesh).empty());
  }

  void deliversEventsAndDrops() {
    TapHub hub;
    Sink sink;
    TapFilter f;
    f.service = "reviews";
    auto token = hub.open(f, sink.callback());
    const uint64_t id = hub.plan(kMesh).at("reviews-v1-0")[0].tap_id;
    hub.deliver({tapEvent(id, "/a"), tapEvent(id, "/b"), tapEvent(id + 100, "/closed")}, {{id, 7}});
    QVERIFY(sink.waitFor([&] { return sink.events.size() == 2 && sink.dropped == 7; }));
    QCOMPARE(sink.events[0].path, std::string("/a"));
    QCOMPARE(sink.events[1].path, std::string("/b"));
    QCOMPARE(hub.eventsForClosedTaps(), 1u);
    hub.deliver({}, {{id, 3}});
    QVERIFY(sink.waitFor([&] { return sink.dropped == 10; }));
  }

  void theClientQueueIsBounded() {
    TapHub hub;
    Sink sink;
    // The callback blocks until released, so the queue fills.
    std::mutex gate;
    std::unique_lock hold(gate);
    std::promise<void> entered;
    std::atomic<bool> first{true};
    TapFilter f;
    f.service = "reviews";
    auto token = hub.open(f, [&](const TapBatch& b) {
      if (first.exchange(false)) entered.set_value();
      std::lock_guard wait(gate);
      sink.callback()(b);
    });
    const uint64_t id = hub.plan(kMesh).at("reviews-v1-0")[0].tap_id;
    // The first (empty) batch is delivered at once and blocks.
    QVERIFY(entered.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    std::vector<TapEvent> many;
    for (size_t i = 0; i < TapHub::kQueueEvents + 50; ++i) many.push_back(tapEvent(id, "/x"));
    hub.deliver(std::move(many), {});
    hold.unlock();
    QVERIFY(sink.waitFor([&] { return sink.events.size() == TapHub::kQueueEvents; }));
    QVERIFY(sink.waitFor([&] { return sink.dropped == 50; }));
  }

  void closingWaitsForTheCallbackAndStopsDelivery() {
    TapHub hub;
    std::atomic<int> calls{0};
    TapFilter f;
    f.service = "reviews";
    auto token = hub.open(f, [&](const TapBatch&) { ++calls; });
    const uint64_t id = hub.plan(kMesh).at("reviews-v1-0")[0].tap_id;
    token.reset();
    const int after_close = calls.load();
    hub.deliver({tapEvent(id, "/late")}, {});
    QCOMPARE(hub.eventsForClosedTaps(), 1u);
    QCOMPARE(calls.load(), after_close);
  }

  void filterDescription() {
    TapFilter f;
    f.service = "reviews";
    f.destination_service = "ratings";
    f.path_prefix = "/api";
    f.status_class = 5;
    f.min_latency_us = 100'000;
    QCOMPARE(f.describe(),
             std::string("svc=reviews to=ratings path=/api status=5xx min-latency=100000us "
                         "rate=100/s"));
  }

  void eventJson() {
    TapEvent e;
    e.tap_id = 3;
    e.start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
    e.method = "GET";
    e.path = "/a\"b";
    e.status = 503;
    e.latency_us = 1200;
    e.request_headers = {{"authorization", "[redacted]"}};
    const std::string json = e.toJson();
    QVERIFY(json.find("\"time\":\"2023-11-14T22:13:20.123Z\"") != std::string::npos);
    QVERIFY(json.find("\"path\":\"/a\\\"b\"") != std::string::npos);
    QVERIFY(json.find("\"status\":503") != std::string::npos);
    QVERIFY(json.find("\"requestHeaders\":{\"authorization\":\"[redacted]\"}") !=
            std::string::npos);
    QVERIFY(json.find('\n') == std::string::npos);
    QCOMPARE(e.statusClass(), 5u);
  }

  // Issue 23: both ends' SPIFFE ids survive the wire form and reach the JSON (meshdeckctl tap
  // -o json, the Tap panel's detail pane); an empty one is left out.
  void eventIdentities() {
    meshdeck::v1::TapEvent wire;
    wire.set_side(meshdeck::v1::CLIENT);
    wire.set_source_identity("spiffe://mesh.local/ns/default/sa/productpage");
    wire.set_destination_identity("spiffe://mesh.local/ns/default/sa/reviews");
    const TapEvent e = tapEventFromProto(wire, "productpage-v1-0");
    QCOMPARE(e.source_identity, std::string("spiffe://mesh.local/ns/default/sa/productpage"));
    QCOMPARE(e.destination_identity, std::string("spiffe://mesh.local/ns/default/sa/reviews"));
    meshdeck::v1::TapEvent back;
    tapEventToProto(e, &back);
    QCOMPARE(back.destination_identity(), wire.destination_identity());
    QCOMPARE(back.source_identity(), wire.source_identity());
    const std::string json = e.toJson();
    QVERIFY(json.find("\"sourceIdentity\":\"spiffe://mesh.local/ns/default/sa/productpage\"") !=
            std::string::npos);
    QVERIFY(json.find("\"destinationIdentity\":\"spiffe://mesh.local/ns/default/sa/reviews\"") !=
            std::string::npos);
    TapEvent plain = e;
    plain.destination_identity.clear();
    QVERIFY(plain.toJson().find("destinationIdentity") == std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TapHubTest)
#include "tap_hub_test.moc"
