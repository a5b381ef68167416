// The health model (docs/health-and-metrics.md): each tolerance at its boundary, gRPC statuses
// by their server/client type, the p99 target, unsynced proxies, certificate expiry, and a
// service's HealthPolicy over the mesh-wide one over the defaults.
#include "controlplane/health/health.h"

#include <QtTest>

#include "controlplane/policy/policy_parser.h"

using namespace meshdeck;
using namespace meshdeck::cp;
using namespace meshdeck::cp::health;
using namespace std::chrono_literals;

namespace {
// `total` responses of which `errors` in `cls` (3 = 4xx, 4 = 5xx), the rest 2xx.
HealthInputs traffic(uint64_t total, size_t cls, uint64_t errors) {
  HealthInputs in;
  in.requests = total;
  in.responses_by_class[1] = total - errors;
  in.responses_by_class[cls] = errors;
  return in;
}
QString describe(const ServiceHealth& h) {
  QString s = toString(h.state);
  for (const auto& r : h.reasons) s += " | " + QString::fromStdString(r);
  return s;
}
#define EXPECT_HEALTH(h, state_, reasons_)                                                 \
  do {                                                                                     \
    const ServiceHealth got_ = (h);                                                        \
    QVERIFY2(got_.state == (state_) && got_.reasons == std::vector<std::string>(reasons_), \
             qPrintable(describe(got_)));                                                  \
  } while (0)
using Reasons = std::vector<std::string>;
}  // namespace

class HealthTest : public QObject {
  Q_OBJECT

 private slots:
  void idleAndHealthy() {
    const HealthRules rules;
    EXPECT_HEALTH(evaluate(rules, HealthInputs{}), HealthState::kIdle, Reasons{});
    EXPECT_HEALTH(evaluate(rules, traffic(100, 4, 0)), HealthState::kHealthy, Reasons{});
  }

  // Defaults: any 5xx degrades, 10 % fails; 4xx degrade at 10 %, fail at 20 %.
  void statusClassBoundaries() {
    const HealthRules rules;
    EXPECT_HEALTH(evaluate(rules, traffic(1000, 4, 1)), HealthState::kDegraded,
                  Reasons{"5xx 0.1% > 0%"});
    EXPECT_HEALTH(evaluate(rules, traffic(1000, 4, 99)), HealthState::kDegraded,
                  Reasons{"5xx 9.9% > 0%"});
    EXPECT_HEALTH(evaluate(rules, traffic(1000, 4, 100)), HealthState::kFailing,
                  Reasons{"5xx 10.0% ≥ 10%"});
    EXPECT_HEALTH(evaluate(rules, traffic(1000, 4, 120)), HealthState::kFailing,
                  Reasons{"5xx 12.0% ≥ 10%"});
    EXPECT_HEALTH(evaluate(rules, traffic(1000, 3, 99)), HealthState::kHealthy, Reasons{});
    EXPECT_HEALTH(evaluate(rules, traffic(1000, 3, 100)), HealthState::kDegraded,
                  Reasons{"4xx 10.0% ≥ 10%"});
    EXPECT_HEALTH(evaluate(rules, traffic(1000, 3, 199)), HealthState::kDegraded,
                  Reasons{"4xx 19.9% ≥ 10%"});
    EXPECT_HEALTH(evaluate(rules, traffic(1000, 3, 200)), HealthState::kFailing,
                  Reasons{"4xx 20.0% ≥ 20%"});
    // Both: worst first.
    auto both = traffic(1000, 3, 250);
    both.responses_by_class[4] = 5;
    both.responses_by_class[1] -= 5;
    EXPECT_HEALTH(evaluate(rules, both), HealthState::kFailing,
                  (Reasons{"4xx 25.0% ≥ 20%", "5xx 0.5% > 0%"}));
  }

  // gRPC: server-type statuses (grpcStatusIsServerError) count against the grpc tolerance;
  // client-type ones (NOT_FOUND, CANCELLED, ...) do not.
  void grpcStatuses() {
    const HealthRules rules;
    HealthInputs in;
    in.requests = 100;
    in.responses_by_class[1] = 100;  // the classes are judged separately; keep them clean here
    in.grpc_statuses[common::kGrpcOk] = 90;
    in.grpc_statuses[5] = 10;  // NOT_FOUND: the caller's doing
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kHealthy, Reasons{});
    in.grpc_statuses[common::kGrpcCancelled] = 5;
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kHealthy, Reasons{});
    in = HealthInputs{};
    in.requests = 100;
    in.grpc_statuses[common::kGrpcOk] = 95;
    in.grpc_statuses[common::kGrpcUnavailable] = 5;
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kDegraded, Reasons{"gRPC errors 5.0% > 0%"});
    in.grpc_statuses[common::kGrpcOk] = 90;
    in.grpc_statuses[common::kGrpcDeadlineExceeded] = 5;
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kFailing, Reasons{"gRPC errors 10.0% ≥ 10%"});
  }

  void p99Target() {
    HealthRules rules;
    auto in = traffic(100, 4, 0);
    in.p99_ms = 840;
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kHealthy, Reasons{});  // no target
    rules.p99_target_ms = 500;
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kDegraded,
                  Reasons{"p99 840 ms > 500 ms target"});
    in.p99_ms = 500;
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kHealthy, Reasons{});
  }

  void unsyncedProxies() {
    HealthRules rules;
    HealthInputs in;
    in.proxy_states = {SyncState::kSynced, SyncState::kStale, SyncState::kRejected};
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kDegraded, Reasons{"2 proxies not synced"});
    in.proxy_states = {SyncState::kNeverSent};
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kDegraded, Reasons{"1 proxy not synced"});
    rules.proxies_not_synced = false;
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kIdle, Reasons{});
  }

  // Default: degraded in the last 20 % of a certificate's lifetime (a fresh 24 h workload
  // certificate is fine); a warning period set by a HealthPolicy replaces that.
  void certificateExpiry() {
    HealthRules rules;
    HealthInputs in;
    in.now = SystemTime(1'000'000h);
    in.certificates = {{in.now - 1min, in.now + 24h - 1min}};
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kIdle, Reasons{});
    in.certificates = {{in.now - 19h, in.now + 5h}};  // 5 h of 24: above 20 %
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kIdle, Reasons{});
    in.certificates = {{in.now - 20h, in.now + 4h}, {in.now - 21h, in.now + 3h + 10min}};
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kDegraded,
                  Reasons{"2 certificates expire soon, the first in 3 h"});
    in.certificates = {{in.now - 1h, in.now + 23h}, {in.now - 24h, in.now + 20min}};
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kDegraded,
                  Reasons{"certificate expires in 20 min"});
    rules.certificate_warning = 24h;
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kDegraded,
                  Reasons{"2 certificates expire soon, the first in 20 min"});
    in.certificates = {{in.now - 24h, in.now - 1s}};
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kFailing, Reasons{"certificate expired"});
    rules.certificate_expiry = false;
    EXPECT_HEALTH(evaluate(rules, in), HealthState::kIdle, Reasons{});
  }

  // A service's policy overrides the mesh-wide one field by field; the rest are defaults.
  void policiesOverrideDefaults() {
    std::vector<common::LocatedError> errors;
    const auto policies = parsePolicies(R"(apiVersion: meshdeck.io/v1alpha1
kind: HealthPolicy
metadata: {name: mesh}
spec:
  tolerances:
    http5xx: {degraded: 2, failed: 50}
  latency: {p99: 1s}
---
apiVersion: meshdeck.io/v1alpha1
kind: HealthPolicy
metadata: {name: reviews}
spec:
  selector: {service: reviews}
  tolerances:
    http5xx: {failed: 3}
  proxiesNotSynced: false
)",
                                        "h.yaml", &errors);
    QVERIFY(errors.empty());
    std::vector<const HealthPolicySpec*> specs;
    for (const auto& p : policies) specs.push_back(&std::get<HealthPolicySpec>(p.spec));
    const auto reviews = rulesFor("reviews", specs);
    QCOMPARE(reviews.http5xx.degraded, 2.0);
    QCOMPARE(reviews.http5xx.failed, 3.0);
    QCOMPARE(reviews.http4xx.failed, 20.0);
    QCOMPARE(*reviews.p99_target_ms, 1000.0);
    QVERIFY(!reviews.proxies_not_synced);
    const auto ratings = rulesFor("ratings", specs);
    QCOMPARE(ratings.http5xx.failed, 50.0);
    QVERIFY(ratings.proxies_not_synced);
    QVERIFY(!rulesFor("x", {}).p99_target_ms);

    // Through a snapshot: 4 % 5xx fails reviews (3 %), only degrades ratings (50 %); a service
    // without inbound reports is judged by the edges into it.
    GraphSnapshot g;
    g.time = SystemTime(1'000'000h);
    for (const char* name : {"reviews", "ratings", "page"}) {
      ServiceNode n;
      n.name = name;
      g.services.push_back(n);
    }
    g.services[0].inbound.requests = 100;
    g.services[0].inbound.responses_by_class = {0, 96, 0, 0, 4};
    g.services[1].inbound.requests = 100;
    g.services[1].inbound.responses_by_class = {0, 96, 0, 0, 4};
    ServiceEdge e;
    e.source = "(external)";
    e.destination = "page";
    e.metrics.requests = 10;
    e.metrics.responses_by_class = {0, 10, 0, 0, 0};
    g.edges.push_back(e);
    ProxyInfo stale;
    stale.proxy_id = "ratings-1";
    stale.service = "ratings";
    stale.state = SyncState::kStale;
    g.proxies.push_back(stale);
    ProxyInfo gone = stale;
    gone.proxy_id = "ratings-2";
    gone.state = SyncState::kDisconnected;
    g.proxies.push_back(gone);
    std::vector<CertificateInfo> certs;
    certs.push_back({"ratings-1", "", "", "1", g.time - 30h, g.time + 2h});
    certs.push_back({"ratings-1", "", "", "2", g.time - 20h, g.time + 4h});  // newest
    certs.push_back({"ratings-2", "", "", "3", g.time - 23h, g.time + 1h});  // disconnected
    computeHealth(&g, policies, certs, g.time);
    EXPECT_HEALTH(*g.services[0].health, HealthState::kFailing, Reasons{"5xx 4.0% ≥ 3%"});
    EXPECT_HEALTH(*g.services[1].health, HealthState::kDegraded,
                  (Reasons{"5xx 4.0% ≥ 2%", "1 proxy not synced", "certificate expires in 4 h"}));
    EXPECT_HEALTH(*g.services[2].health, HealthState::kHealthy, Reasons{});
  }
};

QTEST_GUILESS_MAIN(HealthTest)
#include "health_test.moc"
