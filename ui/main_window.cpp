#include "ui/main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QProcess>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QToolBar>
#include <QVBoxLayout>
#include <algorithm>
#include <chrono>
#include <functional>
#include <utility>

#include "common/pki/contexts_file.h"
#include "meshdeck/version.h"
#include "ui/certificates_panel.h"
#include "ui/column_fitter.h"
#include "ui/connect_dialog.h"
#include "ui/control_plane_client.h"
#include "ui/elided_label.h"
#include "ui/fleet_panel.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/help_dialogs.h"
#include "ui/inspector.h"
#include "ui/policy_panel.h"
#include "ui/scenario_panel.h"
#include "ui/scenario_runner.h"
#include "ui/snapshot_export.h"
#include "ui/table_models.h"
#include "ui/tap_panel.h"
#include "ui/timeline_axis.h"
#include "ui/timeline_panel.h"

namespace meshdeck::ui {

namespace {

// A dock that says when the user closes it (its title bar's button).
class ClosingDock : public QDockWidget {
 public:
  ClosingDock(const QString& title, QWidget* parent, std::function<void()> on_close)
      : QDockWidget(title, parent), on_close_(std::move(on_close)) {}

 protected:
  void closeEvent(QCloseEvent* event) override {
    on_close_();
    QDockWidget::closeEvent(event);
  }

 private:
  std::function<void()> on_close_;
};

}  // namespace

MainWindow::MainWindow(std::shared_ptr<cp::ControlPlane> control_plane, MainWindowOptions options,
                       QWidget* parent)
    : QMainWindow(parent),
      options_(std::move(options)),
      client_(new ControlPlaneClient(std::move(control_plane), options_.read_only, this)) {
  setWindowTitle(options_.read_only ? tr("Meshdeck — %1 (read-only)").arg(options_.source)
                                    : tr("Meshdeck — %1").arg(options_.source));
  resize(1440, 900);

  // The graph with the timeline under it (time travel through the control plane's history).
  auto* centre = new QWidget(this);
  auto* centre_layout = new QVBoxLayout(centre);
  centre_layout->setContentsMargins(0, 0, 0, 0);
  centre_layout->setSpacing(0);
  graph_ = new GraphView(centre);
  timeline_ = new TimelinePanel(client_, centre);
  centre_layout->addWidget(graph_, 1);
  centre_layout->addWidget(timeline_);
  setCentralWidget(centre);
  // A snapshot file has no history to travel through.
  timeline_->setVisible(!options_.read_only);
  graph_->addAction(timeline_->playAction());
  graph_->addAction(timeline_->liveAction());
  // Big meshes open grouped by tier unless the user chose a grouping (restoreSettings()).
  graph_->setAutoGroup(true);

  // Side panel.
  side_panel_ = new QTabWidget(this);
  services_model_ = new ServicesModel(this);
  services_proxy_ = new NaturalSortProxyModel(this);
  services_proxy_->setSourceModel(services_model_);
  services_proxy_->setSortRole(Qt::UserRole);
  services_proxy_->setFilterKeyColumn(ServicesModel::kName);
  services_proxy_->setFilterCaseSensitivity(Qt::CaseInsensitive);
  services_table_ = new QTableView(side_panel_);
  services_table_->setModel(services_proxy_);
  services_table_->setSortingEnabled(true);
  services_table_->sortByColumn(ServicesModel::kName, Qt::AscendingOrder);
  services_table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  services_table_->setSelectionMode(QAbstractItemView::SingleSelection);
  services_table_->verticalHeader()->hide();
  services_table_->setAlternatingRowColors(true);
  // Namespace and tier are in the header's menu (and the Tier filter).
  using S = ServicesModel;
  new ColumnFitter(services_table_,
                   {S::kName, S::kSuccess, S::kP99, S::kRate, S::kVersions, S::kInstances});
  connect(services_table_, &QTableView::clicked, this, [this](const QModelIndex& index) {
    graph_->selectNode(services_model_->serviceAt(services_proxy_->mapToSource(index).row()));
  });
  policies_ = new PolicyPanel(client_, side_panel_);
  fleet_ = new FleetPanel(client_, side_panel_);
  side_panel_->addTab(services_table_, tr("Services"));
  side_panel_->addTab(policies_, tr("Policies"));
  side_panel_->addTab(fleet_, tr("Fleet"));
  scenarios_ = new ScenarioPanel(side_panel_);
  side_panel_->addTab(scenarios_, tr("Scenarios"));
  certificates_ = new CertificatesPanel(client_, side_panel_);
  side_panel_->addTab(certificates_, tr("Certificates"));
  // Every tab reads whole: no elided "C…" for Certificates. The dock is as wide as its tabs.
  side_panel_->tabBar()->setElideMode(Qt::ElideNone);
  side_panel_->setUsesScrollButtons(true);
  side_dock_ = new QDockWidget(tr("Mesh"), this);
  side_dock_->setObjectName(QStringLiteral("meshDock"));
  side_dock_->setWidget(side_panel_);
  addDockWidget(Qt::LeftDockWidgetArea, side_dock_);

  inspector_ = new Inspector(client_, this);
  inspector_dock_ = new QDockWidget(tr("Inspector"), this);
  inspector_dock_->setObjectName(QStringLiteral("inspectorDock"));
  inspector_dock_->setWidget(inspector_);
  addDockWidget(Qt::RightDockWidgetArea, inspector_dock_);
  setTabPosition(Qt::AllDockWidgetAreas, QTabWidget::North);

  // The Tap panel (docs/tap.md): closing its dock closes the tap.
  tap_ = new TapPanel(client_, this);
  tap_dock_ = new ClosingDock(tr("Tap"), this, [this] { tap_->stop(); });
  tap_dock_->setObjectName(QStringLiteral("tapDock"));
  tap_dock_->setWidget(tap_);
  addDockWidget(Qt::BottomDockWidgetArea, tap_dock_);
  connect(tap_dock_->toggleViewAction(), &QAction::triggered, this, [this](bool shown) {
    if (!shown) tap_->stop();
  });
  connect(tap_, &TapPanel::edgeActivated, this,
          [this](const QString& source, const QString& destination) {
            if (graph_->edgeItem(source, destination) != nullptr)
              graph_->selectEdge(source, destination);
            else
              graph_->selectNode(destination.isEmpty() ? source : destination);
          });

  policies_->setReadOnly(options_.read_only);
  fleet_->setReadOnly(options_.read_only);
  scenarios_->setOffline(options_.read_only);
  if (options_.read_only) {
    // Certificates of a snapshot are judged at the time it was taken, not today.
    certificates_->setOffline(true);
    certificates_->setClock([this] {
      const auto latest = client_->latest();
      return latest && latest->time != cp::SystemTime{} ? latest->time
                                                        : std::chrono::system_clock::now();
    });
  }

  connect(graph_, &GraphView::selectionChanged, inspector_, &Inspector::setSelection);
  // An empty inspector would take a quarter of the window from the graph: it opens with the
  // first selection (and stays until closed; View > Inspector brings it back).
  connect(graph_, &GraphView::selectionChanged, this, [this](const GraphSelection& s) {
    if (s.kind != GraphSelection::Kind::kNone) revealInspector();
  });
  connect(policies_, &PolicyPanel::policiesChanged, graph_, &GraphView::setPolicies);
  connect(policies_, &PolicyPanel::warningEdgesChanged, graph_, &GraphView::setWarningEdges);
  connect(policies_, &PolicyPanel::applied, this, [this](const QStringList& targets, quint64) {
    // Show where the change lands: the edges into the affected services glow for a while.
    graph_->highlightDestinations(targets, 6000);
  });
  connect(client_, &ControlPlaneClient::snapshotUpdated, this, &MainWindow::onSnapshot);
  connect(timeline_, &TimelinePanel::momentLoaded, this, &MainWindow::showMoment);
  connect(timeline_, &TimelinePanel::liveChanged, this, [this](bool live) {
    if (!live) return;
    policies_->showLive();
    showGraph(client_->latest());
    revision_label_->setText(tr("Policy revision %1").arg(client_->latest()->policy_revision));
    revision_label_->setStyleSheet(QString());
  });
  connect(graph_, &GraphView::layoutFinished, this, [this](double) { trySelectPending(); });
  connect(scenarios_, &ScenarioPanel::focusEdgesChanged, graph_, &GraphView::setFocusEdges);
  connect(graph_, &GraphView::tapRequested, this,
          [this](const QString& service, const QString& destination) {
            cp::TapFilter f;
            f.service = service.toStdString();
            f.destination_service = destination.toStdString();
            openTap(f);
          });
  // The inspector reads what the graph draws: a group node's aggregate figures and members.
  connect(graph_, &GraphView::groupByChanged, this, [this](GroupBy by) {
    inspector_->setGroups(graph_->grouped().members);
    inspector_->showSnapshot(graph_->shownSnapshot());
    const int index = group_box_ == nullptr ? -1 : group_box_->findData(toString(by));
    // The graph chose (the size default): the combo and the menu follow, and that is no choice
    // of the user's to remember.
    if (index >= 0 && index != group_box_->currentIndex()) {
      const bool chosen = group_chosen_;
      group_box_->setCurrentIndex(index);
      group_chosen_ = chosen;
    }
  });
  connect(graph_, &GraphView::serviceFocusChanged, this, [this](const QString& centre, int hops) {
    inspector_->setGroups(graph_->grouped().members);
    inspector_->showSnapshot(graph_->shownSnapshot());
    focus_label_->setText(tr(" Focus: %1 ").arg(centre));
    {
      const QSignalBlocker block(focus_hops_);
      focus_hops_->setValue(hops);
    }
    for (QAction* a : focus_actions_) a->setVisible(!centre.isEmpty());
  });

  createGraphToolbar();
  createMenus();
  createStatusBar();
  restoreSettings();
  if (options_.size.isValid()) resize(options_.size);
  arrangeDocks(true);
  inspector_dock_->hide();
  tap_dock_->hide();
  pending_select_ = options_.select_service;

  if (options_.timeline_at_seconds >= 0 && !options_.read_only) {
    const int delay = MainWindowOptions::kTimelineAtDelay;
    QTimer::singleShot(static_cast<int>((options_.timeline_at_seconds + delay) * 1000), this,
                       [this, delay] {
                         timeline_->showMoment(timeline_->now() - std::chrono::seconds(delay));
                         side_panel_->setCurrentWidget(policies_);
                       });
  }
  client_->start();
  policies_->refresh();
  fleet_->refresh();
  if (!options_.tap_service.isEmpty()) {
    cp::TapFilter f;
    f.service = options_.tap_service.toStdString();
    openTap(f);
  }
}

MainWindow::~MainWindow() {
  // The tap's token goes before the control plane's client.
  tap_->stop();
  // Calls still running in the pool deliver into widgets that are about to go.
  client_->waitForIdle();
}

void MainWindow::createGraphToolbar() {
  auto* bar = addToolBar(tr("Graph"));
  bar->setObjectName(QStringLiteral("graphToolbar"));
  bar->setMovable(false);
  find_edit_ = new QLineEdit(bar);
  find_edit_->setPlaceholderText(tr("Find service (Ctrl+F)"));
  find_edit_->setClearButtonEnabled(true);
  find_edit_->setMaximumWidth(220);
  find_edit_->setObjectName(QStringLiteral("findEdit"));
  find_edit_->setAccessibleName(tr("Find field"));
  connect(find_edit_, &QLineEdit::textChanged, this, [this](const QString& text) {
    const int matches = graph_->find(text);
    services_proxy_->setFilterFixedString(text);
    if (!text.isEmpty()) statusBar()->showMessage(tr("%n service(s) match", "", matches), 3000);
    // A Find that filters the Services table is visibly on.
    find_edit_->setStyleSheet(text.isEmpty() ? QString()
                                             : QStringLiteral("QLineEdit { border: 2px solid "
                                                              "palette(highlight); }"));
  });
  // Escape clears Find, and with it the Services filter and the graph's highlight; a second
  // Escape gives the keyboard back to the graph.
  auto* clear_find = new QAction(tr("Clear Find"), find_edit_);
  clear_find->setObjectName(QStringLiteral("clearFindAction"));
  clear_find->setShortcut(QKeySequence(Qt::Key_Escape));
  clear_find->setShortcutContext(Qt::WidgetShortcut);
  connect(clear_find, &QAction::triggered, this, [this] {
    if (find_edit_->text().isEmpty()) {
      graph_->setFocus(Qt::ShortcutFocusReason);
    } else {
      find_edit_->clear();
    }
  });
  find_edit_->addAction(clear_find);
  bar->addWidget(find_edit_);
  bar->addSeparator();
  bar->addWidget(new QLabel(tr(" Label: "), bar));
  metric_box_ = new QComboBox(bar);
  metric_box_->addItem(tr("p99 latency"), int(EdgeMetric::kP99));
  metric_box_->addItem(tr("p50 latency"), int(EdgeMetric::kP50));
  metric_box_->addItem(tr("Requests/s"), int(EdgeMetric::kRequestRate));
  metric_box_->addItem(tr("Success rate"), int(EdgeMetric::kSuccessRate));
  connect(metric_box_, &QComboBox::currentIndexChanged, this, [this](int i) {
    graph_->setMetric(static_cast<EdgeMetric>(metric_box_->itemData(i).toInt()));
  });
  bar->addWidget(metric_box_);
  bar->addSeparator();
  hide_idle_ = bar->addAction(tr("Hide idle"));
  hide_idle_->setCheckable(true);
  hide_idle_->setToolTip(tr("Hide edges without requests in the window"));
  connect(hide_idle_, &QAction::toggled, graph_, &GraphView::setHideIdle);
  only_unhealthy_ = bar->addAction(tr("Only unhealthy"));
  only_unhealthy_->setCheckable(true);
  only_unhealthy_->setToolTip(tr("Show only degraded or failing edges and their services"));
  connect(only_unhealthy_, &QAction::toggled, graph_, &GraphView::setOnlyUnhealthy);
  bar->addWidget(new QLabel(tr(" Tier: "), bar));
  tier_box_ = new QComboBox(bar);
  tier_box_->addItem(tr("All"), QString());
  connect(tier_box_, &QComboBox::currentIndexChanged, this,
          [this](int i) { graph_->setTierFilter(tier_box_->itemData(i).toString()); });
  bar->addWidget(tier_box_);
  bar->addWidget(new QLabel(tr(" Group: "), bar));
  group_box_ = new QComboBox(bar);
  group_box_->setObjectName(QStringLiteral("groupByBox"));
  group_box_->setToolTip(
      tr("Group services by namespace, tier or app (Ctrl+G); double-click a "
         "group to expand or collapse it"));
  group_box_->addItem(tr("none"), toString(GroupBy::kNone));
  group_box_->addItem(tr("namespace"), toString(GroupBy::kNamespace));
  group_box_->addItem(tr("tier"), toString(GroupBy::kTier));
  group_box_->addItem(tr("app"), toString(GroupBy::kApp));
  connect(group_box_, &QComboBox::currentIndexChanged, this, [this](int i) {
    const GroupBy by = groupByFromString(group_box_->itemData(i).toString());
    if (by == graph_->groupBy()) return;  // following the graph
    group_chosen_ = true;
    graph_->setGroupBy(by);
  });
  bar->addWidget(group_box_);
  bar->addSeparator();
  bar->addAction(tr("Fit"), graph_, &GraphView::fitGraph);
  // Shown while the graph is focused on a service: how far around it, and the way back.
  bar->addSeparator();
  focus_label_ = new QLabel(bar);
  focus_actions_ << bar->addWidget(focus_label_);
  focus_hops_ = new QSpinBox(bar);
  focus_hops_->setObjectName(QStringLiteral("focusHops"));
  focus_hops_->setRange(1, 5);
  focus_hops_->setSuffix(tr(" hop(s)"));
  focus_hops_->setToolTip(tr("How many calls away from the focused service to show"));
  connect(focus_hops_, &QSpinBox::valueChanged, graph_, &GraphView::setFocusHops);
  focus_actions_ << bar->addWidget(focus_hops_);
  auto* clear_focus = bar->addAction(tr("Clear focus"), graph_, &GraphView::clearServiceFocus);
  clear_focus->setObjectName(QStringLiteral("clearFocusAction"));
  clear_focus->setToolTip(tr("Show the whole graph again (Escape in the graph)"));
  focus_actions_ << clear_focus;
  for (QAction* a : focus_actions_) a->setVisible(false);
}

void MainWindow::createMenus() {
  auto* file = menuBar()->addMenu(tr("&File"));
  connect_action_ = file->addAction(tr("&Connect…"), QKeySequence(Qt::CTRL | Qt::Key_K), this,
                                    &MainWindow::showConnectDialog);
  connect_action_->setEnabled(bool(options_.connect_remote));
  connect_action_->setToolTip(
      tr("Show another control plane: a meshdeckctl context, or an "
         "address and an operator's credentials file"));
  file->addAction(tr("&Open Snapshot…"), QKeySequence::Open, this, &MainWindow::openSnapshot);
  file->addAction(tr("&Export Snapshot…"), QKeySequence(Qt::CTRL | Qt::Key_E), this,
                  &MainWindow::exportSnapshot);
  auto* report = file->addAction(tr("Export &Report…"), this, &MainWindow::exportReport);
  report->setObjectName("exportReport");
  report->setEnabled(static_cast<bool>(options_.report_maker));
  if (!options_.demo.isEmpty() && !options_.read_only) {
    file->addSeparator();
    file->addAction(tr("&Reset Demo State…"), this, &MainWindow::resetDemoState)
        ->setObjectName("resetDemoState");
  }
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  auto* edit = menuBar()->addMenu(tr("&Edit"));
  edit->addAction(tr("&Find Service"), QKeySequence::Find, this, &MainWindow::focusFind);
  auto* apply =
      edit->addAction(tr("&Apply Policy"), QKeySequence(Qt::CTRL | Qt::Key_Return), this, [this] {
        side_panel_->setCurrentWidget(policies_);
        policies_->apply();
      });
  apply->setEnabled(!options_.read_only);
  auto* validate = edit->addAction(
      tr("&Validate Policy"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Return), this, [this] {
        side_panel_->setCurrentWidget(policies_);
        policies_->validate();
      });
  validate->setEnabled(!options_.read_only);
  edit->addAction(tr("Policy &History…"), this, [this] { policies_->showHistory(); });

  auto* view = menuBar()->addMenu(tr("&View"));
  view->addAction(tr("Zoom &In"), QKeySequence::ZoomIn, this, [this] { graph_->zoomBy(1.25); });
  view->addAction(tr("Zoom &Out"), QKeySequence::ZoomOut, this, [this] { graph_->zoomBy(0.8); });
  view->addAction(tr("&Fit Graph"), QKeySequence(Qt::CTRL | Qt::Key_0), graph_,
                  &GraphView::fitGraph);
  view->addAction(tr("&Actual Size"), QKeySequence(Qt::CTRL | Qt::Key_1), graph_,
                  &GraphView::resetZoom);
  view->addSeparator();
  auto* metrics = view->addMenu(tr("Edge &Label"));
  auto* group = new QActionGroup(this);
  for (int i = 0; i < metric_box_->count(); ++i) {
    auto* a = metrics->addAction(metric_box_->itemText(i));
    a->setCheckable(true);
    a->setShortcut(QKeySequence(Qt::ALT | static_cast<Qt::Key>(Qt::Key_1 + i)));
    group->addAction(a);
    connect(a, &QAction::triggered, this, [this, i] { metric_box_->setCurrentIndex(i); });
    connect(metric_box_, &QComboBox::currentIndexChanged, a,
            [a, i](int current) { a->setChecked(current == i); });
    a->setChecked(i == metric_box_->currentIndex());
  }
  auto* grouping = view->addMenu(tr("&Group By"));
  auto* grouping_actions = new QActionGroup(this);
  for (int i = 0; i < group_box_->count(); ++i) {
    auto* a = grouping->addAction(group_box_->itemText(i));
    a->setCheckable(true);
    grouping_actions->addAction(a);
    connect(a, &QAction::triggered, this, [this, i] { group_box_->setCurrentIndex(i); });
    connect(group_box_, &QComboBox::currentIndexChanged, a,
            [a, i](int current) { a->setChecked(current == i); });
    a->setChecked(i == group_box_->currentIndex());
  }
  grouping->addSeparator();
  grouping->addAction(tr("&Next Grouping"), QKeySequence(Qt::CTRL | Qt::Key_G), this, [this] {
    group_box_->setCurrentIndex((group_box_->currentIndex() + 1) % group_box_->count());
  });
  auto* focus = view->addAction(tr("F&ocus on Selected Service"),
                                QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_F), this, [this] {
                                  const GraphSelection s = graph_->selection();
                                  if (s.kind == GraphSelection::Kind::kNode)
                                    graph_->focusService(s.node, focus_hops_->value());
                                });
  focus->setObjectName(QStringLiteral("focusServiceAction"));
  view->addAction(tr("C&lear Focus"), graph_, &GraphView::clearServiceFocus);
  view->addAction(hide_idle_);
  view->addAction(only_unhealthy_);
  animate_ = view->addAction(tr("Animate &Traffic"));
  animate_->setCheckable(true);
  animate_->setChecked(true);
  connect(animate_, &QAction::toggled, graph_, &GraphView::setAnimateTraffic);
  view->addAction(tr("Health &Thresholds…"), this, &MainWindow::editThresholds);
  auto* tap = view->addAction(tr("Ta&p Selection"), QKeySequence(Qt::CTRL | Qt::Key_T), this,
                              &MainWindow::tapSelection);
  tap->setObjectName(QStringLiteral("tapAction"));
  tap->setToolTip(tr("Watch the live requests of the selected service or edge (Ctrl+T)"));
  view->addSeparator();
  auto* timeline = view->addAction(tr("T&imeline"));
  timeline->setObjectName(QStringLiteral("timelineAction"));
  timeline->setCheckable(true);
  timeline->setChecked(timeline_->isVisibleTo(this));
  timeline->setEnabled(!options_.read_only);
  connect(timeline, &QAction::toggled, this, [this](bool shown) {
    if (!shown) timeline_->goLive();
    timeline_->setVisible(shown);
  });
  view->addAction(tr("Back to &Live"), this, [this] { timeline_->goLive(); })
      ->setEnabled(!options_.read_only);
  for (auto* dock : findChildren<QDockWidget*>()) view->addAction(dock->toggleViewAction());

  auto* scenario = menuBar()->addMenu(tr("&Scenario"));
  scenario->addAction(tr("&Start / Stop Scenario"), QKeySequence(Qt::Key_F5), this, [this] {
    side_panel_->setCurrentWidget(scenarios_);
    scenarios_->startOrStop();
  });

  auto* help = menuBar()->addMenu(tr("&Help"));
  // Non-modal: the legend can stay open beside the graph. Built when opened, so that it
  // draws with the current palette and thresholds, and lists every shortcut registered by then.
  help->addAction(tr("&Legend"), QKeySequence(Qt::Key_F1), this, [this] {
    QDialog* dialog =
        createLegendDialog(GraphStyle::fromPalette(graph_->palette()), graph_->thresholds(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->show();
  });
  help->addAction(tr("&Keyboard Shortcuts"), this, [this] {
    QDialog* dialog = createShortcutsDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->show();
  });
  help->addSeparator();
  help->addAction(tr("&About Meshdeck"), this, [this] {
    QMessageBox::about(this, tr("About Meshdeck"),
                       tr("<b>Meshdeck %1</b><p>A desktop service mesh: control plane, sidecar "
                          "proxies and a live service graph.</p>")
                           .arg(QString::fromLatin1(meshdeck::kVersion)));
  });
}

void MainWindow::createStatusBar() {
  source_label_ = new QLabel(
      options_.read_only ? tr("Offline: %1").arg(options_.source) : options_.source, this);
  listen_label_ = new QLabel(this);
  proxies_label_ = new QLabel(tr("no proxies"), this);
  revision_label_ = new QLabel(this);
  // The demo's and the kept state's texts give way to the control plane's state when the window
  // is narrow (elided, the whole text in the tooltip); a demo's progress line expires.
  demo_label_ = new ElidedLabel(options_.demo_status, this);
  demo_label_->setObjectName(QStringLiteral("demoLabel"));
  demo_label_->setVisible(!options_.demo_status.isEmpty());
  statusBar()->addWidget(demo_label_, 1);
  demo_status_expiry_.setSingleShot(true);
  demo_status_expiry_.setInterval(options_.demo_status_ms);
  connect(&demo_status_expiry_, &QTimer::timeout, this, [this] {
    if (scenario_runner_ != nullptr && scenario_runner_->ready())
      demo_label_->setText(tr("Demo %1: running").arg(options_.demo));
  });
  state_label_ = new ElidedLabel(options_.state_status, this);
  state_label_->setObjectName("stateLabel");
  state_label_->setVisible(!options_.state_status.isEmpty());
  statusBar()->addWidget(state_label_);
  for (QLabel* l : {source_label_, listen_label_, proxies_label_, revision_label_}) {
    statusBar()->addPermanentWidget(l);
  }
}

QString MainWindow::statusText() const {
  QStringList parts;
  for (const QString& text : {demo_label_->text(), source_label_->text(), listen_label_->text(),
                              proxies_label_->text(), revision_label_->text()}) {
    if (!text.isEmpty()) parts << text;
  }
  return parts.join(QStringLiteral(" | "));
}

void MainWindow::selectServiceWhenShown(const QString& name) {
  pending_select_ = name;
  trySelectPending();
}

void MainWindow::openTap(const cp::TapFilter& filter) {
  tap_->stop();
  tap_->setFilter(filter);
  tap_dock_->show();
  tap_dock_->raise();
  // The table needs rows to read: a third of the window's height.
  resizeDocks({tap_dock_}, {std::max(220, height() / 3)}, Qt::Vertical);
  tap_->start();
}

void MainWindow::tapSelection() {
  const GraphSelection s = graph_->selection();
  cp::TapFilter f;
  if (s.kind == GraphSelection::Kind::kEdge) {
    f.service = s.source.toStdString();
    f.destination_service = s.destination.toStdString();
  } else if (s.kind == GraphSelection::Kind::kNode && graph_->nodeItem(s.node) != nullptr &&
             !graph_->nodeItem(s.node)->isGroup()) {
    f.service = s.node.toStdString();
  }
  openTap(f);
}

void MainWindow::trySelectPending() {
  // A node is shown (and selectable) once a layout has placed it.
  // A service inside a collapsed group is shown as its group.
  const NodeItem* node = pending_select_.isEmpty() ? nullptr : graph_->nodeItem(pending_select_);
  if (node == nullptr && !pending_select_.isEmpty())
    node = graph_->nodeItem(graph_->groupOf(pending_select_));
  if (node == nullptr || !node->isVisible()) return;
  const QString name = std::exchange(pending_select_, QString());
  graph_->selectNode(name);
  if (std::exchange(options_.focus_selected, false)) graph_->focusService(name);
}

void MainWindow::arrangeDocks(bool force) {
  const bool side_by_side = width() >= kSideBySideWidth;
  if (!force && docks_arranged_ && side_by_side == docks_side_by_side_) return;
  docks_arranged_ = true;
  docks_side_by_side_ = side_by_side;
  const bool inspector_shown = inspector_dock_->isVisible();
  if (side_by_side) {
    addDockWidget(Qt::RightDockWidgetArea, inspector_dock_);
  } else {
    tabifyDockWidget(side_dock_, inspector_dock_);
    side_dock_->raise();
  }
  inspector_dock_->setVisible(inspector_shown);
  if (side_by_side && inspector_shown) sizeInspector();
  // The side panel gets the width its tab labels need and room for four telling columns
  // (Policies: name, kind, target, revision), more on a big screen, within a third of the
  // window.
  const int tabs = side_panel_->tabBar()->sizeHint().width() + 8;
  const int wanted = std::max({tabs, 420, width() * 22 / 100});
  resizeDocks({side_dock_}, {std::clamp(wanted, 330, std::max(330, width() / 3))}, Qt::Horizontal);
}

void MainWindow::revealInspector() {
  const bool was_shown = inspector_dock_->isVisible();
  inspector_dock_->show();
  if (!docks_side_by_side_) {
    inspector_dock_->raise();
    return;
  }
  // The inspector takes what its content asks for, within 30 % of the window; the graph
  // re-fits to what is left.
  if (!was_shown || inspector_dock_->width() < 360) sizeInspector();
}

void MainWindow::sizeInspector() {
  const int wanted = std::clamp(inspector_->sizeHint().width() + 24, 360, width() * 30 / 100);
  resizeDocks({inspector_dock_}, {wanted}, Qt::Horizontal);
}

void MainWindow::resizeEvent(QResizeEvent* event) {
  QMainWindow::resizeEvent(event);
  arrangeDocks(false);
}

void MainWindow::showGraph(std::shared_ptr<const cp::GraphSnapshot> snapshot) {
  graph_->showSnapshot(snapshot);
  // What the graph draws (grouped, focused): a group node's figures and members.
  inspector_->setGroups(graph_->grouped().members);
  inspector_->showSnapshot(graph_->shownSnapshot());
  services_model_->setSnapshot(snapshot);
  trySelectPending();

  const QStringList tiers = graph_->tiers();
  for (const QString& t : tiers) {
    if (tier_box_->findData(t) < 0) tier_box_->addItem(t, t);
  }
  emit graphShown();
}

void MainWindow::showMoment(const TimelineMoment& moment) {
  if (timeline_->isLive()) return;
  const QString text = timeline_->momentText();
  if (!moment.available) {
    revision_label_->setText(tr("%1: %2").arg(text, QString::fromStdString(moment.message)));
    revision_label_->setStyleSheet(QStringLiteral("color: #d98e04; font-weight: bold"));
    return;
  }
  showGraph(moment.snapshot);
  const QString by =
      moment.revision_author.empty()
          ? text
          : tr("%1 (by %2)").arg(text, QString::fromStdString(moment.revision_author));
  policies_->showPast(by, moment.policies);
  revision_label_->setText(by);
  revision_label_->setStyleSheet(QStringLiteral("color: palette(highlight); font-weight: bold"));
}

void MainWindow::onSnapshot(std::shared_ptr<const cp::GraphSnapshot> snapshot) {
  timeline_->setNow(snapshot->time, snapshot->window_seconds);
  // Viewing the past: live snapshots keep the status bar current, never the graph or policies.
  const bool live = timeline_->isLive();
  if (live) showGraph(snapshot);

  listen_label_->setText(
      snapshot->listen_address.empty()
          ? QString()
          : tr("Listening on %1").arg(QString::fromStdString(snapshot->listen_address)));
  int synced = 0, stale = 0, rejected = 0, connected = 0;
  for (const auto& p : snapshot->proxies) {
    if (p.state != cp::SyncState::kDisconnected) ++connected;
    if (p.state == cp::SyncState::kSynced) ++synced;
    if (p.state == cp::SyncState::kStale) ++stale;
    if (p.state == cp::SyncState::kRejected) ++rejected;
  }
  proxies_label_->setText(connected > 0 && synced == connected
                              ? tr("Proxies: %1 connected · all synced").arg(connected)
                              : tr("Proxies: %1 connected · %2 synced · %3 stale · %4 rejected")
                                    .arg(connected)
                                    .arg(synced)
                                    .arg(stale)
                                    .arg(rejected));
  proxies_label_->setStyleSheet(rejected > 0 ? QStringLiteral("color: #d63333; font-weight: bold")
                                : stale > 0  ? QStringLiteral("color: #d98e04")
                                             : QString());
  // Offline, nothing listens and nothing is connected: say instead when the snapshot was taken
  // and what it holds.
  if (options_.read_only) showOfflineStatus(*snapshot);
  if (!live) return;
  revision_label_->setText(tr("Policy revision %1").arg(snapshot->policy_revision));
  if (snapshot->policy_revision != last_policy_revision_) {
    last_policy_revision_ = snapshot->policy_revision;
    policies_->refresh();
  }
}

void MainWindow::showOfflineStatus(const cp::GraphSnapshot& snapshot) {
  const QDateTime taken = QDateTime::fromMSecsSinceEpoch(
      std::chrono::duration_cast<std::chrono::milliseconds>(snapshot.time.time_since_epoch())
          .count());
  listen_label_->setText(
      tr("Snapshot taken %1").arg(taken.toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"))));
  listen_label_->setToolTip(tr("%1 UTC; the control plane listened on %2 then")
                                .arg(taken.toUTC().toString(Qt::ISODate),
                                     QString::fromStdString(snapshot.listen_address)));
  int synced = 0;
  for (const auto& p : snapshot.proxies) synced += p.state == cp::SyncState::kSynced ? 1 : 0;
  const QString holds = tr("holds %1 services · %2 edges · %3 proxies (%4 synced then)")
                            .arg(snapshot.services.size())
                            .arg(snapshot.edges.size())
                            .arg(snapshot.proxies.size())
                            .arg(synced);
  proxies_label_->setText(holds);
  proxies_label_->setStyleSheet(QString());
  // Whether the file carries the edges' history (older exports do not): the charts depend on it.
  std::vector<std::pair<std::string, std::string>> edges;
  for (const auto& e : snapshot.edges) edges.emplace_back(e.source, e.destination);
  client_->run<int>(
      [edges](cp::ControlPlane& cp) {
        int with_history = 0;
        for (const auto& [s, d] : edges)
          with_history += cp.edgeHistory(s, d, Inspector::kHistorySeconds).empty() ? 0 : 1;
        return with_history;
      },
      proxies_label_,
      [this, holds, total = int(edges.size())](int with_history) {
        proxies_label_->setText(
            with_history == 0
                ? tr("%1 · no edge history").arg(holds)
                : tr("%1 · history of %2 of %3 edges").arg(holds).arg(with_history).arg(total));
      });
}

void MainWindow::resetDemoState() {
  if (options_.read_only) return;
  if (QMessageBox::question(
          this, tr("Reset demo state"),
          tr("Remove every policy in force? This creates a new revision without policies; the "
             "history stays, and Policies → History… can revert to any earlier revision.")) !=
      QMessageBox::Yes) {
    return;
  }
  client_->run<cp::ApplyResult>(
      [](cp::ControlPlane& cp) { return cp.revertToRevision(0, "meshdeck-ui"); }, this,
      [this](cp::ApplyResult result) {
        QString text;
        if (!result.ok)
          text = tr("Reset refused: %1")
                     .arg(result.errors.empty()
                              ? QString::fromStdString(result.summary)
                              : QString::fromStdString(result.errors.front().message));
        else if (result.summary == "no change")
          text =
              tr("Demo state reset: no policies were in force (revision %1)").arg(result.revision);
        else
          text = tr("Demo state reset: revision %1, no policies in force").arg(result.revision);
        state_label_->setText(text);
        state_label_->setVisible(true);
        policies_->refresh();
      });
}

void MainWindow::setDemoStatus(const QString& text) {
  demo_label_->setText(text);
  demo_label_->setVisible(!text.isEmpty());
  // What just happened is news for a while; then the status bar says how the demo is.
  demo_status_expiry_.start();
}

void MainWindow::setScenarioRunner(ScenarioRunner* runner) {
  scenario_runner_ = runner;
  scenarios_->setRunner(runner);
}

void MainWindow::focusFind() {
  find_edit_->setFocus(Qt::ShortcutFocusReason);
  find_edit_->selectAll();
}

void MainWindow::exportSnapshot() {
  const QString dir = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
  const QString name =
      QStringLiteral("%1/meshdeck-snapshot-%2.json")
          .arg(dir, QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")));
  const QString path = QFileDialog::getSaveFileName(this, tr("Export Snapshot"), name,
                                                    tr("Meshdeck snapshot (*.json)"));
  if (!path.isEmpty()) exportSnapshotTo(path);
}

void MainWindow::exportSnapshotTo(const QString& json_path) {
  if (exporting_) return;
  exporting_ = true;
  statusBar()->showMessage(tr("Exporting…"));
  client_->run<std::string>([](cp::ControlPlane& cp) { return cp.exportSnapshotJson(60); }, this,
                            [this, json_path](std::string json) {
                              exporting_ = false;
                              const ExportResult r = writeSnapshotExport(
                                  json_path, QByteArray::fromStdString(json), graph_);
                              const QString message =
                                  r.ok ? tr("Exported %1").arg(r.files.join(QStringLiteral(", ")))
                                       : tr("Export failed: %1").arg(r.error);
                              statusBar()->showMessage(message, 8000);
                              emit exportFinished(r.ok, message);
                            });
}

void MainWindow::exportReport() {
  // The range on the timeline is offered first (issue 22: "with the range picked on the
  // timeline").
  auto [from, to] = timeline_->selectedRange();
  if (!askReportRange(this, &from, &to)) return;
  const QString dir = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
  const QString name =
      QStringLiteral("%1/meshdeck-report-%2.pdf")
          .arg(dir, QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")));
  const QString path = QFileDialog::getSaveFileName(this, tr("Export Report"), name,
                                                    tr("PDF (*.pdf);;HTML (*.html)"));
  if (!path.isEmpty()) exportReportTo(from, to, path);
}

void MainWindow::exportReportTo(cp::SystemTime from, cp::SystemTime to, const QString& path) {
  if (exporting_ || !options_.report_maker) return;
  exporting_ = true;
  statusBar()->showMessage(tr("Making the report…"));
  const ReportFormat format = reportFormatFor(path);
  client_->run<ReportDocument>([maker = options_.report_maker, from, to, format](
                                   cp::ControlPlane& cp) { return maker(cp, from, to, format); },
                               this,
                               [this, path, format](ReportDocument doc) {
                                 exporting_ = false;
                                 QString error;
                                 const int pages = writeReport(doc, format, path, &error);
                                 const QString message = pages ? tr("Exported report %1").arg(path)
                                                               : tr("Report failed: %1").arg(error);
                                 statusBar()->showMessage(message, 8000);
                                 emit exportFinished(pages > 0, message);
                               });
}

void MainWindow::openSnapshot() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Open Snapshot"), QString(),
                                                    tr("Meshdeck snapshot (*.json)"));
  if (path.isEmpty()) return;
  // A snapshot opens in its own window and process, read-only, beside the live mesh.
  if (!QProcess::startDetached(QCoreApplication::applicationFilePath(), {path})) {
    QMessageBox::warning(this, tr("Open Snapshot"),
                         tr("Could not start a viewer for %1.").arg(path));
  }
}

void MainWindow::showConnectDialog() {
  if (!options_.connect_remote || connecting_) return;
  ConnectDialog dialog(QString::fromStdString(pki::contextsPath().string()), this);
  if (dialog.exec() != QDialog::Accepted) return;
  connectTo(dialog.target(), dialog.credentials());
}

void MainWindow::connectTo(const QString& target, const QString& credentials) {
  if (!options_.connect_remote || connecting_) return;
  connecting_ = true;
  connect_action_->setEnabled(false);
  const QString what = target.isEmpty() ? credentials : target;
  statusBar()->showMessage(tr("Connecting to %1…").arg(what));
  struct Outcome {
    std::shared_ptr<cp::ControlPlane> control_plane;
    std::string description, error, warning;
  };
  auto* watcher = new QFutureWatcher<Outcome>(this);
  connect(watcher, &QFutureWatcher<Outcome>::finished, this, [this, watcher, what] {
    watcher->deleteLater();
    Outcome o = watcher->result();
    connecting_ = false;
    connect_action_->setEnabled(true);
    if (!o.control_plane) {
      const QString why = QString::fromStdString(o.error);
      statusBar()->showMessage(tr("Not connected to %1").arg(what), 8000);
      auto* box = new QMessageBox(QMessageBox::Warning, tr("Connect"),
                                  tr("Could not connect to %1.").arg(what), QMessageBox::Ok, this);
      box->setInformativeText(why);
      box->setAttribute(Qt::WA_DeleteOnClose);
      box->open();
      emit connectFinished(false, why);
      return;
    }
    const QString source = QString::fromStdString(o.description);
    replaceControlPlane(std::move(o.control_plane), source);
    if (o.warning.empty())
      statusBar()->showMessage(tr("Connected to %1").arg(what), 5000);
    else
      statusBar()->showMessage(tr("Warning: %1").arg(QString::fromStdString(o.warning)), 15000);
    emit connectFinished(true, source);
  });
  watcher->setFuture(QtConcurrent::run([connect_remote = options_.connect_remote,
                                        t = target.toStdString(), c = credentials.toStdString()] {
    Outcome o;
    o.control_plane = connect_remote(t, c, &o.description, &o.error, &o.warning);
    return o;
  }));
}

void MainWindow::replaceControlPlane(std::shared_ptr<cp::ControlPlane> control_plane,
                                     const QString& source) {
  tap_->stop();
  tap_dock_->hide();
  client_->setControlPlane(std::move(control_plane), false);
  // Nothing of the old source stays: not its demo, its scenarios, its offline state.
  options_.source = source;
  options_.read_only = false;
  options_.demo.clear();
  setWindowTitle(tr("Meshdeck — %1").arg(source));
  source_label_->setText(source);
  source_label_->setToolTip(source);
  listen_label_->clear();
  listen_label_->setToolTip(QString());
  demo_label_->setVisible(false);
  state_label_->setVisible(false);
  setScenarioRunner(nullptr);
  policies_->setReadOnly(false);
  fleet_->setReadOnly(false);
  scenarios_->setOffline(false);
  certificates_->setOffline(false);
  certificates_->setClock([] { return std::chrono::system_clock::now(); });
  last_policy_revision_ = UINT64_MAX;
  policies_->refresh();
  fleet_->refresh();
  certificates_->refresh();
}

void MainWindow::editThresholds() {
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Health Thresholds"));
  auto* form = new QFormLayout(&dialog);
  HealthThresholds t = graph_->thresholds();
  auto spin = [&dialog](double value, double max, int decimals, const QString& suffix) {
    auto* s = new QDoubleSpinBox(&dialog);
    s->setRange(0, max);
    s->setDecimals(decimals);
    s->setValue(value);
    s->setSuffix(suffix);
    return s;
  };
  auto* sw = spin(t.success_warning * 100, 100, 2, QStringLiteral(" %"));
  auto* sc = spin(t.success_critical * 100, 100, 2, QStringLiteral(" %"));
  auto* lw = spin(t.p99_warning_ms, 60000, 0, QStringLiteral(" ms"));
  auto* lc = spin(t.p99_critical_ms, 60000, 0, QStringLiteral(" ms"));
  form->addRow(tr("Amber below success rate"), sw);
  form->addRow(tr("Red below success rate"), sc);
  form->addRow(tr("Amber above p99"), lw);
  form->addRow(tr("Red above p99"), lc);
  auto* box = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
  connect(box, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  connect(box, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  form->addRow(box);
  if (dialog.exec() != QDialog::Accepted) return;
  t.success_warning = sw->value() / 100;
  t.success_critical = std::min(sc->value() / 100, t.success_warning);
  t.p99_warning_ms = lw->value();
  t.p99_critical_ms = std::max(lc->value(), t.p99_warning_ms);
  graph_->setThresholds(t);
}

void MainWindow::restoreSettings() {
  if (!options_.use_settings) return;
  QSettings s;
  restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray());
  restoreState(s.value(QStringLiteral("window/state")).toByteArray());
  metric_box_->setCurrentIndex(s.value(QStringLiteral("graph/metric"), 0).toInt());
  hide_idle_->setChecked(s.value(QStringLiteral("graph/hideIdle"), false).toBool());
  // A grouping the user chose once holds from then on; without one, big meshes are grouped by
  // tier (GraphView::kGroupAbove).
  if (s.contains(QStringLiteral("graph/groupBy"))) {
    const int index = group_box_->findData(s.value(QStringLiteral("graph/groupBy")).toString());
    if (index >= 0) group_box_->setCurrentIndex(index);
    group_chosen_ = true;
    graph_->setGroupBy(groupByFromString(s.value(QStringLiteral("graph/groupBy")).toString()));
  }
  animate_->setChecked(s.value(QStringLiteral("graph/animate"), true).toBool());
  HealthThresholds t;
  t.success_warning =
      s.value(QStringLiteral("health/successWarning"), t.success_warning).toDouble();
  t.success_critical =
      s.value(QStringLiteral("health/successCritical"), t.success_critical).toDouble();
  t.p99_warning_ms = s.value(QStringLiteral("health/p99WarningMs"), t.p99_warning_ms).toDouble();
  t.p99_critical_ms = s.value(QStringLiteral("health/p99CriticalMs"), t.p99_critical_ms).toDouble();
  graph_->setThresholds(t);
  if (!options_.demo.isEmpty()) s.setValue(QStringLiteral("demo/last"), options_.demo);
}

void MainWindow::saveSettings() {
  if (!options_.use_settings) return;
  QSettings s;
  s.setValue(QStringLiteral("window/geometry"), saveGeometry());
  s.setValue(QStringLiteral("window/state"), saveState());
  s.setValue(QStringLiteral("graph/metric"), metric_box_->currentIndex());
  s.setValue(QStringLiteral("graph/hideIdle"), hide_idle_->isChecked());
  if (group_chosen_) s.setValue(QStringLiteral("graph/groupBy"), toString(graph_->groupBy()));
  s.setValue(QStringLiteral("graph/animate"), animate_->isChecked());
  const HealthThresholds& t = graph_->thresholds();
  s.setValue(QStringLiteral("health/successWarning"), t.success_warning);
  s.setValue(QStringLiteral("health/successCritical"), t.success_critical);
  s.setValue(QStringLiteral("health/p99WarningMs"), t.p99_warning_ms);
  s.setValue(QStringLiteral("health/p99CriticalMs"), t.p99_critical_ms);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  saveSettings();
  QMainWindow::closeEvent(event);
}

void MainWindow::changeEvent(QEvent* event) {
  // The graph, charts and editor restyle themselves on PaletteChange; nothing else here.
  QMainWindow::changeEvent(event);
}

}  // namespace meshdeck::ui
