// The scenario engine's structured progress (ScenarioEvent) and the edges each step is about.
#include <QtTest>
#include <map>

#include "common/clock.h"
#include "controlplane/fleet/scenario.h"

using namespace meshdeck::cp;
using namespace meshdeck::cp::fleet;
using meshdeck::common::LocatedError;
using namespace std::chrono_literals;

namespace {

// A mesh where every action succeeds (unless told otherwise) and a -> b reports `error_rate`
// from `errors_from` on.
class ScriptedTarget : public ScenarioTarget {
 public:
  explicit ScriptedTarget(meshdeck::common::SimulatedTimeSource& clock) : clock_(clock) {}
  ActionResult applyPolicy(const std::string&) override { return {true, "revision 2"}; }
  ActionResult deletePolicy(const std::string&, const std::string&) override {
    return {!fail_delete, fail_delete ? "no such policy" : ""};
  }
  ActionResult setBehaviour(const std::string&, const std::string&, std::optional<uint32_t>,
                            const Behaviour& b) override {
    errors_from = clock_.monotonicNow() + 2s;
    error_rate = b.error_rate;
    return {true, ""};
  }
  ActionResult killInstance(const std::string&, const std::string&, uint32_t) override {
    return {true, ""};
  }
  ActionResult setLoadRate(const std::string&, double) override { return {true, ""}; }
  std::optional<double> edgeMetric(const std::string& source, const std::string& destination,
                                   EdgeMetric metric) override {
    if (source != "a" || destination != "b") return std::nullopt;
    const double err = clock_.monotonicNow() >= errors_from ? error_rate : 0.0;
    return metric == EdgeMetric::kErrorRate ? err : 1 - err;
  }

  bool fail_delete = false;
  double error_rate = 0;
  std::chrono::steady_clock::time_point errors_from{};

 private:
  meshdeck::common::SimulatedTimeSource& clock_;
};

// a -> b -> c, a -> c, and a load `shoppers` aimed at a.
DemoMesh smallMesh() {
  DemoMesh m;
  m.name = "small";
  DemoService a{"a", "frontend", false, "sequential", {{"b", "/"}, {"c", "/"}}, {DemoVersion{}}};
  DemoService b{"b", "business", false, "sequential", {{"c", "/"}}, {DemoVersion{}}};
  DemoService c{"c", "data", false, "sequential", {}, {DemoVersion{}}};
  m.services = {a, b, c};
  m.load = {DemoLoad{"shoppers", "a", "/", 10, 4}};
  return m;
}

const char* kScenario = R"(apiVersion: meshdeck.io/v1alpha1
kind: Scenario
metadata: {name: events, title: Events}
spec:
  demo: small
  steps:
    - title: healthy
      narration: All is well.
      checkpoint: {edge: a -> b, metric: successRate, above: 0.99, within: 10s}
    - title: break b
      actions:
        - setBehaviour: {service: b, version: v1, errorRate: 0.5}
        - setLoad: {name: shoppers, rate: 40}
      checkpoint: {edge: a -> b, metric: errorRate, above: 0.1, within: 10s}
    - title: clean up
      actions:
        - wait: 2s
        - deletePolicy: {kind: TrafficRoute, name: x}
)";

std::string edgesText(const std::vector<ScenarioEdge>& edges) {
  std::string s;
  for (const auto& e : edges) s += (s.empty() ? "" : ", ") + e.source + "->" + e.destination;
  return s;
}

Scenario parse(const std::string& yaml) {
  std::vector<LocatedError> errors;
  auto sc = parseScenario(yaml, "t.yaml", &errors);
  std::string text;
  for (const auto& e : errors) text += e.toString() + "\n";
  if (!sc) qFatal("scenario does not parse: %s", text.c_str());
  return *sc;
}

struct Recorded {
  std::vector<ScenarioEvent> events;
  std::string kinds() const {
    std::string s;
    for (const auto& e : events) s += std::string(s.empty() ? "" : " | ") + toString(e.kind);
    return s;
  }
};

}  // namespace

class ScenarioEventsTest : public QObject {
  Q_OBJECT

 private slots:
  void edgesDerivedFromCheckpointsAndActions() {
    const Scenario sc = parse(R"(apiVersion: meshdeck.io/v1alpha1
kind: Scenario
metadata: {name: edges}
spec:
  demo: small
  steps:
    - title: checkpoint only
      checkpoint: {edge: b -> c, metric: p99, below: 100}
    - title: behaviour of c, checkpoint on a -> b
      actions:
        - setBehaviour: {service: c, version: v1, errorRate: 0.5}
      checkpoint: {edge: a -> b, metric: p99, below: 100}
    - title: kill b, load on a
      actions:
        - killInstance: {service: b, version: v1, index: 0}
        - setLoad: {name: shoppers, rate: 40}
    - title: policies
      actions:
        - applyPolicy: |
            apiVersion: meshdeck.io/v1alpha1
            kind: TrafficRoute
            metadata: {name: r}
            spec: {host: b}
            ---
            apiVersion: meshdeck.io/v1alpha1
            kind: RateLimit
            metadata: {name: l}
            spec: {selector: {service: a}, requestsPerSecond: 5}
            ---
            apiVersion: meshdeck.io/v1alpha1
            kind: PeerAuthentication
            metadata: {name: mesh}
            spec: {mtls: {mode: STRICT}}
    - title: explicit list wins
      actions:
        - setBehaviour: {service: c, version: v1, errorRate: 0.5}
      checkpoint: {edge: a -> b, metric: p99, below: 100}
      highlight: [b, a -> c, a -> c]
    - title: nothing to show
      actions:
        - wait: 1s
        - deletePolicy: {kind: TrafficRoute, name: r}
)");
    const DemoMesh mesh = smallMesh();
    QCOMPARE(sc.steps.size(), size_t{6});
    QCOMPARE(edgesText(stepEdges(sc.steps[0], mesh)), std::string("b->c"));
    // c's callers see its behaviour: a -> c and b -> c, plus the checkpoint's edge.
    QCOMPARE(edgesText(stepEdges(sc.steps[1], mesh)), std::string("a->b, a->c, b->c"));
    QCOMPARE(edgesText(stepEdges(sc.steps[2], mesh)), std::string("a->b, shoppers->a"));
    // spec.host and spec.selector.service; a mesh-wide policy names no service.
    QCOMPARE(edgesText(stepEdges(sc.steps[3], mesh)), std::string("a->b, shoppers->a"));
    QCOMPARE(edgesText(stepEdges(sc.steps[4], mesh)), std::string("a->b, a->c"));
    QVERIFY(stepEdges(sc.steps[5], mesh).empty());
    QCOMPARE(sc.steps[4].highlight.size(), size_t{3});
    QCOMPARE(sc.steps[4].highlight[1].line, uint32_t{38});
    QCOMPARE(sc.steps[4].highlight[1].column, uint32_t{22});

    std::vector<LocatedError> errors;
    QVERIFY(checkHighlights(sc, mesh, "t.yaml", &errors));
    QVERIFY(errors.empty());
  }

  void unknownHighlightNamesAreRefusedWithTheirPlace() {
    const Scenario sc = parse(R"(apiVersion: meshdeck.io/v1alpha1
kind: Scenario
metadata: {name: bad-names}
spec:
  demo: small
  steps:
    - title: one
      highlight:
        - nobody
        - c -> a
        - a -> ghost
)");
    std::vector<LocatedError> errors;
    QVERIFY(!checkHighlights(sc, smallMesh(), "t.yaml", &errors));
    std::string text;
    for (const auto& e : errors) text += e.toString() + "\n";
    QCOMPARE(errors.size(), size_t{3});
    QVERIFY2(text.find("t.yaml:9:11: spec.steps[0].highlight[0]: 'nobody' is not a service or "
                       "load of demo 'small'") != std::string::npos,
             text.c_str());
    QVERIFY2(
        text.find("t.yaml:10:11: spec.steps[0].highlight[1]: demo 'small' has no call c -> a") !=
            std::string::npos,
        text.c_str());
    QVERIFY2(text.find("highlight[2]: 'ghost' is not a service") != std::string::npos,
             text.c_str());
  }

  void malformedHighlightIsAParseError() {
    std::vector<LocatedError> errors;
    QVERIFY(!parseScenario(R"(apiVersion: meshdeck.io/v1alpha1
kind: Scenario
metadata: {name: x}
spec:
  demo: small
  steps:
    - title: one
      highlight: [a -> , {b: c}, Big Name]
    - title: two
      highlight: b
)",
                           "h.yaml", &errors));
    std::string text;
    for (const auto& e : errors) text += e.toString() + "\n";
    QCOMPARE(errors.size(), size_t{4});
    QVERIFY2(text.find("h.yaml:8:19: spec.steps[0].highlight[0]: must be 'source -> destination' "
                       "or a service name") != std::string::npos,
             text.c_str());
    QVERIFY2(text.find("spec.steps[0].highlight[1]: must be") != std::string::npos, text.c_str());
    QVERIFY2(text.find("spec.steps[0].highlight[2]: must be") != std::string::npos, text.c_str());
    QVERIFY2(text.find("h.yaml:10:18: spec.steps[1].highlight: must be a non-empty list") !=
                 std::string::npos,
             text.c_str());
  }

  void everyStepOfTheBundledScenariosIsAboutEdgesOfItsDemo() {
    const auto files = bundledScenarios();
    QVERIFY(files.size() >= 4);
    for (const auto& file : files) {
      std::vector<LocatedError> errors;
      const auto sc = loadScenario(file, &errors);
      QVERIFY(sc.has_value());
      const auto mesh = loadDemoMesh(*findDemoFile(sc->demo), &errors);
      QVERIFY(mesh.has_value());
      QVERIFY(checkHighlights(*sc, *mesh, file.string(), &errors));
      for (size_t i = 0; i < sc->steps.size(); ++i) {
        const auto edges = stepEdges(sc->steps[i], *mesh);
        QVERIFY2(!edges.empty(), qPrintable(QString::fromStdString(file.string() + ": step " +
                                                                   std::to_string(i + 1))));
        if (const auto& c = sc->steps[i].checkpoint)
          QVERIFY(std::count(edges.begin(), edges.end(), ScenarioEdge{c->source, c->destination}));
      }
    }
  }

  void eventsComeInOrderWithEngineTimes() {
    meshdeck::common::SimulatedTimeSource clock;
    ScriptedTarget target(clock);
    const Scenario sc = parse(kScenario);
    ScenarioEngine engine(
        target, [&](std::chrono::milliseconds d) { clock.advance(d); },
        [&] { return clock.monotonicNow(); }, 250ms);
    Recorded rec;
    std::vector<std::string> order;  // sink and observer interleaved
    engine.setEventSink([&](const ScenarioEvent& e) {
      rec.events.push_back(e);
      order.push_back(std::string("event:") + toString(e.kind));
    });
    const auto result = engine.run(sc, [&](const StepEvent&) { order.push_back("step-event"); });
    QVERIFY(result.passed);
    QCOMPARE(rec.kinds(),
             std::string("scenario started | step started | checkpoint started | checkpoint "
                         "passed | step started | action done | action done | checkpoint started "
                         "| checkpoint passed | step started | action done | action done | "
                         "scenario finished"));
    // The structured event of a moment comes before the line-oriented one.
    QCOMPARE(order[1], std::string("event:step started"));
    QCOMPARE(order[2], std::string("step-event"));
    // The StepEvents are what they always were (no new kinds in the result).
    QCOMPARE(result.events.size(), size_t{9});
    for (const auto& e : rec.events) QCOMPARE(e.scenario, std::string("events"));

    const auto& first_check = rec.events[2];
    QCOMPARE(first_check.step, size_t{0});
    QCOMPARE(first_check.within, std::chrono::milliseconds(10s));
    QCOMPARE(first_check.text, std::string("success rate of a -> b above 0.99 within 10s"));
    // The second checkpoint waits the 2 s until errors show, in 250 ms polls.
    const auto& started = rec.events[7];
    const auto& passed = rec.events[8];
    QCOMPARE(started.kind, ScenarioEvent::Kind::kCheckpointStarted);
    QCOMPARE(passed.kind, ScenarioEvent::Kind::kCheckpointPassed);
    QCOMPARE(passed.step, size_t{1});
    QCOMPARE(passed.value, std::optional<double>(0.5));
    QCOMPARE(passed.at - started.at, std::chrono::milliseconds(2s));
    QVERIFY2(passed.text.find("(observed 0.5)") != std::string::npos, passed.text.c_str());
    QCOMPARE(rec.events[5].action, size_t{0});
    QCOMPARE(rec.events[6].action, size_t{1});
    QVERIFY(rec.events[6].text.find("set load shoppers to 40") != std::string::npos);
    const auto& finished = rec.events.back();
    QVERIFY(finished.passed && !finished.cancelled);
    QCOMPARE(finished.steps_completed, size_t{3});
    QCOMPARE(finished.at, std::chrono::milliseconds(4s));  // 2 s of checkpoint + wait 2s
  }

  void failedCheckpointFinishesWithTheReason() {
    meshdeck::common::SimulatedTimeSource clock;
    ScriptedTarget target(clock);
    Scenario sc = parse(kScenario);
    sc.steps[1].actions.erase(sc.steps[1].actions.begin());  // b never breaks
    ScenarioEngine engine(
        target, [&](std::chrono::milliseconds d) { clock.advance(d); },
        [&] { return clock.monotonicNow(); }, 250ms);
    Recorded rec;
    engine.setEventSink([&](const ScenarioEvent& e) { rec.events.push_back(e); });
    QVERIFY(!engine.run(sc, {}).passed);
    QCOMPARE(rec.kinds(),
             std::string("scenario started | step started | checkpoint started | checkpoint "
                         "passed | step started | action done | checkpoint started | checkpoint "
                         "failed | scenario finished"));
    const auto& failed = rec.events[7];
    QCOMPARE(failed.value, std::optional<double>(0.0));
    QCOMPARE(failed.text, std::string("error rate above 0.1 not reached within 10s (observed 0)"));
    QCOMPARE(failed.at - rec.events[6].at, std::chrono::milliseconds(10s));
    const auto& finished = rec.events.back();
    QVERIFY(!finished.passed && !finished.cancelled);
    QCOMPARE(finished.steps_completed, size_t{1});
    QCOMPARE(finished.text, std::string("step 2: checkpoint failed"));
  }

  void failedActionFinishesTheRun() {
    meshdeck::common::SimulatedTimeSource clock;
    ScriptedTarget target(clock);
    target.fail_delete = true;
    ScenarioEngine engine(
        target, [&](std::chrono::milliseconds d) { clock.advance(d); },
        [&] { return clock.monotonicNow(); }, 250ms);
    Recorded rec;
    engine.setEventSink([&](const ScenarioEvent& e) { rec.events.push_back(e); });
    QVERIFY(!engine.run(parse(kScenario), {}).passed);
    QCOMPARE(rec.events[rec.events.size() - 2].kind, ScenarioEvent::Kind::kActionFailed);
    QCOMPARE(rec.events[rec.events.size() - 2].action, size_t{1});
    QVERIFY(rec.events.back().text.find("delete TrafficRoute/x: no such policy failed") !=
            std::string::npos);
    QCOMPARE(rec.events.back().steps_completed, size_t{2});
  }

  void cancelledRunStillFinishes() {
    meshdeck::common::SimulatedTimeSource clock;
    ScriptedTarget target(clock);
    ScenarioEngine engine(
        target, [&](std::chrono::milliseconds d) { clock.advance(d); },
        [&] { return clock.monotonicNow(); }, 250ms);
    Recorded rec;
    engine.setEventSink([&](const ScenarioEvent& e) { rec.events.push_back(e); });
    // Cancelled while the second checkpoint waits.
    const auto result = engine.run(parse(kScenario), {}, [&] {
      return rec.events.size() >= 8 &&
             rec.events.back().kind == ScenarioEvent::Kind::kCheckpointStarted;
    });
    QVERIFY(!result.passed);
    QCOMPARE(rec.events.back().kind, ScenarioEvent::Kind::kScenarioFinished);
    QVERIFY(rec.events.back().cancelled);
    QCOMPARE(rec.events.back().text, std::string("stopped"));
    QCOMPARE(rec.events.back().steps_completed, size_t{1});
  }
};

QTEST_APPLESS_MAIN(ScenarioEventsTest)
#include "scenario_events_test.moc"
