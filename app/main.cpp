#include <QApplication>
#include <QCommandLineParser>

#include "meshdeck/version.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("meshdeck");
  QApplication::setApplicationVersion(meshdeck::kVersion);
  QApplication::setOrganizationName("Meshdeck");

  QCommandLineParser parser;
  parser.setApplicationDescription("Meshdeck: a desktop service mesh");
  parser.addHelpOption();
  parser.addVersionOption();
  QCommandLineOption demo("demo", "Start the bundled demo mesh NAME (storefront, large).", "NAME");
  QCommandLineOption connect("connect", "Attach to a remote control plane at HOST:PORT.",
                             "HOST:PORT");
  parser.addOption(demo);
  parser.addOption(connect);
  parser.addPositionalArgument("snapshot", "A snapshot file to open read-only.", "[FILE]");
  parser.process(app);

  meshdeck::ui::MainWindow window;
  window.show();
  return app.exec();
}
