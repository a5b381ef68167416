#include "ui/main_window.h"

#include <QLabel>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTabWidget>
#include <QTableView>
#include <QtTest>

#include "support/fake_control_plane.h"
#include "ui/control_plane_client.h"
#include "ui/fleet_panel.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/inspector.h"
#include "ui/policy_panel.h"
#include "ui/table_models.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

const char* kCanary =
    "apiVersion: meshdeck.io/v1alpha1\n"
    "kind: TrafficRoute\n"
    "metadata:\n"
    "  name: reviews-canary\n"
    "spec:\n"
    "  host: reviews\n"
    "  http:\n"
    "    - route:\n"
    "        - destination:\n"
    "            host: reviews\n"
    "            subset: v1\n"
    "          weight: 90\n"
    "        - destination:\n"
    "            host: reviews\n"
    "            subset: v2\n"
    "          weight: 10\n";

// Weight 30 on line 16 makes the split add up to 110.
const char* kBadWeights =
    "apiVersion: meshdeck.io/v1alpha1\n"
    "kind: TrafficRoute\n"
    "metadata:\n"
    "  name: reviews-canary\n"
    "spec:\n"
    "  host: reviews\n"
    "  http:\n"
    "    - route:\n"
    "        - destination:\n"
    "            host: reviews\n"
    "            subset: v1\n"
    "          weight: 80\n"
    "        - destination:\n"
    "            host: reviews\n"
    "            subset: v2\n"
    "          weight: 300\n";

void saveScreenshot(QWidget* w, const QString& name) {
  const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
  if (dir.isEmpty()) return;
  QVERIFY(w->grab().save(dir + "/" + name + ".png"));
}

}  // namespace

class MainWindowTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void init() {
    fake_ = std::make_shared<FakeControlPlane>();
    ui::MainWindowOptions options;
    options.source = "Fake control plane";
    options.use_settings = false;
    window_ = std::make_unique<ui::MainWindow>(fake_, options);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    QTRY_VERIFY_WITH_TIMEOUT(window_->graphView()->layoutsDone() >= 1, 10000);
  }

  void cleanup() {
    window_.reset();
    fake_.reset();
  }

  void statusBarShowsControlPlaneState() {
    const QString status = window_->statusText();
    QVERIFY2(status.contains("Listening on 127.0.0.1:15010"), qPrintable(status));
    // 18 proxies; the single payments proxy has not acknowledged the last config.
    QVERIFY2(status.contains("18 connected · 17 synced · 1 stale · 0 rejected"),
             qPrintable(status));
    QVERIFY2(status.contains("Policy revision 1"), qPrintable(status));
    QCOMPARE(window_->graphView()->nodeCount(), 12);
  }

  // graphShown() follows every snapshot the window shows (the demo's "first complete graph in the
  // window" line waits for it).
  void graphShownFollowsEachLiveSnapshot() {
    QSignalSpy shown(window_.get(), &ui::MainWindow::graphShown);
    fake_->publish();
    QTRY_COMPARE_WITH_TIMEOUT(shown.count(), 1, 5000);
    QCOMPARE(window_->graphView()->nodeCount(), 12);
    fake_->publish();
    QTRY_COMPARE_WITH_TIMEOUT(shown.count(), 2, 5000);
  }

  void clickingAnEdgeShowsItsInspector() {
    ui::GraphView* view = window_->graphView();
    ui::EdgeItem* edge = view->edgeItem("catalog", "reviews");
    QVERIFY(edge != nullptr);
    view->centerOn(edge->labelCentre());
    const QPoint at = view->mapFromScene(edge->labelCentre());
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, at);
    QCOMPARE(view->selection().kind, ui::GraphSelection::Kind::kEdge);
    ui::Inspector* inspector = window_->inspector();
    QVERIFY2(inspector->title().contains("catalog → reviews"), qPrintable(inspector->title()));
    // Five minutes of one-second history arrive from the control plane off the GUI thread.
    QTRY_COMPARE_WITH_TIMEOUT(inspector->historyPoints(), int(ui::Inspector::kHistorySeconds),
                              5000);
    QVERIFY(inspector->histogramBars() > 3);
    saveScreenshot(window_.get(), "edge-inspector");

    // A service: its proxies with their sync state.
    view->selectNode("reviews");
    QVERIFY(inspector->title().contains("reviews"));
    QCOMPARE(inspector->proxyRows(), 3);
    saveScreenshot(window_.get(), "node-inspector");
  }

  void applyingAValidPolicyChangesTheMesh() {
    ui::PolicyPanel* panel = window_->policyPanel();
    window_->sidePanel()->setCurrentWidget(panel);
    panel->editor()->setPlainText(kCanary);
    auto* apply = panel->findChild<QPushButton*>("applyButton");
    QVERIFY(apply != nullptr && apply->isEnabled());
    QTest::mouseClick(apply, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(fake_->appliedCount(), 1, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(panel->model()->rowCount(), 1, 5000);
    QVERIFY2(panel->statusLabel()->text().contains("Applied as revision 2"),
             qPrintable(panel->statusLabel()->text()));
    QVERIFY(panel->errorList()->isHidden());
    QCOMPARE(panel->model()->policyAt(0)->target, std::string("reviews"));
    // The next snapshot carries the policy on the edges into reviews, with a canary badge.
    fake_->publish();
    QTRY_VERIFY_WITH_TIMEOUT(
        !window_->graphView()->edgeItem("catalog", "reviews")->edge().policies.empty(), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(window_->statusText().contains("Policy revision 2"), 5000);
    window_->graphView()->selectEdge("catalog", "reviews");
    QTRY_VERIFY_WITH_TIMEOUT(window_->inspector()->historyPoints() > 0, 5000);
    saveScreenshot(window_.get(), "policy-applied");
  }

  void anInvalidPolicyShowsInlineErrorsAndChangesNothing() {
    ui::PolicyPanel* panel = window_->policyPanel();
    window_->sidePanel()->setCurrentWidget(panel);
    panel->editor()->setPlainText(kBadWeights);
    const int calls = fake_->applyCalls();
    QTest::mouseClick(panel->findChild<QPushButton*>("applyButton"), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(fake_->applyCalls(), calls + 1, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(panel->errorList()->count() > 0, 5000);
    QVERIFY(panel->errorList()->isVisible());
    const QString error = panel->errorList()->item(0)->text();
    QVERIFY2(error.startsWith("line 16, column 19"), qPrintable(error));
    QVERIFY2(error.contains("spec.http[0].route[1].weight"), qPrintable(error));
    // The editor marks the offending line and puts the cursor on the reported column.
    const auto marks = panel->editor()->extraSelections();
    QVERIFY(!marks.isEmpty());
    QCOMPARE(marks.first().cursor.blockNumber(), 15);
    QCOMPARE(panel->editor()->textCursor().blockNumber(), 15);
    QCOMPARE(panel->editor()->textCursor().positionInBlock(), 18);
    QVERIFY(panel->statusLabel()->text().contains("nothing was changed"));
    QCOMPARE(fake_->appliedCount(), 0);
    QCOMPARE(panel->model()->rowCount(), 0);
    saveScreenshot(window_.get(), "policy-inline-error");

    // A YAML syntax error is reported at its line too.
    panel->editor()->setPlainText(
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nspec: [1, 2\n");
    QTest::mouseClick(panel->findChild<QPushButton*>("applyButton"), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(fake_->applyCalls(), calls + 2, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(
        panel->errorList()->count() == 1 &&
            panel->errorList()->item(0)->text().contains(QRegularExpression("^line [34], column")),
        5000);
    QCOMPARE(fake_->appliedCount(), 0);
  }

  void fleetPanelListsAndRestartsProcesses() {
    ui::FleetPanel* fleet = window_->fleetPanel();
    QVERIFY(fleet->model()->rowCount() == 0);
    window_->sidePanel()->setCurrentWidget(fleet);
    QVERIFY(fleet->explanation()->isVisible());
    cp::ProcessInfo p;
    p.name = "reviews-v2-0";
    p.service = "reviews";
    p.version = "v2";
    p.role = "app";
    p.state = "running";
    p.pid = 4242;
    fake_->setProcesses({p});
    fake_->setLogs("reviews-v2-0", {"listening on 127.0.0.1:20001", "ready"});
    fleet->refresh();
    QTRY_COMPARE_WITH_TIMEOUT(fleet->model()->rowCount(), 1, 5000);
    QVERIFY(!fleet->explanation()->isVisible());
    auto* table = fleet->findChild<QTableView*>();
    table->setCurrentIndex(fleet->model()->index(0, 0));
    auto* logs = fleet->findChild<QPlainTextEdit*>();
    QTRY_VERIFY_WITH_TIMEOUT(logs->toPlainText().contains("ready"), 5000);
    QPushButton* restart = nullptr;
    for (auto* b : fleet->findChildren<QPushButton*>()) {
      if (b->text() == "Restart") restart = b;
    }
    QVERIFY(restart != nullptr);
    QTest::mouseClick(restart, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(fake_->fleetActions().size(), size_t(1), 5000);
    QCOMPARE(fake_->fleetActions().front(), std::string("restart reviews-v2-0"));
  }

 private:
  std::shared_ptr<FakeControlPlane> fake_;
  std::unique_ptr<ui::MainWindow> window_;
};

QTEST_MAIN(MainWindowTest)
#include "main_window_test.moc"
