#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/fleet/demo_runner.h"

namespace meshdeck::cp::fleet {

// Runs a DemoRunner on a background thread, for the desktop app: start() returns at once,
// progress lines arrive through `on_line` (on the runner's thread), and stop() cancels the run
// and waits until the fleet is stopped. The destructor stops.
class DemoSession {
 public:
  using LineCallback = std::function<void(const std::string&)>;
  using DoneCallback = std::function<void(int exit_code)>;

  DemoSession(ControlPlane& control_plane, DemoRunOptions options, LineCallback on_line,
              DoneCallback on_done);
  ~DemoSession();
  void start();
  void stop();
  bool running() const { return running_; }

 private:
  ControlPlane& cp_;
  DemoRunOptions options_;
  LineCallback on_line_;
  DoneCallback on_done_;
  std::atomic<bool> cancelled_{false}, running_{false};
  std::thread thread_;
};

}  // namespace meshdeck::cp::fleet
