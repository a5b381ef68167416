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

  void badgesComeFromPolicies() {
    cp::PolicyInfo canary{
        "TrafficRoute", "reviews-canary", "reviews",
        "apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata:\n  name: reviews-canary\n"
        "spec:\n  host: reviews\n  http:\n    - route:\n        - destination: {host: reviews, "
        "subset: v1}\n"
        "          weight: 90\n        - destination: {host: reviews, subset: v2}\n          "
        "weight: 10\n",
        2};
    QVERIFY(ui::badgesForPolicy(canary).canary);
    QVERIFY(!ui::badgesForPolicy(canary).fault);
    cp::PolicyInfo fault{"TrafficRoute", "ratings-delay", "ratings",
                         "spec:\n  host: ratings\n  http:\n    - fault:\n        delay: "
                         "{percentage: 50, fixedDelay: 200ms}\n",
                         3};
    QVERIFY(ui::badgesForPolicy(fault).fault);
    cp::PolicyInfo strict{"PeerAuthentication", "mesh", "", "spec:\n  mtls:\n    mode: STRICT\n",
                          4};
    QVERIFY(ui::badgesForPolicy(strict).mtls);
    cp::PolicyInfo off{"PeerAuthentication", "off", "", "spec:\n  mtls:\n    mode: DISABLE\n", 4};
    QVERIFY(!ui::badgesForPolicy(off).mtls);
    cp::PolicyInfo broken{"RateLimit", "x", "", "spec: [", 5};
    QVERIFY(!ui::badgesForPolicy(broken).any());
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
  }

 private:
  std::unique_ptr<ui::GraphView> view_;
};

QTEST_MAIN(GraphViewTest)
#include "graph_view_test.moc"
