#include "controlplane/grpc_control_plane.h"

#include <QtTest>
#include <atomic>
#include <thread>

#include "common/histogram_proto.h"
#include "common/latency_histogram.h"
#include "controlplane/in_process_control_plane.h"
#include "integration/controlplane/fake_proxy.h"

using namespace meshdeck::cp;
using namespace std::chrono_literals;

// The remote ControlPlane (meshdeck --connect) against a real embedded one over loopback.
class GrpcControlPlaneTest : public QObject {
  Q_OBJECT

 private slots:
  void mirrorsTheEmbeddedControlPlane() {
    ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    InProcessControlPlane local(options);
    std::string error;
    QVERIFY2(local.start(&error), error.c_str());
    local.registerService("reviews", "v1", "backend");
    GrpcControlPlane remote(local.listenAddress());
    QVERIFY2(remote.ping(&error), error.c_str());
    QCOMPARE(remote.listenAddress(), local.listenAddress());

    const char* rl =
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nmetadata: {name: r}\n"
        "spec: {selector: {service: reviews}, requestsPerSecond: 5}\n";
    auto bad = remote.applyPolicies("kind: RateLimit\n", "bad.yaml", "me", false);
    QVERIFY(!bad.ok);
    QCOMPARE(bad.errors[0].file, std::string("bad.yaml"));
    QCOMPARE(bad.errors[0].line, 1u);
    auto ok = remote.applyPolicies(rl, "rl.yaml", "me", false);
    QVERIFY(ok.ok);
    QCOMPARE(ok.revision, 1u);
    QCOMPARE(local.policies().size(), size_t(1));
    QCOMPARE(remote.policies()[0].name, std::string("r"));
    // The badges the control plane computed travel with the policy.
    QVERIFY(local.policies()[0].badges.rate_limit);
    QVERIFY(remote.policies()[0].badges == local.policies()[0].badges);
    QCOMPARE(remote.revisions()[0].author, std::string("me"));
    QVERIFY(remote.diffRevisions(0, 1).find("+kind: RateLimit") != std::string::npos);
    QVERIFY(remote.deletePolicy("RateLimit", "r", "me").ok);
    QCOMPARE(remote.revertToRevision(1, "me").revision, 3u);
    QVERIFY(remote.exportSnapshotJson(10).find("meshdeck-snapshot") != std::string::npos);
    QVERIFY(!remote.restartProcess("x").ok);

    std::atomic<int> calls{0};
    std::atomic<uint64_t> revision{0};
    auto token = remote.subscribe([&](std::shared_ptr<const GraphSnapshot> s) {
      revision = s->policy_revision;
      ++calls;
    });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (calls < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    QVERIFY(calls >= 2);
    QCOMPARE(revision.load(), 3u);
    QCOMPARE(remote.snapshot()->services.size(), size_t(1));
    token.reset();
    const int after = calls;
    std::this_thread::sleep_for(600ms);
    QCOMPARE(calls.load(), after);  // no callback after the token is gone
    local.stop();
  }

  // The inspector's charts over --connect: the edge history comes through Mesh.GetEdgeHistory.
  void edgeHistoryOverTheWire() {
    ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    InProcessControlPlane local(options);
    std::string error;
    QVERIFY2(local.start(&error), error.c_str());
    auto channel = grpc::CreateChannel(local.listenAddress(), grpc::InsecureChannelCredentials());
    auto discovery = meshdeck::v1::ConfigDiscovery::NewStub(channel);
    auto telemetry = meshdeck::v1::TelemetryIngest::NewStub(channel);
    meshdeck::testing::FakeProxy proxy(
        discovery.get(), meshdeck::testing::makeNode("page-v1-0", "page", "v1", 21000));
    const auto registered = std::chrono::steady_clock::now() + 5s;
    while (local.snapshot()->proxies.empty() && std::chrono::steady_clock::now() < registered)
      std::this_thread::sleep_for(20ms);
    QVERIFY(!local.snapshot()->proxies.empty());
    {
      meshdeck::testing::FakeReporter reporter(telemetry.get());
      meshdeck::v1::TelemetryReport report;
      report.set_proxy_id("page-v1-0");
      report.set_sequence(1);
      report.set_interval_ms(1000);
      meshdeck::common::LatencyHistogram h;
      for (int i = 0; i < 40; ++i) h.record(3'000'000);  // 3 ms
      auto* e = report.add_edges();
      e->mutable_key()->set_source_service("page");
      e->mutable_key()->set_destination_service("reviews");
      e->set_side(meshdeck::v1::CLIENT);
      e->set_requests(40);
      (*e->mutable_responses_by_code())[200] = 38;
      (*e->mutable_responses_by_code())[503] = 2;
      meshdeck::common::toProto(h, e->mutable_latency());
      meshdeck::v1::ReportAck ack;
      QVERIFY(reporter.send(report, &ack));
    }
    const auto local_history = local.edgeHistory("page", "reviews", 60);
    QCOMPARE(local_history.size(), size_t(1));
    GrpcControlPlane remote(local.listenAddress());
    const auto history = remote.edgeHistory("page", "reviews", 60);
    QCOMPARE(history.size(), size_t(1));
    QCOMPARE(history[0].requests_per_second, 40.0);
    QCOMPARE(history[0].success_rate, 0.95);
    QCOMPARE(history[0].responses_by_class[4], 2u);
    QVERIFY(std::abs(history[0].p50_ms - 3.0) < 0.03);
    QCOMPARE(
        std::chrono::duration_cast<std::chrono::seconds>(history[0].time.time_since_epoch()),
        std::chrono::duration_cast<std::chrono::seconds>(local_history[0].time.time_since_epoch()));
    QVERIFY(remote.edgeHistory("page", "nowhere", 60).empty());
    proxy.stop();
    local.stop();
  }
};

QTEST_GUILESS_MAIN(GrpcControlPlaneTest)
#include "grpc_control_plane_test.moc"
