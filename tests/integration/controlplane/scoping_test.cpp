// Scoping on the control plane's discovery stream (docs/cp-scale.md, "Scoping"): a proxy that
// names its dependencies gets the shared resources of those services alone (and of the clusters
// their routes name), asks for more on demand, hears clearly about services that do not exist,
// and is not pushed to when something outside its scope changes. Through the real gRPC server,
// with simulated proxies that keep their resources the way meshdeck-proxy does.
#include <fmt/format.h>

#include <QTemporaryDir>
#include <QtTest>
#include <set>
#include <thread>

#include "common/shared_resources.h"
#include "controlplane/in_process_control_plane.h"
#include "integration/controlplane/discovery_fixture.h"
#include "integration/controlplane/proxy_config_lookup.h"
#include "support/policy_fixtures.h"

using namespace meshdeck;
using namespace std::chrono_literals;

namespace {

using testing::eventually;
using testing::findCluster;
using testing::findHost;

// The names of the shared resources in the config a proxy applied.
std::set<std::string> held(testing::FakeProxy& p) {
  std::set<std::string> out;
  const auto config = p.applied();
  for (const auto& rt : config.route_tables())
    if (rt.name() == "outbound")
      for (const auto& vh : rt.virtual_hosts())
        out.insert(common::kRouteResourcePrefix + vh.name());
  for (const auto& c : config.clusters())
    if (c.name() != "inbound|local") out.insert(common::kClusterResourcePrefix + c.name());
  return out;
}

bool hasCanary(const v1::ProxyConfig& c, int v2_weight) {
  const auto* vh = findHost(c, "reviews");
  return vh && vh->routes_size() > 0 && vh->routes(0).destinations_size() == 2 &&
         vh->routes(0).destinations(1).weight() == uint32_t(v2_weight);
}

const char* const kRatingsFault = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: ratings-fault}
spec:
  host: ratings
  http:
  - route:
    - {destination: {host: ratings}}
    fault:
      abort: {percentage: 50, httpStatus: 503}
)";

// reviews mirrors its traffic to details: details' cluster joins the scope of reviews' callers.
const char* const kReviewsMirror = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: reviews-mirror}
spec:
  host: reviews
  http:
  - route:
    - {destination: {host: reviews}}
    mirror: {host: details, percentage: 10}
)";

}  // namespace

class ScopingTest : public QObject, private testing::DiscoveryFixture {
  Q_OBJECT

 private slots:
  void init() {
    std::string error;
    QVERIFY2(start(&error), error.c_str());
    add("reviews-v1-0", "reviews", "v1", 20010);
    add("reviews-v2-0", "reviews", "v2", 20020);
    add("ratings-v1-0", "ratings", "v1", 20030);
    add("details-v1-0", "details", "v1", 20040);
    // Every test below expects these four in the mesh a proxy is given: wait until the control
    // plane has them all (each has had its config and ACKed it).
    QVERIFY(synced());
  }
  void cleanup() { stop(); }

  // A proxy naming reviews holds reviews' route and clusters and nothing of ratings or details,
  // and what it holds of reviews is what a proxy with the whole mesh holds.
  void scopedProxyHoldsItsDependenciesOnly() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000, true, {"reviews"});
    auto* full = add("full-v1-0", "full", "v1", 20050);
    QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews", 20), "canary.yaml",
                               "test", false)
                .ok);
    QVERIFY(eventually([&] { return hasCanary(page->applied(), 20); }));
    QVERIFY(eventually([&] { return hasCanary(full->applied(), 20); }));
    const std::set<std::string> want{"cluster/reviews", "cluster/reviews|v1", "cluster/reviews|v2",
                                     "route/reviews"};
    QCOMPARE(held(*page), want);
    QVERIFY(held(*full).count("route/ratings") == 1);
    QVERIFY(held(*full).count("cluster/details|v1") == 1);
    QVERIFY(!findHost(page->applied(), "ratings"));
    QVERIFY(!findCluster(page->applied(), "details"));
    QCOMPARE(page->held().size(), want.size());
    for (const auto& name : want) {
      QVERIFY(!page->held().version(name).empty());
      QCOMPARE(page->held().version(name), full->held().version(name));
    }
    // Its own part is whole: inbound listener and cluster as always.
    QVERIFY(findCluster(page->applied(), "inbound|local"));
  }

  // A change outside the scope (another service's route, another service's endpoints) sends the
  // scoped proxy nothing; a change inside it sends the one resource.
  void changeOutsideScopeDoesNotPush() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000, true, {"reviews"});
    auto* full = add("full-v1-0", "full", "v1", 20050);
    QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews", 20), "canary.yaml",
                               "test", false)
                .ok);
    QVERIFY(eventually([&] { return hasCanary(page->applied(), 20); }));
    QVERIFY(synced());
    const auto page_before = page->responses();
    const auto full_before = full->responses();

    // ratings' route changes and a ratings v2 sidecar joins.
    QVERIFY(cp_->applyPolicies(kRatingsFault, "ratings.yaml", "test", false).ok);
    QVERIFY(eventually([&] {
      const auto config = full->applied();
      const auto* vh = findHost(config, "ratings");
      return vh && vh->routes_size() > 0 && vh->routes(0).has_fault();
    }));
    add("ratings-v2-0", "ratings", "v2", 20060);
    QVERIFY(eventually([&] { return findCluster(full->applied(), "ratings|v2") != nullptr; }));
    QVERIFY(synced());
    QVERIFY(full->responses() >= full_before + 2);
    QCOMPARE(page->responses(), page_before);

    // reviews' route changes: the scoped proxy gets route/reviews alone.
    QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews", 40), "canary.yaml",
                               "test", false)
                .ok);
    QVERIFY(eventually([&] { return hasCanary(page->applied(), 40); }));
    QCOMPARE(page->responses(), page_before + 1);
    const auto d = page->lastShared();
    QVERIFY(!d.complete());
    QCOMPARE(d.resources_size(), 1);
    QCOMPARE(d.resources(0).name(), std::string("route/reviews"));
  }

  // Clusters a dependency's routes name (a mirror to details) join the scope with it.
  void clustersNamedByRoutesJoinTheScope() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000, true, {"reviews"});
    QVERIFY(eventually([&] { return page->responses() > 0; }));
    QVERIFY(!findCluster(page->applied(), "details"));
    QVERIFY(cp_->applyPolicies(kReviewsMirror, "mirror.yaml", "test", false).ok);
    QVERIFY(eventually([&] { return findCluster(page->applied(), "details") != nullptr; }));
    QVERIFY(held(*page).count("cluster/details") == 1);
    // Not details' route: the proxy does not call details itself.
    QVERIFY(held(*page).count("route/details") == 0);
  }

  // On demand: a service that exists joins the scope and its resources come in the next
  // response; one that does not is named back in unknown_services.
  void onDemandAddsKnownAndNamesUnknown() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000, true, {"reviews"});
    QVERIFY(eventually([&] { return page->responses() > 0; }));
    QVERIFY(synced());
    QVERIFY(!findHost(page->applied(), "details"));
    page->askOnDemand({"details", "no-such-service"});
    QVERIFY(page->waitForUnknown(1, 10s));
    QCOMPARE(page->unknownServices(), std::vector<std::string>{"no-such-service"});
    QVERIFY(eventually([&] { return findHost(page->applied(), "details") != nullptr; }));
    QVERIFY(findCluster(page->applied(), "details|v1"));
    QVERIFY(!findHost(page->applied(), "ratings"));
    QVERIFY(synced());
    QCOMPARE(cp_->counters().on_demand_requests, uint64_t(1));
    QCOMPARE(cp_->counters().on_demand_unknown, uint64_t(1));
    // It stays in scope: a later change of details reaches it.
    add("details-v2-0", "details", "v2", 20070);
    QVERIFY(eventually([&] { return findCluster(page->applied(), "details|v2") != nullptr; }));
    // A request on demand is not an answer: nothing was ignored as a stale ACK.
    QCOMPARE(cp_->counters().answers_ignored, uint64_t(0));
  }

  // Without declared dependencies, or taking whole configs, a proxy gets the whole mesh.
  void withoutScopeTheWholeMesh() {
    auto* open = add("open-v1-0", "open", "v1", 20000);
    auto* whole = add("whole-v1-0", "whole", "v1", 20080, false, {"reviews"});
    QVERIFY(eventually([&] { return open->responses() > 0 && whole->responses() > 0; }));
    QVERIFY(synced());
    QVERIFY(findHost(open->applied(), "ratings"));
    QVERIFY(findHost(whole->last().config(), "ratings"));
    QVERIFY(findHost(whole->last().config(), "details"));
    // A proxy with the whole mesh asking for an unknown service hears so too.
    open->askOnDemand({"nowhere"});
    QVERIFY(open->waitForUnknown(1, 10s));
    QCOMPARE(open->unknownServices(), std::vector<std::string>{"nowhere"});
  }

  // Limits: too many dependencies or on-demand names end the stream.
  void limits() {
    std::vector<std::string> many;
    for (int i = 0; i < 65; ++i) many.push_back(fmt::format("svc{}", i));
    auto* greedy = add("greedy-v1-0", "greedy", "v1", 20090, true, {"reviews"});
    QVERIFY(eventually([&] { return greedy->responses() > 0; }));
    greedy->askOnDemand(many);
    QVERIFY(eventually([&] { return greedy->done(); }));
    auto* empty_name = add("bad-v1-0", "bad", "v1", 20100, true, {""});
    QVERIFY(eventually([&] { return empty_name->done(); }));
    QCOMPARE(empty_name->responses(), uint64_t(0));
  }

 private:
  // Every fake proxy still connected ACKed the last config the control plane sent it.
  bool synced() {
    return eventually([&] {
      const auto by_id = records();
      for (const auto& f : proxies_)
        if (!f->done() && !ackedLast(by_id, *f)) return false;
      return true;
    });
  }
};

QTEST_GUILESS_MAIN(ScopingTest)
#include "scoping_test.moc"
