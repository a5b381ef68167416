// demo_scenario: demo mesh files (kind: DemoMesh) and scenario files (kind: Scenario), through
// their public entry points. Every input is read as both; a scenario that parses is checked
// against the demo the same input describes, or else the bundled storefront demo (stepEdges,
// checkHighlights), as the player does before a run.
// Oracle: no crash, hang or sanitizer report; in a demo that parses, every call names a
// declared service (the loader promises to refuse calls to undeclared services).
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

#include "controlplane/fleet/demo_mesh.h"
#include "controlplane/fleet/scenario.h"

namespace fleet = meshdeck::cp::fleet;

namespace {

const fleet::DemoMesh& storefront() {
  static const fleet::DemoMesh* mesh = [] {
    std::vector<meshdeck::common::LocatedError> errors;
    const auto file = fleet::findDemoFile("storefront");
    auto loaded = file ? fleet::loadDemoMesh(*file, &errors) : std::nullopt;
    if (!loaded) {
      std::fprintf(stderr, "demo_scenario: the bundled storefront demo does not load\n");
      std::abort();
    }
    return new fleet::DemoMesh(std::move(*loaded));
  }();
  return *mesh;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<meshdeck::common::LocatedError> errors;
  const auto demo = fleet::parseDemoMesh(text, "fuzz.yaml", &errors);
  if (demo) {
    // A set, not DemoMesh::find per call: a generated mesh of 2000 services with a few calls
    // each made the linear look-ups of this check alone pass libFuzzer's 10 s timeout.
    std::unordered_set<std::string> declared;
    for (const auto& s : demo->services) declared.insert(s.name);
    for (const auto& s : demo->services) {
      for (const auto& call : s.calls) {
        if (!declared.count(call.service)) {
          std::fprintf(stderr, "demo_scenario: %s calls undeclared %s\n", s.name.c_str(),
                       call.service.c_str());
          __builtin_trap();
        }
      }
    }
    (void)demo->appsPerProcess();
  }
  errors.clear();
  const auto scenario = fleet::parseScenario(text, "fuzz.yaml", &errors);
  if (!scenario) return 0;
  const fleet::DemoMesh& mesh = demo ? *demo : storefront();
  for (const auto& step : scenario->steps) (void)fleet::stepEdges(step, mesh);
  (void)fleet::checkHighlights(*scenario, mesh, "fuzz.yaml", &errors);
  return 0;
}
