// Issue 17, problems 8–10 and the Help menu, clicked through the main window (offscreen,
// against FakeControlPlane).
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include "support/fake_control_plane.h"
#include "ui/fleet_panel.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/main_window.h"
#include "ui/table_models.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

cp::ProcessInfo process(const std::string& name, int32_t pid, uint32_t restarts) {
  cp::ProcessInfo p;
  p.name = name;
  p.service = "reviews";
  p.version = "v2";
  p.role = "app";
  p.state = "running";
  p.pid = pid;
  p.restarts = restarts;
  return p;
}

QPushButton* buttonNamed(QWidget* parent, const QString& text) {
  for (auto* b : parent->findChildren<QPushButton*>()) {
    if (b->text() == text) return b;
  }
  return nullptr;
}

[[maybe_unused]] void saveScreenshot(QWidget* w, const QString& name) {
  const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
  if (dir.isEmpty()) return;
  QVERIFY(w->grab().save(dir + "/" + name + ".png"));
}

}  // namespace

class UxPolishTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void init() {
    fake_ = std::make_shared<FakeControlPlane>();
    ui::MainWindowOptions options;
    options.source = "Fake control plane";
    options.use_settings = false;
    window_ = std::make_unique<ui::MainWindow>(fake_, options);
    window_->resize(1280, 720);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    QTRY_VERIFY_WITH_TIMEOUT(window_->graphView()->layoutsDone() >= 1, 10000);
  }

  void cleanup() {
    window_.reset();
    fake_.reset();
  }

  // Problem 8: after Restart the log shows the new process's output without another click, and
  // the "restarted …" line gives way to the new state, then expires.
  void fleetLogFollowsARestartedProcess() {
    ui::FleetPanel* fleet = window_->fleetPanel();
    window_->sidePanel()->setCurrentWidget(fleet);
    fake_->setProcesses({process("ratings-v1-0", 100, 0), process("reviews-v2-0", 4242, 0)});
    fake_->setLogs("reviews-v2-0", {"pid 4242: listening on 127.0.0.1:20001", "pid 4242 ready"});
    fleet->refresh();
    QTRY_COMPARE_WITH_TIMEOUT(fleet->model()->rowCount(), 2, 5000);
    auto* table = fleet->findChild<QTableView*>();
    const QRect row = table->visualRect(fleet->model()->index(1, ui::ProcessesModel::kName));
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, row.center());
    QCOMPARE(table->currentIndex().row(), 1);
    QTRY_VERIFY_WITH_TIMEOUT(fleet->logView()->toPlainText().contains("pid 4242 ready"), 5000);

    QTest::mouseClick(buttonNamed(fleet, "Restart"), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(fake_->fleetActions().size(), size_t(1), 5000);
    QCOMPARE(fake_->fleetActions().front(), std::string("restart reviews-v2-0"));
    QTRY_VERIFY_WITH_TIMEOUT(fleet->statusLabel()->text().contains("restarted reviews-v2-0"), 5000);
    // The supervisor brings up a new process under the same name, with a new pid and output.
    fake_->setProcesses({process("ratings-v1-0", 100, 0), process("reviews-v2-0", 5151, 1)});
    fake_->setLogs("reviews-v2-0", {"pid 5151: listening on 127.0.0.1:20001", "pid 5151 ready"});
    // The panel's own poll (every 2 s) finds it: no click in between.
    QTRY_VERIFY_WITH_TIMEOUT(fleet->logView()->toPlainText().contains("pid 5151 ready"), 8000);
    QVERIFY(!fleet->logView()->toPlainText().contains("pid 4242"));
    QCOMPARE(table->currentIndex().row(), 1);
    QTRY_VERIFY_WITH_TIMEOUT(
        fleet->statusLabel()->text().contains("reviews-v2-0 running again (pid 5151)"), 5000);
    // And the status line does not stay for minutes.
    QTRY_VERIFY_WITH_TIMEOUT(fleet->statusLabel()->text().isEmpty(),
                             ui::FleetPanel::kStatusMs + 3000);
  }

  // Problem 8: the selection and the log stay on the same process when rows come and go.
  void fleetSelectionSurvivesRowChanges() {
    ui::FleetPanel* fleet = window_->fleetPanel();
    window_->sidePanel()->setCurrentWidget(fleet);
    fake_->setProcesses({process("reviews-v2-0", 4242, 0)});
    fake_->setLogs("reviews-v2-0", {"pid 4242 ready"});
    fleet->refresh();
    QTRY_COMPARE_WITH_TIMEOUT(fleet->model()->rowCount(), 1, 5000);
    auto* table = fleet->findChild<QTableView*>();
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {},
                      table->visualRect(fleet->model()->index(0, 0)).center());
    QTRY_VERIFY_WITH_TIMEOUT(fleet->logView()->toPlainText().contains("pid 4242 ready"), 5000);
    // A scale-up adds a row before it; the restarted process comes back with a new pid.
    fake_->setProcesses({process("ratings-v1-0", 100, 0), process("reviews-v2-0", 6000, 1)});
    fake_->setLogs("reviews-v2-0", {"pid 6000 ready"});
    QTRY_VERIFY_WITH_TIMEOUT(fleet->logView()->toPlainText().contains("pid 6000 ready"), 8000);
    QCOMPARE(fleet->model()->processAt(table->currentIndex().row())->name,
             std::string("reviews-v2-0"));
  }

  // Problem 9: Escape in Find clears the text, the Services filter and the highlight.
  void escapeClearsFind() {
    auto* find = window_->findChild<QLineEdit*>("findEdit");
    QVERIFY(find != nullptr);
    auto* services = qobject_cast<QTableView*>(window_->sidePanel()->widget(0));
    QVERIFY(services != nullptr);
    window_->sidePanel()->setCurrentWidget(services);
    QCOMPARE(services->model()->rowCount(), 12);
    QTest::keyClick(window_.get(), Qt::Key_F, Qt::ControlModifier);
    QTRY_VERIFY_WITH_TIMEOUT(find->hasFocus(), 2000);
    QTest::keyClicks(find, "rev");
    QCOMPARE(find->text(), QString("rev"));
    QCOMPARE(window_->graphView()->findMatches(), 1);
    QCOMPARE(services->model()->rowCount(), 1);
    QVERIFY(!find->styleSheet().isEmpty());  // shown as on while it filters

    QTest::keyClick(find, Qt::Key_Escape);
    QCOMPARE(find->text(), QString());
    QCOMPARE(services->model()->rowCount(), 12);
    QCOMPARE(window_->graphView()->findMatches(), 0);
    QVERIFY(find->styleSheet().isEmpty());
    // A second Escape hands the keyboard back to the graph.
    QTest::keyClick(find, Qt::Key_Escape);
    QTRY_VERIFY_WITH_TIMEOUT(window_->graphView()->hasFocus(), 2000);
  }

  // Problem 9: the exported PNG is the same with and without a Find highlight on screen.
  void findHighlightIsNotExported() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    auto exportPng = [this, &dir](const QString& base) {
      QSignalSpy done(window_.get(), &ui::MainWindow::exportFinished);
      window_->exportSnapshotTo(dir.filePath(base + ".json"));
      [&] { QTRY_COMPARE_WITH_TIMEOUT(done.size(), 1, 10000); }();
      return QImage(dir.filePath(base + ".png"));
    };
    const QImage plain = exportPng("plain");
    QVERIFY(!plain.isNull());
    auto* find = window_->findChild<QLineEdit*>("findEdit");
    QTest::keyClick(window_.get(), Qt::Key_F, Qt::ControlModifier);
    QTest::keyClicks(find, "reviews");
    QCOMPARE(window_->graphView()->findMatches(), 1);
    const QImage found = exportPng("found");
    QVERIFY(!found.isNull());
    QCOMPARE(found.size(), plain.size());
    QVERIFY2(found == plain, "the Find highlight was drawn into the exported PNG");
    // On screen the highlight is still there after the export.
    QCOMPARE(window_->graphView()->findMatches(), 1);
  }

 private:
  std::shared_ptr<FakeControlPlane> fake_;
  std::unique_ptr<ui::MainWindow> window_;
};

QTEST_MAIN(UxPolishTest)
#include "ux_polish_test.moc"
