// Issue 17, problems 8–10 and the Help menu, clicked through the main window (offscreen,
// against FakeControlPlane).
#include <QDialog>
#include <QDockWidget>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSignalSpy>
#include <QTabBar>
#include <QTabWidget>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QToolBar>
#include <QToolButton>
#include <QtTest>

#include "gui/certificates_control_plane.h"
#include "support/fake_control_plane.h"
#include "ui/certificates_panel.h"
#include "ui/control_plane_client.h"
#include "ui/elided_label.h"
#include "ui/fleet_panel.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/help_dialogs.h"
#include "ui/main_window.h"
#include "ui/table_models.h"

using meshdeck::testing::CertificatesControlPlane;
using meshdeck::testing::FakeControlPlane;
using namespace std::chrono_literals;
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

[[maybe_unused]] // Clicks the tool bar button of the window's action `text`.
void clickToolButton(QMainWindow* window, const QString& text) {
  for (auto* bar : window->findChildren<QToolBar*>()) {
    for (auto* action : bar->actions()) {
      if (action->text() != text) continue;
      auto* button = qobject_cast<QToolButton*>(bar->widgetForAction(action));
      QVERIFY2(button != nullptr && button->isVisible(), qPrintable(text));
      QTest::mouseClick(button, Qt::LeftButton);
      return;
    }
  }
  QFAIL(qPrintable("no tool bar button " + text));
}

// Clicks the tab `text` of the side panel.
void clickTab(QTabWidget* tabs, const QString& text) {
  for (int i = 0; i < tabs->count(); ++i) {
    if (tabs->tabText(i).remove('&') != text) continue;
    QTabBar* bar = tabs->tabBar();
    QTest::mouseClick(bar, Qt::LeftButton, {}, bar->tabRect(i).center());
    QCOMPARE(tabs->currentIndex(), i);
    return;
  }
  QFAIL(qPrintable("no tab " + text));
}

// Opens menu `menu_text` of the window's menu bar and clicks its item `item_text`.
void clickMenuItem(QMainWindow* window, const QString& menu_text, const QString& item_text) {
  QMenuBar* bar = window->menuBar();
  QAction* top = nullptr;
  for (QAction* a : bar->actions()) {
    if (a->text().remove('&') == menu_text) top = a;
  }
  QVERIFY2(top != nullptr && top->menu() != nullptr, qPrintable(menu_text));
  QTest::mouseClick(bar, Qt::LeftButton, {}, bar->actionGeometry(top).center());
  QMenu* menu = top->menu();
  QTRY_VERIFY_WITH_TIMEOUT(menu->isVisible(), 3000);
  QAction* item = nullptr;
  for (QAction* a : menu->actions()) {
    if (a->text().remove('&') == item_text) item = a;
  }
  QVERIFY2(item != nullptr, qPrintable(menu_text + " > " + item_text));
  QTest::mouseClick(menu, Qt::LeftButton, {}, menu->actionGeometry(item).center());
}

void saveScreenshot(QWidget* w, const QString& name) {
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

  // Problem 10: "Only unhealthy" on a healthy mesh says so instead of a blank canvas.
  void onlyUnhealthyOnAHealthyMeshSaysSo() {
    ui::GraphView* view = window_->graphView();
    // Lenient thresholds (View > Health Thresholds): every busy service of the mesh is healthy.
    ui::HealthThresholds lenient;
    lenient.success_warning = 0.0;
    lenient.success_critical = 0.0;
    lenient.p99_warning_ms = 60000;
    lenient.p99_critical_ms = 60000;
    view->setThresholds(lenient);
    QVERIFY(view->emptyMessage().isEmpty());
    clickToolButton(window_.get(), "Only unhealthy");
    const QString message = view->emptyMessage();
    QVERIFY2(message.contains("No unhealthy services"), qPrintable(message));
    QVERIFY2(message.contains("No unhealthy services — all 12 services are healthy"),
             qPrintable(message));
    auto* label = view->findChild<QLabel*>("graphEmptyMessage");
    QVERIFY(label != nullptr && label->isVisible());
    QVERIFY(view->viewport()->geometry().contains(label->geometry().center()));
    saveScreenshot(window_.get(), "empty-state-only-unhealthy");
    // Off again: the mesh is back and the message goes.
    clickToolButton(window_.get(), "Only unhealthy");
    QVERIFY(view->emptyMessage().isEmpty());
    QVERIFY(!label->isVisible());
    QVERIFY(view->nodeItem("reviews")->isVisible());
  }

  // Problem 10: a restarted proxy's old certificate does not count as a second live one.
  void aReplacedCertificateIsNotCountedTwice() {
    auto fake = std::make_shared<FakeControlPlane>();
    auto plane = std::make_shared<CertificatesControlPlane>(fake);
    const auto now = std::chrono::system_clock::now();
    auto certificates =
        CertificatesControlPlane::forProxies(*fake->snapshot(), now, {2h, 7h, 11h, 3h});
    const int proxies = int(certificates.size());
    QVERIFY(proxies > 2);
    // Proxy 0 restarted a minute ago and got a new certificate for the same identity.
    cp::CertificateInfo renewed = certificates[0];
    renewed.serial = "7A11CE";
    renewed.not_before = now - 1min;
    renewed.not_after = renewed.not_before + 24h;
    certificates.push_back(renewed);
    plane->setCertificates(certificates);
    ui::MainWindowOptions options;
    options.source = "Fake control plane";
    options.use_settings = false;
    ui::MainWindow window(plane, options);
    window.resize(1280, 720);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    clickTab(window.sidePanel(), "Certificates");
    ui::CertificatesPanel* panel = window.certificatesPanel();
    QTRY_COMPARE_WITH_TIMEOUT(panel->model()->rowCount(), proxies + 1, 5000);
    const QString summary = panel->summary()->text();
    QVERIFY2(summary.contains(QString("%1 certificate(s)").arg(proxies)), qPrintable(summary));
    QVERIFY2(summary.contains("1 replaced"), qPrintable(summary));
    QCOMPARE(panel->model()->liveCount(), proxies);
    // The old one says so; the new one is valid.
    int old_row = -1, new_row = -1;
    for (int r = 0; r < panel->model()->rowCount(); ++r) {
      const auto* c = panel->model()->certificateAt(r);
      if (c->proxy_id != renewed.proxy_id) continue;
      (c->serial == renewed.serial ? new_row : old_row) = r;
    }
    QVERIFY(old_row >= 0 && new_row >= 0);
    auto state = [panel](int row) {
      return panel->model()
          ->data(panel->model()->index(row, ui::CertificatesModel::kState), Qt::DisplayRole)
          .toString();
    };
    QCOMPARE(state(old_row), QString("replaced"));
    QCOMPARE(state(new_row), QString("valid"));
    QVERIFY(panel->model()->replacedAt(old_row));
    QVERIFY(!panel->model()->replacedAt(new_row));
    window.client()->waitForIdle();
  }

  // Help > Legend: every colour, badge and line style of the graph, drawn by its own items.
  void helpLegendExplainsTheGraph() {
    clickMenuItem(window_.get(), "Help", "Legend");
    QDialog* legend = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT(
        (legend = window_->findChild<QDialog*>("legendDialog")) != nullptr && legend->isVisible(),
        3000);
    QStringList texts;
    for (auto* l : legend->findChildren<QLabel*>()) texts << l->text();
    const QString all = texts.join('\n');
    for (const char* needle :
         {"Healthy",      "Degraded", "Failing", "Idle",          "dashed",           "tier",
          "Find",         "arrow",    "Width",   "violet halo",   "yellow glow",      "amber halo",
          "fault",        "canary",   "limit",   "Closed, green", "Half open, amber", "Open, red",
          "Hollow, grey", "99.00 %",  "250 ms"}) {
      QVERIFY2(all.contains(needle), needle);
    }
    // A picture beside every explanation, each drawn (not blank).
    const auto swatches = legend->findChildren<QLabel*>("legendSwatch");
    QCOMPARE(swatches.size(), 19);
    for (auto* s : swatches) {
      const QImage image = s->pixmap().toImage();
      QVERIFY(!image.isNull());
      const QRgb first = image.pixel(0, 0);
      bool drawn = false;
      for (int y = 0; y < image.height() && !drawn; ++y)
        for (int x = 0; x < image.width() && !drawn; ++x) drawn = image.pixel(x, y) != first;
      QVERIFY(drawn);
    }
    // The whole legend, for the docs.
    // The whole legend, for the docs: tall enough that nothing scrolls.
    auto* page = legend->findChild<QScrollArea*>()->widget();
    legend->resize(720, page->heightForWidth(680) + 150);
    saveScreenshot(legend, "help-legend");
    legend->close();
    // F1 opens it too.
    QTRY_VERIFY_WITH_TIMEOUT(window_->findChild<QDialog*>("legendDialog") == nullptr, 3000);
    window_->activateWindow();
    QTRY_VERIFY_WITH_TIMEOUT(window_->isActiveWindow(), 3000);
    QTest::keyClick(window_->graphView(), Qt::Key_F1);
    QTRY_VERIFY_WITH_TIMEOUT(window_->findChild<QDialog*>("legendDialog") != nullptr, 3000);
  }

  // Help > Keyboard Shortcuts lists every shortcut the window registers, from the actions.
  void helpShortcutsListsEveryRegisteredShortcut() {
    // An action added later shows up too: the list is generated, it cannot drift.
    auto* extra = new QAction("Extra test action", window_.get());
    extra->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Y));
    window_->addAction(extra);
    clickMenuItem(window_.get(), "Help", "Keyboard Shortcuts");
    QDialog* dialog = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT(
        (dialog = window_->findChild<QDialog*>("shortcutsDialog")) != nullptr &&
            dialog->isVisible(),
        3000);
    auto* table = dialog->findChild<QTableWidget*>("shortcutsTable");
    QVERIFY(table != nullptr);
    QStringList rows;
    for (int r = 0; r < table->rowCount(); ++r)
      rows << table->item(r, 0)->text() + " = " + table->item(r, 1)->text();
    // Every action of the window with a shortcut, found independently, is in the table.
    int expected = 0;
    for (QAction* a : window_->findChildren<QAction*>()) {
      for (const QKeySequence& k : a->shortcuts()) {
        ++expected;
        const QString keys = k.toString(QKeySequence::NativeText);
        const QString name = a->text().remove('&');
        bool listed = false;
        for (const QString& row : rows)
          listed = listed || (row.startsWith(keys + " = ") && row.endsWith(name));
        QVERIFY2(listed, qPrintable(keys + " " + name + " missing from\n" + rows.join('\n')));
      }
    }
    QCOMPARE(table->rowCount(), expected);
    const QString all = rows.join('\n');
    for (const QString& needle :
         {QString("Edit ▸ Find Service"), QString("Find field ▸ Clear Find"),
          QString("Scenario ▸ Start / Stop Scenario"), QString("Help ▸ Legend"),
          QString("View ▸ Edge Label ▸ p99 latency"), QString("Extra test action")}) {
      QVERIFY2(all.contains(needle), qPrintable(needle + " missing from\n" + all));
    }
    QVERIFY(all.contains(QKeySequence(Qt::Key_Escape).toString(QKeySequence::NativeText) +
                         " = Find field ▸ Clear Find"));
    saveScreenshot(dialog, "help-keyboard-shortcuts");
  }

 private:
  std::shared_ptr<FakeControlPlane> fake_;
  std::unique_ptr<ui::MainWindow> window_;
};

QTEST_MAIN(UxPolishTest)
#include "ux_polish_test.moc"
