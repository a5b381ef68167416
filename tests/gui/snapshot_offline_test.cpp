// Issue 17, problem 6: a snapshot exported with Ctrl+E and reopened offline has working edge
// charts (the edges' history travels in the file) and speaks of "this snapshot" everywhere:
// status bar, Fleet, Certificates, History. Real keys and clicks through QTest, offscreen.
#include <QChart>
#include <QDateTimeAxis>
#include <QDialog>
#include <QFileDialog>
#include <QLabel>
#include <QLineSeries>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QValueAxis>
#include <QtTest>

#include "controlplane/snapshot_json.h"
#include "support/fake_control_plane.h"
#include "ui/certificates_panel.h"
#include "ui/fleet_panel.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/inspector.h"
#include "ui/main_window.h"
#include "ui/policy_panel.h"
#include "ui/scenario_panel.h"
#include "ui/snapshot_control_plane.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

// FakeControlPlane whose export is the control plane's own writer with what the control plane
// adds to it (cp::snapshotExtras: edge history, revisions), as InProcessControlPlane does; the
// fake's own export is left aside so that the test goes through the real format.
class WriterControlPlane final : public cp::ControlPlane {
 public:
  explicit WriterControlPlane(std::shared_ptr<FakeControlPlane> fake) : fake_(std::move(fake)) {}
  std::shared_ptr<const cp::GraphSnapshot> snapshot() override { return fake_->snapshot(); }
  std::shared_ptr<void> subscribe(SnapshotCallback callback) override {
    return fake_->subscribe(std::move(callback));
  }
  std::vector<cp::EdgeSample> edgeHistory(const std::string& source, const std::string& destination,
                                          uint32_t seconds) override {
    return fake_->edgeHistory(source, destination, seconds);
  }
  std::vector<cp::PolicyInfo> policies() override { return fake_->policies(); }
  cp::ApplyResult applyPolicies(const std::string& yaml, const std::string& file,
                                const std::string& author, bool dry_run) override {
    return fake_->applyPolicies(yaml, file, author, dry_run);
  }
  cp::ApplyResult deletePolicy(const std::string& kind, const std::string& name,
                               const std::string& author) override {
    return fake_->deletePolicy(kind, name, author);
  }
  std::vector<cp::RevisionInfo> revisions() override { return fake_->revisions(); }
  std::string diffRevisions(uint64_t from, uint64_t to) override {
    return fake_->diffRevisions(from, to);
  }
  cp::ApplyResult revertToRevision(uint64_t revision, const std::string& author) override {
    return fake_->revertToRevision(revision, author);
  }
  std::string exportSnapshotJson(uint32_t) override {
    const auto g = fake_->snapshot();
    return cp::snapshotToJson(*g, fake_->policies(), "test", cp::snapshotExtras(*this, *g));
  }
  std::vector<cp::ProcessInfo> processes() override { return fake_->processes(); }
  std::vector<std::string> processLogs(const std::string& name, uint32_t tail) override {
    return fake_->processLogs(name, tail);
  }
  cp::ActionResult restartProcess(const std::string& name) override {
    return fake_->restartProcess(name);
  }
  cp::ActionResult scaleService(const std::string& service, const std::string& version,
                                uint32_t replicas) override {
    return fake_->scaleService(service, version, replicas);
  }
  std::string listenAddress() override { return fake_->listenAddress(); }

 private:
  std::shared_ptr<FakeControlPlane> fake_;
};

// Clicks the label of edge `source` -> `destination`; true when it selected the edge.
bool clickEdge(ui::GraphView* view, const QString& source, const QString& destination) {
  ui::EdgeItem* edge = view->edgeItem(source, destination);
  if (edge == nullptr) return false;
  view->centerOn(edge->labelCentre());
  QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, view->mapFromScene(edge->labelCentre()));
  return view->selection().kind == ui::GraphSelection::Kind::kEdge &&
         view->selection().source == source && view->selection().destination == destination;
}

// Clicks History… in the policy panel; returns the dialog it opened.
QDialog* openHistory(ui::MainWindow* window) {
  window->sidePanel()->setCurrentWidget(window->policyPanel());
  QPushButton* history = nullptr;
  for (auto* b : window->policyPanel()->findChildren<QPushButton*>())
    if (b->text().startsWith(QStringLiteral("History"))) history = b;
  if (history == nullptr) return nullptr;
  QTest::mouseClick(history, Qt::LeftButton);
  return window->policyPanel()->findChild<QDialog*>();
}

}  // namespace

class SnapshotOfflineTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void exportWithCtrlEThenReopen() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath("storefront.json");
    auto fake = std::make_shared<FakeControlPlane>();
    QVERIFY(
        fake->applyPolicies(
                "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nmetadata:\n  name: cart-limit\n"
                "spec:\n  selector: {service: cart}\n  requestsPerSecond: 50\n",
                "t", "test", false)
            .ok);
    const auto expected = fake->edgeHistory("frontend", "catalog", ui::Inspector::kHistorySeconds);
    QCOMPARE(expected.size(), size_t(ui::Inspector::kHistorySeconds));
    {
      ui::MainWindowOptions options;
      options.source = "Fake control plane";
      options.use_settings = false;
      ui::MainWindow live(std::make_shared<WriterControlPlane>(fake), options);
      live.show();
      live.activateWindow();
      QVERIFY(QTest::qWaitForWindowActive(&live));
      QTRY_VERIFY_WITH_TIMEOUT(live.graphView()->layoutsDone() >= 1, 10000);
      QSignalSpy finished(&live, &ui::MainWindow::exportFinished);
      // Ctrl+E asks where to save (a modal file dialog): type the path there and accept.
      // (Captures by value, tied to the window: harmless if the key never opened the dialog.)
      auto answered = std::make_shared<bool>(false);
      QTimer::singleShot(0, &live, [answered, path] {
        QTRY_VERIFY_WITH_TIMEOUT(qobject_cast<QFileDialog*>(QApplication::activeModalWidget()),
                                 5000);
        auto* dialog = qobject_cast<QFileDialog*>(QApplication::activeModalWidget());
        dialog->selectFile(path);
        static_cast<QDialog*>(dialog)->accept();  // QFileDialog::accept() checks the name
        *answered = true;
      });
      QTest::keyClick(&live, Qt::Key_E, Qt::ControlModifier);
      QVERIFY(*answered);
      QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 10000);
      QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(1).toString()));
    }

    QString error;
    std::shared_ptr<ui::SnapshotControlPlane> offline =
        ui::SnapshotControlPlane::open(path, &error);
    QVERIFY2(offline, qPrintable(error));
    ui::MainWindowOptions options;
    options.source = "Snapshot storefront.json";
    options.read_only = true;
    options.use_settings = false;
    ui::MainWindow window(offline, options);
    window.resize(1280, 720);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QTRY_VERIFY_WITH_TIMEOUT(window.graphView()->layoutsDone() >= 1, 10000);

    // The status bar: the file, when it was taken and what it holds; nothing listens.
    const QString taken =
        QDateTime::fromMSecsSinceEpoch(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           fake->snapshot()->time.time_since_epoch())
                                           .count())
            .toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
    const int edges = int(fake->snapshot()->edges.size());
    QTRY_VERIFY2_WITH_TIMEOUT(
        window.statusText().contains(QStringLiteral("history of %1 of %1 edges").arg(edges)),
        qPrintable(window.statusText()), 5000);
    const QString status = window.statusText();
    QVERIFY2(!status.contains("Listening"), qPrintable(status));
    QVERIFY2(!status.contains("connected"), qPrintable(status));
    QVERIFY2(status.contains("Offline: Snapshot storefront.json"), qPrintable(status));
    QVERIFY2(status.contains("Snapshot taken " + taken), qPrintable(status));
    int synced = 0;
    for (const auto& p : fake->snapshot()->proxies) synced += p.state == cp::SyncState::kSynced;
    QVERIFY(synced > 0 && synced < 18);  // the fake has a proxy out of sync
    QVERIFY2(
        status.contains(QStringLiteral("holds 12 services · %1 edges · 18 proxies (%2 synced then)")
                            .arg(edges)
                            .arg(synced)),
        qPrintable(status));

    // A click on an edge: its charts come from the file, with the file's times on the axis.
    QVERIFY(clickEdge(window.graphView(), "frontend", "catalog"));
    ui::Inspector* inspector = window.inspector();
    QTRY_COMPARE_WITH_TIMEOUT(inspector->historyPoints(), int(expected.size()), 5000);
    QCOMPARE(inspector->historyEmptyText(), QString());
    auto* p99 = qobject_cast<QLineSeries*>(inspector->latencyChart()->series().at(2));
    QVERIFY(p99 && p99->name() == "p99");
    QCOMPARE(p99->count(), int(expected.size()));
    for (int i : {0, 150, 299}) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          expected[size_t(i)].time.time_since_epoch())
                          .count();
      QCOMPARE(qint64(p99->at(i).x()), ms);
      QCOMPARE(p99->at(i).y(), expected[size_t(i)].p99_ms);
    }
    auto* time_axis =
        qobject_cast<QDateTimeAxis*>(inspector->latencyChart()->axes(Qt::Horizontal).first());
    QVERIFY(time_axis);
    const auto ms = [](cp::SystemTime t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    };
    QCOMPARE(time_axis->min().toMSecsSinceEpoch(), ms(expected.front().time));
    QCOMPARE(time_axis->max().toMSecsSinceEpoch(), ms(expected.back().time));
    QCOMPARE(time_axis->min().secsTo(time_axis->max()), qint64(expected.size() - 1));
    double max_p99 = 0;
    for (const auto& s : expected) max_p99 = std::max(max_p99, s.p99_ms);
    auto* latency_axis =
        qobject_cast<QValueAxis*>(inspector->latencyChart()->axes(Qt::Vertical).first());
    QCOMPARE(latency_axis->min(), 0.0);
    QVERIFY(latency_axis->max() >= max_p99 && latency_axis->max() < max_p99 * 1.2);
    auto* rate_axis = qobject_cast<QValueAxis*>(inspector->rateChart()->axes(Qt::Vertical).first());
    QVERIFY2(rate_axis->max() > 1.5, qPrintable(QString::number(rate_axis->max())));

    const QString shots = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
    if (!shots.isEmpty()) {
      for (const QSize size : {QSize(1280, 720), QSize(1920, 1080)}) {
        window.resize(size);
        QTest::qWait(300);  // let the docks and charts settle at the new size (screenshot only)
        // clickEdge() centred the view on the edge; the picture shows the whole graph (Ctrl+0).
        window.graphView()->fitGraph();
        QTest::qWait(100);
        QVERIFY(window.grab().save(QStringLiteral("%1/offline-snapshot-edge-charts-%2x%3.png")
                                       .arg(shots)
                                       .arg(size.width())
                                       .arg(size.height())));
      }
    }

    // Fleet: no live fleet in a snapshot.
    window.sidePanel()->setCurrentWidget(window.fleetPanel());
    QTRY_VERIFY_WITH_TIMEOUT(
        window.fleetPanel()->explanation()->text().startsWith("This snapshot has no live fleet"),
        5000);
    QVERIFY(!window.fleetPanel()->explanation()->isHidden());
    QVERIFY(!window.fleetPanel()->explanation()->text().contains("control plane"));

    // Scenarios: nothing plays on a file, and the panel does not tell how to start a demo.
    window.sidePanel()->setCurrentWidget(window.scenarioPanel());
    auto* intro = window.scenarioPanel()->findChild<QLabel*>("scenarioIntro");
    QVERIFY(intro != nullptr);
    QVERIFY2(intro->text().startsWith("This is a saved snapshot"), qPrintable(intro->text()));
    QVERIFY(!intro->text().contains("--demo"));

    // Certificates: what the snapshot holds, not "this control plane".
    window.sidePanel()->setCurrentWidget(window.certificatesPanel());
    QTRY_VERIFY_WITH_TIMEOUT(
        window.certificatesPanel()->summary()->text().startsWith("This snapshot holds no "
                                                                 "certificates"),
        5000);
    QVERIFY(!window.certificatesPanel()->summary()->text().contains("this control plane"));

    // History: the file carries the revision list, as the control plane lists it.
    const auto revisions = fake->revisions();
    QVERIFY(revisions.size() >= 2);
    QDialog* history = openHistory(&window);
    QVERIFY(history);
    auto* list = history->findChild<QListWidget*>();
    QTRY_COMPARE_WITH_TIMEOUT(list->count(), int(revisions.size()), 5000);
    for (int i = 0; i < list->count(); ++i) {
      QVERIFY2(list->item(i)->text().startsWith(
                   QStringLiteral("r%1 · ").arg(revisions[size_t(i)].number)),
               qPrintable(list->item(i)->text()));
      QVERIFY2(list->item(i)->text().contains(QString::fromStdString(revisions[size_t(i)].summary)),
               qPrintable(list->item(i)->text()));
    }
    history->close();
  }

  // A snapshot without edge history (an older export): the charts make way for a sentence
  // instead of axes of nothing, and History says why it is empty.
  void olderSnapshotSaysWhyItIsEmpty() {
    auto fake = std::make_shared<FakeControlPlane>();
    ui::SnapshotDocument doc;
    QString error;
    QVERIFY2(ui::parseSnapshotJson(
                 QByteArray::fromStdString(cp::snapshotToJson(*fake->snapshot(), {}, "old")), &doc,
                 &error),
             qPrintable(error));
    ui::MainWindowOptions options;
    options.source = "Snapshot old.json";
    options.read_only = true;
    options.use_settings = false;
    ui::MainWindow window(std::make_shared<ui::SnapshotControlPlane>(std::move(doc)), options);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QTRY_VERIFY_WITH_TIMEOUT(window.graphView()->layoutsDone() >= 1, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(window.statusText().contains("no edge history"), 5000);

    QVERIFY(clickEdge(window.graphView(), "frontend", "catalog"));
    QTRY_VERIFY_WITH_TIMEOUT(
        window.inspector()->historyEmptyText().startsWith("No history of this edge in this "
                                                          "snapshot"),
        5000);
    QCOMPARE(window.inspector()->historyPoints(), 0);
    if (const QString shots = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR"); !shots.isEmpty()) {
      window.resize(1280, 720);
      QTest::qWait(300);  // screenshot only
      QVERIFY(window.grab().save(shots + "/offline-snapshot-no-history-1280x720.png"));
    }
    QVERIFY(window.inspector()->latencyChart()->isVisible() == false ||
            window.inspector()->findChild<QLabel*>("historyEmpty")->isVisible());

    // A service: its identity line does not claim that no certificate was issued.
    ui::NodeItem* catalog = window.graphView()->nodeItem("catalog");
    QVERIFY(catalog);
    window.graphView()->centerOn(catalog);
    QTest::mouseClick(window.graphView()->viewport(), Qt::LeftButton, {},
                      window.graphView()->mapFromScene(catalog->sceneBoundingRect().center()));
    QCOMPARE(window.graphView()->selection().kind, ui::GraphSelection::Kind::kNode);
    QTRY_COMPARE_WITH_TIMEOUT(
        window.inspector()->identityText(),
        QStringLiteral("Identity: certificates are not part of this snapshot"), 5000);

    QDialog* history = openHistory(&window);
    QVERIFY(history);
    auto* text = history->findChild<QPlainTextEdit*>();
    QTRY_VERIFY_WITH_TIMEOUT(text->toPlainText().contains("a snapshot holds the policies in "
                                                          "force, not their history"),
                             5000);
    QCOMPARE(history->findChild<QListWidget*>()->count(), 0);
    history->close();
  }
};

QTEST_MAIN(SnapshotOfflineTest)
#include "snapshot_offline_test.moc"
