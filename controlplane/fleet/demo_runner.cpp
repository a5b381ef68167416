#include "controlplane/fleet/demo_runner.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace meshdeck::cp::fleet {

namespace {
// One indented line per error, after a "refused:" prefix.
std::string errorsToText(const std::vector<common::LocatedError>& errors) {
  std::string s;
  for (const auto& e : errors) s += "\n  " + e.toString();
  return s;
}
}  // namespace

namespace {
// TrafficRoutes first: they may use the subsets of a DestinationPolicy deleted after them.
std::vector<PolicyInfo> routesFirst(std::vector<PolicyInfo> policies) {
  std::stable_partition(policies.begin(), policies.end(),
                        [](const PolicyInfo& p) { return p.kind == "TrafficRoute"; });
  return policies;
}

std::string joinYaml(const std::vector<PolicyInfo>& policies) {
  std::string yaml;
  for (const auto& p : policies) {
    if (!yaml.empty()) yaml += "\n---\n";
    yaml += p.yaml;
  }
  return yaml;
}
}  // namespace

bool setAsidePolicies(ControlPlane& cp, const std::vector<PolicyInfo>& policies,
                      const std::string& author, std::string* error) {
  std::vector<PolicyInfo> deleted;
  for (const auto& p : routesFirst(policies)) {
    const auto r = cp.deletePolicy(p.kind, p.name, author);
    if (!r.ok) {
      *error = "delete " + p.kind + "/" + p.name + " refused:" + errorsToText(r.errors);
      if (!deleted.empty()) cp.applyPolicies(joinYaml(deleted), "set aside", author, false);
      return false;
    }
    deleted.push_back(p);
  }
  return true;
}

bool restorePolicies(ControlPlane& cp, const std::vector<PolicyInfo>& policies,
                     const std::string& author, std::string* error) {
  const auto in_force = cp.policies();
  std::vector<PolicyInfo> in_the_way = policyCollisions(policies, in_force);
  // A TrafficRoute for a service whose DestinationPolicy goes uses that policy's subsets: it
  // goes too (the real control plane refuses to delete subsets in use).
  for (const auto& dp : std::vector<PolicyInfo>(in_the_way)) {
    if (dp.kind != "DestinationPolicy") continue;
    for (const auto& p : in_force)
      if (p.kind == "TrafficRoute" && p.target == dp.target &&
          std::none_of(in_the_way.begin(), in_the_way.end(),
                       [&](const PolicyInfo& q) { return q.kind == p.kind && q.name == p.name; }))
        in_the_way.push_back(p);
  }
  for (const auto& p : routesFirst(in_the_way)) {
    const auto r = cp.deletePolicy(p.kind, p.name, author);
    if (!r.ok) {
      *error = "delete " + p.kind + "/" + p.name + " refused:" + errorsToText(r.errors);
      return false;
    }
  }
  const auto r = cp.applyPolicies(joinYaml(policies), "set aside", author, false);
  if (!r.ok) *error = "refused:" + errorsToText(r.errors);
  return r.ok;
}

ActionResult ControlPlaneScenarioTarget::applyPolicy(const std::string& yaml) {
  const auto r = cp_.applyPolicies(yaml, "scenario", author_, false);
  if (!r.ok) return {false, "refused:" + errorsToText(r.errors)};
  return {true, fmt::format("revision {}", r.revision)};
}

ActionResult ControlPlaneScenarioTarget::deletePolicy(const std::string& kind,
                                                      const std::string& name) {
  const auto r = cp_.deletePolicy(kind, name, author_);
  if (!r.ok) return {false, "refused:" + errorsToText(r.errors)};
  return {true, fmt::format("revision {}", r.revision)};
}

ActionResult ControlPlaneScenarioTarget::setBehaviour(const std::string& service,
                                                      const std::string& version,
                                                      std::optional<uint32_t> instance,
                                                      const Behaviour& behaviour) {
  return fleet_.setBehaviour(service, version, instance, behaviour);
}

ActionResult ControlPlaneScenarioTarget::killInstance(const std::string& service,
                                                      const std::string& version, uint32_t index) {
  return fleet_.killInstance(service, version, index);
}

ActionResult ControlPlaneScenarioTarget::tap(const TapFilter& filter,
                                             std::chrono::milliseconds duration) {
  std::mutex mutex;
  std::map<std::string, uint64_t> seen;  // "GET /x 503 UT" -> requests
  uint64_t events = 0, dropped = 0;
  std::string error;
  auto token = cp_.startTap(
      filter,
      [&](const TapBatch& batch) {
        std::lock_guard lock(mutex);
        dropped = batch.dropped;
        for (const auto& e : batch.events) {
          ++events;
          ++seen[fmt::format("{} {} {}{}{}", e.method, e.path, e.status,
                             e.grpc_status ? fmt::format(" grpc {}", *e.grpc_status) : "",
                             e.error_code.empty() ? "" : " " + e.error_code)];
        }
      },
      &error);
  if (!token) return {false, error};
  std::this_thread::sleep_for(duration);
  token.reset();  // waits for a running callback: nothing writes below any more
  std::vector<std::pair<uint64_t, std::string>> top;
  for (const auto& [what, n] : seen) top.emplace_back(n, what);
  std::sort(top.begin(), top.end(), std::greater<>());
  std::string most;
  for (size_t i = 0; i < top.size() && i < 3; ++i)
    most += fmt::format("{}{} x{}", i ? ", " : "", top[i].second, top[i].first);
  return {true, fmt::format("{} request(s) seen{}{}", events,
                            dropped ? fmt::format(" ({} more dropped)", dropped) : "",
                            most.empty() ? "" : ": " + most)};
}

ActionResult ControlPlaneScenarioTarget::setLoadRate(const std::string& load, double rate) {
  return fleet_.setLoadRate(load, rate);
}

std::optional<double> ControlPlaneScenarioTarget::edgeMetric(const std::string& source,
                                                             const std::string& destination,
                                                             EdgeMetric metric) {
  return edgeMetricFrom(*cp_.snapshot(), source, destination, metric);
}

std::optional<double> edgeMetricFrom(const GraphSnapshot& snapshot, const std::string& source,
                                     const std::string& destination, EdgeMetric metric) {
  for (const auto& e : snapshot.edges) {
    if (e.source != source || e.destination != destination) continue;
    if (e.metrics.requests == 0) return std::nullopt;
    switch (metric) {
      case EdgeMetric::kErrorRate:
        return 1.0 - e.metrics.success_rate;
      case EdgeMetric::kSuccessRate:
        return e.metrics.success_rate;
      case EdgeMetric::kP50Ms:
        return e.metrics.p50_ms;
      case EdgeMetric::kP90Ms:
        return e.metrics.p90_ms;
      case EdgeMetric::kP99Ms:
        return e.metrics.p99_ms;
      case EdgeMetric::kRequestsPerSecond:
        return e.metrics.requests_per_second;
    }
  }
  return std::nullopt;
}

bool graphComplete(const DemoMesh& mesh, const GraphSnapshot& snapshot,
                   std::vector<std::string>* missing) {
  std::set<std::pair<std::string, std::string>> live;
  for (const auto& e : snapshot.edges)
    if (e.metrics.requests > 0) live.emplace(e.source, e.destination);
  bool complete = true;
  auto want = [&](const std::string& a, const std::string& b) {
    if (live.count({a, b})) return;
    complete = false;
    if (missing) missing->push_back(a + " -> " + b);
  };
  for (const auto& s : mesh.services)
    for (const auto& c : s.calls) want(s.name, c.service);
  for (const auto& l : mesh.load) want(l.name, l.target);
  return complete;
}

size_t callEdgeCount(const DemoMesh& mesh) {
  size_t n = mesh.load.size();
  for (const auto& s : mesh.services) n += s.calls.size();
  return n;
}

GraphWait waitForCompleteGraph(
    const DemoMesh& mesh, const std::function<std::shared_ptr<const GraphSnapshot>()>& snapshot,
    std::chrono::steady_clock::time_point deadline, const std::function<bool()>& cancelled,
    std::chrono::milliseconds poll) {
  GraphWait wait;
  for (;;) {
    wait.missing.clear();
    const auto snap = snapshot();
    if (snap && graphComplete(mesh, *snap, &wait.missing)) {
      wait.complete = true;
      return wait;
    }
    if (!snap) {
      graphComplete(mesh, GraphSnapshot{}, &wait.missing);
    }
    if (std::chrono::steady_clock::now() >= deadline || (cancelled && cancelled())) return wait;
    std::this_thread::sleep_for(poll);
  }
}

std::string missingEdgesText(const std::vector<std::string>& missing, size_t edges, size_t listed) {
  std::string text = fmt::format("no traffic yet on {} of {} call edges:", missing.size(), edges);
  for (size_t i = 0; i < missing.size() && i < listed; ++i) text += "\n  " + missing[i];
  if (missing.size() > listed) text += fmt::format("\n  ... and {} more", missing.size() - listed);
  return text;
}

DemoRunner::DemoRunner(ControlPlane& control_plane, DemoRunOptions options, std::ostream& out)
    : cp_(control_plane), options_(std::move(options)), out_(out) {}

DemoRunner::~DemoRunner() {
  if (fleet_ && options_.on_fleet) options_.on_fleet(nullptr);
  if (fleet_) fleet_->stop();
}

void DemoRunner::say(const std::string& line) {
  const double t =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  fmt::print(out_, "[{:6.1f}s] {}\n", t, line);
  out_.flush();
}

std::optional<RecordedEvent> scenarioHistoryEvent(const ScenarioEvent& e) {
  using K = ScenarioEvent::Kind;
  switch (e.kind) {
    case K::kScenarioStarted:
      return RecordedEvent{"scenario.start", e.scenario, e.text};
    case K::kStepStarted:
      return RecordedEvent{"scenario.step", fmt::format("{} step {}", e.scenario, e.step + 1),
                           e.text};
    case K::kActionFailed:
      return RecordedEvent{"scenario.step", fmt::format("{} step {}", e.scenario, e.step + 1),
                           "action failed: " + e.text};
    case K::kCheckpointPassed:
    case K::kCheckpointFailed:
      return RecordedEvent{
          "scenario.checkpoint", fmt::format("{} step {}", e.scenario, e.step + 1),
          std::string(e.kind == K::kCheckpointPassed ? "passed: " : "failed: ") + e.text};
    case K::kScenarioFinished:
      return RecordedEvent{"scenario.finish", e.scenario,
                           e.cancelled
                               ? "stopped: " + e.text
                               : fmt::format("{} ({} steps): {}", e.passed ? "passed" : "failed",
                                             e.steps_completed, e.text)};
    case K::kActionDone:
    case K::kCheckpointStarted:
      break;
  }
  return std::nullopt;
}

std::optional<RecordedEvent> fleetHistoryEvent(const ProcessStatus& s) {
  std::string how = s.last_exit_signal ? fmt::format("signal {}", *s.last_exit_signal)
                    : s.last_exit_code ? fmt::format("exit code {}", *s.last_exit_code)
                                       : std::string("unknown status");
  if (s.state == ProcessState::kBackoff)
    return RecordedEvent{
        "fleet.restart", s.spec.name,
        fmt::format("exited ({}); restarted by the supervisor (restart {})", how, s.restarts)};
  if (s.state == ProcessState::kFailed)
    return RecordedEvent{"fleet.fail", s.spec.name,
                         fmt::format("exited ({}) too often; the supervisor gave up", how)};
  return std::nullopt;
}

int DemoRunner::run(const std::function<bool()>& cancelled) {
  using Clock = std::chrono::steady_clock;
  started_ = Clock::now();
  const auto started = started_;

  std::vector<common::LocatedError> errors;
  const auto demo_file = findDemoFile(options_.demo);
  if (!demo_file) {
    std::string dirs;
    for (const auto& d : dataDirectories()) dirs += "\n  " + (d / "demo").string();
    say("no demo mesh named '" + options_.demo + "'; looked in:" + dirs);
    return 2;
  }
  const auto mesh = loadDemoMesh(*demo_file, &errors);
  std::optional<Scenario> scenario;
  std::filesystem::path scenario_file;
  if (options_.scenario) {
    const auto file = findScenarioFile(*options_.scenario);
    if (!file) {
      say("no scenario named '" + *options_.scenario + "'");
      return 2;
    }
    scenario_file = *file;
    scenario = loadScenario(*file, &errors);
  }
  if (!errors.empty()) {
    for (const auto& e : errors) say(e.toString());
    return 2;
  }
  if (scenario && scenario->demo != mesh->name) {
    say("scenario '" + scenario->name + "' is written for demo '" + scenario->demo + "', not '" +
        mesh->name + "'");
    return 2;
  }
  if (scenario && !checkHighlights(*scenario, *mesh, scenario_file.string(), &errors)) {
    for (const auto& e : errors) say(e.toString());
    return 2;
  }

  const uint64_t seed = options_.seed ? options_.seed : (scenario ? scenario->seed : 1);
  supervisor_ = std::make_unique<ProcessSupervisor>();
  DemoFleetOptions fleet_options{options_.bin_dir, options_.control_plane_address, seed};
  fleet_options.port_first = options_.port_first;
  fleet_options.port_last = options_.port_last;
  // Every sidecar gets a certificate from the control plane's CA (mutual TLS by default).
  fleet_options.issue_bootstrap_token = [this](const std::string& proxy_id, const std::string& ns,
                                               const std::string& service) {
    return cp_.issueBootstrapToken(proxy_id, ns, service);
  };
  fleet_options.control_plane_tls = options_.control_plane_tls_address;
  fleet_options.trust_domain = options_.trust_domain;
  fleet_ = std::make_unique<DemoFleet>(*supervisor_, std::move(fleet_options));
  if (options_.record_event)
    supervisor_->setObserver([record = options_.record_event](const ProcessStatus& s) {
      if (const auto e = fleetHistoryEvent(s)) record(e->kind, e->subject, e->detail, "");
    });
  say(fmt::format("starting demo '{}': {} services, {} instances, seed {}", mesh->name,
                  mesh->services.size(), mesh->instanceCount(), seed));
  if (options_.register_service) {
    for (const auto& svc : mesh->services)
      for (const auto& v : svc.versions) options_.register_service(svc.name, v.name, svc.tier);
    for (const auto& l : mesh->load) options_.register_service(l.name, "v1", "client");
  }
  if (!mesh->policies_yaml.empty()) {
    const auto r = cp_.applyPolicies(mesh->policies_yaml, demo_file->string(), "demo", false);
    if (!r.ok) {
      say("the demo's starting policies were refused:" + errorsToText(r.errors));
      return 2;
    }
    say(fmt::format("applied the demo's starting policies (revision {})", r.revision));
  }
  std::string error;
  if (!fleet_->start(*mesh, &error)) {
    say("cannot start the fleet: " + error);
    return 3;
  }
  if (options_.on_fleet) options_.on_fleet(fleet_.get());
  const auto names = fleet_->processNames();
  if (!supervisor_->waitReady(names, options_.start_timeout)) {
    for (const auto& p : fleet_->processes())
      if (p.state != "running") say("  not ready: " + p.name + " (" + p.state + ")");
    say("the mesh did not come up");
    return 3;
  }
  say(fmt::format("{} processes running and ready", names.size()));

  // Wait for the first complete graph: every call edge carries traffic. The time for that
  // counts from now, not from the start (a large fleet may take most of start_timeout to be
  // ready).
  const auto wait = waitForCompleteGraph(
      *mesh, [this] { return cp_.snapshot(); }, Clock::now() + options_.graph_timeout, cancelled);
  if (!wait.complete) {
    say(missingEdgesText(wait.missing, callEdgeCount(*mesh)));
    return 3;
  }
  say(fmt::format("first complete graph: every edge has traffic ({:.1f} s after start)",
                  std::chrono::duration<double>(Clock::now() - started).count()));

  if (options_.on_ready) options_.on_ready(*mesh);

  int status = 0;
  if (scenario) {
    status = runScenario(*scenario, cancelled) ? 0 : 1;
  } else {
    const auto deadline =
        options_.duration ? Clock::now() + *options_.duration : Clock::time_point::max();
    auto over = [&] { return Clock::now() >= deadline || (cancelled && cancelled()); };
    while (!over()) {
      if (auto next = options_.next_scenario ? options_.next_scenario() : std::nullopt) {
        std::vector<common::LocatedError> refused;
        if (next->demo != mesh->name)
          refused.push_back({next->name, 0, 0, "spec.demo",
                             "scenario '" + next->name + "' is written for demo '" + next->demo +
                                 "', not '" + mesh->name + "'"});
        else
          checkHighlights(*next, *mesh, next->name, &refused);
        if (refused.empty()) {
          runScenario(*next, [&] {
            return over() || (options_.scenario_cancelled && options_.scenario_cancelled());
          });
        } else {
          std::string why;
          for (const auto& e : refused) {
            say(e.toString());
            why += (why.empty() ? "" : "; ") + e.toString();
          }
          if (options_.on_scenario_event) {
            ScenarioEvent e;
            e.kind = ScenarioEvent::Kind::kScenarioFinished;
            e.scenario = next->name;
            e.text = "refused: " + why;
            options_.on_scenario_event(e);
          }
        }
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  uint64_t rss = 0;
  for (const auto& p : fleet_->processes()) rss += p.rss_bytes;
  say(fmt::format("stopping the fleet ({} processes, {:.0f} MiB resident in all)",
                  fleet_->processes().size(), double(rss) / (1 << 20)));
  if (options_.on_fleet) options_.on_fleet(nullptr);
  fleet_->stop();
  return status;
}

bool DemoRunner::runScenario(const Scenario& scenario, const std::function<bool()>& cancelled) {
  using Clock = std::chrono::steady_clock;
  say("scenario: " + scenario.title);
  const std::string author = "scenario:" + scenario.name;
  // The player agreed to set the colliding policies aside: they come back when it ends,
  // passed, failed or stopped.
  std::vector<PolicyInfo> set_aside;
  if (scenario.set_aside_collisions) {
    set_aside = scenarioCollisions(scenario, cp_.policies());
    std::string error;
    if (!set_aside.empty() && !setAsidePolicies(cp_, set_aside, author, &error)) {
      say("cannot set aside " + policyNames(set_aside) + ": " + error);
      if (options_.on_scenario_event) {
        ScenarioEvent e;
        e.kind = ScenarioEvent::Kind::kScenarioFinished;
        e.scenario = scenario.name;
        e.text = "refused: cannot set aside " + policyNames(set_aside) + ": " + error;
        options_.on_scenario_event(e);
      }
      return false;
    }
    if (!set_aside.empty()) say("set aside for the scenario: " + policyNames(set_aside));
  }
  ControlPlaneScenarioTarget target(cp_, *fleet_, author);
  ScenarioEngine engine(
      target, [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); },
      [] { return Clock::now(); });
  engine.setEventSink([this, &author](const ScenarioEvent& e) {
    if (options_.record_event)
      if (const auto h = scenarioHistoryEvent(e))
        options_.record_event(h->kind, h->subject, h->detail, author);
    if (options_.on_scenario_event) options_.on_scenario_event(e);
  });
  const auto result = engine.run(
      scenario,
      [&](const StepEvent& e) {
        switch (e.kind) {
          case StepEvent::Kind::kStepStarted:
            say(fmt::format("step {}: {}", e.step + 1, e.text));
            break;
          case StepEvent::Kind::kActionDone:
            say("  done: " + e.text);
            break;
          case StepEvent::Kind::kActionFailed:
            say("  FAILED: " + e.text);
            break;
          case StepEvent::Kind::kCheckpointPassed:
            say("  checkpoint passed: " + e.text);
            break;
          case StepEvent::Kind::kCheckpointFailed:
            say("  checkpoint FAILED: " + e.text);
            break;
        }
      },
      cancelled);
  say(fmt::format("scenario {}: {} of {} steps", result.passed ? "passed" : "failed",
                  result.steps_completed, scenario.steps.size()));
  if (!set_aside.empty()) {
    std::string error;
    if (restorePolicies(cp_, set_aside, author, &error))
      say("restored: " + policyNames(set_aside));
    else
      say("cannot restore " + policyNames(set_aside) + ": " + error);
  }
  return result.passed;
}

}  // namespace meshdeck::cp::fleet
