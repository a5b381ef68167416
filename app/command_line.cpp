#include "app/command_line.h"

#include <QDir>
#include <QStandardPaths>
#include <cstdio>

#include "controlplane/fleet/demo_state.h"
#include "controlplane/in_process_control_plane.h"
#include "controlplane/remote_connection.h"
#include "controlplane/report/report.h"
#include "controlplane/report/report_html.h"
#include "tools/meshdeckctl/time_arg.h"
#include "ui/scheduled_screenshots.h"
#include "ui/snapshot_control_plane.h"

namespace meshdeck::app {

void declareOptions(QCommandLineParser& parser) {
  parser.setApplicationDescription("Meshdeck: a desktop service mesh");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addOptions({
      {"demo", "Start the bundled demo mesh NAME (storefront, large) or a demo file.", "NAME"},
      {"connect", "Show a remote control plane: a meshdeckctl context NAME, or HOST:PORT.",
       "NAME|HOST:PORT"},
      {"credentials", "Reach its TLS port as the operator of this credentials FILE.", "FILE"},
      {"listen", "Address the embedded control plane listens on.", "HOST:PORT", "127.0.0.1:15010"},
      {"state-dir", "Directory of the control plane's durable state (policy revisions).", "DIR"},
      {"keep-state", "With --demo: keep the policies of its last run (default: start clean)."},
      {"scenario", "With --demo: play scenario NAME as soon as the demo is up.", "NAME"},
      {"screenshot", "Save a PNG of the window to FILE (see --screenshot-after), then quit.",
       "FILE"},
      {"screenshot-after",
       "When to take --screenshot, in seconds after start (default 10); several times, e.g. "
       "3,8,20, save FILE-3s.png, FILE-8s.png, ...",
       "SECONDS", "10"},
      {"select", "Select service NAME in the graph and the inspector once it is shown.", "NAME"},
      {"focus", "Select service NAME and focus the graph on it (1-hop neighbourhood).", "NAME"},
      {"tap", "Open the Tap panel on the live requests of service NAME at start.", "NAME"},
      {"window-size", "Open the window at WxH pixels (e.g. 1280x720), not the last size.", "WxH"},
      {"report", "Write the mesh-health report to FILE (.pdf or .html) and quit; no window.",
       "FILE"},
      {"since", "With --report: from this time (1h, 30m ago, or RFC 3339).", "TIME", "1h"},
      {"until", "With --report: up to this time (default: now).", "TIME"},
      {"timeline-at", "Show on the timeline the moment S seconds after start (15 s later).", "S"},
  });
  parser.addPositionalArgument("snapshot", "A snapshot file to open read-only, offline.", "[FILE]");
}

bool readCommandLine(const QCommandLineParser& parser, AppCommandLine* out, QString* error) {
  AppCommandLine cl;
  cl.demo = parser.value("demo");
  cl.scenario = parser.value("scenario");
  cl.connect = parser.value("connect");
  cl.credentials = parser.value("credentials");
  cl.listen = parser.value("listen");
  cl.state_dir = parser.value("state-dir");
  cl.keep_state = parser.isSet("keep-state");
  cl.screenshot = parser.value("screenshot");
  cl.select = parser.value("select");
  cl.focus = parser.value("focus");
  cl.tap = parser.value("tap");
  if (!cl.focus.isEmpty()) cl.select = cl.focus;
  if (parser.isSet("timeline-at") && (cl.timeline_at = parser.value("timeline-at").toDouble()) <= 0)
    return *error = QStringLiteral("--timeline-at takes a time in seconds (> 0)"), false;
  const QStringList files = parser.positionalArguments();
  const bool demo = parser.isSet("demo"),
             connect = parser.isSet("connect") || parser.isSet("credentials");
  if (files.size() > 1) {
    *error = QStringLiteral("give at most one snapshot file");
    return false;
  }
  if (!files.isEmpty() && (connect || demo)) {
    *error = QStringLiteral(
        "a snapshot file opens offline: it cannot be combined with --connect or --demo");
    return false;
  }
  if (connect && demo) {
    *error = QStringLiteral(
        "--demo starts a mesh on the embedded control plane: it cannot be combined with "
        "--connect");
    return false;
  }
  if (parser.isSet("scenario") && !demo) {
    *error = QStringLiteral("--scenario plays on a demo mesh: give --demo too");
    return false;
  }
  if (cl.keep_state && !demo) {
    *error = QStringLiteral("--keep-state keeps a demo's policies: give --demo too");
    return false;
  }
  if (parser.isSet("screenshot")) {
    cl.screenshot_times =
        ui::ScheduledScreenshots::parseTimes(parser.value("screenshot-after"), error);
    if (cl.screenshot_times.isEmpty()) return false;
  }
  if (parser.isSet("window-size")) {
    const QStringList wh = parser.value("window-size").split(QLatin1Char('x'));
    bool w_ok = false, h_ok = false;
    if (wh.size() == 2) cl.window_size = QSize(wh[0].toInt(&w_ok), wh[1].toInt(&h_ok));
    if (!w_ok || !h_ok || cl.window_size.width() < 320 || cl.window_size.height() < 240 ||
        cl.window_size.width() > 16384 || cl.window_size.height() > 16384) {
      *error = QStringLiteral("--window-size wants WIDTHxHEIGHT, from 320x240 to 16384x16384: %1")
                   .arg(parser.value("window-size"));
      return false;
    }
  }
  if (!files.isEmpty()) cl.snapshot = files.first();
  cl.report = parser.value("report");
  if (!cl.report.isEmpty()) {
    if (demo)
      return (*error = QStringLiteral("--report reads the history: not with --demo"), false);
    std::string why;
    const auto range = tools::parseTimeRange(parser.value("since").toStdString(),
                                             parser.value("until").toStdString(), true,
                                             std::chrono::system_clock::now(), &why);
    if (!range) return (*error = QString::fromStdString(why), false);
    cl.report_from = range->since, cl.report_to = *range->until;
  }
  *out = std::move(cl);
  return true;
}

bool openControlPlane(const AppCommandLine& cl, OpenedControlPlane* out, QString* error) {
  OpenedControlPlane opened;
  if (!cl.connect.isEmpty() || !cl.credentials.isEmpty()) {
    std::string source, why, warning;
    opened.control_plane = cp::openRemote(cl.connect.toStdString(), cl.credentials.toStdString(),
                                          &source, &why, &warning);
    if (!warning.empty()) qWarning("meshdeck: warning: %s", warning.c_str());
    if (!opened.control_plane) return (*error = QString::fromStdString(why), false);
    opened.source = QString::fromStdString(source);
  } else if (!cl.snapshot.isEmpty()) {
    opened.control_plane = ui::SnapshotControlPlane::open(cl.snapshot, error);
    if (!opened.control_plane) return false;
    opened.source = QStringLiteral("Snapshot %1").arg(cl.snapshot);
    opened.read_only = true;
  } else {
    cp::ControlPlaneOptions options;
    options.listen = cl.listen.toStdString();
    QString dir = cl.state_dir;
    const QString data = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation);
    const bool demo = !cl.demo.isEmpty(), clean = demo && dir.isEmpty() && !cl.keep_state;
    const auto demo_dir = cp::fleet::demoStateDir(data.toStdString(), cl.demo.toStdString());
    if (dir.isEmpty()) dir = demo ? QString::fromStdString(demo_dir) : data + "/state";
    std::string aside, aside_error;
    if (clean && !cp::fleet::moveStateAside(dir.toStdString(), &aside, &aside_error)) {
      *error = QString::fromStdString(aside_error);
      return false;
    }
    opened.moved_aside = QString::fromStdString(aside);
    if (!QDir().mkpath(dir)) {
      *error = QStringLiteral("cannot create the state directory %1").arg(dir);
      return false;
    }
    options.state_dir = dir.toStdString();
    auto in_process = std::make_shared<cp::InProcessControlPlane>(options);
    std::string why;
    if (!in_process->start(&why)) {
      *error = QString::fromStdString(why);
      return false;
    }
    opened.state_dir = dir;
    if (const auto revisions = in_process->revisions(); demo && !clean && !revisions.empty())
      opened.restored_revision = revisions.front().number;  // newest first
    opened.embedded = in_process.get();
    opened.control_plane = std::move(in_process);
    opened.source = QStringLiteral("Embedded control plane");
  }
  *out = std::move(opened);
  return true;
}

ui::ReportMaker reportMaker(const QString& source) {
  return [source = source.toStdString()](cp::ControlPlane& cp, cp::SystemTime from,
                                         cp::SystemTime to, ui::ReportFormat format) {
    cp::report::ReportOptions o;
    o.source = source;
    const auto r = cp::report::buildReport(cp, from, to, std::chrono::system_clock::now(), o);
    cp::report::HtmlOptions h;
    if (format == ui::ReportFormat::kPdf) {
      h.charts = cp::report::HtmlOptions::Charts::kImages;
      h.page_breaks = true;
      h.chart_width = 600;  // an A4 page less its margins and the body's, at 96 dpi
    }
    auto out = cp::report::renderHtml(r, h);
    return ui::ReportDocument{r.available, r.message, std::move(out.html), std::move(out.images),
                              cp::report::kPageBreak};
  };
}

int writeReportAndExit(const AppCommandLine& cl, const OpenedControlPlane& opened) {
  const auto format = ui::reportFormatFor(cl.report);
  const auto doc =
      reportMaker(opened.source)(*opened.control_plane, cl.report_from, cl.report_to, format);
  QString error;
  const int pages = ui::writeReport(doc, format, cl.report, &error);
  if (!pages)
    std::fprintf(stderr, "meshdeck: --report: %s\n", qPrintable(error));
  else
    std::fprintf(stderr, "meshdeck: wrote %s (%d pages)\n", qPrintable(cl.report), pages);
  return pages ? 0 : 1;
}

ui::MainWindowOptions mainWindowOptions(const AppCommandLine& cl, const OpenedControlPlane& cp) {
  ui::MainWindowOptions options;
  options.report_maker = reportMaker(cp.source);
  options.source = cp.source;
  options.read_only = cp.read_only;
  options.select_service = cl.select;
  options.focus_selected = !cl.focus.isEmpty();
  options.tap_service = cl.tap;
  options.size = cl.window_size;
  options.connect_remote = cp::openRemote;  // File → Connect…
  options.timeline_at_seconds = cl.timeline_at;
  if (!cl.demo.isEmpty()) {
    options.demo = cl.demo;
    options.demo_status = QStringLiteral("Demo %1: starting…").arg(cl.demo);
    if (const uint64_t n = cp.restored_revision; n > 0)
      options.state_status = QStringLiteral("Restored policy revision %1 from the last run").arg(n);
  }
  return options;
}

}  // namespace meshdeck::app
