// policyEffects(): the warnings of a valid policy set against what runs (a route to a subset
// with no running instance, a weight to a version that does not exist, a route another one
// shadows), where they point and which edges they name; and PolicyStore carrying them on dry
// runs and applies without blocking them.
#include "controlplane/policy/policy_effects.h"

#include <QtTest>

#include "common/clock.h"
#include "controlplane/policy/policy_parser.h"
#include "controlplane/policy/policy_store.h"

using namespace meshdeck::cp;
using meshdeck::common::LocatedError;

namespace {

const char* kReviewsSubsets = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
)";

// reviews: v1 runs 2 instances, v2 exists with none, v3 does not exist; catalog calls reviews.
WorkloadInventory storefront() {
  WorkloadInventory inv;
  inv.instances["reviews"] = {{"v1", 2}, {"v2", 0}};
  inv.instances["catalog"] = {{"v1", 1}};
  inv.instances["ratings"] = {{"v1", 0}};
  inv.callers["reviews"] = {"catalog", "frontend"};
  return inv;
}

std::vector<Policy> parse(const std::string& yaml, const std::string& file = "edit.yaml") {
  std::vector<LocatedError> errors;
  auto policies = parsePolicies(yaml, file, &errors);
  for (const auto& e : errors) qWarning("%s", e.toString().c_str());
  validatePolicySet(policies, {"reviews", "catalog", "ratings", "frontend"}, &errors);
  for (const auto& e : errors) qWarning("%s", e.toString().c_str());
  if (!errors.empty()) return {};
  std::sort(policies.begin(), policies.end(),
            [](const Policy& a, const Policy& b) { return a.id() < b.id(); });
  return policies;
}

std::string canary(const std::string& subset, int weight) {
  return std::string(kReviewsSubsets) + R"(---
apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: reviews-canary}
spec:
  host: reviews
  http:
  - name: split
    route:
    - destination: {host: reviews, subset: v1}
      weight: )" +
         std::to_string(100 - weight) +
         R"(
    - destination: {host: reviews, subset: )" +
         subset + R"(}
      weight: )" +
         std::to_string(weight) + "\n";
}

std::string messages(const std::vector<PolicyWarning>& ws) {
  std::string out;
  for (const auto& w : ws) out += w.where.toString() + "\n";
  return out;
}

}  // namespace

class PolicyEffectsTest : public QObject {
  Q_OBJECT
 private slots:
  void routeToSubsetWithoutInstancesWarns() {
    const auto policies = parse(canary("v2", 10));
    QVERIFY(!policies.empty());
    const auto inv = storefront();
    const auto ws = policyEffects(policies, nullptr, &inv);
    QCOMPARE(ws.size(), size_t{1});
    const auto& w = ws[0].where;
    QCOMPARE(w.file, std::string("edit.yaml"));
    // The second destination of the route: line 20 of the text (after 10 lines of the
    // DestinationPolicy and the separator).
    QCOMPARE(w.line, 21u);
    QVERIFY(w.column > 0);
    QCOMPARE(w.field, std::string("spec.http[0].route[1].destination.subset"));
    QVERIFY2(w.message.find("subset \"v2\" (version \"v2\") of \"reviews\" has no running "
                            "instance") != std::string::npos,
             w.message.c_str());
    QVERIFY2(w.message.find("10%") != std::string::npos, w.message.c_str());
    QVERIFY2(w.message.find("runs only v1") != std::string::npos, w.message.c_str());
    const std::vector<EdgeRef> edges{{"catalog", "reviews"}, {"frontend", "reviews"}};
    QCOMPARE(ws[0].edges, edges);
  }

  void weightToMissingVersionWarns() {
    const auto inv = storefront();
    const auto ws = policyEffects(parse(canary("v3", 20)), nullptr, &inv);
    QCOMPARE(ws.size(), size_t{1});
    QVERIFY2(ws[0].where.message.find("version \"v3\" of \"reviews\", which does not exist") !=
                 std::string::npos,
             ws[0].where.message.c_str());
  }

  void routeToRunningSubsetIsQuiet() {
    const auto inv = storefront();
    auto policies = parse(canary("v1", 0));
    QVERIFY(!policies.empty());
    QVERIFY2(policyEffects(policies, nullptr, &inv).empty(),
             messages(policyEffects(policies, nullptr, &inv)).c_str());
    // A weight of 0 sends nothing, so a subset without instances does no harm.
    QVERIFY(policyEffects(parse(canary("v2", 0)), nullptr, &inv).empty());
  }

  void serviceWithoutInstancesWarnsWithoutSubset() {
    const auto inv = storefront();
    const auto ws = policyEffects(parse(R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: to-ratings}
spec:
  host: reviews
  http:
  - name: all
    route:
    - destination: {host: ratings}
)"),
                                  nullptr, &inv);
    QCOMPARE(ws.size(), size_t{1});
    QCOMPARE(ws[0].where.field, std::string("spec.http[0].route[0].destination.host"));
    QVERIFY(ws[0].where.message.find("service \"ratings\" has no running instance") !=
            std::string::npos);
    const std::vector<EdgeRef> edges{{"catalog", "ratings"}, {"frontend", "ratings"}};
    QCOMPARE(ws[0].edges, edges);
    // Retries on ratings' own route send nothing elsewhere: no warning, instances or not.
    QVERIFY(policyEffects(parse(R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: ratings-retries}
spec:
  host: ratings
  http:
  - retries: {attempts: 2}
    route:
    - destination: {host: ratings}
)"),
                          nullptr, &inv)
                .empty());
  }

  void mirrorToMissingVersionWarns() {
    const auto inv = storefront();
    const auto ws = policyEffects(parse(std::string(kReviewsSubsets) + R"(---
apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: shadow-traffic}
spec:
  host: reviews
  http:
  - name: all
    route:
    - destination: {host: reviews, subset: v1}
    mirror: {host: reviews, subset: v3, percentage: 10}
)"),
                                  nullptr, &inv);
    QCOMPARE(ws.size(), size_t{1});
    QCOMPARE(ws[0].where.field, std::string("spec.http[0].mirror.subset"));
    QVERIFY(ws[0].where.message.find("copies go nowhere") != std::string::npos);
  }

  void withoutInventoryOnlyShadowingIsChecked() {
    QVERIFY(policyEffects(parse(canary("v3", 20)), nullptr, nullptr).empty());
  }

  void routeAfterCatchAllIsShadowed() {
    const auto ws = policyEffects(parse(R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: r}
spec:
  host: reviews
  http:
  - name: everyone
    route:
    - destination: {host: reviews}
  - name: testers
    match:
    - headers: {x-user: {exact: tester}}
    route:
    - destination: {host: reviews}
)"),
                                  nullptr, nullptr);
    QCOMPARE(ws.size(), size_t{1});
    QCOMPARE(ws[0].where.line, 10u);
    QCOMPARE(ws[0].where.field, std::string("spec.http[1]"));
    QVERIFY2(ws[0].where.message.find("route \"testers\" can never match: route \"everyone\"") !=
                 std::string::npos,
             ws[0].where.message.c_str());
  }

  void narrowerPrefixAfterWiderIsShadowedButNotTheReverse() {
    const auto ws = policyEffects(parse(R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: r}
spec:
  host: reviews
  http:
  - name: api
    match: [{uri: {prefix: /api}}]
    route: [{destination: {host: reviews}}]
  - name: api-v2-get
    match: [{uri: {prefix: /api/v2}, methods: [GET]}]
    route: [{destination: {host: reviews}}]
  - name: health
    match: [{uri: {exact: /health}}, {uri: {prefix: /api/x}}]
    route: [{destination: {host: reviews}}]
  - name: rest
    route: [{destination: {host: reviews}}]
)"),
                                  nullptr, nullptr);
    // api-v2-get is shadowed by api; health is not (/health is not under /api); rest is not
    // (it takes what the others leave).
    QCOMPARE(ws.size(), size_t{1});
    QCOMPARE(ws[0].where.field, std::string("spec.http[1]"));
    QVERIFY(ws[0].where.message.find("\"api-v2-get\"") != std::string::npos);
  }

  void policyShadowingAnotherIsReportedInTheChangedOne() {
    const std::string yaml = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: a-all}
spec:
  host: reviews
  http:
  - name: everything
    match: [{uri: {prefix: /}}]
    route: [{destination: {host: reviews}}]
---
apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: b-testers}
spec:
  host: reviews
  http:
  - name: testers
    match: [{headers: {x-user: {exact: tester}}}]
    route: [{destination: {host: reviews}}]
)";
    const auto policies = parse(yaml);
    QCOMPARE(policies.size(), size_t{2});
    // Both submitted: the shadowed route says so.
    auto ws = policyEffects(policies, nullptr, nullptr);
    QCOMPARE(ws.size(), size_t{1});
    QCOMPARE(ws[0].where.line, 17u);
    QVERIFY(ws[0].where.message.find("of TrafficRoute/a-all") != std::string::npos);
    // Only the shadowing one submitted: it is the one to point at.
    const std::set<std::string> only_a{"TrafficRoute/a-all"};
    ws = policyEffects(policies, &only_a, nullptr);
    QCOMPARE(ws.size(), size_t{1});
    QCOMPARE(ws[0].where.line, 7u);
    QVERIFY(ws[0].where.message.find("takes every request") != std::string::npos);
    QVERIFY(ws[0].where.message.find("TrafficRoute/b-testers") != std::string::npos);
    // Neither submitted: nothing to say about this change.
    const std::set<std::string> other{"RateLimit/x"};
    QVERIFY(policyEffects(policies, &other, nullptr).empty());
  }

  void storeCarriesWarningsAndDoesNotBlock() {
    meshdeck::common::SimulatedTimeSource time;
    PolicyStore store("", time);
    store.setKnownServices([] { return std::set<std::string>{"reviews", "catalog"}; });
    store.setInventory([] { return storefront(); });
    const std::string yaml = canary("v2", 10);
    auto dry = store.apply(yaml, "canary.yaml", "t", true);
    QVERIFY(dry.ok);
    QCOMPARE(dry.warnings.size(), size_t{1});
    QCOMPARE(dry.warnings[0].where.file, std::string("canary.yaml"));
    QCOMPARE(store.current()->revision, uint64_t{0});
    auto applied = store.apply(yaml, "canary.yaml", "t", false);
    QVERIFY(applied.ok);
    QCOMPARE(applied.revision, uint64_t{1});
    QCOMPARE(applied.warnings, dry.warnings);
    // The same text again changes nothing but still says what it does.
    auto again = store.apply(yaml, "canary.yaml", "t", true);
    QCOMPARE(again.summary, std::string("no change"));
    QCOMPARE(again.warnings.size(), size_t{1});
    // A refused change carries errors only.
    auto refused = store.apply("kind: Nope\n", "bad.yaml", "t", true);
    QVERIFY(!refused.ok);
    QVERIFY(refused.warnings.empty());
    // An unrelated change says nothing about the policy already in force.
    auto other = store.apply(R"(apiVersion: meshdeck.io/v1alpha1
kind: RateLimit
metadata: {name: catalog-limit}
spec:
  selector: {service: catalog}
  requestsPerSecond: 100
)",
                             "limit.yaml", "t", false);
    QVERIFY2(other.ok, meshdeck::common::toString(other.errors).c_str());
    QVERIFY(other.warnings.empty());
  }
};

QTEST_GUILESS_MAIN(PolicyEffectsTest)
#include "policy_effects_test.moc"
