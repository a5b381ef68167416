// meshdeck: the desktop app. Parses flags (app/command_line.h), opens a ControlPlane
// (embedded, remote, or a snapshot file offline), an optional demo mesh (DemoController) and the
// main window, and runs.
#include <QApplication>
#include <QByteArray>
#include <QElapsedTimer>
#include <QTabWidget>
#include <cstdio>
#include <memory>

#include "app/command_line.h"
#include "app/demo_controller.h"
#include "controlplane/in_process_control_plane.h"
#include "meshdeck/version.h"
#include "ui/main_window.h"
#include "ui/scenario_panel.h"
#include "ui/scheduled_screenshots.h"

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
    // A report is written without a window, with or without a display.
    if (a == "--report" && !qEnvironmentVariableIsSet("QT_QPA_PLATFORM"))
      qputenv("QT_QPA_PLATFORM", "offscreen");
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace meshdeck::app;
  using meshdeck::ui::ScheduledScreenshots;
  QElapsedTimer started;
  started.start();
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
  declareOptions(parser);
  parser.process(app);
  AppCommandLine cl;
  OpenedControlPlane opened;
  QString error;
  if (!readCommandLine(parser, &cl, &error) || !openControlPlane(cl, &opened, &error))
    return fail(error);
  if (!cl.report.isEmpty()) {
    const int status = writeReportAndExit(cl, opened);
    if (opened.embedded != nullptr) opened.embedded->stop();
    return status;
  }

  meshdeck::ui::MainWindow window(opened.control_plane, mainWindowOptions(cl, opened));
  // The demo fleet runs on its own thread; it must stop before the control plane it talks to.
  std::unique_ptr<DemoController> demo_controller;
  if (opened.embedded != nullptr && !cl.demo.isEmpty()) {
    demo_controller = std::make_unique<DemoController>(*opened.embedded, cl.demo,
                                                       QCoreApplication::applicationDirPath());
    QObject::connect(demo_controller.get(), &DemoController::statusChanged, &window,
                     &meshdeck::ui::MainWindow::setDemoStatus);
    window.setScenarioRunner(demo_controller.get());
    demo_controller->reportFirstGraphIn(&window, started);
    if (!cl.scenario.isEmpty() && !window.scenarioPanel()->selectScenario(cl.scenario))
      return fail(QStringLiteral("the demo has no scenario '%1'").arg(cl.scenario));
    demo_controller->startDemo();
    if (!cl.scenario.isEmpty()) {
      window.sidePanel()->setCurrentWidget(window.scenarioPanel());
      window.scenarioPanel()->startOrStop();
    }
  }
  window.show();
  int shot_status = 0;
  std::unique_ptr<ScheduledScreenshots> shots;
  if (!cl.screenshot.isEmpty()) {
    shots = std::make_unique<ScheduledScreenshots>(&window, cl.screenshot, cl.screenshot_times);
    QObject::connect(shots.get(), &ScheduledScreenshots::saved, [](const QString& path, bool ok) {
      std::fprintf(stderr, "meshdeck: %s %s\n", ok ? "saved" : "could not save", qPrintable(path));
    });
    QObject::connect(shots.get(), &ScheduledScreenshots::finished, [&shot_status](bool ok) {
      shot_status = ok ? 0 : 1;
      QCoreApplication::quit();
    });
    shots->start();
  }
  int status = app.exec();
  if (status == 0) status = shot_status;
  if (demo_controller) demo_controller->stopDemo();
  if (opened.embedded != nullptr) opened.embedded->stop();
  return status;
}
