// Authorization decisions counted per rule, end to end with real processes on 127.0.0.1
// (issue #7): a dry-run DENY lets requests through, logs what it would deny (rate-limited) and
// counts it on its rule in `meshdeckctl get authz`; a real DENY refuses with 403, the reason
// names the rule, and the refusals are counted on that rule there and in the proxy's /stats.
//
//   meshdeck-load --proxy --> [frontend sidecar] ==mTLS==> [reviews sidecar] --> demo reviews
#include <QtTest>
#include <thread>

#include "controlplane/fleet/loopback_http.h"
#include "integration/common/mesh_harness.h"

using meshdeck::cp::fleet::loopbackHttp;
using namespace meshdeck::test;

namespace {

// The counts of one rule of `service` in `meshdeckctl get authz -o json` output.
QJsonObject ruleOf(const QByteArray& json, const QString& service, const QString& policy) {
  for (const auto& r : QJsonDocument::fromJson(json).array())
    if (r.toObject()["service"].toString() == service &&
        r.toObject()["policy"].toString() == policy)
      return r.toObject();
  return {};
}

qint64 count(const QJsonObject& rule, const char* field) {
  return rule[field].toVariant().toLongLong();
}

}  // namespace

class AuthzE2eTest : public QObject, public MeshHarness {
  Q_OBJECT

 private slots:
  void initTestCase() { QVERIFY(initHarness()); }
  void cleanupTestCase() { stopAll(); }

  void dryRunThenDenyCountedPerRule() {
    const auto t0 = Clock::now();
    const auto plane = secureControlPlane();
    QVERIFY2(startControlPlaneAndWait(plane.args, "TLS listening on "), qPrintable(log_));

    const uint16_t app = port();
    startDemo("reviews", "v1", app);
    // The callee logs at info: the dry-run lines are what the operator reads.
    SidecarOptions callee = bootstrapped(plane.tls, plane.tokens + "/reviews-v1.token");
    callee.log_level = "info";
    reviews_ = startSidecar("reviews", "reviews-v1", app, callee);
    reviews_process_ = children_.back().get();
    frontend_ = startSidecar("frontend", "frontend", port(),
                             bootstrapped(plane.tls, plane.tokens + "/frontend.token"));
    QVERIFY(waitReady({reviews_, frontend_}, 15'000));
    QVERIFY(waitConfig(frontend_, "MUTUAL_TLS", 5000));

    // 1. Dry-run DENY of the caller's identity: nothing is refused, everything is counted.
    QCOMPARE(apply("apiVersion: meshdeck.io/v1alpha1\nkind: AuthorizationPolicy\n"
                   "metadata: {name: audit-frontend}\nspec:\n  selector: {service: reviews}\n"
                   "  action: DENY\n  dryRun: true\n  rules:\n"
                   "  - from:\n    - source: {services: [frontend]}\n")
                 .code,
             0);
    QVERIFY(waitConfig(reviews_, "audit-frontend", 3000));
    QJsonObject report = load(frontend_, 50, "2s");
    QCOMPARE(report["completed"].toInteger(), qint64(100));
    QCOMPARE(report["responses"].toObject()["2xx"].toInteger(), qint64(100));

    QJsonObject dry;
    for (int i = 0; i < 40 && count(dry, "dry_run_denied") < 100; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      dry = ruleOf(ctl({"get", "authz", "-o", "json", "-w", "60"}), "reviews", "audit-frontend");
    }
    qInfo("dry run: rule %s %s: allowed %lld denied %lld dry-run would deny %lld",
          qPrintable(dry["rule"].toString()), qPrintable(dry["action"].toString()),
          count(dry, "allowed"), count(dry, "denied"), count(dry, "dry_run_denied"));
    QCOMPARE(dry["rule"].toString(), QString("rules[0]"));
    QCOMPARE(dry["action"].toString(), QString("DENY"));
    QVERIFY(dry["dry_run"].toBool());
    QCOMPARE(count(dry, "dry_run_denied"), 100LL);
    QCOMPARE(count(dry, "denied"), 0LL);

    // The callee's log names policy, rule, method, path and source, at most 10 lines a second,
    // and says how many it left out.
    const QString line =
        "authorization dry run: policy audit-frontend rule rules[0] would deny GET / from "
        "spiffe://meshdeck.local/ns/default/sa/frontend";
    QString proxy_log;
    for (int i = 0; i < 20; ++i) {  // take in what the proxy has logged so far (bounded)
      reviews_process_->waitForReadyRead(100);
      proxy_log += QString::fromUtf8(reviews_process_->readAllStandardError() +
                                     reviews_process_->readAllStandardOutput());
      if (proxy_log.contains("similar lines suppressed")) break;
    }
    const qsizetype lines = proxy_log.count(line);
    qInfo("dry-run log lines for 100 requests in 2 s: %lld", static_cast<long long>(lines));
    QVERIFY2(lines >= 1, qPrintable(proxy_log.right(2000)));
    QVERIFY2(lines <= 40, qPrintable(proxy_log.right(2000)));  // 10 a second, ~2-3 s
    QVERIFY2(proxy_log.contains("similar lines suppressed"), qPrintable(proxy_log.right(2000)));

    // 2. The real DENY: 403 naming the rule, counted on it.
    QCOMPARE(apply("apiVersion: meshdeck.io/v1alpha1\nkind: AuthorizationPolicy\n"
                   "metadata: {name: deny-frontend}\nspec:\n  selector: {service: reviews}\n"
                   "  action: DENY\n  rules:\n  - from:\n    - source: {services: [frontend]}\n")
                 .code,
             0);
    QVERIFY(waitConfig(reviews_, "deny-frontend", 3000));
    QByteArray denied;
    qint64 refused = 0;
    for (int i = 0; i < kStaleRequests + 2 && !denied.startsWith("HTTP/1.1 403"); ++i)
      denied = rawRequest(frontend_.outbound, "reviews");
    QVERIFY2(denied.startsWith("HTTP/1.1 403"), denied.constData());
    QVERIFY2(denied.contains("policy deny-frontend rule rules[0]"), denied.constData());
    ++refused;
    report = load(frontend_, 50, "2s");
    QCOMPARE(report["completed"].toInteger(), qint64(100));
    QCOMPARE(report["responses"].toObject()["4xx"].toInteger(), qint64(100));  // config in force
    refused += 100;

    QJsonObject deny;
    for (int i = 0; i < 40 && count(deny, "denied") < refused; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      deny = ruleOf(ctl({"get", "authz", "-o", "json", "-w", "60"}), "reviews", "deny-frontend");
    }
    qInfo("deny: rule %s: allowed %lld denied %lld (403s seen by the caller: %lld)",
          qPrintable(deny["rule"].toString()), count(deny, "allowed"), count(deny, "denied"),
          refused);
    QCOMPARE(count(deny, "denied"), refused);
    QCOMPARE(count(deny, "allowed"), 0LL);
    QVERIFY(!deny["dry_run"].toBool());
    // The dry run kept counting what it would deny: now everything that reached the proxy.
    dry = ruleOf(ctl({"get", "authz", "-o", "json", "-w", "60"}), "reviews", "audit-frontend");
    QCOMPARE(count(dry, "denied"), 0LL);
    QVERIFY(count(dry, "dry_run_denied") >= 100 + refused);

    // The proxy's own counters agree (since start).
    std::string stats;
    QCOMPARE(loopbackHttp(reviews_.admin, "GET", "/stats", "", std::chrono::milliseconds(2000),
                          &stats, nullptr),
             200);
    const QString needle =
        QString(
            "meshdeck_authz_requests_total{policy=\"deny-frontend\",rule=\"rules[0]\","
            "decision=\"deny\"} %1\n")
            .arg(refused);
    QVERIFY2(QString::fromStdString(stats).contains(needle), stats.c_str());

    // The table form.
    const QString table = QString::fromUtf8(ctl({"get", "authz", "-w", "60"}));
    qInfo("%s", qPrintable(table));
    QVERIFY(table.contains("DRY-RUN WOULD DENY"));
    QVERIFY(table.contains("audit-frontend") && table.contains("DENY (dry run)"));
    qInfo("whole test: %.1f s", msSince(t0) / 1000);
  }

 private:
  // At most one stale request per pooled connection (--connections 4 of meshdeck-load).
  static constexpr int kStaleRequests = 4;
  Sidecar reviews_, frontend_;
  QProcess* reviews_process_ = nullptr;
};

QTEST_GUILESS_MAIN(AuthzE2eTest)
#include "authz_e2e_test.moc"
