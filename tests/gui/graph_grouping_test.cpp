// Grouping, expand/collapse and focus in the service graph (issue 18): one node per tier with
// its member count, group edges whose rate is the sum of their members' and whose p99 is the
// p99 of the merged latency histograms (computed here independently, from the values
// recorded), double-click to expand and collapse, find and filters with groups, focus on a
// service's N-hop neighbourhood, and grouping by tier by default above a size.
#include "ui/graph_grouping.h"

#include <QComboBox>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "support/fake_control_plane.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/inspector.h"
#include "ui/main_window.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

// Tiers and how many services each holds: edge-0..1, frontend-0..2, backend-0..3, data-0..2.
const std::map<std::string, int> kTiers = {
    {"edge", 2}, {"frontend", 3}, {"backend", 4}, {"data", 3}};

cp::ServiceNode service(const std::string& tier, int i) {
  cp::ServiceNode s;
  s.name = tier + "-" + std::to_string(i);
  s.tier = tier;
  s.ns = i % 2 == 0 ? "even" : "odd";
  s.versions = {"v1"};
  s.instances = 1;
  return s;
}

// An edge whose latency histogram holds `values` (ms, with their counts); its own percentile
// fields are set from that edge alone.
cp::ServiceEdge edge(const std::string& from, const std::string& to, double rps,
                     const std::vector<std::pair<double, uint64_t>>& values, uint64_t errors = 0) {
  cp::ServiceEdge e;
  e.source = from;
  e.destination = to;
  auto h = std::make_shared<common::LatencyHistogram>();
  uint64_t n = 0;
  for (const auto& [ms, count] : values) {
    h->recordN(static_cast<uint64_t>(ms * 1e6), count);
    n += count;
  }
  e.metrics.requests_per_second = rps;
  e.metrics.requests = n;
  e.metrics.responses_by_class[2] = n - errors;
  e.metrics.responses_by_class[4] = errors;
  e.metrics.success_rate = 1.0 - double(errors) / double(n);
  e.metrics.p50_ms = h->percentile(50) / 1e6;
  e.metrics.p90_ms = h->percentile(90) / 1e6;
  e.metrics.p99_ms = h->percentile(99) / 1e6;
  e.metrics.latency = h;
  return e;
}

// The nearest-rank percentile of the values themselves (no histogram).
double nearestRank(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * double(values.size())));
  return values[std::max<size_t>(rank, 1) - 1];
}

// The test mesh: 12 services in 4 tiers. frontend-0 -> backend-0 holds 980 requests at 20 ms
// and 20 at 400 ms (its own p99: 400 ms); frontend-1 -> backend-1 holds 1,100 at 50 ms (p99:
// 50 ms). Together (frontend -> backend) the p99 is 50 ms: not their average (225), not the
// worse of the two (400).
std::shared_ptr<const cp::GraphSnapshot> mesh() {
  auto s = std::make_shared<cp::GraphSnapshot>();
  for (const auto& [tier, n] : kTiers)
    for (int i = 0; i < n; ++i) s->services.push_back(service(tier, i));
  s->edges.push_back(edge("edge-0", "frontend-0", 30, {{5, 100}}));
  s->edges.push_back(edge("edge-1", "frontend-2", 4, {{6, 100}}));
  s->edges.push_back(edge("frontend-0", "backend-0", 12.5, {{20, 980}, {400, 20}}, 10));
  s->edges.push_back(edge("frontend-1", "backend-1", 7.25, {{50, 1100}}));
  s->edges.push_back(edge("backend-0", "backend-2", 3, {{8, 50}}));  // inside the tier
  s->edges.push_back(edge("backend-2", "data-0", 2, {{3, 50}}));
  s->edges.push_back(edge("backend-3", "data-1", 1, {{3, 50}}));
  return s;
}

QStringList sorted(QStringList list) {
  list.sort();
  return list;
}

}  // namespace

class GraphGroupingTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    view_ = std::make_unique<ui::GraphView>();
    view_->setAnimationDuration(0);
    view_->resize(1200, 800);
    view_->show();
    QVERIFY(QTest::qWaitForWindowExposed(view_.get()));
    view_->showSnapshot(mesh());
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(1), 20000);
    QCOMPARE(view_->nodeCount(), 12);
  }
  void cleanup() { view_.reset(); }

  void groupByTierGivesOneNodePerTier() {
    groupBy(ui::GroupBy::kTier);
    QCOMPARE(view_->nodeCount(), static_cast<int>(kTiers.size()));
    for (const auto& [tier, n] : kTiers) {
      const QString id = ui::groupNodeId(ui::GroupBy::kTier, QString::fromStdString(tier));
      ui::NodeItem* node = view_->nodeItem(id);
      QVERIFY2(node != nullptr, qPrintable(id));
      QVERIFY(node->isGroup());
      QCOMPARE(node->groupMembers(), n);
      QVERIFY(node->isVisible());
    }
    // Edges between the groups only: edge->frontend, frontend->backend, backend->data. The
    // backend-0 -> backend-2 call is inside one group: no edge, its rate on the group.
    QCOMPARE(view_->edgeCount(), 3);
    QCOMPARE(view_->grouped().inner_rate.value(QStringLiteral("tier: backend")), 3.0);
    // By namespace: two groups (even, odd) whatever the tiers.
    groupBy(ui::GroupBy::kNamespace);
    QCOMPARE(view_->nodeCount(), 2);
    QCOMPARE(view_->nodeItem(QStringLiteral("namespace: even"))->groupMembers(), 7);
    // By app: the name without its number, so here the same as the tiers.
    groupBy(ui::GroupBy::kApp);
    QCOMPARE(view_->nodeCount(), 4);
    QCOMPARE(ui::appOf(QStringLiteral("reviews-v2")), QStringLiteral("reviews"));
    QCOMPARE(ui::appOf(QStringLiteral("productpage")), QStringLiteral("productpage"));
    groupBy(ui::GroupBy::kNone);
    QCOMPARE(view_->nodeCount(), 12);
  }

  void groupEdgeAggregatesMembers() {
    groupBy(ui::GroupBy::kTier);
    ui::EdgeItem* e =
        view_->edgeItem(QStringLiteral("tier: frontend"), QStringLiteral("tier: backend"));
    QVERIFY(e != nullptr);
    const cp::WindowMetrics& m = e->edge().metrics;
    QCOMPARE(m.requests_per_second, 12.5 + 7.25);
    QCOMPARE(m.requests, uint64_t(1000 + 1100));
    QCOMPARE(m.success_rate, 1.0 - 10.0 / 2100.0);
    // Expected p99 from the recorded values themselves, not from any histogram.
    std::vector<double> values;
    values.insert(values.end(), 980, 20.0);
    values.insert(values.end(), 20, 400.0);
    values.insert(values.end(), 1100, 50.0);
    const double expected = nearestRank(values, 99);
    QCOMPARE(expected, 50.0);
    QVERIFY2(std::abs(m.p99_ms - expected) <= expected * 0.01,
             qPrintable(QString::number(m.p99_ms)));
    // Neither the average of the members' p99 (225 ms) nor the worse of them (400 ms).
    QVERIFY(m.latency != nullptr);
    QCOMPARE(m.latency->count(), uint64_t(2100));
    // Medians too: 1,050th of 2,100 values is 50 ms.
    QVERIFY(std::abs(m.p50_ms - nearestRank(values, 50)) <= 0.5);
    // Without histograms the worst member's percentile stands in (never an average).
    cp::WindowMetrics a, b;
    a.p99_ms = 400;
    b.p99_ms = 50;
    QCOMPARE(ui::mergeMetrics({&a, &b}).p99_ms, 400.0);
  }

  void groupNodeShowsWorstMemberHealth() {
    // data-1 fails (server side): its group is critical, the others are not.
    auto s = std::make_shared<cp::GraphSnapshot>(*mesh());
    for (auto& svc : s->services) {
      svc.inbound.requests = 100;
      svc.inbound.requests_per_second = 10;
      svc.inbound.success_rate = svc.name == "data-1" ? 0.5 : 1.0;
    }
    view_->showSnapshot(s);
    groupBy(ui::GroupBy::kTier);
    QCOMPARE(view_->nodeItem(QStringLiteral("tier: data"))->health(), ui::Health::kCritical);
    QCOMPARE(view_->nodeItem(QStringLiteral("tier: edge"))->health(), ui::Health::kHealthy);
    // Only unhealthy keeps the failing group (and what calls into it over an unhealthy edge:
    // none here), the tier filter keeps the group of that tier.
    view_->setOnlyUnhealthy(true);
    QVERIFY(view_->nodeItem(QStringLiteral("tier: data"))->isVisible());
    QVERIFY(!view_->nodeItem(QStringLiteral("tier: edge"))->isVisible());
    view_->setOnlyUnhealthy(false);
    view_->setTierFilter(QStringLiteral("backend"));
    QVERIFY(view_->nodeItem(QStringLiteral("tier: backend"))->isVisible());
    QVERIFY(!view_->nodeItem(QStringLiteral("tier: data"))->isVisible());
    view_->setTierFilter(QString());
  }

  void doubleClickExpandsAndCollapses() {
    groupBy(ui::GroupBy::kTier);
    const QString backend = QStringLiteral("tier: backend");
    const quint64 layouts = view_->layoutsDone();
    QTest::mouseDClick(view_->viewport(), Qt::LeftButton, {}, viewportPos(backend));
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), layouts + 1, 20000);
    QVERIFY(view_->groupExpanded(backend));
    QCOMPARE(view_->nodeCount(), 4 - 1 + 4);
    QCOMPARE(view_->frameCount(), 1);
    QVERIFY(view_->groupFrame(backend) != nullptr);
    // The frame holds every member.
    for (int i = 0; i < 4; ++i) {
      ui::NodeItem* member = view_->nodeItem(QStringLiteral("backend-%1").arg(i));
      QVERIFY(member != nullptr && member->isVisible());
      QVERIFY(
          view_->groupFrame(backend)->sceneBoundingRect().contains(member->sceneBoundingRect()));
    }
    // The inner edge is drawn now; the edges from frontend go to their own members.
    QVERIFY(view_->edgeItem(QStringLiteral("backend-0"), QStringLiteral("backend-2")) != nullptr);
    QVERIFY(view_->edgeItem(QStringLiteral("tier: frontend"), QStringLiteral("backend-1")) !=
            nullptr);
    // Double-click a member: its group collapses again.
    QTest::mouseDClick(view_->viewport(), Qt::LeftButton, {},
                       viewportPos(QStringLiteral("backend-3")));
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), layouts + 2, 20000);
    QVERIFY(!view_->groupExpanded(backend));
    QCOMPARE(view_->nodeCount(), 4);
    QCOMPARE(view_->frameCount(), 0);
  }

  void findOnAMemberHighlightsItsGroup() {
    groupBy(ui::GroupBy::kTier);
    QCOMPARE(view_->find(QStringLiteral("backend-2")), 1);
    QCOMPARE(view_->findMatches(), 1);
    QCOMPARE(view_->selection().node, QStringLiteral("tier: backend"));
    // Two services of two groups: both groups.
    QCOMPARE(view_->find(QStringLiteral("-1")), 4);  // edge-1 frontend-1 backend-1 data-1
    QCOMPARE(view_->findMatches(), 4);
    view_->find(QString());
    view_->selectNode(QStringLiteral("data-2"));
    QCOMPARE(view_->selection().node, QStringLiteral("tier: data"));
  }

  void focusShowsExactlyTheNeighbours() {
    const quint64 layouts = view_->layoutsDone();
    view_->focusService(QStringLiteral("frontend-0"), 1);
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), layouts + 1, 20000);
    QCOMPARE(sorted(nodeNames()), sorted({"edge-0", "frontend-0", "backend-0"}));
    QCOMPARE(view_->edgeCount(), 2);
    QCOMPARE(view_->selection().node, QStringLiteral("frontend-0"));
    view_->setFocusHops(2);
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), layouts + 2, 20000);
    QCOMPARE(sorted(nodeNames()), sorted({"edge-0", "frontend-0", "backend-0", "backend-2"}));
    // Escape in the graph: the whole mesh again.
    view_->setFocus();
    QTest::keyClick(view_.get(), Qt::Key_Escape);
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), layouts + 3, 20000);
    QVERIFY(view_->serviceFocus().isEmpty());
    QCOMPARE(view_->nodeCount(), 12);
    // Focus on a service inside a collapsed group opens the group around it.
    groupBy(ui::GroupBy::kTier);
    view_->focusService(QStringLiteral("data-0"), 1);
    QTRY_VERIFY_WITH_TIMEOUT(
        !view_->layoutPending() && view_->nodeItem(QStringLiteral("data-0")) != nullptr, 20000);
    QVERIFY(view_->groupExpanded(QStringLiteral("tier: data")));
    // data-0 is called by backend-2, inside the collapsed backend group.
    QCOMPARE(sorted(nodeNames()), sorted({"data-0", "tier: backend"}));
  }

  void bigMeshesOpenGroupedByTier() {
    // Graphviz is not thread-safe and every view has its own layout thread: one view at a time.
    view_.reset();
    auto grouping = [](cp::GraphSnapshot snapshot, bool user_chose_none) {
      ui::GraphView view;
      view.setAutoGroup(true);
      if (user_chose_none) view.setGroupBy(ui::GroupBy::kNone);
      view.showSnapshot(std::make_shared<const cp::GraphSnapshot>(std::move(snapshot)));
      return ui::toString(view.groupBy());
    };
    // GraphView alone does not group; with the size default on, above kGroupAbove it does.
    QCOMPARE(
        grouping(FakeControlPlane::syntheticSnapshot(ui::GraphView::kGroupAbove, 80, 3), false),
        QStringLiteral("none"));
    QCOMPARE(
        grouping(FakeControlPlane::syntheticSnapshot(ui::GraphView::kGroupAbove + 1, 80, 3), false),
        QStringLiteral("tier"));
    // No tiers: by namespace.
    cp::GraphSnapshot untiered =
        FakeControlPlane::syntheticSnapshot(ui::GraphView::kGroupAbove + 1, 80, 3);
    for (auto& s : untiered.services) s.tier.clear();
    QCOMPARE(grouping(untiered, false), QStringLiteral("namespace"));
    // A choice of the user holds.
    QCOMPARE(grouping(FakeControlPlane::syntheticSnapshot(200, 300, 3), true),
             QStringLiteral("none"));

    // The main window turns the default on and its Group combo follows.
    auto fake = std::make_shared<FakeControlPlane>();
    fake->setSnapshot(FakeControlPlane::syntheticSnapshot(200, 300, 5));
    ui::MainWindowOptions options;
    options.source = QStringLiteral("test");
    options.use_settings = false;
    ui::MainWindow window(fake, options);
    window.show();
    QTRY_COMPARE_WITH_TIMEOUT(ui::toString(window.graphView()->groupBy()),
                              ui::toString(ui::GroupBy::kTier), 20000);
    auto* box = window.findChild<QComboBox*>(QStringLiteral("groupByBox"));
    QVERIFY(box != nullptr);
    QCOMPARE(box->currentData().toString(), QStringLiteral("tier"));
    QTRY_VERIFY_WITH_TIMEOUT(window.graphView()->layoutsDone() > 0, 20000);
    QVERIFY(window.graphView()->nodeCount() <= 3);
    // A selected group expanded (its node deleted while selected, the inspector revealing
    // itself on the way) and focus from the main window's action on the selected service.
    const QString group = window.graphView()->grouped().collapsed.values().first();
    window.graphView()->selectNode(group);
    QTRY_VERIFY(window.inspector()->isVisible());
    const quint64 layouts = window.graphView()->layoutsDone();
    window.graphView()->setGroupExpanded(group, true);
    QTRY_VERIFY_WITH_TIMEOUT(window.graphView()->layoutsDone() > layouts, 20000);
    QVERIFY(window.graphView()->nodeItem(group) == nullptr);
    const QString member = window.graphView()->grouped().members.value(group).first();
    window.graphView()->selectNode(member);
    auto* focus = window.findChild<QAction*>(QStringLiteral("focusServiceAction"));
    QVERIFY(focus != nullptr);
    focus->trigger();
    QCOMPARE(window.graphView()->serviceFocus(), member);
    QTRY_COMPARE_WITH_TIMEOUT(window.graphView()->selection().node, member, 20000);
    auto* clear = window.findChild<QAction*>(QStringLiteral("clearFocusAction"));
    QVERIFY(clear != nullptr && clear->isVisible());
    clear->trigger();
    QVERIFY(window.graphView()->serviceFocus().isEmpty());
    QVERIFY(!clear->isVisible());
    // Choosing in the combo regroups.
    box->setCurrentIndex(box->findData(QStringLiteral("none")));
    QCOMPARE(ui::toString(window.graphView()->groupBy()), ui::toString(ui::GroupBy::kNone));
    QTRY_COMPARE_WITH_TIMEOUT(window.graphView()->nodeCount(), 200, 20000);
  }

 private:
  void groupBy(ui::GroupBy by) {
    const quint64 layouts = view_->layoutsDone();
    view_->setGroupBy(by);
    QTRY_VERIFY_WITH_TIMEOUT(view_->layoutsDone() > layouts && !view_->layoutPending(), 20000);
  }
  QPoint viewportPos(const QString& node) {
    ui::NodeItem* n = view_->nodeItem(node);
    if (n == nullptr) return {};
    view_->centerOn(n);
    return view_->mapFromScene(n->scenePos());
  }
  QStringList nodeNames() const {
    QStringList out;
    for (const auto& s : view_->shownSnapshot()->services) out << QString::fromStdString(s.name);
    return out;
  }

  std::unique_ptr<ui::GraphView> view_;
};

QTEST_MAIN(GraphGroupingTest)
#include "graph_grouping_test.moc"
