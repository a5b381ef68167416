#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "controlplane/api/scenario_event.h"
#include "controlplane/api/tap.h"
#include "controlplane/api/types.h"
#include "controlplane/fleet/demo_mesh.h"

namespace meshdeck::cp::fleet {

// Metrics a checkpoint can test, on an edge's client-side window.
enum class EdgeMetric { kErrorRate, kSuccessRate, kP50Ms, kP90Ms, kP99Ms, kRequestsPerSecond };
const char* toString(EdgeMetric metric);

struct ApplyPolicyAction {
  std::string yaml;
};
struct DeletePolicyAction {
  std::string kind, name;
};
struct SetBehaviourAction {
  std::string service, version;
  Behaviour behaviour;
  std::optional<uint32_t> instance;  // unset: every instance
};
struct KillInstanceAction {
  std::string service, version;
  uint32_t index = 0;
};
struct SetLoadAction {
  std::string load;
  double rate = 0;
};
struct WaitAction {
  std::chrono::milliseconds duration{0};
};
// Opens a tap (docs/tap.md) for `duration` and reports what it saw: "watch the failing
// requests".
struct TapAction {
  TapFilter filter;
  std::chrono::milliseconds duration{5000};
};
using ScenarioAction = std::variant<ApplyPolicyAction, DeletePolicyAction, SetBehaviourAction,
                                    KillInstanceAction, SetLoadAction, WaitAction, TapAction>;
std::string describe(const ScenarioAction& action);

// Waits until metric(source -> destination) is above or below a threshold.
struct Checkpoint {
  std::string source, destination;
  EdgeMetric metric = EdgeMetric::kErrorRate;
  bool above = true;
  double threshold = 0;
  std::chrono::milliseconds within{20'000};
  std::string describe()
      const;  // "error rate of storefront-web -> recommendations above 0.05 within 20s"
};

// An edge of the demo's graph: calls from `source` to `destination`.
struct ScenarioEdge {
  std::string source, destination;
  bool operator==(const ScenarioEdge& o) const {
    return source == o.source && destination == o.destination;
  }
  bool operator<(const ScenarioEdge& o) const {
    return source != o.source ? source < o.source : destination < o.destination;
  }
};

// One entry of a step's optional `highlight:` list: "source -> destination", or a service name
// (destination empty) standing for every edge into that service. Line and column locate it in
// the scenario file for errors.
struct HighlightEntry {
  std::string source, destination;
  uint32_t line = 0, column = 0;
};

struct ScenarioStep {
  std::string title, narration;
  std::vector<ScenarioAction> actions;
  std::optional<Checkpoint> checkpoint;
  std::vector<HighlightEntry> highlight;  // empty: derived (see stepEdges)
};

// A scenario file (kind: Scenario): a timed script over a demo mesh.
struct Scenario {
  std::string name, title, description, demo;
  uint64_t seed = 1;
  std::vector<ScenarioStep> steps;
  // Not from the file: the player's answer to scenarioCollisions(). When set, the runner sets
  // the colliding policies aside before step 1 and restores them when the scenario ends.
  bool set_aside_collisions = false;
};

std::optional<Scenario> parseScenario(const std::string& yaml, const std::string& file,
                                      std::vector<common::LocatedError>* errors);
std::optional<Scenario> loadScenario(const std::filesystem::path& file,
                                     std::vector<common::LocatedError>* errors);
// Bundled scenario by name or path (same directories as findDemoFile, subfolder scenarios/).
std::optional<std::filesystem::path> findScenarioFile(const std::string& name_or_path);
// Every bundled scenario file.
std::vector<std::filesystem::path> bundledScenarios();

// The edges step `step` is about, sorted, without duplicates: the step's `highlight:` list when
// it has one; otherwise its checkpoint's edge, the edges into every service a setBehaviour,
// killInstance or applyPolicy action names (the policy's spec.host or spec.selector.service;
// mesh-wide policies name none), and the edge from every load a setLoad action changes to its
// target. A service stands for the edges into it in `mesh` (its callers and the loads aimed at
// it), where its callers see what it does.
std::vector<ScenarioEdge> stepEdges(const ScenarioStep& step, const DemoMesh& mesh);

// Checks the names of the scenario's `highlight:` lists against the demo: each must be a
// service or a load of `mesh`, and an edge must be a call of the demo. Appends one error per
// unknown name (file, line, column, field) and returns false when there was any.
bool checkHighlights(const Scenario& scenario, const DemoMesh& mesh, const std::string& file,
                     std::vector<common::LocatedError>* errors);

// The policies in `in_force` that the scenario's applyPolicy actions would collide with: one of
// the same kind and name (the scenario would overwrite it), or a second DestinationPolicy or
// TrafficRoute for the same service (the policy set allows one of each per service, so the
// scenario's apply would be refused). In the order of `in_force`, without duplicates.
std::vector<PolicyInfo> scenarioCollisions(const Scenario& scenario,
                                           const std::vector<PolicyInfo>& in_force);
// The same rule between any two sets: the policies of `in_force` that `mine` collides with.
std::vector<PolicyInfo> policyCollisions(const std::vector<PolicyInfo>& mine,
                                         const std::vector<PolicyInfo>& in_force);
// "DestinationPolicy/x, TrafficRoute/y"
std::string policyNames(const std::vector<PolicyInfo>& policies);

// What the engine acts on. Implemented over the control plane and the demo fleet by
// ScenarioTarget (in the binaries), and by fakes in tests.
class ScenarioTarget {
 public:
  virtual ~ScenarioTarget() = default;
  virtual ActionResult applyPolicy(const std::string& yaml) = 0;
  virtual ActionResult deletePolicy(const std::string& kind, const std::string& name) = 0;
  virtual ActionResult setBehaviour(const std::string& service, const std::string& version,
                                    std::optional<uint32_t> instance,
                                    const Behaviour& behaviour) = 0;
  virtual ActionResult killInstance(const std::string& service, const std::string& version,
                                    uint32_t index) = 0;
  virtual ActionResult setLoadRate(const std::string& load, double rate) = 0;
  // Taps the mesh for `duration` (docs/tap.md); the message sums up the requests seen. The
  // default cannot tap.
  virtual ActionResult tap(const TapFilter& filter, std::chrono::milliseconds duration) {
    (void)filter, (void)duration;
    return {false, "this scenario target cannot open a tap"};
  }
  // Current value of a metric on an edge; nullopt while the edge has no traffic in the window.
  virtual std::optional<double> edgeMetric(const std::string& source,
                                           const std::string& destination, EdgeMetric metric) = 0;
};

// Progress of a run, reported as it happens.
struct StepEvent {
  enum class Kind {
    kStepStarted,
    kActionDone,
    kActionFailed,
    kCheckpointPassed,
    kCheckpointFailed
  };
  Kind kind;
  size_t step = 0;
  std::string text;
  std::optional<double> value;  // the metric's value when a checkpoint ends
};

// The structured progress of a run, for a player UI (ScenarioEngine::setEventSink), is
// cp::ScenarioEvent (controlplane/api/scenario_event.h): one type from the engine to the UI.

struct ScenarioResult {
  bool passed = false;
  size_t steps_completed = 0;
  std::vector<StepEvent> events;
};

// Runs a scenario step by step: actions in order, then the step's checkpoint, polled every
// `poll` until it holds or its time runs out. A failed action or checkpoint ends the run.
// Time goes through `sleep` so tests can run on a simulated clock.
class ScenarioEngine {
 public:
  using Sleep = std::function<void(std::chrono::milliseconds)>;
  using Now = std::function<std::chrono::steady_clock::time_point()>;

  ScenarioEngine(ScenarioTarget& target, Sleep sleep, Now now,
                 std::chrono::milliseconds poll = std::chrono::milliseconds(250));

  // Also report ScenarioEvents to `sink` (called on the thread of run(), before the
  // StepEvent observer of the same moment).
  void setEventSink(std::function<void(const ScenarioEvent&)> sink) { sink_ = std::move(sink); }

  ScenarioResult run(const Scenario& scenario,
                     const std::function<void(const StepEvent&)>& observer,
                     const std::function<bool()>& cancelled = {});

 private:
  std::function<void(const ScenarioEvent&)> sink_;
  ScenarioTarget& target_;
  Sleep sleep_;
  Now now_;
  std::chrono::milliseconds poll_;
};

}  // namespace meshdeck::cp::fleet
