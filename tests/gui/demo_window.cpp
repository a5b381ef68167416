#include "gui/demo_window.h"

#include <QObject>
#include <QtTest>

#include "ui/control_plane_client.h"

namespace meshdeck::testing {

bool DemoWindow::start(const QString& demo, QSize size, QString* error) {
  if (!state_.isValid()) {
    *error = QStringLiteral("no temporary state directory");
    return false;
  }
  cp::ControlPlaneOptions options;
  options.listen = "127.0.0.1:0";
  options.state_dir = state_.path().toStdString();
  control_plane_ = std::make_shared<cp::InProcessControlPlane>(options);
  std::string why;
  if (!control_plane_->start(&why)) {
    *error = QString::fromStdString(why);
    return false;
  }
  ui::MainWindowOptions window_options;
  window_options.source = QStringLiteral("Embedded control plane");
  window_options.demo = demo;
  window_options.use_settings = false;
  window_ = std::make_unique<ui::MainWindow>(control_plane_, window_options);
  demo_ = std::make_unique<app::DemoController>(*control_plane_, demo,
                                                qEnvironmentVariable("MESHDECK_BIN_DIR"));
  QObject::connect(demo_.get(), &app::DemoController::statusChanged, window_.get(),
                   &ui::MainWindow::setDemoStatus);
  window_->setScenarioRunner(demo_.get());
  if (size.isValid()) window_->resize(size);
  window_->show();
  if (!QTest::qWaitForWindowExposed(window_.get())) {
    *error = QStringLiteral("the window was not exposed");
    return false;
  }
  demo_->startDemo();
  return true;
}

void DemoWindow::stop() {
  if (demo_) demo_->stopDemo();
  if (window_) window_->client()->waitForIdle();
  window_.reset();
  demo_.reset();
  if (control_plane_) control_plane_->stop();
  control_plane_.reset();
}

}  // namespace meshdeck::testing
