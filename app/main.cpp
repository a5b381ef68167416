// meshdeck: the desktop app. Parses flags, composes a ControlPlane and the main window, runs.
#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>
#include <cstdio>
#include <memory>

#include "meshdeck/version.h"
#include "ui/main_window.h"
#include "ui/snapshot_control_plane.h"

namespace {

int fail(const QString& message) {
  std::fprintf(stderr, "meshdeck: %s\n", qPrintable(message));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("meshdeck");
  QApplication::setApplicationVersion(meshdeck::kVersion);
  QApplication::setOrganizationName("Meshdeck");
  QApplication::setOrganizationDomain("meshdeck.io");
  QApplication::setDesktopFileName("io.meshdeck.Meshdeck");

  QCommandLineParser parser;
  parser.setApplicationDescription("Meshdeck: a desktop service mesh");
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption demo("demo", "Start the bundled demo mesh NAME (storefront, large).",
                                "NAME");
  const QCommandLineOption connect("connect", "Show the remote control plane at HOST:PORT.",
                                   "HOST:PORT");
  const QCommandLineOption listen("listen", "Address the embedded control plane listens on.",
                                  "HOST:PORT", "127.0.0.1:15010");
  const QCommandLineOption state_dir("state-dir", "Directory of the control plane's durable state.",
                                     "DIR");
  parser.addOptions({demo, connect, listen, state_dir});
  parser.addPositionalArgument("snapshot", "A snapshot file to open read-only, offline.", "[FILE]");
  parser.process(app);

  const QStringList files = parser.positionalArguments();
  if (files.size() > 1) return fail("give at most one snapshot file");
  if (!files.isEmpty() && (parser.isSet(connect) || parser.isSet(demo))) {
    return fail("a snapshot file opens offline: it cannot be combined with --connect or --demo");
  }

  std::shared_ptr<meshdeck::cp::ControlPlane> control_plane;
  meshdeck::ui::MainWindowOptions options;
  if (!files.isEmpty()) {
    QString error;
    control_plane = meshdeck::ui::SnapshotControlPlane::open(files.first(), &error);
    if (!control_plane) return fail(error);
    options.source = QStringLiteral("Snapshot %1").arg(files.first());
    options.read_only = true;
  } else if (parser.isSet(connect)) {
    return fail("--connect is not available in this build yet (no remote control plane client)");
  } else {
    return fail(
        "the embedded control plane is not available in this build yet; "
        "open a snapshot file instead: meshdeck FILE");
  }

  meshdeck::ui::MainWindow window(control_plane, options);
  window.show();
  return app.exec();
}
