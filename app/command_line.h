#pragma once

#include <QCommandLineParser>
#include <QList>
#include <QSize>
#include <QString>
#include <QStringList>
#include <memory>

#include "ui/main_window.h"
#include "ui/report_export.h"

namespace meshdeck::cp {
class ControlPlane;
class InProcessControlPlane;
}  // namespace meshdeck::cp

namespace meshdeck::app {

// What the desktop app's command line asks for, checked (see parseCommandLine).
struct AppCommandLine {
  QString demo;         // --demo NAME or file; empty: none
  QString scenario;     // --scenario NAME (needs --demo)
  QString connect;      // --connect NAME (a context) or HOST:PORT; empty: embedded control plane
  QString credentials;  // --credentials FILE: an operator's way in to the TLS port
  QString listen = QStringLiteral("127.0.0.1:15010");
  QString state_dir;        // empty: the platform's app data location + /state (a demo: below)
  bool keep_state = false;  // --keep-state: a demo keeps the policies of its last run
  QString snapshot;         // a snapshot file opened offline; empty: none
  QString screenshot;
  QList<double> screenshot_times;  // seconds after start, when --screenshot is given
  QString select;
  QString focus;      // --focus NAME: select it, then focus the graph on it
  QString tap;        // --tap NAME: open the Tap panel on it at start
  QSize window_size;  // --window-size WxH; invalid: the remembered or default size
  QString report;     // --report FILE (.pdf or .html): write the report of the range, no window
  cp::SystemTime report_from{}, report_to{};  // --since (default 1h ago), --until (now)
  double timeline_at = -1;  // --timeline-at S: the timeline shows that moment; -1: live
};

// Declares the options on `parser` (with --help and --version).
void declareOptions(QCommandLineParser& parser);

// Reads the options `parser` has parsed and checks the combinations: at most one snapshot, a
// snapshot not with --connect or --demo, --demo not with --connect, --scenario and --keep-state
// only with --demo, valid --screenshot-after times. False with a message for the user.
bool readCommandLine(const QCommandLineParser& parser, AppCommandLine* out, QString* error);

// The control plane the command line names: remote (--connect, pinged once, and asked who we
// are: `source` names the operator and role; cp::connectRemote), a snapshot
// (read-only), or embedded (started, state directory created).
// State (docs/ui.md): a demo's is moved aside unless --keep-state; the others' is kept.
struct OpenedControlPlane {
  std::shared_ptr<cp::ControlPlane> control_plane;
  cp::InProcessControlPlane* embedded = nullptr;  // set when it runs in this process
  QString source;                                 // "Embedded control plane", "Snapshot F", ...
  bool read_only = false;
  QString state_dir, moved_aside;  // the embedded one's state; a demo's last run moved there
  uint64_t restored_revision = 0;  // a demo that kept its state: the policy revision in force
};
bool openControlPlane(const AppCommandLine& cl, OpenedControlPlane* out, QString* error);

// What File > Export Report… and --report use: controlplane/report's report, titled `source`,
// rendered for `format`.
ui::ReportMaker reportMaker(const QString& source);

// --report: writes the report of the command line's range from `opened`. The exit status: 0
// written, 1 with the reason on stderr.
int writeReportAndExit(const AppCommandLine& cl, const OpenedControlPlane& opened);

// The main window's options for this command line and control plane.
ui::MainWindowOptions mainWindowOptions(const AppCommandLine& cl, const OpenedControlPlane& cp);

}  // namespace meshdeck::app
