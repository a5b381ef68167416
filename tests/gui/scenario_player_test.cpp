// The scenario player end to end: the app's DemoController starts the real storefront demo
// (demo services, sidecars, load on loopback) beside an embedded control plane; a scenario is
// picked and started in the Scenarios panel, and its first checkpoint ticks green while the
// graph marks the step's edges. No process is left behind.
#include <QComboBox>
#include <QLabel>
#include <QPushButton>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QtTest>

#include "app/demo_controller.h"
#include "controlplane/in_process_control_plane.h"
#include "gui/demo_window.h"
#include "support/tagged_processes.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/main_window.h"
#include "ui/scenario_model.h"
#include "ui/scenario_panel.h"

using namespace meshdeck;
using namespace meshdeck::test;
using State = ui::ScenarioStepsModel::State;

using meshdeck::testing::DemoWindow;

namespace {

void saveScreenshot(QWidget* w, const QString& name) {
  const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
  if (dir.isEmpty()) return;
  QVERIFY(w->grab().save(dir + "/" + name + ".png"));
}

}  // namespace

class ScenarioPlayerTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    tag_ = newProcessTag();
    qputenv("MESHDECK_TEST_TAG", tag_.split('=')[1]);
  }

  void firstCheckpointOfAScenarioTicksGreen() {
    DemoWindow mesh;
    QString error;
    QVERIFY2(mesh.start("storefront", QSize(), &error), qPrintable(error));
    ui::MainWindow* window = &mesh.window();
    app::DemoController* demo = &mesh.demo();

    // The panel lists the storefront's scenarios before the demo is up.
    ui::ScenarioPanel* panel = window->scenarioPanel();
    window->sidePanel()->setCurrentWidget(panel);
    QVERIFY(panel->scenarioBox()->count() >= 4);
    QVERIFY(panel->selectScenario("canary-goes-bad"));
    QVERIFY(panel->narration()->toPlainText().contains("A canary goes bad"));
    QCOMPARE(panel->model()->rowCount(), 3);
    const QList<ui::GraphEdge> first_edges = panel->model()->scenario().steps[0].edges;
    QVERIFY(first_edges.contains(ui::GraphEdge("storefront-web", "recommendations")));

    // What the graph scene marks each time the panel hands it a step's edges (this slot runs
    // after the graph's, which the window connected first).
    QList<QList<ui::GraphEdge>> marked;
    QStringList narrations;  // the narration shown at that moment
    connect(panel, &ui::ScenarioPanel::focusEdgesChanged, this, [&] {
      marked << window->graphView()->focusedEdges();
      narrations << panel->narration()->toPlainText();
    });

    // The demo comes up (bounded: about 10-30 s on a busy machine) and its graph is complete.
    QVERIFY(!demo->ready());
    QTRY_VERIFY_WITH_TIMEOUT(demo->ready(), 120'000);
    for (const auto& [source, destination] : first_edges)
      QTRY_VERIFY_WITH_TIMEOUT(window->graphView()->edgeItem(source, destination) != nullptr,
                               10'000);

    QVERIFY(panel->startButton()->isEnabled());
    QTest::mouseClick(panel->startButton(), Qt::LeftButton);
    QVERIFY(panel->playing());
    QCOMPARE(panel->startButton()->text(), QStringLiteral("Stop (F5)"));

    // The first checkpoint ticks green; while its step ran the graph marked its edges, and the
    // mark went when the step ended.
    ui::ScenarioStepsModel* model = panel->model();
    QTRY_COMPARE_WITH_TIMEOUT(model->checkpointState(0), State::kPassed, 60'000);
    QCOMPARE(model->stepState(0), State::kPassed);
    QVERIFY2(model->checkpointText(0).startsWith("Passed at "),
             qPrintable(model->checkpointText(0)));
    QVERIFY(model->checkpointText(0).contains("(observed "));
    QCOMPARE(model->checkpointIndex(0).data(Qt::ForegroundRole).value<QBrush>().color(),
             QColor(0x1f, 0x9d, 0x55));
    QVERIFY(marked.size() >= 2);
    QCOMPARE(marked[0], first_edges);
    QVERIFY(marked[1].isEmpty());

    // Step 2 plays now: its edges (those into recommendations) are marked, the narration is
    // its own, and a checkpoint that waits counts down.
    QTRY_VERIFY_WITH_TIMEOUT(marked.size() >= 3, 10'000);
    const QList<ui::GraphEdge> second_edges = model->scenario().steps[1].edges;
    QCOMPARE(marked[2], second_edges);
    QVERIFY(second_edges.contains(ui::GraphEdge("storefront-web", "recommendations")));
    QVERIFY(narrations[0].contains("step 1 of 3") && narrations[0].contains("Baseline"));
    QVERIFY2(narrations[2].contains("step 2 of 3"), qPrintable(narrations[2]));
    if (model->checkpointState(1) == State::kRunning) {
      QVERIFY(window->graphView()->edgeItem("storefront-web", "recommendations")->focused());
      QVERIFY(!window->graphView()->edgeItem("web-gateway", "storefront-web")->focused());
      QVERIFY2(model->checkpointText(1).contains(" s left"), qPrintable(model->checkpointText(1)));
    }
    saveScreenshot(window, "scenario-player");

    // Stop (F5 through the menu's shortcut) ends the scenario, not the demo.
    window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(window));
    QTest::keyClick(window, Qt::Key_F5);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->playing(), 15'000);
    QVERIFY2(panel->resultLabel()->text().startsWith("Stopped after") ||
                 panel->resultLabel()->text().contains("Passed"),
             qPrintable(panel->resultLabel()->text()));
    if (panel->resultLabel()->text().startsWith("Stopped after")) {
      const int stopped_at = model->stepState(1) == State::kStopped ? 1 : 2;
      QCOMPARE(model->stepState(stopped_at), State::kStopped);
    }
    QVERIFY(window->graphView()->focusedEdges().isEmpty());
    QVERIFY(demo->ready());
    QCOMPARE(panel->startButton()->text(), QStringLiteral("Start (F5)"));

    // Closing: the demo stops before the control plane; nothing survives.
    mesh.stop();
    const QList<int> left = survivorsTagged(tag_);
    QVERIFY2(left.isEmpty(), qPrintable(QString("processes left behind: %1").arg(left.size())));
  }

 private:
  QByteArray tag_;
};

QTEST_MAIN(ScenarioPlayerTest)
#include "scenario_player_test.moc"
