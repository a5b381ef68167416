#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "controlplane/api/control_plane.h"
#include "controlplane/fleet/demo_fleet.h"
#include "controlplane/fleet/scenario.h"

namespace meshdeck::cp::fleet {

// ScenarioTarget over a control plane (policies, live metrics) and a demo fleet (processes).
class ControlPlaneScenarioTarget final : public ScenarioTarget {
 public:
  ControlPlaneScenarioTarget(ControlPlane& control_plane, DemoFleet& fleet, std::string author)
      : cp_(control_plane), fleet_(fleet), author_(std::move(author)) {}

  // ScenarioTarget
  ActionResult applyPolicy(const std::string& yaml) override;
  ActionResult deletePolicy(const std::string& kind, const std::string& name) override;
  ActionResult setBehaviour(const std::string& service, const std::string& version,
                            std::optional<uint32_t> instance, const Behaviour& behaviour) override;
  ActionResult killInstance(const std::string& service, const std::string& version,
                            uint32_t index) override;
  ActionResult setLoadRate(const std::string& load, double rate) override;
  // ControlPlane::startTap for `duration`; the message counts the events and names the most
  // frequent (method, path, status, error).
  ActionResult tap(const TapFilter& filter, std::chrono::milliseconds duration) override;
  std::optional<double> edgeMetric(const std::string& source, const std::string& destination,
                                   EdgeMetric metric) override;

 private:
  ControlPlane& cp_;
  DemoFleet& fleet_;
  std::string author_;
};

// Reads one metric of an edge from a snapshot; nullopt when the edge is absent or idle.
std::optional<double> edgeMetricFrom(const GraphSnapshot& snapshot, const std::string& source,
                                     const std::string& destination, EdgeMetric metric);

// Every call edge of the demo (source -> destination, including load -> target) has traffic
// in `snapshot`. Lists the missing edges in `missing` when given.
bool graphComplete(const DemoMesh& mesh, const GraphSnapshot& snapshot,
                   std::vector<std::string>* missing = nullptr);

// The call edges graphComplete() wants: every `calls` entry of every service and every load.
size_t callEdgeCount(const DemoMesh& mesh);

// How a wait for the first complete graph ended.
struct GraphWait {
  bool complete = false;
  std::vector<std::string> missing;  // the edges without traffic at the last look
};

// Polls `snapshot` every `poll` until graphComplete() holds (complete), `deadline` passes or
// `cancelled` returns true. Looks at least once, so a graph already complete is reported even
// when the deadline has passed.
GraphWait waitForCompleteGraph(
    const DemoMesh& mesh, const std::function<std::shared_ptr<const GraphSnapshot>()>& snapshot,
    std::chrono::steady_clock::time_point deadline, const std::function<bool()>& cancelled,
    std::chrono::milliseconds poll = std::chrono::milliseconds(100));

// "no traffic yet on N of M call edges:" and the first `listed` of them, one a line, then
// "... and K more" (at 1,000 services the whole list is over a thousand lines).
std::string missingEdgesText(const std::vector<std::string>& missing, size_t edges,
                             size_t listed = 20);

struct DemoRunOptions {
  std::string demo = "storefront";                    // bundled name or a path
  std::optional<std::string> scenario;                // bundled name or a path
  std::optional<std::chrono::milliseconds> duration;  // stop after this long (no scenario)
  uint64_t seed = 1;
  std::filesystem::path bin_dir;      // where the fleet's binaries are
  std::string control_plane_address;  // where proxies connect
  // The control plane's TLS port, where sidecars renew their certificates ("" : no renewal).
  std::string control_plane_tls_address;
  std::string trust_domain = "meshdeck.local";
  // How long the fleet may take to be running and ready (from the fleet's start).
  std::chrono::seconds start_timeout{60};
  // Then how long every call edge may take to carry traffic (from the moment all processes are
  // ready; it was counted from the start, so a fleet ready at 55 s had 5 s for a graph of
  // ~2,000 edges and the 1,000-service demo never reported its first complete graph).
  std::chrono::seconds graph_timeout{60};
  // The loopback ports the fleet's processes listen on (DemoFleetOptions::port_first/last);
  // two demos on one machine need ranges that do not overlap.
  uint16_t port_first = 21000, port_last = 32000;
  // Declares each service (name, version, tier) to the control plane before its proxies
  // connect, so policies may name it at once and the graph knows its tier.
  std::function<void(const std::string&, const std::string&, const std::string&)> register_service;
  // Called once the fleet is started (for fleet actions from the management API), and with
  // nullptr before it stops.
  std::function<void(DemoFleet*)> on_fleet;
  // Called once, on the runner's thread, when the first complete graph is in: the demo is up
  // and scenarios can run.
  std::function<void(const DemoMesh&)> on_ready;
  // The structured progress of every scenario run (the one given at start and those from
  // next_scenario), on the runner's thread. A scenario refused before it starts (written for
  // another demo, unknown highlight names) reports kScenarioFinished with the reason.
  std::function<void(const ScenarioEvent&)> on_scenario_event;
  // Polled every 100 ms while the demo runs without a scenario: a scenario to run now on the
  // running demo. The demo keeps running after it; its result does not change the exit code.
  std::function<std::optional<Scenario>()> next_scenario;
  // Polled while a scenario from next_scenario runs: true stops that scenario, not the demo.
  std::function<bool()> scenario_cancelled;
  // Records an event in the control plane's history (docs/history.md, "Events"): kind,
  // subject, detail, author. The runner reports scenario progress (`scenario.start`,
  // `scenario.step`, `scenario.checkpoint`, `scenario.finish`) and the supervisor's own
  // restarts of a process that exited (`fleet.restart`) or its giving up (`fleet.fail`).
  // Called from the runner's and the supervisor's threads. Empty: nothing is recorded.
  std::function<void(const std::string&, const std::string&, const std::string&,
                     const std::string&)>
      record_event;
};

// An event for the history (kind, subject, detail).
struct RecordedEvent {
  std::string kind, subject, detail;
};
// The history event of a scenario event, or nullopt for the ones that are not kept (an action
// done, a checkpoint started: the step and its outcome are).
std::optional<RecordedEvent> scenarioHistoryEvent(const ScenarioEvent& e);
// The history event of a supervisor status change: a restart after an exit the supervisor did
// not ask for (state backoff) or giving up (failed); nullopt for every other change.
std::optional<RecordedEvent> fleetHistoryEvent(const ProcessStatus& s);

// Sets `policies` (in force on `cp`) aside for a scenario: deletes them, TrafficRoutes first
// (they may use the subsets of a DestinationPolicy). When a delete is refused, applies again
// the ones already deleted and returns false with the reason.
bool setAsidePolicies(ControlPlane& cp, const std::vector<PolicyInfo>& policies,
                      const std::string& author, std::string* error);
// Brings back policies set aside: deletes the policies in force that now collide with them
// (policyCollisions; a scenario's own) and the TrafficRoutes that use the subsets of a
// DestinationPolicy so deleted, then applies them again in one revision.
bool restorePolicies(ControlPlane& cp, const std::vector<PolicyInfo>& policies,
                     const std::string& author, std::string* error);

// Runs a demo mesh (and optionally a scenario) against a started control plane, printing each
// step to `out`, until the scenario ends, `duration` passes or `cancelled()` turns true. Without
// a scenario at start, scenarios handed over by `next_scenario` run on the running demo.
// Exit codes: 0 success, 1 a scenario checkpoint or action failed, 2 bad input (demo or
// scenario file), 3 the mesh did not come up.
class DemoRunner {
 public:
  DemoRunner(ControlPlane& control_plane, DemoRunOptions options, std::ostream& out);
  ~DemoRunner();
  int run(const std::function<bool()>& cancelled);
  // The fleet, once run() has started it (for fleet actions from the management API).
  DemoFleet* fleet() { return fleet_.get(); }

 private:
  void say(const std::string& line);
  // Runs `scenario` on the running fleet, printing its steps; true when it passed.
  bool runScenario(const Scenario& scenario, const std::function<bool()>& cancelled);

  ControlPlane& cp_;
  DemoRunOptions options_;
  std::chrono::steady_clock::time_point started_;
  std::ostream& out_;
  std::unique_ptr<ProcessSupervisor> supervisor_;
  std::unique_ptr<DemoFleet> fleet_;
};

}  // namespace meshdeck::cp::fleet
