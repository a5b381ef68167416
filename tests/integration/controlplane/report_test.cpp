#include "controlplane/report/report.h"

#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include "common/clock.h"
#include "common/latency_histogram.h"
#include "controlplane/history/history_store.h"
#include "controlplane/in_process_control_plane.h"
#include "controlplane/report/report_html.h"
#include "support/binaries.h"
#include "support/report_fixtures.h"
#include "tools/meshdeckctl/time_arg.h"

using namespace meshdeck::cp;
using namespace meshdeck::cp::report;
using namespace std::chrono_literals;
using meshdeck::test::bin;
using meshdeck::test::countChecks;

namespace {

const std::string kEvil = "<script>alert(1)</script>";

// One 10 s bucket of `requests` requests, `errors` of them 5xx, each taking `latency_ms`
// (+ i µs so that the histogram has some spread).
meshdeck::cp::history::Bucket bucket(int64_t start, const std::string& source,
                                     const std::string& destination, uint64_t requests,
                                     uint64_t errors, uint64_t latency_ms,
                                     meshdeck::common::LatencyHistogram* all) {
  meshdeck::cp::history::Bucket b;
  b.start = start;
  b.source = source;
  b.destination = destination;
  meshdeck::common::LatencyHistogram h;
  for (uint64_t i = 0; i < requests; ++i) h.record(latency_ms * 1'000'000 + i * 1000);
  all->merge(h);
  b.latency = meshdeck::cp::history::SparseLatency::fromDense(h);
  b.counters.requests = requests;
  b.counters.responses_by_class[1] = requests - errors;
  b.counters.responses_by_class[4] = errors;
  b.counters.retries = requests / 5;  // 20 %: listed by the checkup
  b.counters.mtls_requests = requests;
  return b;
}

QString field(const QString& html, const QString& id) {
  const QRegularExpression re("id=\"" + id + "\">([^<]*)<");
  const auto m = re.match(html);
  return m.hasMatch() ? m.captured(1) : QString();
}

}  // namespace

// A report over a history database the test prepared (simulated clock, known counts): its
// figures are those the history holds, in process and through `meshdeckctl report` against the
// control plane serving that database on loopback.
class ReportHistoryTest : public QObject {
  Q_OBJECT

 private slots:
  void reportMatchesTheHistory() {
    QTemporaryDir dir;
    meshdeck::common::SimulatedTimeSource clock;
    const std::string state = dir.filePath("state").toStdString();
    std::filesystem::create_directories(state);
    const int64_t now_s =
        std::chrono::duration_cast<std::chrono::seconds>(clock.systemNow().time_since_epoch())
            .count();
    const int64_t t0 = now_s / 60 * 60 - 120;  // a whole minute, two minutes ago

    // The history: one minute of two edges in 10 s buckets. frontend -> reviews: 100 requests a
    // bucket, i of them 5xx in bucket i, 20 ms; frontend -> <script>: 10 a bucket, 50 ms.
    meshdeck::common::LatencyHistogram all;
    uint64_t requests = 0, errors = 0;
    {
      std::string error;
      auto store = meshdeck::cp::history::HistoryStore::open(
          std::filesystem::path(state) / "history.db", {}, clock, &error);
      QVERIFY2(store, error.c_str());
      std::vector<meshdeck::cp::history::Bucket> buckets;
      for (int i = 0; i < 6; ++i) {
        buckets.push_back(bucket(t0 + 10 * i, "frontend", "reviews", 100, i, 20, &all));
        buckets.push_back(bucket(t0 + 10 * i, "frontend", kEvil, 10, 0, 50, &all));
        requests += 110;
        errors += i;
      }
      store->recordBuckets(std::move(buckets));
      store->flush();
    }
    const SystemTime from = SystemTime(std::chrono::seconds(t0));
    const SystemTime to = from + 60s;

    ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.secure_listen = "";
    options.state_dir = state;
    options.time_source = &clock;
    InProcessControlPlane local(options);
    std::string error;
    QVERIFY2(local.start(&error), error.c_str());
    local.registerService("frontend", "v1", "frontend");
    local.registerService("reviews", "v1", "backend");
    const auto applied =
        local.applyPolicies(meshdeck::test::kLeftOnPolicies, "report-test.yaml", "tester", false);
    QVERIFY2(applied.ok, applied.errors.empty() ? "" : applied.errors[0].message.c_str());

    ReportOptions ro;
    ro.source = "test";
    const auto r = buildReport(local, from, to, clock.systemNow(), ro);
    QVERIFY2(r.available, r.message.c_str());
    QCOMPARE(r.requests, requests);  // 660
    QCOMPARE(r.error_rate, double(errors) / double(requests));
    QCOMPARE(r.p99_ms, all.percentile(99) / 1e6);
    QCOMPARE(r.requests_per_second, double(requests) / 60.0);
    QCOMPARE(r.resolution_seconds, 10u);
    QCOMPARE(r.step_seconds, 10u);
    QCOMPARE(r.series.size(), size_t(6));
    for (int i = 0; i < 6; ++i) {
      QCOMPARE(r.series[i].requests, uint64_t(110));
      QCOMPARE(r.series[i].error_rate, double(i) / 110.0);
    }
    QCOMPARE(r.edges.size(), size_t(2));
    QCOMPARE(r.worst_by_errors.size(), size_t(1));
    const auto& worst = r.edges[r.worst_by_errors[0]];
    QCOMPARE(worst.destination, std::string("reviews"));
    QCOMPARE(worst.metrics.requests, uint64_t(600));
    QCOMPARE(worst.metrics.responses_by_class[4], uint64_t(15));
    QCOMPARE(worst.series.size(), size_t(6));
    QCOMPARE(worst.series[5].error_rate, 0.05);
    QCOMPARE(r.edges[r.worst_by_p99[0]].destination, kEvil);  // 50 ms
    QCOMPARE(r.policy_revision, uint64_t(0));                 // applied after the range

    QCOMPARE(countChecks(r.checkup, CheckKind::kFaultInjection), size_t(1));
    QCOMPARE(countChecks(r.checkup, CheckKind::kPermissive), size_t(1));
    QCOMPARE(countChecks(r.checkup, CheckKind::kAuthorizationDryRun), size_t(1));
    QCOMPARE(countChecks(r.checkup, CheckKind::kHighRetryRate), size_t(2));

    // The same figures through meshdeckctl, over the management API.
    const QString out = dir.filePath("report.html");
    QProcess p;
    p.start(bin("meshdeckctl"),
            {"--server", QString::fromStdString(local.listenAddress()), "report", "--since",
             QString::fromStdString(meshdeck::tools::formatRfc3339(from)), "--until",
             QString::fromStdString(meshdeck::tools::formatRfc3339(to)), "-o", out});
    QVERIFY(p.waitForFinished(30000));
    QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
    QFile f(out);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QString html = QString::fromUtf8(f.readAll());
    QCOMPARE(field(html, "summary-requests"), QString::number(requests));
    QCOMPARE(field(html, "summary-errors"),
             QString::asprintf("%.2f%%", 100.0 * double(errors) / double(requests)));
    QCOMPARE(field(html, "summary-p99"), QString::asprintf("%.1f ms", all.percentile(99) / 1e6));
    QCOMPARE(field(html, "summary-checkup"), QString::number(r.checkup.size()));
    QVERIFY(!html.contains("<script"));
    QVERIFY(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    QVERIFY(html.contains("<svg "));
    QVERIFY(html.contains("TrafficRoute/reviews-delay"));

    // A range that ends before it starts is refused with the reason.
    QProcess none;
    none.start(bin("meshdeckctl"), {"--server", QString::fromStdString(local.listenAddress()),
                                    "report", "--since", "1h", "--until", "2h", "-o", out});
    QVERIFY(none.waitForFinished(30000));
    QCOMPARE(none.exitCode(), 1);
    QVERIFY(none.readAllStandardError().contains("--until must be after --since"));
    local.stop();
  }
};

QTEST_GUILESS_MAIN(ReportHistoryTest)
#include "report_test.moc"
