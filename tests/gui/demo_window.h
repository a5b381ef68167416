#pragma once

#include <QSize>
#include <QString>
#include <QTemporaryDir>
#include <memory>

#include "app/demo_controller.h"
#include "controlplane/in_process_control_plane.h"
#include "ui/main_window.h"

namespace meshdeck::testing {

// What a user gets from `meshdeck --demo storefront`, for GUI tests that click through the real
// demo: an embedded control plane on a temporary state directory (loopback, port 0), the demo's
// processes started by a DemoController (binaries from MESHDECK_BIN_DIR; tag them with
// MESHDECK_TEST_TAG to find survivors) and the main window on both, its status bar following the
// demo, shown. GUI thread only.
class DemoWindow {
 public:
  DemoWindow() = default;
  ~DemoWindow() { stop(); }
  DemoWindow(const DemoWindow&) = delete;
  DemoWindow& operator=(const DemoWindow&) = delete;

  // Starts the control plane, opens the window (at `size`; invalid: the window's default) and
  // starts `demo`. False with `error` set when something could not start.
  bool start(const QString& demo, QSize size, QString* error);
  // Stops the demo (its processes exit), closes the window after its calls finish and stops the
  // control plane. Idempotent; the destructor calls it.
  void stop();

  cp::InProcessControlPlane& controlPlane() { return *control_plane_; }
  ui::MainWindow& window() { return *window_; }
  app::DemoController& demo() { return *demo_; }

 private:
  QTemporaryDir state_;
  std::shared_ptr<cp::InProcessControlPlane> control_plane_;
  std::unique_ptr<ui::MainWindow> window_;
  std::unique_ptr<app::DemoController> demo_;
};

}  // namespace meshdeck::testing
