#include "ui/graph_layout.h"

#include <QtTest>

#include "support/fake_control_plane.h"

using meshdeck::testing::FakeControlPlane;
using meshdeck::ui::LayoutInput;
using meshdeck::ui::LayoutResult;

namespace {

LayoutInput inputFrom(const meshdeck::cp::GraphSnapshot& s) {
  LayoutInput in;
  for (const auto& n : s.services)
    in.nodes.push_back({QString::fromStdString(n.name), QSizeF(168, 58)});
  for (const auto& e : s.edges) {
    in.edges.push_back({QString::fromStdString(e.source), QString::fromStdString(e.destination)});
  }
  return in;
}

bool overlaps(const LayoutResult& r, double w, double h) {
  const auto positions = r.positions.values();
  for (qsizetype i = 0; i < positions.size(); ++i) {
    for (qsizetype j = i + 1; j < positions.size(); ++j) {
      if (std::abs(positions[i].x() - positions[j].x()) < w &&
          std::abs(positions[i].y() - positions[j].y()) < h) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

class GraphLayoutTest : public QObject {
  Q_OBJECT

 private slots:
  void dotLaysOutStorefrontLeftToRight() {
    FakeControlPlane fake;
    const auto snap = fake.snapshot();
    const LayoutInput in = inputFrom(*snap);
    const LayoutResult r = meshdeck::ui::computeDotLayout(in);
    QVERIFY2(r.ok, qPrintable(r.error));
    QCOMPARE(r.positions.size(), qsizetype(in.nodes.size()));
    // The storefront is acyclic: every call goes from a lower rank to a higher one, i.e. right.
    for (const auto& e : in.edges) {
      QVERIFY2(r.positions.value(e.source).x() < r.positions.value(e.destination).x(),
               qPrintable(e.source + " -> " + e.destination));
      const auto route = r.routes.value(LayoutResult::edgeKey(e.source, e.destination));
      QVERIFY(!route.isEmpty());
      // The spline starts at the source box and ends at the destination box.
      QVERIFY(QLineF(route.pointAtPercent(0), r.positions.value(e.source)).length() < 130);
      QVERIFY(QLineF(route.pointAtPercent(1), r.positions.value(e.destination)).length() < 130);
    }
    QVERIFY(!overlaps(r, 168, 58));
    QVERIFY(r.bounds.width() > 0 && r.bounds.height() > 0);
  }

  void dotHandlesCyclesAndEmptyInput() {
    LayoutInput in;
    in.nodes = {{"a", QSizeF(100, 40)}, {"b", QSizeF(100, 40)}, {"c", QSizeF(100, 40)}};
    in.edges = {{"a", "b"}, {"b", "c"}, {"c", "a"}, {"a", "missing"}};
    const LayoutResult r = meshdeck::ui::computeDotLayout(in);
    QVERIFY(r.ok);
    QCOMPARE(r.positions.size(), 3);
    QVERIFY(meshdeck::ui::computeDotLayout(LayoutInput{}).ok);
  }

  void longEdgesCountAsDotWork() {
    // A chain of 4 ranks: services only. One edge from the first to the last crosses two ranks.
    LayoutInput chain;
    for (const char* n : {"a", "b", "c", "d"}) chain.nodes.push_back({n, QSizeF(100, 40)});
    chain.edges = {{"a", "b"}, {"b", "c"}, {"c", "d"}};
    QCOMPARE(meshdeck::ui::dotWorkEstimate(chain), 4);
    chain.edges.push_back({"a", "d"});
    QCOMPARE(meshdeck::ui::dotWorkEstimate(chain), 4 + 2);
    // Few edges but long ones (every service calls every later one): past the limit, so the
    // view gets the fast layout (no routes) although dot would take the edge count.
    LayoutInput dense;
    const int n = 90;
    for (int i = 0; i < n; ++i) dense.nodes.push_back({QString::number(i), QSizeF(100, 40)});
    for (int i = 0; i < n; ++i) {
      for (int j = i + 1; j < n && j <= i + 12; ++j)
        dense.edges.push_back({QString::number(i), QString::number(j)});
    }
    QVERIFY(dense.edges.size() <= static_cast<size_t>(meshdeck::ui::kDotEdgeLimit));
    QVERIFY(meshdeck::ui::dotWorkEstimate(dense) > meshdeck::ui::kDotWorkLimit);
    const LayoutResult r = meshdeck::ui::computeLayout(dense);
    QVERIFY(r.ok);
    QVERIFY(r.routes.isEmpty());
  }

  void cyclesCountAsDotWork() {
    // Groups calling each other both ways (40 namespaces of a random mesh, 1,475 edges between
    // them): no rank order at all, yet dot turns edges round to make one and then routes a
    // long chain. Counted as dot breaks the cycles, past the limit: the fast layout.
    LayoutInput groups;
    const int n = 40;
    for (int i = 0; i < n; ++i) groups.nodes.push_back({QString::number(i), QSizeF(100, 40)});
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n && groups.edges.size() < 1400; ++j)
        if (i != j && (i + j) % 3 != 0)
          groups.edges.push_back({QString::number(i), QString::number(j)});
    }
    QVERIFY(groups.edges.size() <= static_cast<size_t>(meshdeck::ui::kDotEdgeLimit));
    QVERIFY2(meshdeck::ui::dotWorkEstimate(groups) > meshdeck::ui::kDotWorkLimit,
             qPrintable(QString::number(meshdeck::ui::dotWorkEstimate(groups))));
    // A single cycle stays cheap: a ring of 4 is 4 services and one edge turned round across
    // two ranks.
    LayoutInput ring;
    for (const char* v : {"a", "b", "c", "d"}) ring.nodes.push_back({v, QSizeF(100, 40)});
    ring.edges = {{"a", "b"}, {"b", "c"}, {"c", "d"}, {"d", "a"}};
    QCOMPARE(meshdeck::ui::dotWorkEstimate(ring), 4 + 2);
  }

  void largeGraphsUseTheFastLayeredLayout() {
    const auto snap = FakeControlPlane::syntheticSnapshot(1000, 5000, 11);
    const LayoutInput in = inputFrom(snap);
    QVERIFY(in.edges.size() > static_cast<size_t>(meshdeck::ui::kDotEdgeLimit));
    QElapsedTimer timer;
    timer.start();
    const LayoutResult r = meshdeck::ui::computeLayout(in);
    QVERIFY(r.ok);
    QCOMPARE(r.positions.size(), qsizetype(1000));
    QVERIFY(r.routes.isEmpty());  // the fast layout leaves curves to the view
    QVERIFY(!overlaps(r, 168, 58));
    int rightwards = 0;
    for (const auto& e : in.edges) {
      if (r.positions.value(e.source).x() < r.positions.value(e.destination).x()) ++rightwards;
    }
    // The synthetic mesh is layered and acyclic, so every call points right.
    QCOMPARE(rightwards, static_cast<int>(in.edges.size()));
    qInfo("fast layered layout of 1000 nodes / %zu edges: %.1f ms", in.edges.size(),
          r.milliseconds);
  }
};

QTEST_GUILESS_MAIN(GraphLayoutTest)
#include "graph_layout_test.moc"
