#include "controlplane/grpc_control_plane.h"

#include <QtTest>
#include <atomic>
#include <thread>

#include "controlplane/in_process_control_plane.h"

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
};

QTEST_GUILESS_MAIN(GrpcControlPlaneTest)
#include "grpc_control_plane_test.moc"
