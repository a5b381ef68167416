#include "controlplane/fleet/scenario.h"

#include <QtTest>
#include <algorithm>
#include <map>

#include "common/clock.h"
#include "support/hostile_yaml.h"

using namespace meshdeck::cp;
using namespace meshdeck::cp::fleet;
using meshdeck::common::LocatedError;
using namespace std::chrono_literals;

namespace {

// A scripted mesh: each action is recorded; metrics follow a function of simulated time.
class FakeTarget : public ScenarioTarget {
 public:
  explicit FakeTarget(meshdeck::common::SimulatedTimeSource& clock) : clock_(clock) {}
  ActionResult applyPolicy(const std::string& yaml) override {
    log.push_back("apply:" + yaml.substr(0, 10));
    return {true, "revision 2"};
  }
  ActionResult deletePolicy(const std::string& kind, const std::string& name) override {
    log.push_back("delete:" + kind + "/" + name);
    return {fail_delete ? false : true, fail_delete ? "no such policy" : ""};
  }
  ActionResult setBehaviour(const std::string& service, const std::string& version,
                            std::optional<uint32_t> instance, const Behaviour& b) override {
    log.push_back("behaviour:" + service + "/" + version + "/" +
                  (instance ? std::to_string(*instance) : "*") + "/" +
                  std::to_string(b.error_rate));
    error_rate_from = clock_.monotonicNow() + 3s;  // errors show 3 s later
    target_error_rate = b.error_rate;
    return {true, ""};
  }
  ActionResult killInstance(const std::string& s, const std::string& v, uint32_t i) override {
    log.push_back("kill:" + s + "/" + v + "/" + std::to_string(i));
    return {true, ""};
  }
  ActionResult setLoadRate(const std::string& load, double rate) override {
    log.push_back("load:" + load + "/" + std::to_string(int(rate)));
    return {true, ""};
  }
  ActionResult tap(const TapFilter& filter, std::chrono::milliseconds duration) override {
    log.push_back("tap:" + filter.describe() + "/" + std::to_string(duration.count()));
    return {true, "3 request(s) seen: GET / 503 x3"};
  }
  std::optional<double> edgeMetric(const std::string& source, const std::string& destination,
                                   EdgeMetric metric) override {
    if (source != "a" || destination != "b") return std::nullopt;
    ++polls;
    const double err = clock_.monotonicNow() >= error_rate_from ? target_error_rate : 0.0;
    if (metric == EdgeMetric::kErrorRate) return err;
    if (metric == EdgeMetric::kSuccessRate) return 1 - err;
    return 5.0;
  }

  std::vector<std::string> log;
  int polls = 0;
  bool fail_delete = false;
  double target_error_rate = 0;

 private:
  meshdeck::common::SimulatedTimeSource& clock_;
  std::chrono::steady_clock::time_point error_rate_from{};
};

const char* kScenario = R"(apiVersion: meshdeck.io/v1alpha1
kind: Scenario
metadata: {name: test, title: Test}
spec:
  demo: storefront
  steps:
    - title: healthy
      checkpoint: {edge: a -> b, metric: successRate, above: 0.99, within: 10s}
    - title: break b
      actions:
        - setBehaviour: {service: b, version: v1, errorRate: 0.5}
        - setLoad: {name: shoppers, rate: 40}
        - killInstance: {service: b, version: v1, index: 1}
      checkpoint: {edge: a -> b, metric: errorRate, above: 0.1, within: 10s}
    - title: clean up
      actions:
        - wait: 2s
        - deletePolicy: {kind: TrafficRoute, name: x}
)";

}  // namespace

class ScenarioTest : public QObject {
  Q_OBJECT

 private slots:
  void runsStepsInOrderOnSimulatedTime() {
    meshdeck::common::SimulatedTimeSource clock;
    FakeTarget target(clock);
    std::vector<LocatedError> errors;
    const auto sc = parseScenario(kScenario, "t.yaml", &errors);
    QVERIFY(sc.has_value());
    ScenarioEngine engine(
        target, [&](std::chrono::milliseconds d) { clock.advance(d); },
        [&] { return clock.monotonicNow(); }, 250ms);
    std::vector<std::string> narration;
    const auto start = clock.monotonicNow();
    const auto result = engine.run(*sc, [&](const StepEvent& e) { narration.push_back(e.text); });
    QVERIFY(result.passed);
    QCOMPARE(result.steps_completed, size_t{3});
    QCOMPARE(target.log, (std::vector<std::string>{"behaviour:b/v1/*/0.500000", "load:shoppers/40",
                                                   "kill:b/v1/1", "delete:TrafficRoute/x"}));
    // The error checkpoint waited for the errors to appear (3 s), in 250 ms polls, then the
    // 2 s wait: about 5 s of simulated time, no real sleeping.
    const auto took = clock.monotonicNow() - start;
    QVERIFY(took >= 5s && took <= 5500ms);
    QVERIFY(std::any_of(narration.begin(), narration.end(), [](const std::string& t) {
      return t.find("error rate of a -> b above 0.1 within 10s (observed 0.5)") !=
             std::string::npos;
    }));
  }

  void aTapStepWatchesTheFailingRequests() {
    meshdeck::common::SimulatedTimeSource clock;
    FakeTarget target(clock);
    std::vector<LocatedError> errors;
    const auto sc = parseScenario(R"(apiVersion: meshdeck.io/v1alpha1
kind: Scenario
metadata: {name: tap, title: Tap}
spec:
  demo: storefront
  steps:
    - title: watch the failing requests
      actions:
        - tap: {service: b, to: c, path: /api, status: 5xx, minLatency: 100ms, duration: 3s, rate: 20}
)",
                                  "t.yaml", &errors);
    QVERIFY2(sc.has_value(), errors.empty() ? "" : errors.front().toString().c_str());
    const auto& action = std::get<TapAction>(sc->steps[0].actions[0]);
    QCOMPARE(action.filter.service, std::string("b"));
    QCOMPARE(action.filter.destination_service, std::string("c"));
    QCOMPARE(action.filter.path_prefix, std::string("/api"));
    QCOMPARE(action.filter.status_class, 5u);
    QCOMPARE(action.filter.min_latency_us, uint64_t{100'000});
    QCOMPARE(action.filter.events_per_second, 20.0);
    QCOMPARE(action.duration, std::chrono::milliseconds(3000));
    ScenarioEngine engine(
        target, [&](std::chrono::milliseconds d) { clock.advance(d); },
        [&] { return clock.monotonicNow(); }, 250ms);
    std::vector<std::string> narration;
    const auto result = engine.run(*sc, [&](const StepEvent& e) { narration.push_back(e.text); });
    QVERIFY(result.passed);
    QCOMPARE(target.log.size(), size_t{1});
    QVERIFY(target.log[0].rfind("tap:svc=b to=c path=/api status=5xx", 0) == 0);
    QVERIFY(std::any_of(narration.begin(), narration.end(), [](const std::string& t) {
      return t.find("watch svc=b") == 0 && t.find("GET / 503 x3") != std::string::npos;
    }));
    // A status that is not a class is refused with its place.
    errors.clear();
    QVERIFY(!parseScenario(R"(apiVersion: meshdeck.io/v1alpha1
kind: Scenario
metadata: {name: tap, title: Tap}
spec:
  demo: storefront
  steps:
    - title: bad
      actions:
        - tap: {service: b, status: 503}
)",
                           "t.yaml", &errors));
    QVERIFY(!errors.empty());
    QVERIFY2(errors.front().toString().find("status") != std::string::npos,
             errors.front().toString().c_str());
  }

  void failedCheckpointStopsTheRun() {
    meshdeck::common::SimulatedTimeSource clock;
    FakeTarget target(clock);
    std::vector<LocatedError> errors;
    auto sc = parseScenario(kScenario, "t.yaml", &errors);
    QVERIFY(sc.has_value());
    sc->steps[1].actions.erase(sc->steps[1].actions.begin());  // b never breaks
    ScenarioEngine engine(
        target, [&](std::chrono::milliseconds d) { clock.advance(d); },
        [&] { return clock.monotonicNow(); }, 250ms);
    const auto result = engine.run(*sc, {});
    QVERIFY(!result.passed);
    QCOMPARE(result.steps_completed, size_t{1});
    QCOMPARE(result.events.back().kind, StepEvent::Kind::kCheckpointFailed);
    QCOMPARE(result.events.back().value, std::optional<double>(0.0));
    QVERIFY(target.polls >= 40);  // polled for the whole 10 s
    QVERIFY(std::none_of(target.log.begin(), target.log.end(),
                         [](const std::string& l) { return l.starts_with("delete"); }));
  }

  void failedActionStopsTheRun() {
    meshdeck::common::SimulatedTimeSource clock;
    FakeTarget target(clock);
    target.fail_delete = true;
    std::vector<LocatedError> errors;
    const auto sc = parseScenario(kScenario, "t.yaml", &errors);
    ScenarioEngine engine(
        target, [&](std::chrono::milliseconds d) { clock.advance(d); },
        [&] { return clock.monotonicNow(); });
    const auto result = engine.run(*sc, {});
    QVERIFY(!result.passed);
    QCOMPARE(result.events.back().kind, StepEvent::Kind::kActionFailed);
    QVERIFY(result.events.back().text.find("no such policy") != std::string::npos);
  }

  void malformedScenarioNamesLineAndField() {
    std::vector<LocatedError> errors;
    QVERIFY(
        !parseScenario("apiVersion: meshdeck.io/v1alpha1\nkind: Scenario\nmetadata: {name: x}\n"
                       "spec:\n  demo: storefront\n  steps:\n    - title: one\n"
                       "      actions:\n        - explode: now\n"
                       "      checkpoint: {edge: a b, metric: p42, above: 1, below: 2}\n",
                       "bad.yaml", &errors));
    std::string text;
    for (const auto& e : errors) text += e.toString() + "\n";
    QVERIFY2(text.find("bad.yaml:9:11: spec.steps[0].actions[0].explode: unknown action") !=
                 std::string::npos,
             text.c_str());
    QVERIFY2(text.find("spec.steps[0].checkpoint.edge: must be 'source -> destination'") !=
                 std::string::npos,
             text.c_str());
    QVERIFY2(text.find("spec.steps[0].checkpoint.metric: must be") != std::string::npos,
             text.c_str());
    QVERIFY2(text.find("needs exactly one of above or below") != std::string::npos, text.c_str());
  }

  // Found by the demo_scenario fuzzer: missing sections made yaml-cpp throw out of the parser.
  void missingSectionsAreRefusedNotThrown() {
    std::vector<LocatedError> errors;
    std::optional<Scenario> sc;
    QVERIFY_THROWS_NO_EXCEPTION(sc = parseScenario("kind: Scenario\n", "s.yaml", &errors));
    QVERIFY(!sc);
    QVERIFY(!errors.empty());
    errors.clear();
    QVERIFY_THROWS_NO_EXCEPTION(
        sc = parseScenario("apiVersion: meshdeck.io/v1alpha1\nkind: Scenario\nmetadata: {name: s}\n"
                           "spec: {demo: storefront}\n",
                           "s.yaml", &errors));
    QVERIFY(!sc);
    QVERIFY(!errors.empty());
  }

  void bundledScenariosAreValidForTheirDemo() {
    const auto files = bundledScenarios();
    QVERIFY(files.size() >= 4);
    for (const auto& file : files) {
      std::vector<LocatedError> errors;
      const auto sc = loadScenario(file, &errors);
      std::string text;
      for (const auto& e : errors) text += e.toString() + "\n";
      QVERIFY2(sc.has_value(), text.c_str());
      const auto demo_file = findDemoFile(sc->demo);
      QVERIFY2(demo_file.has_value(), sc->demo.c_str());
      const auto demo = loadDemoMesh(*demo_file, &errors);
      QVERIFY(demo.has_value());
      for (const auto& step : sc->steps) {
        if (step.checkpoint) {
          const auto* src = demo->find(step.checkpoint->source);
          QVERIFY2(src, step.checkpoint->source.c_str());
          QVERIFY2(std::any_of(src->calls.begin(), src->calls.end(),
                               [&](const DemoCall& c) {
                                 return c.service == step.checkpoint->destination;
                               }),
                   qPrintable(QString::fromStdString(file.string() + ": no edge " +
                                                     step.checkpoint->describe())));
        }
        for (const auto& action : step.actions)
          if (const auto* b = std::get_if<SetBehaviourAction>(&action))
            QVERIFY2(demo->find(b->service), b->service.c_str());
      }
    }
  }

  // The "billion laughs" is refused by the YAML reader's limits, from text and from a file.
  void refusesAliasBomb() {
    std::vector<LocatedError> errors;
    QVERIFY(!parseScenario(meshdeck::testing::billionLaughs(), "bomb.yaml", &errors));
    QCOMPARE(errors.size(), size_t{1});
    QCOMPARE(errors[0].toString(),
             "bomb.yaml" + std::string(meshdeck::testing::kBillionLaughsRefusal));
    errors.clear();
    const auto file = meshdeck::testing::hostileYamlFile("billion-laughs.yaml");
    QVERIFY(!loadScenario(file, &errors));
    QCOMPARE(errors.size(), size_t{1});
    QCOMPARE(errors[0].toString(), file.string() + meshdeck::testing::kBillionLaughsRefusal);
  }
};

QTEST_APPLESS_MAIN(ScenarioTest)
#include "scenario_test.moc"
