// The demo runner's wait for the first complete graph (controlplane/fleet/demo_runner.h):
// every call edge of the 1,000-service generated mesh must carry traffic, the wait looks at
// least once even past its deadline, stops at the deadline or when cancelled, and the message
// of a wait that ran out counts the missing edges and lists only the first ones.
#include <QtTest>
#include <algorithm>
#include <chrono>
#include <memory>

#include "controlplane/fleet/demo_runner.h"

using namespace meshdeck::cp;
using namespace meshdeck::cp::fleet;
using Clock = std::chrono::steady_clock;

namespace {

// A snapshot with traffic on every call edge of `mesh` except the first `skip`.
std::shared_ptr<const GraphSnapshot> snapshotOf(const DemoMesh& mesh, size_t skip = 0) {
  auto snap = std::make_shared<GraphSnapshot>();
  size_t n = 0;
  auto edge = [&](const std::string& a, const std::string& b) {
    if (n++ < skip) return;
    ServiceEdge e;
    e.source = a;
    e.destination = b;
    e.metrics.requests = 3;
    snap->edges.push_back(e);
  };
  for (const auto& s : mesh.services)
    for (const auto& c : s.calls) edge(s.name, c.service);
  for (const auto& l : mesh.load) edge(l.name, l.target);
  return snap;
}

}  // namespace

class GraphWaitTest : public QObject {
  Q_OBJECT

 private slots:
  void everyCallEdgeOfTheHugeMeshCounts() {
    const DemoMesh mesh = generateLargeMesh(1000, 7);  // resources/demo/huge.yaml
    const size_t edges = callEdgeCount(mesh);
    QVERIFY2(edges > 1000, qPrintable(QString::number(edges)));
    QVERIFY(graphComplete(mesh, *snapshotOf(mesh)));
    std::vector<std::string> missing;
    QVERIFY(!graphComplete(mesh, *snapshotOf(mesh, 5), &missing));
    QCOMPARE(missing.size(), size_t(5));
    // An edge that was seen but had no request in the window does not count.
    auto idle = std::make_shared<GraphSnapshot>(*snapshotOf(mesh));
    idle->edges.back().metrics.requests = 0;
    missing.clear();
    QVERIFY(!graphComplete(mesh, *idle, &missing));
    QCOMPARE(missing.size(), size_t(1));
    QCOMPARE(missing[0], idle->edges.back().source + " -> " + idle->edges.back().destination);
  }

  void waitsUntilEveryEdgeHasTraffic() {
    const DemoMesh mesh = generateLargeMesh(200, 7);
    int looks = 0;
    // Traffic reaches the last edges on the fourth look.
    const auto wait = waitForCompleteGraph(
        mesh, [&] { return snapshotOf(mesh, ++looks < 4 ? 10 : 0); },
        Clock::now() + std::chrono::hours(1), nullptr, std::chrono::milliseconds(0));
    QVERIFY(wait.complete);
    QCOMPARE(looks, 4);
    QVERIFY(wait.missing.empty());
  }

  void looksOnceEvenPastTheDeadline() {
    const DemoMesh mesh = generateLargeMesh(200, 7);
    int looks = 0;
    const auto done = waitForCompleteGraph(
        mesh,
        [&] {
          ++looks;
          return snapshotOf(mesh);
        },
        Clock::now() - std::chrono::seconds(1), nullptr, std::chrono::milliseconds(0));
    QVERIFY(done.complete);
    QCOMPARE(looks, 1);
    const auto late = waitForCompleteGraph(
        mesh,
        [&] {
          ++looks;
          return snapshotOf(mesh, 7);
        },
        Clock::now() - std::chrono::seconds(1), nullptr, std::chrono::milliseconds(0));
    QVERIFY(!late.complete);
    QCOMPARE(looks, 2);
    QCOMPARE(late.missing.size(), size_t(7));
  }

  void stopsWhenCancelledOrWithoutASnapshot() {
    const DemoMesh mesh = generateLargeMesh(200, 7);
    int looks = 0, asked = 0;
    const auto wait = waitForCompleteGraph(
        mesh,
        [&] {
          ++looks;
          return std::shared_ptr<const GraphSnapshot>();
        },
        Clock::now() + std::chrono::hours(1), [&] { return ++asked >= 3; },
        std::chrono::milliseconds(0));
    QVERIFY(!wait.complete);
    QCOMPARE(looks, 3);
    QCOMPARE(wait.missing.size(), callEdgeCount(mesh));  // no snapshot: every edge is missing
  }

  void messageCountsAndListsTheFirstEdges() {
    std::vector<std::string> missing;
    for (int i = 0; i < 25; ++i) missing.push_back("a -> b" + std::to_string(i));
    const std::string text = missingEdgesText(missing, 2000, 20);
    QVERIFY2(text.starts_with("no traffic yet on 25 of 2000 call edges:\n  a -> b0\n"),
             text.c_str());
    QVERIFY2(text.find("a -> b19\n  ... and 5 more") != std::string::npos, text.c_str());
    QVERIFY2(text.find("a -> b20") == std::string::npos, text.c_str());
    QCOMPARE(std::count(text.begin(), text.end(), '\n'), 21L);
    const std::string few = missingEdgesText({"x -> y"}, 3);
    QCOMPARE(few, std::string("no traffic yet on 1 of 3 call edges:\n  x -> y"));
  }
};

QTEST_GUILESS_MAIN(GraphWaitTest)
#include "graph_wait_test.moc"
