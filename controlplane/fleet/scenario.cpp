#include "controlplane/fleet/scenario.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "common/atomic_file.h"
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
      try {
        for (const auto& doc : YAML::LoadAll(a.yaml))
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
  };
  return std::visit(Visitor{}, action);
}

namespace {

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
            "killInstance, setLoad or wait");
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

}  // namespace

std::optional<Scenario> parseScenario(const std::string& yaml, const std::string& file,
                                      std::vector<FileError>* errors) {
  const size_t before = errors->size();
  Reader r(file, errors);
  const auto doc = detail::loadDocument(r, yaml, file, "Scenario", errors);
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
    r.onlyKeys(s, sp, {"title", "narration", "actions", "checkpoint"});
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
        auto trim = [](std::string x) {
          x.erase(0, x.find_first_not_of(' '));
          x.erase(x.find_last_not_of(' ') + 1);
          return x;
        };
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
    sc.steps.push_back(std::move(step));
  }
  if (errors->size() != before) return std::nullopt;
  return sc;
}

std::optional<Scenario> loadScenario(const std::filesystem::path& file,
                                     std::vector<FileError>* errors) {
  std::string text, why;
  if (!common::readFile(file, &text, &why)) {
    errors->push_back({file.string(), 0, 0, "", "cannot open file (" + why + ")"});
    return std::nullopt;
  }
  return parseScenario(text, file.string(), errors);
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

ScenarioEngine::ScenarioEngine(ScenarioTarget& target, Sleep sleep, Now now,
                               std::chrono::milliseconds poll)
    : target_(target), sleep_(std::move(sleep)), now_(std::move(now)), poll_(poll) {}

ScenarioResult ScenarioEngine::run(const Scenario& scenario,
                                   const std::function<void(const StepEvent&)>& observer,
                                   const std::function<bool()>& cancelled) {
  ScenarioResult result;
  auto emit = [&](StepEvent e) {
    if (observer) observer(e);
    result.events.push_back(std::move(e));
  };
  for (size_t i = 0; i < scenario.steps.size(); ++i) {
    const ScenarioStep& step = scenario.steps[i];
    emit({StepEvent::Kind::kStepStarted, i, step.title, std::nullopt});
    for (const auto& action : step.actions) {
      if (cancelled && cancelled()) return result;
      ActionResult r;
      if (const auto* a = std::get_if<ApplyPolicyAction>(&action))
        r = target_.applyPolicy(a->yaml);
      else if (const auto* d = std::get_if<DeletePolicyAction>(&action))
        r = target_.deletePolicy(d->kind, d->name);
      else if (const auto* b = std::get_if<SetBehaviourAction>(&action))
        r = target_.setBehaviour(b->service, b->version, b->instance, b->behaviour);
      else if (const auto* k = std::get_if<KillInstanceAction>(&action))
        r = target_.killInstance(k->service, k->version, k->index);
      else if (const auto* l = std::get_if<SetLoadAction>(&action))
        r = target_.setLoadRate(l->load, l->rate);
      else if (const auto* w = std::get_if<WaitAction>(&action)) {
        sleep_(w->duration);
        r = {true, ""};
      }
      const std::string text = describe(action) + (r.message.empty() ? "" : ": " + r.message);
      if (!r.ok) {
        emit({StepEvent::Kind::kActionFailed, i, text, std::nullopt});
        return result;
      }
      emit({StepEvent::Kind::kActionDone, i, text, std::nullopt});
    }
    if (step.checkpoint) {
      const Checkpoint& c = *step.checkpoint;
      const auto deadline = now_() + c.within;
      std::optional<double> value;
      bool held = false;
      for (;;) {
        if (cancelled && cancelled()) return result;
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
      emit({held ? StepEvent::Kind::kCheckpointPassed : StepEvent::Kind::kCheckpointFailed, i,
            c.describe() + observed, value});
      if (!held) return result;
    }
    result.steps_completed = i + 1;
  }
  result.passed = true;
  return result;
}

}  // namespace meshdeck::cp::fleet
