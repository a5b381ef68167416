// Issue 17, problem 2: a policy made with a form (a canary on recommendations) no longer breaks
// "A canary goes bad". On the real storefront demo, Start in the Scenarios panel asks whether to
// set the colliding policies aside; No does not play, Yes plays (step 1's apply goes through
// and its checkpoint ticks green) and the policies come back when the scenario ends.
#include <QApplication>
#include <QMessageBox>
#include <QPushButton>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>
#include <memory>

#include "app/demo_controller.h"
#include "controlplane/in_process_control_plane.h"
#include "gui/demo_window.h"
#include "gui/message_box_answer.h"
#include "support/policy_fixtures.h"
#include "support/tagged_processes.h"
#include "ui/main_window.h"
#include "ui/scenario_model.h"
#include "ui/scenario_panel.h"

using namespace meshdeck;
using namespace meshdeck::test;
using State = ui::ScenarioStepsModel::State;

using meshdeck::testing::DemoWindow;

namespace {

const char* kFormCanary = meshdeck::testing::kFormCanaryOnRecommendations;

QStringList policyNames(cp::ControlPlane& control_plane) {
  QStringList out;
  for (const auto& p : control_plane.policies())
    out << QString::fromStdString(p.kind + "/" + p.name);
  out.sort();
  return out;
}

}  // namespace

class ScenarioCollisionsTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    tag_ = newProcessTag();
    qputenv("MESHDECK_TEST_TAG", tag_.split('=')[1]);
  }

  void formCanarySetAsideAndRestored() {
    DemoWindow mesh;
    QString error;
    QVERIFY2(mesh.start("storefront", QSize(), &error), qPrintable(error));
    cp::InProcessControlPlane* control_plane = &mesh.controlPlane();
    ui::MainWindow* window = &mesh.window();
    app::DemoController* demo = &mesh.demo();
    ui::ScenarioPanel* panel = window->scenarioPanel();
    window->sidePanel()->setCurrentWidget(panel);
    QVERIFY(panel->selectScenario("canary-goes-bad"));
    QTRY_VERIFY_WITH_TIMEOUT(demo->ready(), 120'000);

    // The operator's canary, as the form makes it, is in force.
    const auto applied = control_plane->applyPolicies(kFormCanary, "form", "operator", false);
    QVERIFY(applied.ok);
    const QStringList mine = {"DestinationPolicy/recommendations-form",
                              "TrafficRoute/recommendations-form-split"};
    QCOMPARE(policyNames(*control_plane), mine);

    // Start asks; No: the scenario does not play and nothing changes.
    auto box = testing::answerNextMessageBox(QMessageBox::No);
    QTest::mouseClick(panel->startButton(), Qt::LeftButton);
    QVERIFY2(box->text.contains("DestinationPolicy/recommendations-form") &&
                 box->text.contains("TrafficRoute/recommendations-form-split") &&
                 box->text.contains("Set them aside"),
             qPrintable(box->text));
    QVERIFY(!panel->playing());
    QCOMPARE(policyNames(*control_plane), mine);

    // Yes: the scenario plays from a known state; step 1 applies its own policies and passes.
    box = testing::answerNextMessageBox(QMessageBox::Yes);
    QTest::mouseClick(panel->startButton(), Qt::LeftButton);
    QVERIFY2(box->text.contains("recommendations-form"), qPrintable(box->text));
    QVERIFY(panel->playing());
    ui::ScenarioStepsModel* model = panel->model();
    QTRY_COMPARE_WITH_TIMEOUT(model->checkpointState(0), State::kPassed, 60'000);
    QVERIFY(policyNames(*control_plane).contains("DestinationPolicy/recommendations-destination"));
    QVERIFY(!policyNames(*control_plane).contains("DestinationPolicy/recommendations-form"));

    // Stop: the scenario ends and the operator's policies are back, the scenario's gone.
    QTest::mouseClick(panel->startButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->playing(), 15'000);
    QTRY_COMPARE_WITH_TIMEOUT(policyNames(*control_plane), mine, 15'000);

    mesh.stop();
    const QList<int> left = survivorsTagged(tag_);
    QVERIFY2(left.isEmpty(), qPrintable(QString("processes left behind: %1").arg(left.size())));
  }

 private:
  QByteArray tag_;
};

QTEST_MAIN(ScenarioCollisionsTest)
#include "scenario_collisions_test.moc"
