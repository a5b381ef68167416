#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/fleet/demo_runner.h"

namespace meshdeck::cp::fleet {

// Runs a DemoRunner on a background thread, for the desktop app: start() returns at once,
// progress lines arrive through `on_line` (on the runner's thread), and stop() cancels the run
// and waits until the fleet is stopped. The destructor stops.
//
// Scenarios can be played on the running demo (runScenario/stopScenario); their structured
// progress arrives through the callbacks set with setScenarioCallbacks, on the runner's thread.
class DemoSession {
 public:
  using LineCallback = std::function<void(const std::string&)>;
  using DoneCallback = std::function<void(int exit_code)>;
  using ReadyCallback = std::function<void(const DemoMesh&)>;
  using ScenarioCallback = std::function<void(const ScenarioEvent&)>;

  DemoSession(ControlPlane& control_plane, DemoRunOptions options, LineCallback on_line,
              DoneCallback on_done);
  ~DemoSession();
  // Before start(): `on_ready` once the demo's first complete graph is in, `on_event` for
  // every scenario event (DemoRunOptions::on_ready, on_scenario_event).
  void setScenarioCallbacks(ReadyCallback on_ready, ScenarioCallback on_event);
  void start();
  void stop();
  bool running() const { return running_; }

  // Plays a scenario (bundled name or path) on the running demo, as soon as the demo is up.
  // Thread-safe. Returns false with the reason (file not found, parse errors with file, line,
  // column and field, a scenario already queued or playing, the session not running or started
  // with a scenario of its own); the rest (a scenario for another demo) is refused through a
  // kScenarioFinished event. The demo keeps running after the scenario.
  // `set_aside`: set the policies scenarioCollisions() names aside before step 1 and restore
  // them when the scenario ends (Scenario::set_aside_collisions).
  bool runScenario(const std::string& name_or_path, std::string* error, bool set_aside = false);
  // The policies in force that scenario `name_or_path` would collide with (scenarioCollisions
  // against the control plane's current policies); empty when it is unknown or unreadable
  // (runScenario says why). Thread-safe.
  std::vector<PolicyInfo> scenarioCollisions(const std::string& name_or_path);
  // Stops the scenario started with runScenario (it reports kScenarioFinished, cancelled); the
  // demo keeps running. Thread-safe; does nothing when none plays.
  void stopScenario();
  // A scenario from runScenario is queued or playing.
  bool scenarioActive() const { return scenario_active_; }

 private:
  // Reports kScenarioFinished (cancelled) for a queued scenario that never played.
  void finishUnplayed(const std::string& name, const std::string& why);

  ControlPlane& cp_;
  DemoRunOptions options_;
  LineCallback on_line_;
  DoneCallback on_done_;
  std::atomic<bool> cancelled_{false}, running_{false};
  std::thread thread_;
  ReadyCallback on_ready_;
  ScenarioCallback on_scenario_;
  std::mutex scenario_mu_;
  std::optional<Scenario> pending_;  // guarded by scenario_mu_
  std::atomic<bool> scenario_active_{false}, scenario_cancelled_{false};
};

}  // namespace meshdeck::cp::fleet
