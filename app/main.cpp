// meshdeck: the desktop app. Parses flags, composes a ControlPlane (embedded, or a snapshot
// file opened offline), an optional demo mesh (DemoController) and the main window, and runs.
#include <QApplication>
#include <QByteArray>
#include <QCommandLineParser>
#include <QDir>
#include <QStandardPaths>
#include <QTabWidget>
#include <cstdio>
#include <memory>

#include "app/demo_controller.h"
#include "app/screenshots.h"
#include "controlplane/grpc_control_plane.h"
#include "controlplane/in_process_control_plane.h"
#include "meshdeck/version.h"
#include "ui/main_window.h"
#include "ui/scenario_panel.h"
#include "ui/snapshot_control_plane.h"

namespace {

int fail(const QString& message) {
  std::fprintf(stderr, "meshdeck: %s\n", qPrintable(message));
  return 2;
}

// --help and --version print text only: they must work without a display (packaging turns
// --help into the man page on a build machine).
bool textOnly(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const QByteArray a(argv[i]);
    if (a == "-h" || a == "--help" || a == "--help-all" || a == "-v" || a == "--version")
      return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<QCoreApplication> holder;
  if (textOnly(argc, argv)) {
    holder = std::make_unique<QCoreApplication>(argc, argv);
  } else {
    holder = std::make_unique<QApplication>(argc, argv);
  }
  QCoreApplication& app = *holder;
  QCoreApplication::setApplicationName("meshdeck");
  QCoreApplication::setApplicationVersion(meshdeck::kVersion);
  QCoreApplication::setOrganizationName("Meshdeck");
  QCoreApplication::setOrganizationDomain("meshdeck.io");
  QGuiApplication::setDesktopFileName("io.meshdeck.Meshdeck");

  QCommandLineParser parser;
  parser.setApplicationDescription("Meshdeck: a desktop service mesh");
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption demo(
      "demo", "Start the bundled demo mesh NAME (storefront, large) or a demo file.", "NAME");
  const QCommandLineOption connect("connect", "Show the remote control plane at HOST:PORT.",
                                   "HOST:PORT");
  const QCommandLineOption listen("listen", "Address the embedded control plane listens on.",
                                  "HOST:PORT", "127.0.0.1:15010");
  const QCommandLineOption state_dir(
      "state-dir", "Directory of the control plane's durable state (policy revisions).", "DIR");
  const QCommandLineOption scenario(
      "scenario", "With --demo: play scenario NAME as soon as the demo is up.", "NAME");
  const QCommandLineOption screenshot(
      "screenshot", "Save a PNG of the window to FILE (see --screenshot-after), then quit.",
      "FILE");
  const QCommandLineOption screenshot_after(
      "screenshot-after",
      "When to take --screenshot, in seconds after start (default 10); several times, e.g. "
      "3,8,20, save FILE-3s.png, FILE-8s.png, ...",
      "SECONDS", "10");
  const QCommandLineOption select(
      "select", "Select service NAME in the graph and the inspector once it is shown.", "NAME");
  parser.addOptions(
      {demo, connect, listen, state_dir, scenario, screenshot, screenshot_after, select});
  parser.addPositionalArgument("snapshot", "A snapshot file to open read-only, offline.", "[FILE]");
  parser.process(app);

  const QStringList files = parser.positionalArguments();
  if (files.size() > 1) return fail("give at most one snapshot file");
  if (!files.isEmpty() && (parser.isSet(connect) || parser.isSet(demo))) {
    return fail("a snapshot file opens offline: it cannot be combined with --connect or --demo");
  }
  if (parser.isSet(connect) && parser.isSet(demo)) {
    return fail(
        "--demo starts a mesh on the embedded control plane: it cannot be combined with "
        "--connect");
  }

  if (parser.isSet(scenario) && !parser.isSet(demo))
    return fail("--scenario plays on a demo mesh: give --demo too");
  QList<double> shot_times;
  if (parser.isSet(screenshot)) {
    QString error;
    shot_times =
        meshdeck::app::ScheduledScreenshots::parseTimes(parser.value(screenshot_after), &error);
    if (shot_times.isEmpty()) return fail(error);
  }

  std::shared_ptr<meshdeck::cp::ControlPlane> control_plane;
  meshdeck::cp::InProcessControlPlane* embedded = nullptr;
  meshdeck::ui::MainWindowOptions options;
  if (parser.isSet(connect)) {
    auto remote =
        std::make_shared<meshdeck::cp::GrpcControlPlane>(parser.value(connect).toStdString());
    std::string error;
    if (!remote->ping(&error)) {
      return fail(QStringLiteral("cannot reach the control plane at %1: %2")
                      .arg(parser.value(connect), QString::fromStdString(error)));
    }
    control_plane = std::move(remote);
    options.source = QStringLiteral("Remote control plane %1").arg(parser.value(connect));
  } else if (!files.isEmpty()) {
    QString error;
    control_plane = meshdeck::ui::SnapshotControlPlane::open(files.first(), &error);
    if (!control_plane) return fail(error);
    options.source = QStringLiteral("Snapshot %1").arg(files.first());
    options.read_only = true;
  } else {
    meshdeck::cp::ControlPlaneOptions cp_options;
    cp_options.listen = parser.value(listen).toStdString();
    QString dir = parser.value(state_dir);
    if (dir.isEmpty()) {
      dir = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + "/state";
    }
    if (!QDir().mkpath(dir))
      return fail(QStringLiteral("cannot create the state directory %1").arg(dir));
    cp_options.state_dir = dir.toStdString();
    auto in_process = std::make_shared<meshdeck::cp::InProcessControlPlane>(cp_options);
    std::string error;
    if (!in_process->start(&error)) return fail(QString::fromStdString(error));
    embedded = in_process.get();
    control_plane = std::move(in_process);
    options.source = QStringLiteral("Embedded control plane");
  }
  options.select_service = parser.value(select);
  if (parser.isSet(demo)) {
    options.demo = parser.value(demo);
    options.demo_status = QStringLiteral("Demo %1: starting…").arg(options.demo);
  }

  meshdeck::ui::MainWindow window(control_plane, options);
  // The demo fleet runs on its own thread; it must stop before the control plane it talks to.
  std::unique_ptr<meshdeck::app::DemoController> demo_controller;
  if (embedded != nullptr && parser.isSet(demo)) {
    demo_controller = std::make_unique<meshdeck::app::DemoController>(
        *embedded, options.demo, QCoreApplication::applicationDirPath());
    QObject::connect(demo_controller.get(), &meshdeck::app::DemoController::statusChanged, &window,
                     &meshdeck::ui::MainWindow::setDemoStatus);
    window.setScenarioRunner(demo_controller.get());
    if (parser.isSet(scenario) && !window.scenarioPanel()->selectScenario(parser.value(scenario)))
      return fail(QStringLiteral("the demo has no scenario '%1'").arg(parser.value(scenario)));
    demo_controller->startDemo();
    if (parser.isSet(scenario)) {
      window.sidePanel()->setCurrentWidget(window.scenarioPanel());
      window.scenarioPanel()->startOrStop();
    }
  }
  window.show();
  int shot_status = 0;
  std::unique_ptr<meshdeck::app::ScheduledScreenshots> shots;
  if (parser.isSet(screenshot)) {
    shots = std::make_unique<meshdeck::app::ScheduledScreenshots>(&window, parser.value(screenshot),
                                                                  shot_times);
    QObject::connect(shots.get(), &meshdeck::app::ScheduledScreenshots::saved,
                     [](const QString& path, bool ok) {
                       std::fprintf(stderr, "meshdeck: %s %s\n", ok ? "saved" : "could not save",
                                    qPrintable(path));
                     });
    QObject::connect(shots.get(), &meshdeck::app::ScheduledScreenshots::finished,
                     [&shot_status](bool ok) {
                       shot_status = ok ? 0 : 1;
                       QCoreApplication::quit();
                     });
    shots->start();
  }
  int status = app.exec();
  if (status == 0) status = shot_status;
  if (demo_controller) demo_controller->stopDemo();
  if (embedded != nullptr) embedded->stop();
  return status;
}
