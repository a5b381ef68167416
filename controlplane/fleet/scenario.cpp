#include "controlplane/fleet/scenario.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <fstream>
#include <set>
#include <sstream>

#include "controlplane/fleet/yaml_reader.h"

namespace meshdeck::cp::fleet {

using detail::readBehaviour;
using detail::Reader;

const char* toString(EdgeMetric metric) {
  switch (metric) {
    case EdgeMetric::kErrorRate:
      return "error rate";
    case EdgeMetric::kSuccessRate:
      return "success rate";
    case EdgeMetric::kP50Ms:
      return "p50 (ms)";
    case EdgeMetric::kP90Ms:
      return "p90 (ms)";
    case EdgeMetric::kP99Ms:
      return "p99 (ms)";
    case EdgeMetric::kRequestsPerSecond:
      return "requests/s";
  }
  return "?";
}

std::string Checkpoint::describe() const {
  return fmt::format("{} of {} -> {} {} {:g} within {}", toString(metric), source, destination,
                     above ? "above" : "below", threshold, common::formatDuration(within));
}

std::string describe(const ScenarioAction& action) {
  struct Visitor {
    std::string operator()(const ApplyPolicyAction& a) {
      // Name the documents applied: "apply TrafficRoute/x".
      std::string names;
      const common::YamlDocuments loaded = common::loadYaml(a.yaml, "policy");
      if (!loaded.ok()) return "apply policy";
      try {
        for (const auto& doc : loaded.documents)
          names +=
              fmt::format("{}{}/{}", names.empty() ? "" : ", ", doc["kind"].as<std::string>("?"),
                          doc["metadata"]["name"].as<std::string>("?"));
      } catch (const YAML::Exception&) {
        names = "policy";
      }
      return "apply " + names;
    }
    std::string operator()(const DeletePolicyAction& a) {
      return "delete " + a.kind + "/" + a.name;
    }
    std::string operator()(const SetBehaviourAction& a) {
      return fmt::format("make {} {}{} answer in p50 {} / p99 {} with {:g}% errors", a.service,
                         a.version.empty() ? "(all versions)" : a.version,
                         a.instance ? " instance " + std::to_string(*a.instance) : std::string(),
                         common::formatDuration(a.behaviour.latency_p50),
                         common::formatDuration(a.behaviour.latency_p99),
                         a.behaviour.error_rate * 100);
    }
    std::string operator()(const KillInstanceAction& a) {
      return fmt::format("kill instance {}-{}-{}", a.service, a.version, a.index);
    }
    std::string operator()(const SetLoadAction& a) {
      return fmt::format("set load {} to {:g} requests/s", a.load, a.rate);
    }
    std::string operator()(const WaitAction& a) {
      return "wait " + common::formatDuration(a.duration);
    }
    std::string operator()(const TapAction& a) {
      return fmt::format("watch {} for {}", a.filter.describe(),
                         common::formatDuration(a.duration));
    }
  };
  return std::visit(Visitor{}, action);
}

namespace {

std::string trim(std::string x) {
  x.erase(0, x.find_first_not_of(' '));
  x.erase(x.find_last_not_of(' ') + 1);
  return x;
}

std::optional<EdgeMetric> metricFromName(const std::string& name) {
  if (name == "errorRate") return EdgeMetric::kErrorRate;
  if (name == "successRate") return EdgeMetric::kSuccessRate;
  if (name == "p50") return EdgeMetric::kP50Ms;
  if (name == "p90") return EdgeMetric::kP90Ms;
  if (name == "p99") return EdgeMetric::kP99Ms;
  if (name == "rps") return EdgeMetric::kRequestsPerSecond;
  return std::nullopt;
}

std::optional<ScenarioAction> readAction(Reader& r, const YAML::Node& a, const std::string& path) {
  if (!a.IsMap() || a.size() != 1) {
    r.error(a, path,
            "an action is a mapping with one key: applyPolicy, deletePolicy, setBehaviour, "
            "killInstance, setLoad, wait or tap");
    return std::nullopt;
  }
  const std::string key = a.begin()->first.as<std::string>("");
  const YAML::Node v = a.begin()->second;
  const std::string vp = Reader::join(path, key);
  if (key == "applyPolicy") {
    if (!v.IsScalar()) {
      r.error(v, vp, "must be a block of YAML policy documents (use 'applyPolicy: |')");
      return std::nullopt;
    }
    return ApplyPolicyAction{v.Scalar()};
  }
  if (key == "wait") {
    const auto d = v.IsScalar() ? common::parseDuration(v.Scalar()) : std::nullopt;
    if (!d) {
      r.error(v, vp, "must be a duration like 5s");
      return std::nullopt;
    }
    return WaitAction{std::chrono::duration_cast<std::chrono::milliseconds>(*d)};
  }
  if (key == "tap") {
    if (!r.isMap(v, vp)) return std::nullopt;
    r.onlyKeys(v, vp,
               {"service", "version", "from", "to", "method", "path", "status", "minLatency",
                "duration", "rate"});
    TapAction t;
    t.filter.service = r.str(v, "service", vp, "");
    t.filter.service_version = r.str(v, "version", vp, "");
    t.filter.source_service = r.str(v, "from", vp, "");
    t.filter.destination_service = r.str(v, "to", vp, "");
    t.filter.method = r.str(v, "method", vp, "");
    t.filter.path_prefix = r.str(v, "path", vp, "");
    t.filter.events_per_second =
        r.number(v, "rate", vp, TapFilter::kDefaultRate, 1, TapFilter::kMaxTapRate);
    const std::string status = r.str(v, "status", vp, "");
    if (!status.empty()) {
      if (status.size() != 3 || status[0] < '1' || status[0] > '5' || status.substr(1) != "xx")
        r.error(v["status"], Reader::join(vp, "status"), "must be a status class: 1xx .. 5xx");
      else
        t.filter.status_class = static_cast<uint32_t>(status[0] - '0');
    }
    const auto duration = [&](const char* field) -> std::optional<std::chrono::microseconds> {
      if (!v[field].IsDefined()) return std::nullopt;
      const auto d = v[field].IsScalar() ? common::parseDuration(v[field].Scalar()) : std::nullopt;
      if (!d) r.error(v[field], Reader::join(vp, field), "must be a duration like 5s or 100ms");
      if (!d) return std::nullopt;
      return std::chrono::duration_cast<std::chrono::microseconds>(*d);
    };
    if (const auto d = duration("minLatency"))
      t.filter.min_latency_us = static_cast<uint64_t>(d->count());
    if (const auto d = duration("duration"))
      t.duration = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    return t;
  }
  if (key != "deletePolicy" && key != "setBehaviour" && key != "killInstance" && key != "setLoad") {
    r.error(a.begin()->first, vp, "unknown action");
    return std::nullopt;
  }
  if (!r.isMap(v, vp)) return std::nullopt;
  if (key == "deletePolicy") {
    r.onlyKeys(v, vp, {"kind", "name"});
    return DeletePolicyAction{r.str(v, "kind", vp), r.str(v, "name", vp)};
  }
  if (key == "setBehaviour") {
    r.onlyKeys(
        v, vp,
        {"service", "version", "instance", "latency", "errorRate", "errorStatus", "responseSize"});
    SetBehaviourAction b{r.str(v, "service", vp), r.str(v, "version", vp, ""),
                         readBehaviour(r, v, vp), std::nullopt};
    if (v["instance"].IsDefined())
      b.instance = static_cast<uint32_t>(r.number(v, "instance", vp, 0, 0, 15));
    return b;
  }
  if (key == "killInstance") {
    r.onlyKeys(v, vp, {"service", "version", "index"});
    return KillInstanceAction{r.str(v, "service", vp), r.str(v, "version", vp, "v1"),
                              static_cast<uint32_t>(r.number(v, "index", vp, 0, 0, 15))};
  }
  r.onlyKeys(v, vp, {"name", "rate"});
  return SetLoadAction{r.str(v, "name", vp), r.number(v, "rate", vp, 10, 0.1, 100000)};
}

std::optional<Scenario> parseLoaded(const common::YamlDocuments& loaded, const std::string& file,
                                    std::vector<common::LocatedError>* errors) try {
  const size_t before = errors->size();
  Reader r(file, errors);
  const auto doc = detail::loadDocument(r, loaded, "Scenario", errors);
  if (!doc) return std::nullopt;
  const YAML::Node root = *doc;
  Scenario sc;
  if (const YAML::Node md = root["metadata"]; r.isMap(md, "metadata")) {
    r.onlyKeys(md, "metadata", {"name", "title", "description"});
    sc.name = r.str(md, "name", "metadata");
    sc.title = r.str(md, "title", "metadata", sc.name);
    sc.description = r.str(md, "description", "metadata", "");
  }
  const YAML::Node spec = root["spec"];
  if (!r.isMap(spec, "spec")) return std::nullopt;
  r.onlyKeys(spec, "spec", {"demo", "seed", "steps"});
  sc.demo = r.str(spec, "demo", "spec");
  sc.seed = static_cast<uint64_t>(r.number(spec, "seed", "spec", 1, 0, 1e15));
  const YAML::Node steps = spec["steps"];
  if (!steps.IsSequence() || steps.size() == 0)
    r.error(steps, "spec.steps", "must be a non-empty list");
  for (size_t i = 0; steps.IsSequence() && i < steps.size(); ++i) {
    const std::string sp = Reader::index("spec.steps", i);
    const YAML::Node s = steps[i];
    if (!r.isMap(s, sp)) continue;
    r.onlyKeys(s, sp, {"title", "narration", "actions", "checkpoint", "highlight"});
    ScenarioStep step;
    step.title = r.str(s, "title", sp);
    step.narration = r.str(s, "narration", sp, "");
    if (const YAML::Node actions = s["actions"]; actions.IsDefined()) {
      if (!actions.IsSequence()) r.error(actions, sp + ".actions", "must be a list");
      for (size_t a = 0; actions.IsSequence() && a < actions.size(); ++a)
        if (auto act = readAction(r, actions[a], Reader::index(sp + ".actions", a)))
          step.actions.push_back(std::move(*act));
    }
    if (const YAML::Node c = s["checkpoint"]; c.IsDefined() && r.isMap(c, sp + ".checkpoint")) {
      const std::string cp = sp + ".checkpoint";
      r.onlyKeys(c, cp, {"edge", "metric", "above", "below", "within"});
      Checkpoint check;
      const std::string edge = r.str(c, "edge", cp);
      const auto arrow = edge.find("->");
      if (arrow == std::string::npos) {
        r.error(c["edge"], cp + ".edge", "must be 'source -> destination'");
      } else {
        check.source = trim(edge.substr(0, arrow));
        check.destination = trim(edge.substr(arrow + 2));
      }
      const std::string metric = r.str(c, "metric", cp);
      if (auto m = metricFromName(metric))
        check.metric = *m;
      else if (!metric.empty())
        r.error(c["metric"], cp + ".metric",
                "must be errorRate, successRate, p50, p90, p99 or rps");
      const bool has_above = c["above"].IsDefined(), has_below = c["below"].IsDefined();
      if (has_above == has_below) r.error(c, cp, "needs exactly one of above or below");
      check.above = has_above;
      check.threshold = r.number(c, has_above ? "above" : "below", cp, 0, -1e12, 1e12);
      check.within = std::chrono::duration_cast<std::chrono::milliseconds>(
          r.duration(c, "within", cp, std::chrono::seconds(20)));
      step.checkpoint = check;
    }
    if (const YAML::Node h = s["highlight"]; h.IsDefined()) {
      const std::string hp = sp + ".highlight";
      if (!h.IsSequence() || h.size() == 0)
        r.error(h, hp, "must be a non-empty list of 'source -> destination' or service names");
      for (size_t k = 0; h.IsSequence() && k < h.size(); ++k) {
        const YAML::Node e = h[k];
        const std::string ep = Reader::index(hp, k);
        if (!e.IsScalar()) {
          r.error(e, ep, "must be 'source -> destination' or a service name");
          continue;
        }
        HighlightEntry entry;
        const std::string text = e.Scalar();
        const auto arrow = text.find("->");
        entry.source = trim(text.substr(0, arrow));
        if (arrow != std::string::npos) entry.destination = trim(text.substr(arrow + 2));
        const bool ok = detail::validName(entry.source) &&
                        (arrow == std::string::npos || detail::validName(entry.destination));
        if (!ok) {
          r.error(e, ep, "must be 'source -> destination' or a service name");
          continue;
        }
        entry.line = static_cast<uint32_t>(e.Mark().line + 1);
        entry.column = static_cast<uint32_t>(e.Mark().column + 1);
        step.highlight.push_back(std::move(entry));
      }
    }
    sc.steps.push_back(std::move(step));
  }
  if (errors->size() != before) return std::nullopt;
  return sc;
} catch (const YAML::Exception& e) {
  detail::addYamlError(e, file, errors);
  return std::nullopt;
}

}  // namespace

std::optional<Scenario> parseScenario(const std::string& yaml, const std::string& file,
                                      std::vector<common::LocatedError>* errors) {
  return parseLoaded(common::loadYaml(yaml, file), file, errors);
}

std::optional<Scenario> loadScenario(const std::filesystem::path& file,
                                     std::vector<common::LocatedError>* errors) {
  return parseLoaded(common::loadYamlFile(file), file.string(), errors);
}

std::optional<std::filesystem::path> findScenarioFile(const std::string& name_or_path) {
  std::error_code ec;
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".yaml")) {
    if (std::filesystem::is_regular_file(name_or_path, ec)) return name_or_path;
    return std::nullopt;
  }
  for (const auto& dir : dataDirectories()) {
    const auto candidate = dir / "scenarios" / (name_or_path + ".yaml");
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
  }
  return std::nullopt;
}

std::vector<std::filesystem::path> bundledScenarios() {
  std::error_code ec;
  for (const auto& dir : dataDirectories()) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(dir / "scenarios", ec))
      if (e.path().extension() == ".yaml") out.push_back(e.path());
    if (!out.empty()) {
      std::sort(out.begin(), out.end());
      return out;
    }
  }
  return {};
}

namespace {

// Every call edge of the demo, loads included.
std::set<ScenarioEdge> meshEdges(const DemoMesh& mesh) {
  std::set<ScenarioEdge> edges;
  for (const auto& svc : mesh.services)
    for (const auto& c : svc.calls) edges.insert({svc.name, c.service});
  for (const auto& l : mesh.load) edges.insert({l.name, l.target});
  return edges;
}

void addEdgesInto(const std::set<ScenarioEdge>& all, const std::string& service,
                  std::set<ScenarioEdge>* out) {
  for (const auto& e : all)
    if (e.destination == service) out->insert(e);
}

// The services the policy documents of an applyPolicy action are about.
std::vector<std::string> policyTargets(const std::string& yaml) {
  std::vector<std::string> out;
  try {
    // A missing key yields an invalid node whose type queries throw: ask IsDefined() first.
    auto scalar = [](const YAML::Node& n) { return n.IsDefined() && n.IsScalar(); };
    // A refused text has no documents: the control plane reports why when the action runs.
    for (const auto& doc : common::loadYaml(yaml, "policy").documents) {
      const YAML::Node spec = doc["spec"];
      if (!spec.IsDefined() || !spec.IsMap()) continue;
      const YAML::Node host = spec["host"], selector = spec["selector"];
      if (scalar(host)) {
        out.push_back(host.Scalar());
      } else if (selector.IsDefined() && selector.IsMap()) {
        if (const YAML::Node service = selector["service"]; scalar(service))
          out.push_back(service.Scalar());
      }
    }
  } catch (const YAML::Exception&) {
    // The control plane reports the error when the action runs; it highlights nothing.
  }
  return out;
}

}  // namespace

std::vector<ScenarioEdge> stepEdges(const ScenarioStep& step, const DemoMesh& mesh) {
  const std::set<ScenarioEdge> all = meshEdges(mesh);
  std::set<ScenarioEdge> out;
  if (!step.highlight.empty()) {
    for (const auto& h : step.highlight) {
      if (h.destination.empty())
        addEdgesInto(all, h.source, &out);
      else
        out.insert({h.source, h.destination});
    }
    return {out.begin(), out.end()};
  }
  if (step.checkpoint) out.insert({step.checkpoint->source, step.checkpoint->destination});
  for (const auto& action : step.actions) {
    if (const auto* b = std::get_if<SetBehaviourAction>(&action)) {
      addEdgesInto(all, b->service, &out);
    } else if (const auto* k = std::get_if<KillInstanceAction>(&action)) {
      addEdgesInto(all, k->service, &out);
    } else if (const auto* a = std::get_if<ApplyPolicyAction>(&action)) {
      for (const auto& target : policyTargets(a->yaml)) addEdgesInto(all, target, &out);
    } else if (const auto* l = std::get_if<SetLoadAction>(&action)) {
      for (const auto& load : mesh.load)
        if (load.name == l->load) out.insert({load.name, load.target});
    }
  }
  return {out.begin(), out.end()};
}

bool checkHighlights(const Scenario& scenario, const DemoMesh& mesh, const std::string& file,
                     std::vector<common::LocatedError>* errors) {
  const size_t before = errors->size();
  const std::set<ScenarioEdge> all = meshEdges(mesh);
  std::set<std::string> names;
  for (const auto& e : all) {
    names.insert(e.source);
    names.insert(e.destination);
  }
  for (const auto& svc : mesh.services) names.insert(svc.name);
  for (size_t i = 0; i < scenario.steps.size(); ++i) {
    const auto& hl = scenario.steps[i].highlight;
    for (size_t k = 0; k < hl.size(); ++k) {
      const auto& h = hl[k];
      const std::string field = fmt::format("spec.steps[{}].highlight[{}]", i, k);
      auto fail = [&](const std::string& message) {
        errors->push_back({file, h.line, h.column, field, message});
      };
      for (const auto* name : {&h.source, &h.destination}) {
        if (!name->empty() && !names.count(*name))
          fail(fmt::format("'{}' is not a service or load of demo '{}'", *name, mesh.name));
      }
      if (!h.destination.empty() && names.count(h.source) && names.count(h.destination) &&
          !all.count({h.source, h.destination}))
        fail(fmt::format("demo '{}' has no call {} -> {}", mesh.name, h.source, h.destination));
    }
  }
  return errors->size() == before;
}

ScenarioEngine::ScenarioEngine(ScenarioTarget& target, Sleep sleep, Now now,
                               std::chrono::milliseconds poll)
    : target_(target), sleep_(std::move(sleep)), now_(std::move(now)), poll_(poll) {}

ScenarioResult ScenarioEngine::run(const Scenario& scenario,
                                   const std::function<void(const StepEvent&)>& observer,
                                   const std::function<bool()>& cancelled) {
  using Kind = ScenarioEvent::Kind;
  ScenarioResult result;
  const auto started = now_();
  auto event = [](Kind kind) {
    ScenarioEvent e;
    e.kind = kind;
    return e;
  };
  auto report = [&](ScenarioEvent e) {
    // The player indexes its rows with these: they must name a step and action that exist.
    assert(!e.hasStep() || e.step < scenario.steps.size());
    assert(!e.hasAction() || e.action < scenario.steps[e.step].actions.size());
    if (!sink_) return;
    e.scenario = scenario.name;
    e.at = std::chrono::duration_cast<std::chrono::milliseconds>(now_() - started);
    sink_(e);
  };
  auto emit = [&](StepEvent e) {
    if (observer) observer(e);
    result.events.push_back(std::move(e));
  };
  // Ends the run: the finishing event, then the result.
  auto finish = [&](bool cancelled_now, std::string text) {
    ScenarioEvent e = event(Kind::kScenarioFinished);
    e.passed = result.passed;
    e.cancelled = cancelled_now;
    e.steps_completed = result.steps_completed;
    e.text = std::move(text);
    report(std::move(e));
    return result;
  };
  auto stopped = [&] { return finish(true, "stopped"); };
  {
    ScenarioEvent e = event(Kind::kScenarioStarted);
    e.text = scenario.title;
    report(std::move(e));
  }
  for (size_t i = 0; i < scenario.steps.size(); ++i) {
    const ScenarioStep& step = scenario.steps[i];
    {
      ScenarioEvent e = event(Kind::kStepStarted);
      e.step = i;
      e.text = step.title;
      report(std::move(e));
    }
    emit({StepEvent::Kind::kStepStarted, i, step.title, std::nullopt});
    for (size_t a = 0; a < step.actions.size(); ++a) {
      const ScenarioAction& action = step.actions[a];
      if (cancelled && cancelled()) return stopped();
      ActionResult r;
      if (const auto* ap = std::get_if<ApplyPolicyAction>(&action))
        r = target_.applyPolicy(ap->yaml);
      else if (const auto* d = std::get_if<DeletePolicyAction>(&action))
        r = target_.deletePolicy(d->kind, d->name);
      else if (const auto* b = std::get_if<SetBehaviourAction>(&action))
        r = target_.setBehaviour(b->service, b->version, b->instance, b->behaviour);
      else if (const auto* k = std::get_if<KillInstanceAction>(&action))
        r = target_.killInstance(k->service, k->version, k->index);
      else if (const auto* l = std::get_if<SetLoadAction>(&action))
        r = target_.setLoadRate(l->load, l->rate);
      else if (const auto* t = std::get_if<TapAction>(&action))
        r = target_.tap(t->filter, t->duration);
      else if (const auto* w = std::get_if<WaitAction>(&action)) {
        sleep_(w->duration);
        r = {true, ""};
      }
      const std::string text = describe(action) + (r.message.empty() ? "" : ": " + r.message);
      {
        ScenarioEvent e = event(r.ok ? Kind::kActionDone : Kind::kActionFailed);
        e.step = i;
        e.action = a;
        e.text = text;
        report(std::move(e));
      }
      if (!r.ok) {
        emit({StepEvent::Kind::kActionFailed, i, text, std::nullopt});
        return finish(false, fmt::format("step {}: {} failed", i + 1, text));
      }
      emit({StepEvent::Kind::kActionDone, i, text, std::nullopt});
    }
    if (step.checkpoint) {
      const Checkpoint& c = *step.checkpoint;
      {
        ScenarioEvent e = event(Kind::kCheckpointStarted);
        e.step = i;
        e.text = c.describe();
        e.within = c.within;
        report(std::move(e));
      }
      const auto deadline = now_() + c.within;
      std::optional<double> value;
      bool held = false;
      for (;;) {
        if (cancelled && cancelled()) return stopped();
        value = target_.edgeMetric(c.source, c.destination, c.metric);
        if (value && (c.above ? *value > c.threshold : *value < c.threshold)) {
          held = true;
          break;
        }
        if (now_() >= deadline) break;
        sleep_(poll_);
      }
      const std::string observed =
          value ? fmt::format(" (observed {:.4g})", *value) : std::string(" (edge had no traffic)");
      {
        ScenarioEvent e = event(held ? Kind::kCheckpointPassed : Kind::kCheckpointFailed);
        e.step = i;
        e.value = value;
        e.text = held ? c.describe() + observed
                      : fmt::format("{} {} {:g} not reached within {}{}", toString(c.metric),
                                    c.above ? "above" : "below", c.threshold,
                                    common::formatDuration(c.within), observed);
        report(std::move(e));
      }
      emit({held ? StepEvent::Kind::kCheckpointPassed : StepEvent::Kind::kCheckpointFailed, i,
            c.describe() + observed, value});
      if (!held) return finish(false, fmt::format("step {}: checkpoint failed", i + 1));
    }
    result.steps_completed = i + 1;
  }
  result.passed = true;
  return finish(false, fmt::format("all {} steps passed", scenario.steps.size()));
}

namespace {
// kind, name and target service of every document a scenario applies.
std::vector<PolicyInfo> scenarioPolicies(const Scenario& scenario) {
  std::vector<PolicyInfo> out;
  for (const auto& step : scenario.steps)
    for (const auto& action : step.actions) {
      const auto* a = std::get_if<ApplyPolicyAction>(&action);
      if (a == nullptr) continue;
      const common::YamlDocuments loaded = common::loadYaml(a->yaml, "policy");
      if (!loaded.ok()) continue;
      for (const auto& doc : loaded.documents) {
        try {
          PolicyInfo p;
          p.kind = doc["kind"].as<std::string>("");
          p.name = doc["metadata"]["name"].as<std::string>("");
          const YAML::Node spec = doc["spec"];
          if (spec.IsMap()) {
            if (spec["host"]) p.target = spec["host"].as<std::string>("");
            if (p.target.empty() && spec["selector"].IsMap() && spec["selector"]["service"])
              p.target = spec["selector"]["service"].as<std::string>("");
          }
          out.push_back(std::move(p));
        } catch (const YAML::Exception&) {
        }
      }
    }
  return out;
}
}  // namespace

std::vector<PolicyInfo> scenarioCollisions(const Scenario& scenario,
                                           const std::vector<PolicyInfo>& in_force) {
  return policyCollisions(scenarioPolicies(scenario), in_force);
}

std::vector<PolicyInfo> policyCollisions(const std::vector<PolicyInfo>& mine,
                                         const std::vector<PolicyInfo>& in_force) {
  std::vector<PolicyInfo> out;
  for (const auto& p : in_force) {
    const bool collides = std::any_of(mine.begin(), mine.end(), [&](const PolicyInfo& m) {
      if (m.kind != p.kind) return false;
      if (m.name == p.name) return true;
      const bool one_per_service = m.kind == "DestinationPolicy" || m.kind == "TrafficRoute";
      return one_per_service && !m.target.empty() && m.target == p.target;
    });
    if (collides) out.push_back(p);
  }
  return out;
}

std::string policyNames(const std::vector<PolicyInfo>& policies) {
  std::string out;
  for (const auto& p : policies) out += (out.empty() ? "" : ", ") + p.kind + "/" + p.name;
  return out;
}

}  // namespace meshdeck::cp::fleet
