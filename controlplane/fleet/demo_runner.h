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

struct DemoRunOptions {
  std::string demo = "storefront";                    // bundled name or a path
  std::optional<std::string> scenario;                // bundled name or a path
  std::optional<std::chrono::milliseconds> duration;  // stop after this long (no scenario)
  uint64_t seed = 1;
  std::filesystem::path bin_dir;      // where the fleet's binaries are
  std::string control_plane_address;  // where proxies connect
  std::chrono::seconds start_timeout{60};
  // Declares each service (name, version, tier) to the control plane before its proxies
  // connect, so policies may name it at once and the graph knows its tier.
  std::function<void(const std::string&, const std::string&, const std::string&)> register_service;
  // Called once the fleet is started (for fleet actions from the management API), and with
  // nullptr before it stops.
  std::function<void(DemoFleet*)> on_fleet;
};

// Runs a demo mesh (and optionally a scenario) against a started control plane, printing each
// step to `out`, until the scenario ends, `duration` passes or `cancelled()` turns true.
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
  ControlPlane& cp_;
  DemoRunOptions options_;
  std::ostream& out_;
  std::unique_ptr<ProcessSupervisor> supervisor_;
  std::unique_ptr<DemoFleet> fleet_;
};

}  // namespace meshdeck::cp::fleet
