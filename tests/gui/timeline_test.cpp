// Time travel (issue 22): the timeline under the graph over a real InProcessControlPlane whose
// history the test prepares with a simulated clock — two policy revisions by two authors, an
// edge that was fast at one moment and slow at another, a scenario step. Scrubbing (a real press
// on the axis) shows the past edge values and the revision then in force, read-only in the
// policies panel, and live snapshots do not overwrite it; a click on the scenario step's marker
// jumps there; keys step and play; Live returns to now. The remote path: a control plane on
// loopback, the desktop's gRPC client (GrpcControlPlane) fetching the graph, the policies of a
// past revision and the events, and a TimelinePanel loading a past moment through it.
#include <QComboBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>
#include <QtTest>

#include "common/clock.h"
#include "common/latency_histogram.h"
#include "controlplane/grpc_control_plane.h"
#include "controlplane/history/history_store.h"
#include "controlplane/in_process_control_plane.h"
#include "ui/control_plane_client.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/main_window.h"
#include "ui/policy_panel.h"
#include "ui/table_models.h"
#include "ui/timeline_axis.h"
#include "ui/timeline_panel.h"

using namespace meshdeck;
using namespace std::chrono_literals;

namespace {

const char* kDestination = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
)";
const char* kRateLimit = R"(apiVersion: meshdeck.io/v1alpha1
kind: RateLimit
metadata: {name: reviews}
spec:
  selector: {service: reviews}
  requestsPerSecond: 50
  burst: 100
)";

int64_t epochSeconds(cp::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// 100 requests of catalog -> reviews in the 10 s bucket starting at `start`, each `ms` long.
cp::history::Bucket edgeBucket(int64_t start, double ms) {
  cp::history::Bucket b;
  b.start = start;
  b.kind = cp::history::SeriesKind::kEdge;
  b.source = "catalog";
  b.destination = "reviews";
  b.counters.requests = 100;
  b.counters.responses_by_class[2] = 100;
  common::LatencyHistogram h;
  for (int i = 0; i < 100; ++i) h.record(static_cast<uint64_t>(ms * 1e6));
  b.latency = cp::history::SparseLatency::fromDense(h);
  return b;
}

// The past the tests travel to, relative to the clock's start T0 (a multiple of 10 s):
//   T0        revision 1 (DestinationPolicy/reviews) by alice
//   T0+120 s  catalog -> reviews: 100 requests at 5 ms
//   T0+300 s  revision 2 (+ RateLimit/reviews) by bob
//   T0+420 s  catalog -> reviews: 100 requests at 200 ms
//   T0+425 s  scenario.step "canary-goes-bad step 2"
//   T0+600 s  now
struct PreparedPast {
  QTemporaryDir dir;
  common::SimulatedTimeSource clock;
  cp::SystemTime t0;
  std::shared_ptr<cp::InProcessControlPlane> plane;

  bool prepare(bool listen, QString* why) {
    t0 = clock.systemNow();
    if (epochSeconds(t0) % 10 != 0)
      return *why = "the simulated clock starts off a 10 s block", false;
    const std::string state = dir.filePath("state").toStdString();
    std::filesystem::create_directories(state);
    {
      std::string error;
      auto store = cp::history::HistoryStore::open(std::filesystem::path(state) / "history.db", {},
                                                   clock, &error);
      if (!store) return *why = QString::fromStdString(error), false;
      store->recordBuckets({edgeBucket(epochSeconds(t0) + 120, 5)});
      store->recordBuckets({edgeBucket(epochSeconds(t0) + 420, 200)});
      store->flush();
    }
    cp::ControlPlaneOptions options;
    options.listen = listen ? "127.0.0.1:0" : "";
    options.secure_listen = "";
    options.state_dir = state;
    options.time_source = &clock;
    plane = std::make_shared<cp::InProcessControlPlane>(options);
    std::string error;
    if (!plane->start(&error)) return *why = QString::fromStdString(error), false;
    for (const char* s : {"frontend", "catalog", "reviews"})
      plane->registerService(s, "v1", "backend");
    if (!plane->applyPolicies(kDestination, "destination.yaml", "alice", false).ok)
      return *why = "revision 1 refused", false;
    clock.advance(300s);
    if (!plane->applyPolicies(kRateLimit, "ratelimit.yaml", "bob", false).ok)
      return *why = "revision 2 refused", false;
    clock.advance(125s);
    plane->recordEvent("scenario.step", "canary-goes-bad step 2", "Roll the canary out",
                       "scenario:canary-goes-bad");
    clock.advance(175s);
    return true;
  }
};

const cp::ServiceEdge* shownEdge(ui::GraphView* graph) {
  const ui::EdgeItem* item = graph->edgeItem("catalog", "reviews");
  return item ? &item->edge() : nullptr;
}

}  // namespace

class TimelineTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void scrubMarkerAndLive() {
    PreparedPast past;
    QString why;
    QVERIFY2(past.prepare(false, &why), qPrintable(why));
    const auto t0 = past.t0;
    ui::MainWindowOptions options;
    options.source = "Embedded control plane";
    options.use_settings = false;
    options.size = QSize(1280, 720);
    ui::MainWindow window(past.plane, options);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ui::TimelinePanel* timeline = window.timeline();
    QVERIFY(timeline && timeline->isVisible());
    QVERIFY(timeline->isLive());
    // The control plane's clock, not ours, is now.
    QTRY_VERIFY_WITH_TIMEOUT(timeline->now() == t0 + 600s, 10000);
    QCOMPARE(timeline->selectedRange().second, t0 + 600s);
    // An hour by default, but the stored history starts at T0 (the control plane's start
    // event): the axis starts 10 s before it.
    QTRY_COMPARE_WITH_TIMEOUT(timeline->selectedRange().first, t0 - 10s, 10000);

    // 15 minutes on the axis; the events arrive as markers.
    timeline->spanBox()->setCurrentIndex(timeline->spanBox()->findText("15 min"));
    QCOMPARE(timeline->selectedRange().first, t0 - 10s);
    QCOMPARE(timeline->axis()->rangeFrom(), t0 - 10s);
    ui::TimelineAxis* axis = timeline->axis();
    auto stepIndex = [axis] {
      for (size_t i = 0; i < axis->events().size(); ++i)
        if (axis->events()[i].kind == "scenario.step") return static_cast<int>(i);
      return -1;
    };
    QTRY_VERIFY_WITH_TIMEOUT(stepIndex() >= 0, 10000);
    int policy_markers = 0;
    for (const auto& e : axis->events()) policy_markers += e.kind == "policy.apply" ? 1 : 0;
    QCOMPARE(policy_markers, 2);
    QCOMPARE(ui::TimelineAxis::colourOf("push.nack"), QColor(0xd6, 0x33, 0x33));
    QVERIFY(ui::TimelineAxis::colourOf("scenario.step") !=
            ui::TimelineAxis::colourOf("policy.apply"));

    // Scrub: a press on the axis at T0+130 s shows the fast past of catalog -> reviews and
    // revision 1, read-only.
    QSignalSpy live_spy(timeline, &ui::TimelinePanel::liveChanged);
    const QPoint at130(qRound(axis->xOf(t0 + 130s)), axis->height() / 2);
    QVERIFY(axis->markerAt(at130.x()) < 0);
    QTest::mouseClick(axis, Qt::LeftButton, {}, at130);
    QVERIFY(!timeline->isLive());
    QCOMPARE(live_spy.count(), 1);
    const auto scrubbed = timeline->cursor();
    QVERIFY2(scrubbed > t0 + 125s && scrubbed < t0 + 135s, "the press lands near T0+130 s");
    QTRY_VERIFY_WITH_TIMEOUT(timeline->moment() && timeline->moment()->time == scrubbed, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(shownEdge(window.graphView()) != nullptr, 5000);
    const cp::ServiceEdge* fast = shownEdge(window.graphView());
    QCOMPARE(fast->metrics.requests, uint64_t(100));
    QVERIFY2(fast->metrics.p99_ms > 4.9 && fast->metrics.p99_ms < 5.1,
             qPrintable(QString::number(fast->metrics.p99_ms)));
    QCOMPARE(fast->policies, std::vector<std::string>{"DestinationPolicy/reviews"});
    QCOMPARE(timeline->moment()->policy_revision, uint64_t(1));
    ui::PolicyPanel* policies = window.policyPanel();
    window.sidePanel()->setCurrentWidget(policies);
    QTRY_VERIFY(policies->viewingPast());
    QVERIFY(policies->pastBanner()->isVisible());
    QVERIFY2(policies->pastBanner()->text().contains("revision 1") &&
                 policies->pastBanner()->text().contains("alice") &&
                 policies->pastBanner()->text().contains("read-only"),
             qPrintable(policies->pastBanner()->text()));
    QCOMPARE(policies->model()->rowCount(), 1);
    QVERIFY(policies->editor()->isReadOnly());
    QVERIFY(timeline->momentLabel()->text().contains("revision 1"));
    QVERIFY(window.statusText().contains("revision 1"));

    // Live snapshots keep coming and do not overwrite the past.
    QSignalSpy snapshots(window.client(), &ui::ControlPlaneClient::snapshotUpdated);
    QVERIFY(snapshots.wait(5000));
    QCOMPARE(window.graphView()->shownSnapshot()->time, scrubbed);
    QCOMPARE(shownEdge(window.graphView())->metrics.requests, uint64_t(100));
    QVERIFY(policies->viewingPast());
    QCOMPARE(policies->model()->rowCount(), 1);

    // The scenario step's marker, clicked: the window shows a second after it — the slow edge,
    // revision 2 with the rate limit's policy on the edge.
    const int step = stepIndex();
    const QPoint marker(qRound(axis->xOf(axis->events()[size_t(step)].time)), axis->height() / 2);
    QCOMPARE(axis->markerAt(marker.x()), step);
    QTest::mouseClick(axis, Qt::LeftButton, {}, marker);
    QCOMPARE(timeline->cursor(), t0 + 426s);
    QTRY_VERIFY_WITH_TIMEOUT(timeline->moment() && timeline->moment()->time == t0 + 426s, 10000);
    const cp::ServiceEdge* slow = shownEdge(window.graphView());
    QVERIFY(slow);
    QVERIFY2(slow->metrics.p99_ms > 198 && slow->metrics.p99_ms < 202,
             qPrintable(QString::number(slow->metrics.p99_ms)));
    QCOMPARE(slow->policies,
             (std::vector<std::string>{"DestinationPolicy/reviews", "RateLimit/reviews"}));
    QTRY_COMPARE(policies->model()->rowCount(), 2);
    QVERIFY2(policies->pastBanner()->text().contains("revision 2") &&
                 policies->pastBanner()->text().contains("bob"),
             qPrintable(policies->pastBanner()->text()));
    QVERIFY(live_spy.count() == 1);  // still in the past

    // Keys on the axis: Left steps back 10 s, Space plays and pauses.
    axis->setFocus();
    QTest::keyClick(axis, Qt::Key_Left);
    QCOMPARE(timeline->cursor(), t0 + 416s);
    QTest::keyClick(axis, Qt::Key_Space);
    QVERIFY(timeline->isPlaying());
    QTest::keyClick(axis, Qt::Key_Space);
    QVERIFY(!timeline->isPlaying());
    QVERIFY(!timeline->isLive());

    // Live: the graph, the policies and the status bar are today's again.
    QTest::mouseClick(timeline->liveButton(), Qt::LeftButton);
    QVERIFY(timeline->isLive());
    QCOMPARE(live_spy.count(), 2);
    QVERIFY(!policies->viewingPast());
    QVERIFY(!policies->pastBanner()->isVisible());
    QVERIFY(!policies->editor()->isReadOnly());
    QCOMPARE(window.graphView()->shownSnapshot(), window.client()->latest());
    // No traffic now: the past edge is gone from the live graph.
    QVERIFY(shownEdge(window.graphView()) == nullptr);
    QTRY_COMPARE(policies->model()->rowCount(), 2);
    QVERIFY(window.statusText().contains("Policy revision 2"));
    QCOMPARE(timeline->momentLabel()->text(), QString("Live"));

    // L from the graph: scrub away, L goes live again.
    timeline->showMoment(t0 + 130s);
    QVERIFY(!timeline->isLive());
    window.graphView()->setFocus();
    QTest::keyClick(window.graphView(), Qt::Key_L);
    QVERIFY(timeline->isLive());
    window.client()->waitForIdle();
  }

  void remoteControlPlaneTimeTravels() {
    PreparedPast past;
    QString why;
    QVERIFY2(past.prepare(true, &why), qPrintable(why));
    const auto t0 = past.t0;
    auto remote = std::make_shared<cp::GrpcControlPlane>(past.plane->listenAddress());
    std::string error;
    QVERIFY2(remote->ping(&error), error.c_str());

    const auto graph = remote->graphBetween(t0 + 120s, t0 + 130s);
    QVERIFY2(graph.available, graph.message.c_str());
    QCOMPARE(graph.edges.size(), size_t(1));
    QCOMPARE(graph.edges[0].metrics.requests, uint64_t(100));
    QCOMPARE(graph.edges[0].policies, std::vector<std::string>{"DestinationPolicy/reviews"});
    QCOMPARE(graph.policy_revision, uint64_t(1));
    QCOMPARE(graph.revision_author, std::string("alice"));
    const auto revision1 = remote->policiesAt(1);
    QVERIFY(revision1.has_value());
    QCOMPARE(revision1->size(), size_t(1));
    QCOMPARE(revision1->front().kind, std::string("DestinationPolicy"));
    QCOMPARE(remote->policiesAt(2)->size(), size_t(2));
    QVERIFY(!remote->policiesAt(99).has_value());
    const auto events = remote->events(t0, t0 + 601s, {"scenario"}, 100);
    QVERIFY(events.available);
    QCOMPARE(events.events.size(), size_t(1));
    QCOMPARE(events.events[0].subject, std::string("canary-goes-bad step 2"));
    QCOMPARE(events.events[0].author, std::string("scenario:canary-goes-bad"));

    // The desktop's timeline over the remote control plane.
    ui::ControlPlaneClient client(remote, false);
    client.start();
    ui::TimelinePanel timeline(&client);
    QObject::connect(&client, &ui::ControlPlaneClient::snapshotUpdated, &timeline,
                     [&timeline](std::shared_ptr<const cp::GraphSnapshot> s) {
                       timeline.setNow(s->time, s->window_seconds);
                     });
    QTRY_VERIFY_WITH_TIMEOUT(timeline.now() == t0 + 600s, 10000);
    QSignalSpy loaded(&timeline, &ui::TimelinePanel::momentLoaded);
    timeline.showMoment(t0 + 426s);
    QVERIFY(loaded.wait(10000));
    const auto& moment = *timeline.moment();
    QVERIFY(moment.available);
    QCOMPARE(moment.policy_revision, uint64_t(2));
    QCOMPARE(moment.revision_author, std::string("bob"));
    QVERIFY(moment.policies.has_value());
    QCOMPARE(moment.policies->size(), size_t(2));
    QVERIFY(moment.snapshot);
    const cp::ServiceEdge* slow = nullptr;
    for (const auto& e : moment.snapshot->edges)
      if (e.source == "catalog" && e.destination == "reviews") slow = &e;
    QVERIFY(slow);
    QVERIFY2(slow->metrics.p99_ms > 198 && slow->metrics.p99_ms < 202,
             qPrintable(QString::number(slow->metrics.p99_ms)));
    // Health judged by the control plane on that past traffic (no errors: healthy).
    bool judged = false;
    for (const auto& s : moment.snapshot->services)
      if (s.name == "reviews" && s.health) judged = s.health->state == cp::HealthState::kHealthy;
    QVERIFY(judged);
    client.waitForIdle();
  }

  // The graph of a past window keeps today's services and edges that were idle then, idle.
  void historicalSnapshotKeepsIdleStructure() {
    cp::GraphSnapshot live;
    live.services = {cp::ServiceNode{}, cp::ServiceNode{}};
    live.services[0].name = "frontend";
    live.services[0].tier = "web";
    live.services[1].name = "catalog";
    live.services[1].tier = "backend";
    live.services[1].inbound.requests = 7;
    cp::ServiceEdge now_edge;
    now_edge.source = "frontend";
    now_edge.destination = "catalog";
    now_edge.metrics.requests = 9;
    live.edges = {now_edge};
    cp::HistoricalGraph past;
    past.available = true;
    past.policy_revision = 3;
    cp::ServiceEdge old_edge;
    old_edge.source = "catalog";
    old_edge.destination = "legacy";
    old_edge.metrics.requests = 40;
    past.edges = {old_edge};
    const auto at = cp::SystemTime{} + 1000s;
    const auto g = ui::historicalSnapshot(past, live, at, 10);
    QCOMPARE(g->time, at);
    QCOMPARE(g->policy_revision, uint64_t(3));
    QCOMPARE(g->edges.size(), size_t(2));
    QCOMPARE(g->edges[0].source, std::string("catalog"));  // sorted by source, destination
    QCOMPARE(g->edges[0].metrics.requests, uint64_t(40));
    QCOMPARE(g->edges[1].source, std::string("frontend"));
    QCOMPARE(g->edges[1].metrics.requests, uint64_t(0));  // idle then, not today's 9
    QCOMPARE(g->services.size(), size_t(3));              // catalog, frontend, legacy
    QCOMPARE(g->services[0].name, std::string("catalog"));
    QCOMPARE(g->services[0].tier, std::string("backend"));
    QCOMPARE(g->services[0].inbound.requests, uint64_t(0));
    QCOMPARE(g->services[2].name, std::string("legacy"));
    QVERIFY(g->proxies.empty());
  }
};

QTEST_MAIN(TimelineTest)
#include "timeline_test.moc"
