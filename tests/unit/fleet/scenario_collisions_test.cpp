// A scenario's policies against the policies in force: which ones it would collide with
// (scenarioCollisions), and setting them aside for the scenario and restoring them after
// (setAsidePolicies, restorePolicies), on the bundled "A canary goes bad".
#include <QtTest>
#include <algorithm>

#include "controlplane/fleet/demo_runner.h"
#include "controlplane/fleet/scenario.h"
#include "tests/support/fake_control_plane.h"
#include "tests/support/policy_fixtures.h"

using namespace meshdeck::cp;
using namespace meshdeck::cp::fleet;

namespace {

const char* kFormCanary = meshdeck::testing::kFormCanaryOnRecommendations;

// A route on another service: the scenario leaves it alone.
const char* kReviewsRoute = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: reviews-route}
spec:
  host: reviews
  http:
    - name: default
      route:
        - {destination: {host: reviews}, weight: 100}
)";

Scenario canaryGoesBad() {
  std::vector<meshdeck::common::LocatedError> errors;
  const auto file = findScenarioFile("canary-goes-bad");
  if (!file) return {};
  return loadScenario(*file, &errors).value_or(Scenario{});
}

std::vector<std::string> names(const std::vector<PolicyInfo>& policies) {
  std::vector<std::string> out;
  for (const auto& p : policies) out.push_back(p.kind + "/" + p.name);
  std::sort(out.begin(), out.end());
  return out;
}

std::string firstApply(const Scenario& sc) {
  for (const auto& step : sc.steps)
    for (const auto& action : step.actions)
      if (const auto* a = std::get_if<ApplyPolicyAction>(&action)) return a->yaml;
  return {};
}

}  // namespace

class ScenarioCollisionsTest : public QObject {
  Q_OBJECT

 private slots:
  void noPoliciesNoCollisions() {
    const Scenario sc = canaryGoesBad();
    QVERIFY(!sc.steps.empty());
    QVERIFY(scenarioCollisions(sc, {}).empty());
  }

  void formCanaryOnTheSameServiceCollides() {
    const Scenario sc = canaryGoesBad();
    QVERIFY(!sc.steps.empty());
    meshdeck::testing::FakeControlPlane cp;
    QVERIFY(cp.applyPolicies(kFormCanary, "form", "test", false).ok);
    QVERIFY(cp.applyPolicies(kReviewsRoute, "form", "test", false).ok);
    const auto collisions = scenarioCollisions(sc, cp.policies());
    QCOMPARE(names(collisions),
             (std::vector<std::string>{"DestinationPolicy/recommendations-form",
                                       "TrafficRoute/recommendations-form-split"}));
    QCOMPARE(policyNames({collisions.front()}), names({collisions.front()}).front());
  }

  void sameKindAndNameCollides() {
    const Scenario sc = canaryGoesBad();
    PolicyInfo leftover{"TrafficRoute", "recommendations-canary", "reviews", "", 1};
    PolicyInfo other_kind{"RetryPolicy", "recommendations-canary", "recommendations", "", 1};
    QCOMPARE(names(scenarioCollisions(sc, {leftover, other_kind})),
             (std::vector<std::string>{"TrafficRoute/recommendations-canary"}));
  }

  void setAsideThenRestore() {
    const Scenario sc = canaryGoesBad();
    meshdeck::testing::FakeControlPlane cp;
    QVERIFY(cp.applyPolicies(kFormCanary, "form", "test", false).ok);
    QVERIFY(cp.applyPolicies(kReviewsRoute, "form", "test", false).ok);
    const auto collisions = scenarioCollisions(sc, cp.policies());
    QCOMPARE(collisions.size(), size_t(2));

    std::string error;
    QVERIFY2(setAsidePolicies(cp, collisions, "scenario:canary-goes-bad", &error), error.c_str());
    QCOMPARE(names(cp.policies()), (std::vector<std::string>{"TrafficRoute/reviews-route"}));
    QVERIFY(scenarioCollisions(sc, cp.policies()).empty());

    // The scenario runs and leaves its own policies for recommendations in force.
    QVERIFY(cp.applyPolicies(firstApply(sc), "scenario", "scenario:canary-goes-bad", false).ok);
    QCOMPARE(names(cp.policies()),
             (std::vector<std::string>{"DestinationPolicy/recommendations-destination",
                                       "TrafficRoute/recommendations-canary",
                                       "TrafficRoute/reviews-route"}));

    QVERIFY2(restorePolicies(cp, collisions, "scenario:canary-goes-bad", &error), error.c_str());
    QCOMPARE(names(cp.policies()),
             (std::vector<std::string>{"DestinationPolicy/recommendations-form",
                                       "TrafficRoute/recommendations-form-split",
                                       "TrafficRoute/reviews-route"}));
    // Restored as they were.
    for (const auto& p : cp.policies())
      for (const auto& c : collisions)
        if (p.kind == c.kind && p.name == c.name) QCOMPARE(p.target, c.target);
  }

  // Only a DestinationPolicy set aside: the scenario's TrafficRoute uses the subsets of the
  // scenario's DestinationPolicy, so it goes too when the operator's comes back.
  void restoreRemovesTheRoutesOfAReplacedDestinationPolicy() {
    const Scenario sc = canaryGoesBad();
    meshdeck::testing::FakeControlPlane cp;
    const std::string dp_only =
        std::string(kFormCanary).substr(0, std::string(kFormCanary).find("---"));
    QVERIFY(cp.applyPolicies(dp_only, "form", "test", false).ok);
    QVERIFY(cp.applyPolicies(kReviewsRoute, "form", "test", false).ok);
    const auto collisions = scenarioCollisions(sc, cp.policies());
    QCOMPARE(names(collisions),
             (std::vector<std::string>{"DestinationPolicy/recommendations-form"}));
    std::string error;
    QVERIFY2(setAsidePolicies(cp, collisions, "scenario:canary-goes-bad", &error), error.c_str());
    QVERIFY(cp.applyPolicies(firstApply(sc), "scenario", "scenario:canary-goes-bad", false).ok);
    QVERIFY2(restorePolicies(cp, collisions, "scenario:canary-goes-bad", &error), error.c_str());
    QCOMPARE(names(cp.policies()),
             (std::vector<std::string>{"DestinationPolicy/recommendations-form",
                                       "TrafficRoute/reviews-route"}));
  }
};

QTEST_GUILESS_MAIN(ScenarioCollisionsTest)
#include "scenario_collisions_test.moc"
