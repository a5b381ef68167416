// Issue 17, problem 7: text fits and reads at 1280×720 and scales to 4K. The main window on a
// fake storefront (18 processes, policies, certificates), at three sizes: every tab label is
// whole, every table shows its important columns without scrolling sideways (cut cells carry
// their text as a tooltip), the inspector leaves the graph most of the window and the graph
// re-fits to it, status texts neither push the control plane's state out of the status bar nor
// widen a dock, and a demo's progress line expires.
#include <QDockWidget>
#include <QHeaderView>
#include <QLabel>
#include <QMouseEvent>
#include <QStandardItemModel>
#include <QStatusBar>
#include <QTabBar>
#include <QTabWidget>
#include <QTableView>
#include <QToolTip>
#include <QTreeView>
#include <QtTest>

#include "gui/certificates_control_plane.h"
#include "support/fake_control_plane.h"
#include "ui/certificates_panel.h"
#include "ui/column_fitter.h"
#include "ui/elided_label.h"
#include "ui/fleet_panel.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/main_window.h"
#include "ui/policy_panel.h"
#include "ui/scenario_panel.h"
#include "ui/scenario_runner.h"
#include "ui/table_models.h"

using meshdeck::testing::CertificatesControlPlane;
using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

// The processes of the storefront demo: an app and its sidecar per instance.
std::vector<cp::ProcessInfo> storefrontProcesses() {
  std::vector<cp::ProcessInfo> out;
  const std::pair<const char*, const char*> instances[] = {
      {"web-gateway", "v1"}, {"storefront-web", "v1"},   {"mobile-bff", "v1"},
      {"catalog", "v1"},     {"recommendations", "v1"},  {"recommendations", "v2"},
      {"reviews", "v1"},     {"payment-provider", "v1"}, {"checkout", "v1"}};
  int32_t pid = 41000;
  for (const auto& [service, version] : instances) {
    for (const char* role : {"app", "proxy"}) {
      cp::ProcessInfo p;
      p.service = service;
      p.version = version;
      p.role = role;
      p.name = std::string(service) + "-" + version + "-0/" + role;
      p.state = "running";
      p.pid = pid++;
      p.uptime_seconds = 754;
      p.cpu_percent = 3.4;
      p.rss_bytes = 14u << 20;
      p.ports = {uint32_t(20000 + pid % 1000), uint32_t(21000 + pid % 1000)};
      out.push_back(p);
    }
  }
  return out;
}

constexpr const char* kPolicies = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata:
  name: recommendations-subsets
spec:
  host: recommendations
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
---
apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata:
  name: recommendations-canary
spec:
  host: recommendations
  http:
  - name: canary
    route:
    - destination: {host: recommendations, subset: v1}
      weight: 90
    - destination: {host: recommendations, subset: v2}
      weight: 10
)";

// A runner that is up, for the demo status expiry.
class ReadyRunner final : public ui::ScenarioRunner {
 public:
  // One scenario whose steps say a lot, as the bundled ones do.
  QList<ui::ScenarioInfo> scenarios() const override {
    ui::ScenarioInfo info;
    info.name = "canary-goes-bad";
    info.title = "A canary goes bad";
    ui::ScenarioStepInfo step;
    step.title = "Ship v2 as a 20 % canary — and it fails";
    step.actions = {
        "make recommendations v2 answer in p50 2ms / p99 10ms with 50% errors: "
        "changed behaviour of 1 instance(s) of recommendations",
        "apply DestinationPolicy/recommendations-subsets, "
        "TrafficRoute/recommendations-canary"};
    step.checkpoint = "error rate of storefront-web -> recommendations above 0.04 within 30s";
    info.steps = {step, step};
    return {info};
  }
  bool ready() const override { return true; }
  bool start(const QString&, QString* error) override {
    *error = QStringLiteral("none");
    return false;
  }
  void stop() override {}
};

void saveScreenshot(QWidget* w, const QString& name) {
  const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
  if (dir.isEmpty()) return;
  QVERIFY(w->grab().save(dir + "/" + name + ".png"));
}

// Sum of the widths of the shown columns: what the table needs without scrolling sideways.
int shownWidth(QTableView* table) {
  int sum = 0;
  for (int c = 0; c < table->model()->columnCount(); ++c) {
    if (!table->isColumnHidden(c)) sum += table->columnWidth(c);
  }
  return sum;
}

QStringList shownHeaders(QTableView* table) {
  QStringList out;
  for (int c = 0; c < table->model()->columnCount(); ++c) {
    if (!table->isColumnHidden(c)) out << table->model()->headerData(c, Qt::Horizontal).toString();
  }
  return out;
}

}  // namespace

class LayoutFitTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void init() {
    fake_ = std::make_shared<FakeControlPlane>();
    fake_->setProcesses(storefrontProcesses());
    QVERIFY(fake_->applyPolicies(kPolicies, "fixture.yaml", "test", false).ok);
    auto with_certs = std::make_shared<CertificatesControlPlane>(fake_);
    with_certs->setCertificates(
        CertificatesControlPlane::forProxies(*fake_->snapshot(), std::chrono::system_clock::now(),
                                             {std::chrono::minutes(5), std::chrono::minutes(300)}));
    ui::MainWindowOptions options;
    options.source = "Embedded control plane";
    options.use_settings = false;
    options.demo = "storefront";
    options.demo_status_ms = 300;
    window_ = std::make_unique<ui::MainWindow>(with_certs, options);
  }

  void cleanup() {
    window_.reset();
    fake_.reset();
  }

  void everythingReadsAtEachSize_data() {
    QTest::addColumn<QSize>("size");
    QTest::newRow("1280x720") << QSize(1280, 720);
    QTest::newRow("1920x1080") << QSize(1920, 1080);
    QTest::newRow("3840x2160") << QSize(3840, 2160);
  }

  void everythingReadsAtEachSize() {
    QFETCH(QSize, size);
    window_->resize(size);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    QTRY_VERIFY_WITH_TIMEOUT(window_->graphView()->layoutsDone() >= 1, 10000);
    QCOMPARE(window_->docksSideBySide(), size.width() >= ui::MainWindow::kSideBySideWidth);

    // Every tab reads whole ("Certificates", not "C").
    QTabWidget* tabs = window_->sidePanel();
    QTabBar* bar = tabs->tabBar();
    for (int i = 0; i < tabs->count(); ++i) {
      const QRect r = bar->tabRect(i);
      QVERIFY2(bar->rect().contains(r), qPrintable(tabs->tabText(i)));
      QVERIFY2(r.width() >= bar->fontMetrics().horizontalAdvance(tabs->tabText(i)),
               qPrintable(tabs->tabText(i)));
    }

    // Each table shows what matters without scrolling sideways.
    struct Expect {
      QWidget* tab;
      QStringList columns;
    };
    const Expect expectations[] = {
        {tabs->widget(0), {"Service", "Success", "p99"}},
        {window_->policyPanel(), {"Kind", "Name", "Target", "Revision"}},
        {window_->fleetPanel(), {"Process", "State", "Restarts"}},
        {window_->certificatesPanel(), {"Proxy", "Expires", "State"}},
    };
    for (const Expect& e : expectations) {
      tabs->setCurrentWidget(e.tab);
      auto* table = qobject_cast<QTableView*>(e.tab);
      if (table == nullptr) table = e.tab->findChild<QTableView*>();
      QVERIFY(table != nullptr);
      QTRY_VERIFY_WITH_TIMEOUT(table->model()->rowCount() > 0, 5000);
      QTest::qWait(50);  // the fit runs on the next turn of the event loop
      saveScreenshot(window_.get(), QStringLiteral("layout-%1-%2x%3")
                                        .arg(tabs->tabText(tabs->currentIndex()).toLower())
                                        .arg(size.width())
                                        .arg(size.height()));
      const QStringList shown = shownHeaders(table);
      for (const QString& column : e.columns)
        QVERIFY2(shown.contains(column), qPrintable(column + " not in " + shown.join(", ")));
      QVERIFY2(shownWidth(table) <= table->viewport()->width(),
               qPrintable(QStringLiteral("%1 > %2 (%3)")
                              .arg(shownWidth(table))
                              .arg(table->viewport()->width())
                              .arg(shown.join(", "))));
    }

    // A selection opens the inspector; the graph keeps most of the window and re-fits to it.
    tabs->setCurrentIndex(0);
    ui::GraphView* graph = window_->graphView();
    ui::NodeItem* reviews = graph->nodeItem("reviews");
    QVERIFY(reviews != nullptr);
    QTest::mouseClick(graph->viewport(), Qt::LeftButton, {},
                      graph->mapFromScene(reviews->sceneBoundingRect().center()));
    auto* inspector = window_->findChild<QDockWidget*>("inspectorDock");
    QTRY_VERIFY_WITH_TIMEOUT(inspector->isVisible(), 3000);
    QTRY_VERIFY_WITH_TIMEOUT(!inspector->visibleRegion().isEmpty(), 3000);
    QTest::qWait(400);  // the docks settle, the view re-fits
    QVERIFY2(graph->width() >= size.width() * 45 / 100,
             qPrintable(QStringLiteral("graph %1 of %2").arg(graph->width()).arg(size.width())));
    const QRect fitted = graph->mapFromScene(graph->graphBounds()).boundingRect();
    const QRect view = graph->viewport()->rect();
    QVERIFY2(view.adjusted(-2, -2, 2, 2).contains(fitted),
             qPrintable(QStringLiteral("graph drawn at %1,%2 %3x%4 in %5x%6")
                            .arg(fitted.x())
                            .arg(fitted.y())
                            .arg(fitted.width())
                            .arg(fitted.height())
                            .arg(view.width())
                            .arg(view.height())));
    // Fitted: it spans the view one way (unless a small mesh stops at 1.4× zoom).
    if (graph->transform().m11() < 1.39) {
      QVERIFY2(fitted.width() >= view.width() * 8 / 10 || fitted.height() >= view.height() * 8 / 10,
               qPrintable(QStringLiteral("graph %1x%2 in %3x%4")
                              .arg(fitted.width())
                              .arg(fitted.height())
                              .arg(view.width())
                              .arg(view.height())));
    }
    saveScreenshot(window_.get(),
                   QStringLiteral("graph-inspector-%1x%2").arg(size.width()).arg(size.height()));

    // A long demo status gives way: the control plane's state stays whole beside it, the
    // demo's text is elided with the whole of it in the tooltip.
    const QString long_status =
        "Demo storefront: scenario: A canary goes bad — step 3: shift 50 % of recommendations "
        "traffic to v2 and watch the error rate of catalog → recommendations climb";
    window_->setDemoStatus(long_status);
    QTest::qWait(50);
    for (QLabel* l : window_->statusBar()->findChildren<QLabel*>()) {
      if (!l->isVisible() || l->text().isEmpty()) continue;
      QVERIFY2(l->width() >= l->sizeHint().width(), qPrintable(l->text()));
    }
    auto* demo = window_->findChild<ui::ElidedLabel*>("demoLabel");
    QVERIFY(demo != nullptr);
    QCOMPARE(demo->text(), long_status);
    if (demo->isElided()) QCOMPARE(demo->toolTip(), long_status);
  }

  // A click on the background (to clear the selection) keeps the view fitting the graph, so it
  // re-fits when the docks change; a drag hands the view to the user.
  void clickOnBackgroundKeepsTheFit() {
    window_->resize(1280, 720);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    ui::GraphView* graph = window_->graphView();
    QTRY_VERIFY_WITH_TIMEOUT(graph->layoutsDone() >= 1, 10000);
    const QPoint corner(6, 6);
    QVERIFY(graph->itemAt(corner) == nullptr);
    QTest::mouseClick(graph->viewport(), Qt::LeftButton, {}, corner);
    QVERIFY(graph->autoFit());
    QTest::mousePress(graph->viewport(), Qt::LeftButton, {}, corner);
    QMouseEvent move(QEvent::MouseMove, QPointF(corner + QPoint(40, 30)),
                     graph->viewport()->mapToGlobal(QPointF(corner + QPoint(40, 30))), Qt::NoButton,
                     Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(graph->viewport(), &move);
    QTest::mouseRelease(graph->viewport(), Qt::LeftButton, {}, corner + QPoint(40, 30));
    QVERIFY(!graph->autoFit());
  }

  // A status text never widens the dock it sits in.
  void statusTextsDoNotWidenDocks() {
    window_->resize(1280, 720);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    window_->sidePanel()->setCurrentWidget(window_->fleetPanel());
    QTest::qWait(100);
    auto* dock = window_->findChild<QDockWidget*>("meshDock");
    const int before = dock->width();
    window_->fleetPanel()->statusLabel()->setText(
        "restarting recommendations-v2-0/proxy (pid 41011): waiting for it to listen on "
        "127.0.0.1:21011 and to take its first configuration from the control plane");
    QTest::qWait(100);
    QCOMPARE(dock->width(), before);
    QVERIFY(window_->fleetPanel()->statusLabel()->isElided());
    QVERIFY(window_->fleetPanel()->statusLabel()->toolTip().startsWith("restarting"));
  }

  // A demo's progress line is news for a while; then the status bar says the demo runs.
  void demoStatusExpires() {
    ReadyRunner runner;
    window_->setScenarioRunner(&runner);
    window_->show();
    window_->setDemoStatus("Demo storefront: first complete graph: every edge has traffic");
    QVERIFY(window_->statusText().contains("first complete graph"));
    QTRY_VERIFY_WITH_TIMEOUT(window_->statusText().startsWith("Demo storefront: running"), 3000);
    window_->setScenarioRunner(nullptr);
  }

  // Scenario steps wrap to the width they have: no row is cut.
  void scenarioStepsWrap() {
    ReadyRunner runner;
    window_->setScenarioRunner(&runner);
    window_->resize(1280, 720);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    window_->sidePanel()->setCurrentWidget(window_->scenarioPanel());
    auto* steps = window_->scenarioPanel()->findChild<QTreeView*>("scenarioSteps");
    QVERIFY(steps != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(steps->model()->rowCount() == 2, 3000);
    QTest::qWait(100);
    int rows = 0;
    for (int r = 0; r < steps->model()->rowCount(); ++r) {
      const QModelIndex step = steps->model()->index(r, 0);
      for (int c = -1; c < steps->model()->rowCount(step); ++c) {
        const QModelIndex index = c < 0 ? step : steps->model()->index(c, 0, step);
        const QRect row = steps->visualRect(index);
        if (row.isEmpty()) continue;  // scrolled out of the view
        ++rows;
        // The text's own width: the row less the icon and the delegate's margins.
        const int width = row.width() - steps->iconSize().width() - 20;
        const QString text = index.data().toString();
        const QRect needed =
            steps->fontMetrics().boundingRect(QRect(0, 0, width, 1 << 20), Qt::TextWordWrap, text);
        QVERIFY2(needed.height() <= row.height(),
                 qPrintable(QStringLiteral("%1: needs %2 px, has %3")
                                .arg(text)
                                .arg(needed.height())
                                .arg(row.height())));
      }
    }
    QVERIFY(rows >= 4);
    saveScreenshot(window_.get(), "layout-scenario-steps-1280x720");
    window_->setScenarioRunner(nullptr);
  }

  // The fitter alone: a narrow table keeps its important columns, hides the rest, shows a cut
  // cell's text as its tooltip.
  void columnFitterKeepsWhatMatters() {
    QStandardItemModel model(3, 4);
    model.setHorizontalHeaderLabels({"Name", "State", "Details", "Port"});
    for (int r = 0; r < 3; ++r) {
      model.setItem(r, 0,
                    new QStandardItem(QStringLiteral("a-rather-long-process-name-%1").arg(r)));
      model.setItem(r, 1, new QStandardItem("running"));
      model.setItem(r, 2, new QStandardItem("a long explanation that cannot fit beside the rest"));
      model.setItem(r, 3, new QStandardItem("20001"));
    }
    QTableView table;
    table.setModel(&model);
    auto* fitter = new ui::ColumnFitter(&table, {0, 1, 3, 2});
    table.resize(300, 200);
    table.show();
    QVERIFY(QTest::qWaitForWindowExposed(&table));
    fitter->refit();
    QVERIFY(!table.isColumnHidden(0));
    QVERIFY(!table.isColumnHidden(1));
    QVERIFY(table.isColumnHidden(2));
    QVERIFY(fitter->squeezedOut().contains(2));
    QVERIFY(shownWidth(&table) <= table.viewport()->width());

    // Narrower than the first column: it is cut, and its tooltip has the text.
    table.resize(120, 200);
    fitter->refit();
    QVERIFY(shownWidth(&table) <= table.viewport()->width() + 40);
    const QModelIndex first = model.index(0, 0);
    const QRect cell = table.visualRect(first);
    QHelpEvent help(QEvent::ToolTip, cell.center(), table.viewport()->mapToGlobal(cell.center()));
    QCoreApplication::sendEvent(table.viewport(), &help);
    QTRY_COMPARE_WITH_TIMEOUT(QToolTip::text(), first.data().toString(), 2000);
  }

 private:
  std::shared_ptr<FakeControlPlane> fake_;
  std::unique_ptr<ui::MainWindow> window_;
};

QTEST_MAIN(LayoutFitTest)
#include "layout_fit_test.moc"
