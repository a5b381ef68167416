#pragma once

#include <QMainWindow>
#include <QPointer>
#include <QTimer>
#include <functional>
#include <memory>
#include <string>

#include "controlplane/api/control_plane.h"
#include "ui/report_export.h"

class QAction;
class QComboBox;
class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QSpinBox;
class QTabWidget;
class QTableView;

namespace meshdeck::ui {

class CertificatesPanel;
class ControlPlaneClient;
class ElidedLabel;
class FleetPanel;
class GraphView;
class Inspector;
class PolicyPanel;
class ScenarioPanel;
class ScenarioRunner;
class ServicesModel;
class TapPanel;
class TimelinePanel;
struct TimelineMoment;

// How the window was composed, for the title and the status bar.
struct MainWindowOptions {
  // "Embedded control plane", "Connected to host:7000", "Snapshot storefront.json".
  QString source;
  // A snapshot opened offline: editing, fleet actions and policy changes are disabled.
  bool read_only = false;
  // The demo mesh asked for on the command line (remembered in QSettings), and what the
  // status bar should say about it.
  QString demo;
  QString demo_status;
  // Keep QSettings untouched (tests).
  bool use_settings = true;
  // A service to select once it is in the graph (`meshdeck --select SERVICE`); empty: none.
  QString select_service;
  // Focus the graph on select_service once it is selected (`meshdeck --focus SERVICE`).
  bool focus_selected = false;
  // Open the Tap panel on this service at start (`meshdeck --tap SERVICE`); empty: closed.
  QString tap_service;
  // What the status bar says about the policy state a demo kept from its last run ("Restored
  // policy revision 8 from the last run"); empty: nothing (a demo that started clean).
  QString state_status;
  // The window's size (`meshdeck --window-size`); invalid: the size of the last session, or
  // 1440×900 the first time.
  QSize size;
  // `meshdeck --timeline-at S`: the timeline shows the moment S seconds after start, once its
  // metrics are stored (kTimelineAtDelay later), with the Policies tab raised; negative: live.
  double timeline_at_seconds = -1;
  static constexpr int kTimelineAtDelay = 15;
  // How long a demo's progress line shows before "Demo NAME: running" (once the demo is up).
  int demo_status_ms = 12000;
  // Makes mesh-health reports (File > Export Report…); unset: the action is disabled.
  ReportMaker report_maker;
  // File → Connect…: opens a remote control plane the way `meshdeck --connect TARGET
  // [--credentials FILE]` does (TARGET a context of the contexts file or HOST:PORT; the app
  // passes cp::openRemote): the control plane and its description for the title and status bar
  // ("Remote control plane ADDR (context NAME), as alice (viewer)"), or nullptr and why. Called
  // off the GUI thread. Unset: the action is disabled.
  std::function<std::shared_ptr<cp::ControlPlane>(
      const std::string& target, const std::string& credentials, std::string* description,
      std::string* error, std::string* warning)>
      connect_remote;
};

// The Meshdeck main window: the service graph in the centre, a side panel (Services, Policies,
// Fleet, Scenarios, Certificates), an inspector dock for the selection and a status bar with the
// control plane's state. Every control-plane call goes through ControlPlaneClient, off the GUI
// thread.
class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  MainWindow(std::shared_ptr<cp::ControlPlane> control_plane, MainWindowOptions options,
             QWidget* parent = nullptr);
  ~MainWindow() override;

  GraphView* graphView() const { return graph_; }
  Inspector* inspector() const { return inspector_; }
  PolicyPanel* policyPanel() const { return policies_; }
  FleetPanel* fleetPanel() const { return fleet_; }
  ScenarioPanel* scenarioPanel() const { return scenarios_; }
  CertificatesPanel* certificatesPanel() const { return certificates_; }
  TapPanel* tapPanel() const { return tap_; }
  QDockWidget* tapDock() const { return tap_dock_; }
  // The timeline under the graph (time travel). Its selectedRange() / selectedRangeChanged()
  // say which part of the history is on screen (for reports).
  TimelinePanel* timeline() const { return timeline_; }
  QTabWidget* sidePanel() const { return side_panel_; }
  ControlPlaneClient* client() const { return client_; }
  QString statusText() const;
  // Below this width the inspector shares the side dock's place as a tab (the graph keeps the
  // rest); from it up the inspector has its own dock on the right.
  static constexpr int kSideBySideWidth = 1600;
  bool docksSideBySide() const { return docks_side_by_side_; }

 public slots:
  // Exports the snapshot JSON, PNG and SVG (`<base>.json/.png/.svg`); emits exportFinished.
  void exportSnapshotTo(const QString& json_path);
  void exportSnapshot();
  void openSnapshot();
  // File > Export Report…: asks for a range (the last hour by default) and a file (.pdf or
  // .html), then exportReportTo().
  void exportReport();
  // Writes the report of [from, to) at `path` (PDF or HTML by its extension), made off the GUI
  // thread; emits exportFinished.
  void exportReportTo(cp::SystemTime from, cp::SystemTime to, const QString& path);
  void focusFind();
  // What a demo mesh started beside the window is doing ("storefront: 12 services ready").
  void setDemoStatus(const QString& text);
  // File → Reset demo state (a demo on a control plane that can change): after a confirmation,
  // every policy in force is removed as a new revision (revertToRevision(0)); the history stays.
  void resetDemoState();
  // The scenarios of that demo mesh, for the Scenarios panel (not owned; nullptr: none).
  void setScenarioRunner(ScenarioRunner* runner);
  // Selects service `name` in the graph (and so in the inspector) as soon as it is shown: now,
  // or when a later snapshot or layout brings it (a demo still starting). Once: a later click
  // elsewhere is not undone.
  void selectServiceWhenShown(const QString& name);
  // Shows the Tap panel with `filter` in its filter row and (re)starts the tap.
  void openTap(const cp::TapFilter& filter);
  // View → Tap (Ctrl+T): a tap of the selected service or edge (none: the whole mesh).
  void tapSelection();
  // File → Connect… (Ctrl+K): the ConnectDialog on the contexts file (pki::contextsPath()),
  // then connectTo() what was chosen.
  void showConnectDialog();
  // Connects (off the GUI thread) to `target` (a context name or HOST:PORT) with `credentials`
  // ("" : the context's, or plaintext). On success the window shows that control plane instead of
  // its own — title, status bar, graph, panels — as if started with --connect; a demo started
  // with the window keeps running unseen. Emits connectFinished either way; a failure changes
  // nothing and is shown in a message box.
  void connectTo(const QString& target, const QString& credentials);

 signals:
  void exportFinished(bool ok, const QString& message);
  // The graph, the inspector and the services table were given a snapshot (live or past); the
  // window paints it on the next turn of the event loop.
  void graphShown();
  // connectTo() ended: `message` is the new source, or why not.
  void connectFinished(bool ok, const QString& message);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void changeEvent(QEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  void createGraphToolbar();
  void createMenus();
  void createStatusBar();
  void onSnapshot(std::shared_ptr<const cp::GraphSnapshot> snapshot);
  // The graph, the inspector and the services table show `snapshot` (live or past).
  void showGraph(std::shared_ptr<const cp::GraphSnapshot> snapshot);
  // The timeline loaded a past moment: graph, policies (read-only) and status bar show it.
  void showMoment(const TimelineMoment& moment);
  void trySelectPending();
  // Places the docks for the window's width (see kSideBySideWidth) when it crosses the
  // threshold, or always with `force`.
  void arrangeDocks(bool force);
  // Shows the inspector: its tab raised when it shares the side dock, else its dock at the width
  // its content asks for, within 30 % of the window.
  void revealInspector();
  // The inspector's dock (on the right) at the width its content asks for, within 30 %.
  void sizeInspector();
  // The status bar of a snapshot opened offline: when it was taken and what it holds.
  void showOfflineStatus(const cp::GraphSnapshot& snapshot);
  void editThresholds();
  // The window's data source becomes `control_plane` (a successful connectTo()).
  void replaceControlPlane(std::shared_ptr<cp::ControlPlane> control_plane, const QString& source);
  void restoreSettings();
  void saveSettings();

  MainWindowOptions options_;
  QString pending_select_;  // selectServiceWhenShown() not done yet
  ControlPlaneClient* client_;
  GraphView* graph_;
  Inspector* inspector_;
  PolicyPanel* policies_;
  FleetPanel* fleet_;
  ScenarioPanel* scenarios_;
  CertificatesPanel* certificates_;
  QTabWidget* side_panel_;
  QDockWidget* side_dock_;
  QDockWidget* inspector_dock_;
  TapPanel* tap_;
  QDockWidget* tap_dock_;
  TimelinePanel* timeline_;
  bool docks_side_by_side_ = true;
  bool docks_arranged_ = false;
  ServicesModel* services_model_;
  QSortFilterProxyModel* services_proxy_;
  QTableView* services_table_;
  QLineEdit* find_edit_ = nullptr;
  QComboBox* metric_box_ = nullptr;
  QComboBox* tier_box_ = nullptr;
  QComboBox* group_box_ = nullptr;
  bool group_chosen_ = false;  // the user picked a grouping (saved in QSettings)
  QLabel* focus_label_ = nullptr;
  QSpinBox* focus_hops_ = nullptr;
  QList<QAction*> focus_actions_;  // toolbar items shown while the graph is focused
  QAction* hide_idle_ = nullptr;
  QAction* only_unhealthy_ = nullptr;
  QAction* animate_ = nullptr;
  QLabel* source_label_;
  QLabel* listen_label_;
  QLabel* proxies_label_;
  QLabel* revision_label_;
  ElidedLabel* demo_label_;
  ElidedLabel* state_label_ = nullptr;  // options_.state_status, then the outcome of a reset
  QTimer demo_status_expiry_;
  ScenarioRunner* scenario_runner_ = nullptr;
  uint64_t last_policy_revision_ = UINT64_MAX;
  bool exporting_ = false;
  bool connecting_ = false;
  QAction* connect_action_ = nullptr;
};

}  // namespace meshdeck::ui
