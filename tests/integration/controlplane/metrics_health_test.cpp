// The real meshdeck-controlplane process on loopback: telemetry from a simulated proxy reaches
// /metrics (scraped over a socket and read with a strict exposition-format reader: every line,
// cumulative buckets, counters monotonic across scrapes), malformed requests to the metrics port
// are refused and counted, and the health the control plane computes (with a HealthPolicy
// applied by meshdeckctl) reaches `meshdeckctl get services`.
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <csignal>
#include <thread>

#include "common/histogram_proto.h"
#include "common/latency_histogram.h"
#include "integration/controlplane/fake_proxy.h"
#include "support/binaries.h"
#include "support/free_ports.h"
#include "support/prometheus_parser.h"
#include "support/raw_http.h"
#include "support/tagged_processes.h"

using meshdeck::test::bin;
using namespace std::chrono_literals;
using Labels = std::map<std::string, std::string>;

namespace {

// One client-side report of page -> reviews: `ok` 200s and `errors` 503s, at 3 ms.
meshdeck::v1::TelemetryReport report(uint64_t sequence, uint64_t ok, uint64_t errors) {
  meshdeck::v1::TelemetryReport r;
  r.set_proxy_id("page-v1-0");
  r.set_sequence(sequence);
  r.set_interval_ms(1000);
  meshdeck::common::LatencyHistogram h;
  h.recordN(3'000'000, ok + errors);
  auto* e = r.add_edges();
  e->mutable_key()->set_source_service("page");
  e->mutable_key()->set_destination_service("reviews");
  e->set_side(meshdeck::v1::CLIENT);
  e->set_requests(ok + errors);
  (*e->mutable_responses_by_code())[200] = ok;
  if (errors) (*e->mutable_responses_by_code())[503] = errors;
  meshdeck::common::toProto(h, e->mutable_latency());
  return r;
}

}  // namespace

class MetricsHealthTest : public QObject {
  Q_OBJECT

 private slots:
  void init() { dir_ = std::make_unique<QTemporaryDir>(); }
  void cleanup() {
    if (!server_) return;
    meshdeck::test::signalProcess(*server_, SIGTERM);
    QVERIFY(server_->waitForFinished(10000));
    server_.reset();
  }

  void scrapesHealthAndRefusals() {
    const QString metrics_address = QString("127.0.0.1:%1").arg(meshdeck::test::freePort());
    startServer({"--metrics-listen", metrics_address});
    QCOMPARE(metrics_, metrics_address);
    const std::string maddr = metrics_.toStdString();

    auto channel = grpc::CreateChannel(address_.toStdString(), grpc::InsecureChannelCredentials());
    auto discovery = meshdeck::v1::ConfigDiscovery::NewStub(channel);
    auto telemetry = meshdeck::v1::TelemetryIngest::NewStub(channel);
    meshdeck::testing::FakeProxy page(
        discovery.get(), meshdeck::testing::makeNode("page-v1-0", "page", "v1", 21000));
    meshdeck::testing::FakeProxy reviews(
        discovery.get(), meshdeck::testing::makeNode("reviews-v1-0", "reviews", "v1", 21001));
    QVERIFY(page.waitFor([](const auto&) { return true; }, 10s));

    // reviews: 5xx fail at 3 % instead of 10 %.
    QFile policy(dir_->filePath("health.yaml"));
    QVERIFY(policy.open(QIODevice::WriteOnly));
    policy.write(
        "apiVersion: meshdeck.io/v1alpha1\nkind: HealthPolicy\nmetadata: {name: reviews}\n"
        "spec:\n  selector: {service: reviews}\n  tolerances:\n    http5xx: {failed: 3}\n");
    policy.close();
    const auto applied = ctl({"apply", "-f", policy.fileName()});
    QVERIFY2(applied.first == 0, qPrintable(applied.second));

    meshdeck::v1::ReportAck ack;
    {
      meshdeck::testing::FakeReporter reporter(telemetry.get());
      QVERIFY(reporter.send(report(1, 95, 5), &ack));  // 5 % 5xx
    }
    std::string error;
    const auto first = scrape(maddr, &error);
    QVERIFY2(first, error.c_str());
    const Labels edge{{"source", "page"}, {"destination", "reviews"}};
    QCOMPARE(*first->value("meshdeck_edge_requests_total", edge), 100.0);
    auto with = [](Labels l, const std::string& k, const std::string& v) {
      l[k] = v;
      return l;
    };
    QCOMPARE(*first->value("meshdeck_edge_responses_total", with(edge, "class", "5xx")), 5.0);
    QCOMPARE(*first->value("meshdeck_edge_request_duration_seconds_count", edge), 100.0);
    QCOMPARE(
        *first->value("meshdeck_edge_request_duration_seconds_bucket", with(edge, "le", "0.005")),
        100.0);
    QVERIFY(first->value("meshdeck_ca_root_expiry_timestamp_seconds").value_or(0) > 1.6e9);
    QVERIFY(first->value("meshdeck_proxies", {{"sync_state", "synced"}}).has_value());

    // Malformed and oversized requests: answered, counted, and the server keeps serving.
    const auto big = meshdeck::test::rawHttpExchange(
        maddr, "GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + std::string(20000, 'a') + "\r\n\r\n");
    QVERIFY2(big.rfind("HTTP/1.1 431", 0) == 0, big.c_str());
    const auto junk = meshdeck::test::rawHttpExchange(maddr, "\x01\x02 garbage\r\n\r\n");
    QVERIFY2(junk.rfind("HTTP/1.1 400", 0) == 0, junk.c_str());
    const auto other = meshdeck::test::rawHttpExchange(
        maddr, "GET /debug HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    QVERIFY2(other.rfind("HTTP/1.1 404", 0) == 0, other.c_str());

    {
      meshdeck::testing::FakeReporter reporter(telemetry.get());
      QVERIFY(reporter.send(report(2, 50, 0), &ack));
    }
    const auto second = scrape(maddr, &error);
    QVERIFY2(second, error.c_str());
    QCOMPARE(*second->value("meshdeck_metrics_bad_requests_total"), 3.0);
    QCOMPARE(*second->value("meshdeck_edge_requests_total", edge), 150.0);
    // Every counter sample of the first scrape is still there and has not gone down.
    for (const auto& s : first->samples) {
      const auto family = s.name.substr(0, s.name.rfind('_'));
      const bool counter = first->types.count(s.name) && first->types.at(s.name) == "counter";
      const bool histogram = first->types.count(family) && first->types.at(family) == "histogram";
      if (!counter && !histogram) continue;
      const auto later = second->value(s.name, s.labels);
      QVERIFY2(later && *later >= s.value, s.name.c_str());
    }

    // The health of the window: 5 of 150 (3.3 %) ≥ reviews' 3 %: failing, with the reason, in
    // meshdeckctl and in /metrics once the snapshot is published.
    QString services;
    for (int i = 0; i < 40 && !services.contains("failing"); ++i) {
      services = ctl({"get", "services", "-o", "wide"}).second;
      if (!services.contains("failing")) std::this_thread::sleep_for(100ms);
    }
    QVERIFY2(services.contains(QRegularExpression("reviews\\s.*failing\\s+5xx 3\\.3% ≥ 3%")),
             qPrintable(services));
    QVERIFY2(services.contains(QRegularExpression("^NAME\\s.*HEALTH\\s+REASONS")),
             qPrintable(services));
    // /metrics reads the last published snapshot (every 250 ms).
    std::optional<double> failing;
    for (int i = 0; i < 40 && failing != 1.0; ++i) {
      const auto third = scrape(maddr, &error);
      QVERIFY2(third, error.c_str());
      failing =
          third->value("meshdeck_service_health", {{"service", "reviews"}, {"state", "failing"}});
      if (failing != 1.0) std::this_thread::sleep_for(100ms);
    }
    QCOMPARE(failing, std::optional<double>(1.0));
    // And in the snapshot file.
    const QString file = dir_->filePath("snap.json");
    const auto exported = ctl({"snapshot", "-o", file});
    QVERIFY2(exported.first == 0, qPrintable(exported.second));
    QFile snap(file);
    QVERIFY(snap.open(QIODevice::ReadOnly));
    const QByteArray json = snap.readAll();
    QVERIFY2(json.contains("\"health\":{\"state\":\"failing\",\"reasons\":[\"5xx 3.3% ≥ 3%\"]}"),
             json.constData());
  }

  // An address given explicitly must bind: the process exits with a clear error.
  void explicitBusyAddressFails() {
    const QString taken = QString("127.0.0.1:%1").arg(meshdeck::test::freePort());
    startServer({"--metrics-listen", taken});
    QProcess second;
    second.start(bin("meshdeck-controlplane"),
                 {"--listen", "127.0.0.1:0", "--state-dir", dir_->filePath("other"),
                  "--metrics-listen", taken});
    QVERIFY(second.waitForFinished(15000));
    QCOMPARE(second.exitCode(), 1);
    const QString err = QString::fromUtf8(second.readAllStandardError());
    QVERIFY2(err.contains("metrics listener " + taken), qPrintable(err));
  }

 private:
  std::optional<meshdeck::test::PromDocument> scrape(const std::string& address,
                                                     std::string* error) {
    const auto response = meshdeck::test::rawHttpExchange(
        address, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (response.rfind("HTTP/1.1 200", 0) != 0) {
      *error = "scrape: " + response;
      return std::nullopt;
    }
    return meshdeck::test::parsePrometheus(meshdeck::test::httpBody(response), error);
  }

  std::pair<int, QString> ctl(QStringList args) {
    args = QStringList{"--server", address_} + args;
    QProcess p;
    p.start(bin("meshdeckctl"), args);
    if (!p.waitForFinished(15000)) {
      p.kill();
      p.waitForFinished();
      return {-1, "timeout"};
    }
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()) +
                              QString::fromUtf8(p.readAllStandardError())};
  }

  void startServer(QStringList extra) {
    server_ = std::make_unique<QProcess>();
    server_->setProcessChannelMode(QProcess::SeparateChannels);
    server_->start(
        bin("meshdeck-controlplane"),
        QStringList{"--listen", "127.0.0.1:0", "--state-dir", dir_->filePath("state")} + extra);
    QVERIFY(server_->waitForStarted());
    QString log;
    for (int i = 0; i < 100 && !log.contains("/metrics"); ++i) {
      server_->waitForReadyRead(100);
      log += QString::fromUtf8(server_->readAllStandardError());
    }
    const auto m = QRegularExpression("listening on (\\S+)").match(log);
    QVERIFY2(m.hasMatch(), qPrintable(log));
    address_ = m.captured(1);
    const auto mm =
        QRegularExpression("metrics \\(Prometheus\\) on http://(\\S+)/metrics").match(log);
    QVERIFY2(mm.hasMatch(), qPrintable(log));
    metrics_ = mm.captured(1);
  }

  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<QProcess> server_;
  QString address_, metrics_;
};

QTEST_GUILESS_MAIN(MetricsHealthTest)
#include "metrics_health_test.moc"
