// Policy state across runs (issue 17, problem 3), through the app's command line and a real
// embedded control plane (loopback, port 0), with the app data location in a temporary
// directory: a demo starts clean by default (the last run's state is moved aside, not
// deleted); --keep-state keeps it and the status bar says which revision was restored; File →
// Reset demo state, clicked and confirmed, removes every policy in force as a new revision
// (the history stays); without --demo the state persists as it always did.
#include <QApplication>
#include <QDir>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include "app/command_line.h"
#include "controlplane/in_process_control_plane.h"
#include "gui/message_box_answer.h"
#include "ui/control_plane_client.h"
#include "ui/elided_label.h"
#include "ui/main_window.h"

using namespace meshdeck;
using namespace meshdeck::app;

namespace {

const char* kRoute = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: reviews-timeout}
spec:
  host: reviews
  http:
  - route:
    - {destination: {host: reviews}}
    timeout: 2s
)";

// Parses `args` and opens the control plane they name; fails the test on an error.
bool open(QStringList args, AppCommandLine* cl, OpenedControlPlane* opened) {
  QCommandLineParser parser;
  declareOptions(parser);
  args.prepend("meshdeck");
  QString error;
  if (!parser.parse(args) || !readCommandLine(parser, cl, &error) ||
      !openControlPlane(*cl, opened, &error)) {
    qWarning("%s %s", qPrintable(parser.errorText()), qPrintable(error));
    return false;
  }
  return opened->embedded != nullptr;
}

// Opens File with a click on the menu bar and clicks `action` in it.
void clickFileMenuItem(QMainWindow& window, QAction* action) {
  QMenuBar* bar = window.menuBar();
  QAction* file = nullptr;
  for (QAction* a : bar->actions())
    if (a->text() == QStringLiteral("&File")) file = a;
  QVERIFY(file != nullptr && file->menu() != nullptr);
  QTest::mouseClick(bar, Qt::LeftButton, {}, bar->actionGeometry(file).center());
  QMenu* menu = file->menu();
  QTRY_VERIFY_WITH_TIMEOUT(menu->isVisible(), 5000);
  QTest::mouseClick(menu, Qt::LeftButton, {}, menu->actionGeometry(action).center());
}

}  // namespace

class DemoStateTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY(data_.isValid());
    qputenv("XDG_DATA_HOME", QFile::encodeName(data_.path()));
    QCoreApplication::setOrganizationName("Meshdeck");
    QCoreApplication::setApplicationName("meshdeck-demo-state-test");
    QVERIFY(QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation)
                .startsWith(data_.path()));
  }

  void demoStartsCleanKeepsOnRequestAndResets() {
    const QStringList demo = {"--demo", "storefront", "--listen", "127.0.0.1:0"};
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) +
                        "/demo-state/storefront";
    QVERIFY(dir.startsWith(data_.path()));

    // Run 1: a policy is applied (revision 1).
    {
      AppCommandLine cl;
      OpenedControlPlane opened;
      QVERIFY(open(demo, &cl, &opened));
      QCOMPARE(opened.state_dir, dir);
      QCOMPARE(opened.restored_revision, uint64_t(0));
      QVERIFY(mainWindowOptions(cl, opened).state_status.isEmpty());
      opened.embedded->registerService("reviews", "v1", "backend");
      QVERIFY(opened.control_plane->applyPolicies(kRoute, "r.yaml", "test", false).ok);
      opened.embedded->stop();
    }

    // Run 2, --keep-state: revision 1 is in force and the status bar says so; File → Reset
    // demo state asks first, then removes the policy as revision 2.
    {
      AppCommandLine cl;
      OpenedControlPlane opened;
      QVERIFY(open(demo + QStringList{"--keep-state"}, &cl, &opened));
      QVERIFY(opened.moved_aside.isEmpty());
      QCOMPARE(opened.restored_revision, uint64_t(1));
      QCOMPARE(opened.control_plane->policies().size(), size_t(1));
      ui::MainWindowOptions options = mainWindowOptions(cl, opened);
      options.use_settings = false;
      {
        ui::MainWindow window(opened.control_plane, options);
        window.resize(1280, 720);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        auto* state = window.findChild<ui::ElidedLabel*>("stateLabel");
        QVERIFY(state != nullptr);
        QVERIFY(state->isVisible());
        QCOMPARE(state->text(), QString("Restored policy revision 1 from the last run"));
        auto* reset = window.findChild<QAction*>("resetDemoState");
        QVERIFY(reset != nullptr && reset->isEnabled());

        auto question = testing::answerNextMessageBox(QMessageBox::No);
        clickFileMenuItem(window, reset);
        QTRY_VERIFY_WITH_TIMEOUT(question->text.contains("Remove every policy in force"), 5000);
        QTest::qWait(0);
        window.client()->waitForIdle();
        QCOMPARE(opened.control_plane->policies().size(), size_t(1));  // "No": unchanged
        QCOMPARE(opened.control_plane->revisions().size(), size_t(1));

        question = testing::answerNextMessageBox(QMessageBox::Yes);
        clickFileMenuItem(window, reset);
        QTRY_VERIFY_WITH_TIMEOUT(question->text.contains("Remove every policy in force"), 5000);
        QTRY_VERIFY_WITH_TIMEOUT(opened.control_plane->policies().empty(), 10000);
        const auto revisions = opened.control_plane->revisions();  // the history stays
        QCOMPARE(revisions.size(), size_t(2));
        QCOMPARE(revisions.front().number, uint64_t(2));
        QTRY_VERIFY_WITH_TIMEOUT(state->text().contains("revision 2"), 10000);
        QVERIFY2(state->text().contains("no policies in force"), qPrintable(state->text()));
        window.client()->waitForIdle();
      }
      opened.embedded->stop();
    }

    // Run 3, no --keep-state: clean (no policies, no history); the last run's state was moved
    // aside, not deleted, and the window says nothing was restored.
    {
      AppCommandLine cl;
      OpenedControlPlane opened;
      QVERIFY(open(demo, &cl, &opened));
      QCOMPARE(opened.moved_aside, dir + ".previous");
      QVERIFY(!QDir(opened.moved_aside).isEmpty());
      QVERIFY(opened.control_plane->revisions().empty());
      QVERIFY(opened.control_plane->policies().empty());
      QCOMPARE(opened.restored_revision, uint64_t(0));
      ui::MainWindowOptions options = mainWindowOptions(cl, opened);
      options.use_settings = false;
      ui::MainWindow window(opened.control_plane, options);
      window.show();
      QVERIFY(QTest::qWaitForWindowExposed(&window));
      auto* state = window.findChild<ui::ElidedLabel*>("stateLabel");
      QVERIFY(state != nullptr && !state->isVisible());
      window.client()->waitForIdle();
      opened.embedded->stop();
    }
  }

  // Without --demo the embedded control plane keeps its policy history from run to run, and
  // offers no demo reset.
  void plainControlPlaneKeepsItsState() {
    for (int run = 1; run <= 2; ++run) {
      AppCommandLine cl;
      OpenedControlPlane opened;
      QVERIFY(open({"--listen", "127.0.0.1:0"}, &cl, &opened));
      QCOMPARE(opened.state_dir,
               QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + "/state");
      QVERIFY(opened.moved_aside.isEmpty());
      QCOMPARE(opened.control_plane->revisions().size(), size_t(run - 1));
      if (run == 1) {
        opened.embedded->registerService("reviews", "v1", "backend");
        QVERIFY(opened.control_plane->applyPolicies(kRoute, "r.yaml", "test", false).ok);
      }
      ui::MainWindowOptions options = mainWindowOptions(cl, opened);
      options.use_settings = false;
      {
        ui::MainWindow window(opened.control_plane, options);
        QVERIFY(window.findChild<QAction*>("resetDemoState") == nullptr);
        window.client()->waitForIdle();
      }
      opened.embedded->stop();
    }
  }

 private:
  QTemporaryDir data_;
};

QTEST_MAIN(DemoStateTest)
#include "demo_state_test.moc"
