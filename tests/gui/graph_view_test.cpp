#include "ui/graph_view.h"

#include <QtTest>

#include "common/clock.h"
#include "support/fake_control_plane.h"
#include "ui/graph_items.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

std::shared_ptr<const cp::GraphSnapshot> withExtraService(const cp::GraphSnapshot& base) {
  auto s = std::make_shared<cp::GraphSnapshot>(base);
  cp::ServiceNode n;
  n.name = "fraud";
  n.tier = "core";
  n.versions = {"v1"};
  n.instances = 1;
  s->services.push_back(n);
  cp::ServiceEdge e;
  e.source = "checkout";
  e.destination = "fraud";
  e.metrics.requests = 40;
  e.metrics.requests_per_second = 4;
  e.metrics.p99_ms = 30;
  s->edges.push_back(e);
  s->topology_version += 1;
  return s;
}

}  // namespace

class GraphViewTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    view_ = std::make_unique<ui::GraphView>();
    view_->resize(1200, 800);
    view_->show();
    QVERIFY(QTest::qWaitForWindowExposed(view_.get()));
  }
  void cleanup() { view_.reset(); }

  void laysOutAndKeepsPlacesOnTopologyChange() {
    common::SimulatedTimeSource clock;
    view_->setTimeSource(&clock);
    FakeControlPlane fake;
    view_->showSnapshot(fake.snapshot());
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(1), 10000);
    QCOMPARE(view_->nodeCount(), 12);
    QCOMPARE(view_->edgeCount(), 16);
    QHash<QString, QPointF> before;
    for (const auto& s : fake.snapshot()->services) {
      auto* n = view_->nodeItem(QString::fromStdString(s.name));
      QVERIFY(n->isVisible());
      before.insert(n->name(), n->pos());
    }
    // Drag "ratings" somewhere else with the mouse: it must stay there (pinned).
    ui::NodeItem* ratings = view_->nodeItem("ratings");
    const QPoint from = view_->mapFromScene(ratings->pos());
    const QPoint to = from + QPoint(60, 45);
    QTest::mousePress(view_->viewport(), Qt::LeftButton, {}, from);
    QMouseEvent move(QEvent::MouseMove, to, view_->viewport()->mapToGlobal(to), Qt::NoButton,
                     Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(view_->viewport(), &move);
    QTest::mouseRelease(view_->viewport(), Qt::LeftButton, {}, to);
    QVERIFY(ratings->pinned());
    const QPointF dragged = ratings->pos();
    QVERIFY(QLineF(dragged, before.value("ratings")).length() > 20);

    // Metrics only: no new layout.
    fake.advance(3);
    view_->showSnapshot(fake.snapshot());
    QTest::qWait(100);
    QCOMPARE(view_->layoutsDone(), quint64(1));

    // A new service once the topology has been stable: one more layout, old services stay where
    // they were.
    clock.advance(ui::GraphView::kStableAfter + std::chrono::seconds(1));
    view_->showSnapshot(withExtraService(*fake.snapshot()));
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(2), 10000);
    // Where things end, not where a glide happens to be: the check once ran before the first
    // animation step and so passed while every service was gliding to a new place.
    QTRY_VERIFY_WITH_TIMEOUT(!view_->animating(), 5000);
    for (auto it = before.cbegin(); it != before.cend(); ++it) {
      if (it.key() == "ratings") continue;
      QCOMPARE(view_->nodeItem(it.key())->pos(), it.value());
    }
    QCOMPARE(ratings->pos(), dragged);
    ui::NodeItem* fraud = view_->nodeItem("fraud");
    QVERIFY(fraud != nullptr && fraud->isVisible());
    QVERIFY(fraud->pos().x() > view_->nodeItem("checkout")->pos().x());
    // The edge into the dragged node no longer follows the layout spline but still joins both.
    ui::EdgeItem* e = view_->edgeItem("reviews", "ratings");
    QVERIFY(QLineF(e->pointAt(1.0), dragged).length() < ui::NodeItem::kWidth);
  }

  void servicesKnownBeforeTrafficAreLaidOutAgainWhenEdgesArrive() {
    FakeControlPlane fake;
    auto no_edges = std::make_shared<cp::GraphSnapshot>(*fake.snapshot());
    no_edges->edges.clear();
    view_->showSnapshot(no_edges);
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(1), 10000);
    // Without edges every service sits in the same rank.
    QCOMPARE(view_->nodeItem("frontend")->pos().x(), view_->nodeItem("payments")->pos().x());
    view_->showSnapshot(fake.snapshot());
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(2), 10000);
    QTRY_VERIFY_WITH_TIMEOUT(!view_->animating(), 5000);
    // All edges are new: the services move to their ranks, callers left of callees.
    QVERIFY(view_->nodeItem("frontend")->pos().x() < view_->nodeItem("catalog")->pos().x());
    QVERIFY(view_->nodeItem("checkout")->pos().x() < view_->nodeItem("payments")->pos().x());
  }

  void labelsColoursFiltersAndFind() {
    FakeControlPlane fake;
    view_->showSnapshot(fake.snapshot());
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(1), 10000);
    ui::EdgeItem* failing = view_->edgeItem("reviews", "ratings");  // 6 % errors
    ui::EdgeItem* fine = view_->edgeItem("frontend", "auth");
    ui::EdgeItem* idle = view_->edgeItem("shipping", "inventory");
    QCOMPARE(failing->health(), ui::Health::kCritical);
    QCOMPARE(fine->health(), ui::Health::kHealthy);
    QCOMPARE(idle->health(), ui::Health::kIdle);
    QVERIFY(idle->opacity() < 1.0);
    QVERIFY(fine->toolTip().contains("frontend → auth"));

    view_->setOnlyUnhealthy(true);
    QVERIFY(failing->isVisible());
    QVERIFY(!fine->isVisible());
    QVERIFY(!view_->nodeItem("auth")->isVisible());
    view_->setOnlyUnhealthy(false);
    view_->setHideIdle(true);
    QVERIFY(!idle->isVisible());
    QVERIFY(fine->isVisible());
    view_->setHideIdle(false);
    view_->setTierFilter("data");
    QVERIFY(view_->nodeItem("payments")->isVisible());
    QVERIFY(!view_->nodeItem("frontend")->isVisible());
    view_->setTierFilter(QString());
    QCOMPARE(view_->tiers(), QStringList({"core", "data", "edge"}));

    QCOMPARE(view_->find("ca"), 2);  // catalog, cart
    QCOMPARE(view_->selection().kind, ui::GraphSelection::Kind::kNode);
    QCOMPARE(view_->selection().node, QStringLiteral("cart"));  // first by name: "cart" < "catalog"
    QCOMPARE(view_->find("nothing-like-this"), 0);

    // A stricter threshold turns the healthy edge amber.
    ui::HealthThresholds strict;
    strict.p99_warning_ms = 1;
    strict.p99_critical_ms = 10000;
    view_->setThresholds(strict);
    QCOMPARE(fine->health(), ui::Health::kWarning);
  }

  // The UI shows the badges the control plane computed (PolicyInfo::badges) and never reads the
  // policy's YAML for them: text that says otherwise changes nothing.
  void badgesComeFromThePolicyInfo() {
    auto s = std::make_shared<cp::GraphSnapshot>();
    for (const char* name : {"web", "reviews", "ratings", "db"}) {
      cp::ServiceNode n;
      n.name = name;
      n.instances = 1;
      s->services.push_back(n);
    }
    cp::ServiceEdge canary_edge, fault_edge, plain_edge;
    canary_edge.source = "web";
    canary_edge.destination = "reviews";
    canary_edge.policies = {"TrafficRoute/reviews-canary", "RateLimit/reviews"};
    fault_edge.source = "reviews";
    fault_edge.destination = "ratings";
    fault_edge.policies = {"TrafficRoute/ratings-delay", "PeerAuthentication/ratings"};
    plain_edge.source = "ratings";
    plain_edge.destination = "db";
    plain_edge.policies = {"DestinationPolicy/db"};
    s->edges = {canary_edge, fault_edge, plain_edge};
    const std::string misleading = "spec:\n  http:\n    - fault: {abort: {httpStatus: 503}}\n";
    view_->setPolicies({
        {"TrafficRoute", "reviews-canary", "reviews", "", 2, {false, true, false, false}},
        {"RateLimit", "reviews", "reviews", "", 2, {false, false, true, false}},
        {"TrafficRoute", "ratings-delay", "ratings", "", 3, {true, false, false, false}},
        {"PeerAuthentication", "ratings", "ratings", "", 3, {false, false, false, true}},
        {"DestinationPolicy", "db", "db", misleading, 4, {}},
    });
    view_->showSnapshot(s);
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(1), 10000);

    const ui::EdgeBadges& a = view_->edgeItem("web", "reviews")->badges();
    QVERIFY(a.canary && a.rate_limit && !a.fault && !a.mtls);
    const ui::EdgeBadges& b = view_->edgeItem("reviews", "ratings")->badges();
    QVERIFY(b.fault && b.mtls && !b.canary && !b.rate_limit);
    QVERIFY(view_->edgeItem("reviews", "ratings")->mtlsBadge()->requiredByPolicy());
    QVERIFY(!view_->edgeItem("ratings", "db")->badges().any());

    // New policies, same snapshot: the badges follow.
    view_->setPolicies({{"DestinationPolicy", "db", "db", "", 5, {true, false, false, false}}});
    QVERIFY(view_->edgeItem("ratings", "db")->badges().fault);
    QVERIFY(!view_->edgeItem("web", "reviews")->badges().any());
  }

  // End to end through a ControlPlane: a policy applied there comes back with its badges, and
  // the edge into its target shows them.
  void badgesOfAnAppliedPolicy() {
    FakeControlPlane fake;
    const cp::ApplyResult applied = fake.applyPolicies(
        "apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: ratings-canary}\n"
        "spec:\n  host: ratings\n  http:\n    - route:\n"
        "        - destination: {host: ratings, subset: v1}\n          weight: 80\n"
        "        - destination: {host: ratings, subset: v2}\n          weight: 20\n",
        "canary.yaml", "test", false);
    QVERIFY(applied.ok);
    QCOMPARE(fake.policies().size(), size_t{1});
    QVERIFY(fake.policies()[0].badges.canary);
    view_->setPolicies(fake.policies());
    view_->showSnapshot(fake.snapshot());
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(1), 10000);
    QVERIFY(view_->edgeItem("reviews", "ratings")->badges().canary);
    QVERIFY(!view_->edgeItem("frontend", "auth")->badges().canary);
  }

  void metricLabels() {
    cp::WindowMetrics m;
    m.requests = 100;
    m.requests_per_second = 10;
    m.success_rate = 0.995;
    m.p50_ms = 3.24;
    m.p99_ms = 120;
    QCOMPARE(ui::formatMetric(m, ui::EdgeMetric::kP99), QStringLiteral("p99 120 ms"));
    QCOMPARE(ui::formatMetric(m, ui::EdgeMetric::kP50), QStringLiteral("p50 3.2 ms"));
    QCOMPARE(ui::formatMetric(m, ui::EdgeMetric::kRequestRate), QStringLiteral("10 rps"));
    QCOMPARE(ui::formatMetric(m, ui::EdgeMetric::kSuccessRate), QStringLiteral("99.50 % ok"));
    m.requests = 0;
    QCOMPARE(ui::formatMetric(m, ui::EdgeMetric::kP99), QStringLiteral("idle"));
    QCOMPARE(ui::protocolTag("grpc"), QStringLiteral("gRPC"));
    QCOMPARE(ui::protocolTag("http1,grpc"), QStringLiteral("gRPC"));
    QCOMPARE(ui::protocolTag("http2"), QStringLiteral("h2"));
    QCOMPARE(ui::protocolTag("http1"), QString());
    QCOMPARE(ui::protocolTag(""), QString());
  }

  // An edge that carried gRPC calls says so in its label and tooltip; HTTP/1.1 ones do not.
  void edgeLabelsShowTheProtocol() {
    FakeControlPlane fake;
    auto s = std::make_shared<cp::GraphSnapshot>(*fake.snapshot());
    bool marked = false;
    for (auto& e : s->edges) {
      if (e.source == "frontend" && e.destination == "auth") {
        e.protocol = "grpc";
        marked = true;
      }
    }
    QVERIFY(marked);
    view_->showSnapshot(s);
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(1), 10000);
    ui::EdgeItem* grpc = view_->edgeItem("frontend", "auth");
    QVERIFY2(grpc->label().startsWith(QStringLiteral("gRPC · ")), qPrintable(grpc->label()));
    QVERIFY(grpc->toolTip().contains("protocol: grpc"));
    ui::EdgeItem* http = view_->edgeItem("reviews", "ratings");
    QVERIFY2(!http->label().contains(QStringLiteral("gRPC")), qPrintable(http->label()));
  }

 private:
  std::unique_ptr<ui::GraphView> view_;
};

QTEST_MAIN(GraphViewTest)
#include "graph_view_test.moc"
