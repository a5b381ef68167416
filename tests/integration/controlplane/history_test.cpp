#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <thread>

#include "common/clock.h"
#include "common/histogram_proto.h"
#include "common/latency_histogram.h"
#include "controlplane/in_process_control_plane.h"
#include "integration/controlplane/fake_proxy.h"
#include "support/binaries.h"
#include "tools/meshdeckctl/time_arg.h"

using namespace meshdeck::cp;
using namespace std::chrono_literals;
using meshdeck::test::bin;

// The history store end to end (docs/history.md): an embedded control plane on loopback with a
// simulated clock records a proxy's NACK, its connection and departure, a policy applied with
// an author and an edge's traffic, and serves them to meshdeckctl (`get edges --at`,
// `events --since`, `snapshot --at`); the events survive a restart.
class HistoryTest : public QObject {
  Q_OBJECT

 private slots:
  void recordsAndServesTrafficAndEvents() {
    QTemporaryDir dir;
    const QString src = qEnvironmentVariable("MESHDECK_SOURCE_DIR");
    QVERIFY(!src.isEmpty());
    meshdeck::common::SimulatedTimeSource clock;
    ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.secure_listen = "";
    options.state_dir = dir.filePath("state").toStdString();
    options.time_source = &clock;
    const auto started = clock.systemNow();
    auto local = std::make_unique<InProcessControlPlane>(options);
    std::string error;
    QVERIFY2(local->start(&error), error.c_str());
    local->registerService("reviews", "v1", "backend");
    address_ = QString::fromStdString(local->listenAddress());

    auto channel = grpc::CreateChannel(local->listenAddress(), grpc::InsecureChannelCredentials());
    auto discovery = meshdeck::v1::ConfigDiscovery::NewStub(channel);
    auto telemetry = meshdeck::v1::TelemetryIngest::NewStub(channel);
    {
      meshdeck::testing::FakeProxy proxy(
          discovery.get(), meshdeck::testing::makeNode("page-v1-0", "page", "v1", 21000),
          [](const meshdeck::v1::ProxyConfig&) { return std::optional<std::string>("refused"); });
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (local->counters().nacks == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
      QVERIFY(local->counters().nacks > 0);

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
    const auto reported = clock.systemNow();
    // The publish loop judges reviews degraded (2 of 40 answers were 503) in a snapshot: that
    // change is a health event.
    auto degraded = [&] {
      for (const auto& n : local->snapshot()->services)
        if (n.name == "reviews" && n.health) return n.health->state == HealthState::kDegraded;
      return false;
    };
    const auto judged_by = std::chrono::steady_clock::now() + 10s;
    while (!degraded() && std::chrono::steady_clock::now() < judged_by)
      std::this_thread::sleep_for(20ms);
    QVERIFY(degraded());
    QCOMPARE(local->edgeHistory("page", "reviews", 60).size(), size_t(1));
    auto applied = ctl({"apply", "-f", src + "/resources/policies/reviews-destination.yaml",
                        "--author", "tester"});
    QCOMPARE(applied.code, 0);

    // The block of the report closes; the publish loop hands it to the store.
    clock.advance(25s);
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (local->graphBetween(reported - 10s, reported + 10s).edges.empty() &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(50ms);
    const auto graph = local->graphBetween(reported - 10s, reported + 10s);
    QVERIFY(graph.available);
    QCOMPARE(graph.edges.size(), size_t(1));
    QCOMPARE(graph.edges[0].metrics.requests, uint64_t(40));
    QCOMPARE(graph.edges[0].metrics.responses_by_class[4], uint64_t(2));
    QCOMPARE(graph.edges[0].metrics.latency->count(), uint64_t(40));
    QCOMPARE(graph.resolution_seconds, 10u);
    QCOMPARE(graph.policy_revision, uint64_t(1));

    // meshdeckctl reads it over the management API; the simulated clock is far from the real
    // one, so the times are absolute (relative ones are unit-tested in meshdeckctl_time_test).
    const QString at = QString::fromStdString(meshdeck::tools::formatRfc3339(reported + 10s));
    auto edges = ctl({"get", "edges", "--at", at, "-w", "30"});
    QCOMPARE(edges.code, 0);
    QVERIFY2(edges.out.contains("page") && edges.out.contains("reviews") &&
                 edges.out.contains("policy revision 1 by tester"),
             qPrintable(edges.out));
    auto json = ctl({"get", "edges", "--at", at, "-w", "30", "-o", "json"});
    QCOMPARE(json.code, 0);
    QVERIFY2(json.out.contains("\"requests\":\"40\""), qPrintable(json.out));
    auto before =
        ctl({"get", "edges", "--at",
             QString::fromStdString(meshdeck::tools::formatRfc3339(started - 60s)), "-o", "json"});
    QCOMPARE(before.code, 0);
    QCOMPARE(before.out.trimmed(), QString("[]"));

    const QString since = QString::fromStdString(meshdeck::tools::formatRfc3339(started - 1s));
    const QString to =
        QString::fromStdString(meshdeck::tools::formatRfc3339(clock.systemNow() + 60s));
    auto events = ctl({"events", "--since", since, "--until", to});
    QCOMPARE(events.code, 0);
    for (const char* kind : {"controlplane.start", "proxy.connect", "push.nack", "push ",
                             "proxy.disconnect", "policy.apply"})
      QVERIFY2(events.out.contains(kind), qPrintable(kind + (": " + events.out)));
    QVERIFY2(events.out.contains("tester") && events.out.contains("page-v1-0"),
             qPrintable(events.out));
    auto pushes = ctl({"events", "--since", since, "--until", to, "--kind", "push"});
    QCOMPARE(pushes.code, 0);
    QVERIFY2(pushes.out.contains("push.nack") && !pushes.out.contains("proxy.connect") &&
                 !pushes.out.contains("policy.apply"),
             qPrintable(pushes.out));
    // Health changes: reviews turned degraded with the 503s (5xx above 0 %), and healthy again
    // once the window had no more of them (the clock moved 25 s).
    auto health = ctl({"events", "--since", since, "--until", to, "--kind", "health"});
    QCOMPARE(health.code, 0);
    QVERIFY2(health.out.contains("health.change") && health.out.contains("reviews") &&
                 health.out.contains("healthy -> degraded: 5xx") &&
                 !health.out.contains("push.nack"),
             qPrintable(health.out));
    auto recovered = [&] {
      for (const auto& e : local->events(started, clock.systemNow() + 60s, {"health"}, 100).events)
        if (e.subject == "reviews" && e.detail.rfind("degraded -> healthy", 0) == 0) return true;
      return false;
    };
    const auto recovery_deadline = std::chrono::steady_clock::now() + 10s;
    while (!recovered() && std::chrono::steady_clock::now() < recovery_deadline)
      std::this_thread::sleep_for(50ms);
    QVERIFY(recovered());

    const QString file = dir.filePath("at.json");
    QCOMPARE(ctl({"snapshot", "--at", at, "-w", "30", "-o", file}).code, 0);
    QFile f(file);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const auto doc = QJsonDocument::fromJson(f.readAll());
    QCOMPARE(doc["edges"].toArray().size(), 1);
    QCOMPARE(doc["policy_revision"].toString(), QString("1"));

    // Bad times are refused with the reason, before anything is asked.
    auto bad = ctl({"get", "edges", "--at", "yesterday"});
    QCOMPARE(bad.code, 1);
    QVERIFY2(bad.err.contains("\"yesterday\" is neither a duration"), qPrintable(bad.err));
    auto future = ctl({"events", "--since", "2026-13-01T00:00:00Z"});
    QCOMPARE(future.code, 1);
    QVERIFY2(future.err.contains("is not an RFC 3339 time"), qPrintable(future.err));

    // A restarted control plane keeps what was recorded.
    local->stop();
    local.reset();
    InProcessControlPlane again(options);
    QVERIFY2(again.start(&error), error.c_str());
    const auto kept = again.events(started - 1s, clock.systemNow() + 1s, {"policy"}, 100);
    QVERIFY(kept.available);
    QCOMPARE(kept.events.size(), size_t(1));
    QCOMPARE(kept.events[0].author, std::string("tester"));
    QCOMPARE(again.graphBetween(reported - 10s, reported + 10s).edges.size(), size_t(1));
    again.stop();
  }

  // Without a state directory there is no store, and the calls say so.
  void noStateDirectoryNoHistory() {
    ControlPlaneOptions options;
    options.listen = "";
    InProcessControlPlane local(options);
    std::string error;
    QVERIFY2(local.start(&error), error.c_str());
    const auto now = std::chrono::system_clock::now();
    const auto graph = local.graphBetween(now - 60s, now);
    QVERIFY(!graph.available);
    QVERIFY2(graph.message.find("no state directory") != std::string::npos, graph.message.c_str());
    QVERIFY(!local.events(now - 60s, now, {}, 10).available);
    local.stop();
  }

 private:
  struct Result {
    int code = -1;
    QString out, err;
  };
  Result ctl(QStringList args) {
    args = QStringList{"--server", address_} + args;
    QProcess p;
    p.start(bin("meshdeckctl"), args);
    Result r;
    if (!p.waitForFinished(15000)) {
      p.kill();
      p.waitForFinished();
      return r;
    }
    r.code = p.exitCode();
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
  }
  QString address_;
};

QTEST_GUILESS_MAIN(HistoryTest)
#include "history_test.moc"
