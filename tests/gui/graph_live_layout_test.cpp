// The live graph while a mesh comes up: snapshots whose topology grows a few edges at a time go
// through the app's own path (ControlPlaneClient -> MainWindow -> GraphView). After every
// layout no two services overlap, the graph is laid out left to right, and the view shows all
// of it at a useful size. Also: kept places once the topology is stable, and a pinned service
// that never gets covered.
#include <QDockWidget>
#include <QtTest>

#include "common/clock.h"
#include "support/fake_control_plane.h"
#include "ui/graph_items.h"
#include "ui/graph_layout.h"
#include "ui/graph_view.h"
#include "ui/inspector.h"
#include "ui/main_window.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

const QSizeF kBox(ui::NodeItem::kWidth, ui::NodeItem::kHeight);

// The storefront's services, and its first `edges` edges.
cp::GraphSnapshot stage(const cp::GraphSnapshot& full, size_t edges, uint64_t version) {
  cp::GraphSnapshot s = full;
  s.edges.resize(std::min(edges, full.edges.size()));
  s.topology_version = version;
  return s;
}

QHash<QString, QPointF> visibleCentres(ui::GraphView* view, const QStringList& names) {
  QHash<QString, QPointF> out;
  for (const QString& name : names) {
    ui::NodeItem* n = view->nodeItem(name);
    if (n != nullptr && n->isVisible()) out.insert(name, n->pos());
  }
  return out;
}

}  // namespace

class GraphLiveLayoutTest : public QObject {
  Q_OBJECT

 private slots:
  void growingTopologyNeverOverlapsAndFits() {
    auto fake = std::make_shared<FakeControlPlane>();
    const cp::GraphSnapshot full = *fake->snapshot();
    QStringList names;
    for (const auto& s : full.services) names << QString::fromStdString(s.name);
    QVERIFY(full.edges.size() >= 12);

    ui::MainWindowOptions options;
    options.source = "Embedded control plane";
    options.use_settings = false;
    ui::MainWindow window(fake, options);
    window.resize(1440, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ui::GraphView* view = window.graphView();
    // The empty inspector does not take room from the graph.
    auto* inspector_dock = qobject_cast<QDockWidget*>(window.inspector()->parentWidget());
    QVERIFY(inspector_dock != nullptr);
    QVERIFY(!inspector_dock->isVisible());
    QVERIFY(view->width() > 1000);

    // Services first (registered, no traffic), then edges three at a time, as a demo comes up.
    quint64 version = 100;
    for (size_t edges = 0;; edges += 3) {
      const size_t n = std::min(edges, full.edges.size());
      fake->setSnapshot(stage(full, n, ++version));
      fake->publish();
      QTRY_VERIFY_WITH_TIMEOUT(view->edgeCount() == int(n) && !view->layoutPending() &&
                                   !view->animating() && view->layoutsDone() > 0,
                               10000);
      const QString at = QStringLiteral("%1 edges").arg(n);
      const auto centres = visibleCentres(view, names);
      QCOMPARE(centres.size(), names.size());
      const auto overlap = ui::findOverlap(centres, kBox);
      QVERIFY2(!overlap,
               qPrintable(at + ": " +
                          (overlap ? overlap->first + " overlaps " + overlap->second : QString())));
      // The view shows every service, and the graph fills the view in at least one direction.
      const QRectF visible = view->mapToScene(view->viewport()->rect()).boundingRect();
      QRectF graph;
      for (const QString& name : names) {
        const QRectF r = view->nodeItem(name)->sceneBoundingRect();
        QVERIFY2(visible.contains(r), qPrintable(at + ": " + name + " is out of view"));
        graph = graph.united(r);
      }
      const double fill =
          std::max(graph.width() / visible.width(), graph.height() / visible.height());
      QVERIFY2(fill > 0.75 || view->transform().m11() >= 1.39,
               qPrintable(at + QStringLiteral(": the graph fills %1 of the view").arg(fill)));
      if (n == full.edges.size()) break;
    }
    // Every layout while the topology grew moved everything to where dot wants it.
    QCOMPARE(view->fullLayoutsDone(), view->layoutsDone());
    // Left to right: the callers of the storefront (no cycles) stand left of their callees.
    for (const auto& e : full.edges) {
      const QString src = QString::fromStdString(e.source),
                    dst = QString::fromStdString(e.destination);
      QVERIFY2(view->nodeItem(src)->pos().x() < view->nodeItem(dst)->pos().x(),
               qPrintable(src + " -> " + dst));
    }
    // Edge labels do not cover each other.
    std::vector<QRectF> labels;
    for (const auto& e : full.edges) {
      ui::EdgeItem* item =
          view->edgeItem(QString::fromStdString(e.source), QString::fromStdString(e.destination));
      const QRectF box = item->labelBoxAt(item->labelAt());
      for (const QRectF& other : labels) QVERIFY(!box.intersects(other));
      labels.push_back(box);
    }
  }

  void stableTopologyKeepsPlacesAndPinnedServicesAreNeverCovered() {
    common::SimulatedTimeSource clock;
    ui::GraphView view;
    view.setTimeSource(&clock);
    view.setAnimationDuration(0);
    view.resize(1200, 800);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    FakeControlPlane fake;
    const cp::GraphSnapshot full = *fake.snapshot();
    QStringList names;
    for (const auto& s : full.services) names << QString::fromStdString(s.name);

    auto without_last = std::make_shared<cp::GraphSnapshot>(stage(full, full.edges.size() - 1, 1));
    view.showSnapshot(without_last);
    QTRY_COMPARE_WITH_TIMEOUT(view.layoutsDone(), quint64(1), 10000);
    QHash<QString, QPointF> before = visibleCentres(&view, names);

    // Stable for longer than kStableAfter: one more edge keeps every place.
    clock.advance(ui::GraphView::kStableAfter + std::chrono::seconds(1));
    view.showSnapshot(std::make_shared<cp::GraphSnapshot>(stage(full, full.edges.size(), 2)));
    QTRY_COMPARE_WITH_TIMEOUT(view.layoutsDone(), quint64(2), 10000);
    QCOMPARE(view.fullLayoutsDone(), quint64(1));
    QCOMPARE(visibleCentres(&view, names), before);

    // The user drops "auth" right where "catalog" stands; then the topology changes quickly
    // twice (full layouts). "auth" stays where it was dropped and nothing lands on it.
    ui::NodeItem* auth = view.nodeItem("auth");
    const QPointF dropped = view.nodeItem("catalog")->pos() + QPointF(20, 10);
    auth->setPinned(true);
    auth->placeAt(dropped);
    view.showSnapshot(std::make_shared<cp::GraphSnapshot>(stage(full, full.edges.size() - 2, 3)));
    QTRY_COMPARE_WITH_TIMEOUT(view.layoutsDone(), quint64(3), 10000);
    view.showSnapshot(std::make_shared<cp::GraphSnapshot>(stage(full, full.edges.size(), 4)));
    QTRY_COMPARE_WITH_TIMEOUT(view.layoutsDone(), quint64(4), 10000);
    QCOMPARE(view.fullLayoutsDone(), quint64(3));
    QCOMPARE(auth->pos(), dropped);
    const auto overlap = ui::findOverlap(visibleCentres(&view, names), kBox);
    QVERIFY2(!overlap,
             qPrintable(overlap ? overlap->first + " overlaps " + overlap->second : QString()));
  }

  void separateOverlapsMovesOnlyLooseBoxes() {
    QHash<QString, QPointF> centres{
        {"a", {0, 0}}, {"b", {10, 5}}, {"c", {10, 20}}, {"far", {1000, 0}}};
    QVERIFY(ui::findOverlap(centres, kBox));
    const int moved = ui::separateOverlaps(&centres, {"b"}, kBox, 12);
    QCOMPARE(moved, 2);  // a and c move, b is fixed, far was free
    QCOMPARE(centres.value("b"), QPointF(10, 5));
    QCOMPARE(centres.value("far"), QPointF(1000, 0));
    QVERIFY(!ui::findOverlap(centres, kBox, 11.9));
  }
};

QTEST_MAIN(GraphLiveLayoutTest)
#include "graph_live_layout_test.moc"
