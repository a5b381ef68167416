// Worker as the sessions' SessionHost: clusters resolved by slot per config (and by name for a
// request of an older config), rate limits shared out between workers, the drain flag. The
// worker's thread is never started.
#include <QtTest>
#include <atomic>

#include "meshdeck/v1/discovery.pb.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"
#include "proxy/worker.h"
#include "unit/proxy/compile_yaml.h"

using namespace meshdeck::proxy;

namespace {

const char* kYaml = R"(
listeners:
  - name: outbound
    address: {port: 15001}
    direction: OUTBOUND
    route_table: outbound
route_tables:
  - name: outbound
    virtual_hosts:
      - name: reviews
        domains: [reviews]
        routes:
          - name: reviews
            destinations: [{cluster: a, weight: 50}, {cluster: b, weight: 50}]
            mirror: {cluster: b, percent: 10}
clusters:
  - name: a
    endpoints: [{address: {port: 9001}}]
  - name: b
    endpoints: [{address: {port: 9002}}]
)";

ConfigPtr compile(const char* yaml) { return meshdeck::proxy::test::compileYaml(yaml); }

const RouteConfig& onlyRoute(const Config& c) {
  return c.route_tables.at("outbound").virtual_hosts.at(0).routes.at(0);
}

}  // namespace

class WorkerHostTest : public QObject {
  Q_OBJECT

 private slots:
  void clustersBySlotAndByName() {
    std::atomic<bool> draining{false};
    WorkerContext context;
    context.draining = &draining;
    Worker worker(0, context);
    SessionHost& host = worker;
    auto first = compile(kYaml);
    worker.setConfig(first);
    const auto& route = onlyRoute(*first);
    for (const auto& d : route.destinations) {
      auto by_slot = host.cluster(*first, d.cluster_slot, d.cluster);
      QVERIFY(by_slot);
      QCOMPARE(by_slot->config->name, d.cluster);
      QCOMPARE(by_slot.get(), worker.cluster(d.cluster).get());
      QCOMPARE(by_slot->pool_keys.size(), by_slot->config->endpoints.size());
    }
    auto mirror = host.cluster(*first, route.mirror.cluster_slot, route.mirror.cluster);
    QVERIFY(mirror);
    QCOMPARE(mirror->config->name, std::string("b"));

    // A push with the same clusters keeps their runtimes; a request of the old config (slots of
    // another numbering) still finds its cluster, by name.
    auto second = compile(kYaml);
    auto a_before = worker.cluster("a");
    worker.setConfig(second);
    QCOMPARE(worker.cluster("a").get(), a_before.get());
    const auto& old_a = onlyRoute(*first).destinations.at(0);
    QCOMPARE(host.cluster(*first, old_a.cluster_slot, old_a.cluster).get(), a_before.get());
    QVERIFY(!host.cluster(*first, -1, "gone"));
  }

  void rateLimitsAreSharedOutBetweenWorkers() {
    std::atomic<bool> draining{false};
    WorkerContext context;
    context.draining = &draining;
    context.worker_count = 2;
    Worker worker(0, context);
    RateLimitConfig limit;
    limit.requests_per_second = 10;
    limit.burst = 4;
    auto& bucket = worker.bucket(limit);
    QCOMPARE(&worker.bucket(limit), &bucket);  // one bucket per limit
    const auto now = worker.now();
    QCOMPARE(bucket.tokens(now), 2.0);  // half the burst on each of two workers
  }

  void drainingFollowsTheProxy() {
    std::atomic<bool> draining{false};
    WorkerContext context;
    context.draining = &draining;
    Worker worker(0, context);
    QVERIFY(!worker.draining());
    draining = true;
    QVERIFY(worker.draining());
  }
};

QTEST_APPLESS_MAIN(WorkerHostTest)
#include "worker_host_test.moc"
