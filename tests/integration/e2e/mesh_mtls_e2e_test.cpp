// Mutual TLS end to end with real processes on 127.0.0.1 (issue #7): a control plane issues
// bootstrap tokens, two sidecars obtain certificates with them through their identity agent,
// traffic between the sidecars runs over mutual TLS without any PeerAuthentication (auto-mTLS),
// and an AuthorizationPolicy DENY on the caller's SPIFFE identity is enforced and removed again.
//
//   meshdeck-load --proxy --> [frontend sidecar] ==mTLS==> [reviews sidecar] --> demo reviews
#include <QtTest>
#include <cstdlib>
#include <thread>

#include "controlplane/fleet/loopback_http.h"
#include "integration/common/mesh_harness.h"

using meshdeck::cp::fleet::loopbackHttp;
using namespace meshdeck::test;

class MeshMtlsE2eTest : public QObject, public MeshHarness {
  Q_OBJECT

 private slots:
  void initTestCase() { QVERIFY(initHarness()); }
  void cleanupTestCase() { stopAll(); }

  void sidecarsGetCertificatesAndTalkMutualTls() {
    const auto t0 = Clock::now();
    const auto plane = secureControlPlane();
    QVERIFY2(startControlPlaneAndWait(plane.args, "TLS listening on "), qPrintable(log_));
    // The tokens are handed over as 0600 files in a 0700 directory, written before the ports
    // are announced (a sidecar started on "TLS listening on" reads its file at once).
    QVERIFY(QFile::exists(plane.tokens + "/frontend.token"));
    QVERIFY(QFile::exists(plane.tokens + "/reviews-v1.token"));
    QCOMPARE(QFile::permissions(plane.tokens + "/frontend.token") &
                 (QFile::ReadGroup | QFile::ReadOther | QFile::WriteGroup | QFile::WriteOther),
             QFileDevice::Permissions());

    const uint16_t app = port();
    startDemo("reviews", "v1", app);
    reviews_ = startSidecar("reviews", "reviews-v1", app,
                            bootstrapped(plane.tls, plane.tokens + "/reviews-v1.token"));
    // The frontend's certificates live 8 s: it renews about every 4 s over the TLS port,
    // authenticated by its current certificate, while the traffic below runs.
    frontend_ = startSidecar(
        "frontend", "frontend", port(),
        bootstrapped(plane.tls, plane.tokens + "/frontend.token", {"--cert-ttl", "8"}));
    QVERIFY(waitReady({reviews_, frontend_}, 15'000));

    // Both announced identities: one certificate each, issued by the mesh CA.
    QJsonArray certs;
    for (int i = 0; i < 50; ++i) {
      certs = QJsonDocument::fromJson(ctl({"get", "certs", "-o", "json"})).array();
      if (certs.size() >= 3) break;  // the control plane's own + two sidecars
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    QMap<QString, QString> spiffe_by_proxy;
    for (const auto& c : certs)
      spiffe_by_proxy[c.toObject()["proxy_id"].toString()] = c.toObject()["spiffe_id"].toString();
    QCOMPARE(spiffe_by_proxy.value("frontend"),
             QString("spiffe://meshdeck.local/ns/default/sa/frontend"));
    QCOMPARE(spiffe_by_proxy.value("reviews-v1"),
             QString("spiffe://meshdeck.local/ns/default/sa/reviews"));
    // The tokens were used up: the control plane refuses them a second time, so nothing to
    // replay; and the default configuration is mutual TLS towards reviews, PERMISSIVE inbound.
    QVERIFY(waitConfig(frontend_, "MUTUAL_TLS", 5000));
    QVERIFY(waitConfig(reviews_, "PERMISSIVE", 5000));
    QVERIFY(proxyConfig(frontend_).contains("spiffe://meshdeck.local/ns/default/sa/reviews"));

    // Traffic: every request succeeds and is counted as mutual TLS on the edge.
    QJsonObject report = load(frontend_, 50, "2s");
    QCOMPARE(report["completed"].toInteger(), qint64(100));
    QCOMPARE(report["errors"].toObject()["total"].toInteger(), qint64(0));
    QJsonObject m;
    for (int i = 0; i < 40; ++i) {
      m = edgeMetrics("frontend", "reviews", 30);
      if (m["requests"].toVariant().toLongLong() >= 100) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    qInfo("edge frontend -> reviews: %lld requests, %lld mTLS, %lld plaintext",
          m["requests"].toVariant().toLongLong(), m["mtls_requests"].toVariant().toLongLong(),
          m["plaintext_requests"].toVariant().toLongLong());
    QCOMPARE(m["requests"].toVariant().toLongLong(), 100LL);
    QCOMPARE(m["mtls_requests"].toVariant().toLongLong(), 100LL);
    QCOMPARE(m["plaintext_requests"].toVariant().toLongLong(), 0LL);
    // Between the two sidecars of HTTP/1.1 apps the hop is HTTP/2 (Cluster.hop_http2): the
    // reviews sidecar accepted the requests as streams on a few HTTP/2 connections (one per
    // concurrent first request at most: meshdeck-load's 4 connections), and the edge stays
    // HTTP/1.1, the protocol the frontend app spoke.
    QVERIFY(proxyConfig(frontend_).contains("\"hop_http2\": true"));
    const double h2_connections =
        adminStat(reviews_, "meshdeck_listener_http2_connections_total{listener=\"inbound\"}");
    qInfo("reviews sidecar: %.0f HTTP/2 connections from the frontend sidecar", h2_connections);
    QVERIFY(h2_connections >= 1 && h2_connections <= 4);
    QCOMPARE(findEdge("frontend", "reviews", 30)["protocol"].toString(), QString("http1"));

    // DENY the caller's identity on reviews: 403 with the reason header, visible on the edge.
    QCOMPARE(apply("apiVersion: meshdeck.io/v1alpha1\nkind: AuthorizationPolicy\n"
                   "metadata: {name: deny-frontend}\nspec:\n  selector: {service: reviews}\n"
                   "  action: DENY\n  rules:\n  - from:\n    - source: {services: [frontend]}\n")
                 .code,
             0);
    QVERIFY(waitConfig(reviews_, "deny-frontend", 3000));
    // The proxies take a pushed config from their workers' event loops, so a request racing
    // the push may still pass; a few are allowed.
    QByteArray denied;
    for (int i = 0; i < kStaleRequests + 2 && !denied.startsWith("HTTP/1.1 403"); ++i)
      denied = rawRequest(frontend_.outbound, "reviews");
    QVERIFY2(denied.startsWith("HTTP/1.1 403"), denied.constData());
    QVERIFY2(denied.toLower().contains("x-meshdeck-error: deny"), denied.constData());
    report = load(frontend_, 50, "2s");
    QCOMPARE(report["completed"].toInteger(), qint64(100));
    QVERIFY(report["responses"].toObject()["4xx"].toInteger() >= 100 - kStaleRequests);
    for (int i = 0; i < 40; ++i) {
      m = edgeMetrics("frontend", "reviews", 30);
      if (m["responses_by_class"].toArray()[3].toVariant().toLongLong() >= 100 - kStaleRequests)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    const auto classes = m["responses_by_class"].toArray();
    const double error_rate =
        m["requests"].toVariant().toDouble() > 0
            ? (classes[3].toVariant().toDouble() + classes[4].toVariant().toDouble()) /
                  m["requests"].toVariant().toDouble()
            : 0;
    qInfo("with DENY: edge shows %lld requests, %lld denied, 4xx+5xx rate %.2f",
          m["requests"].toVariant().toLongLong(), m["denied"].toVariant().toLongLong(), error_rate);
    QVERIFY(classes[3].toVariant().toLongLong() >= 100 - kStaleRequests);
    QVERIFY(error_rate >= 0.4);  // 100 of 200 requests in the window (the first 100 were fine)

    // Delete it: the edge heals.
    const QByteArray del = ctl({"delete", "AuthorizationPolicy", "deny-frontend"});
    Q_UNUSED(del);
    QCOMPARE(last_code_, 0);
    QVERIFY(waitConfigGone(reviews_, "deny-frontend", 3000));
    bool healed = false;
    for (int i = 0; i < kStaleRequests + 2 && !healed; ++i)
      healed = rawRequest(frontend_.outbound, "reviews").startsWith("HTTP/1.1 200");
    QVERIFY(healed);
    QProcess& healing = startLoad(frontend_, 50, "4s");
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    const QJsonObject recent = edgeMetrics("frontend", "reviews", 2);
    QVERIFY(healing.waitForFinished(10'000));
    report = QJsonDocument::fromJson(healing.readAllStandardOutput()).object();
    QCOMPARE(report["completed"].toInteger(), qint64(200));
    QVERIFY(report["responses"].toObject()["2xx"].toInteger() >= 200 - kStaleRequests);
    const auto recent_classes = recent["responses_by_class"].toArray();
    qInfo("after delete: last 2 s of the edge: %lld requests, %lld 4xx, %lld mTLS",
          recent["requests"].toVariant().toLongLong(), recent_classes[3].toVariant().toLongLong(),
          recent["mtls_requests"].toVariant().toLongLong());
    QVERIFY(recent["requests"].toVariant().toLongLong() > 0);
    QCOMPARE(recent_classes[3].toVariant().toLongLong(), 0LL);
    QCOMPARE(recent["mtls_requests"].toVariant().toLongLong(),
             recent["requests"].toVariant().toLongLong());

    // Renewed on the way (8 s certificates, renewed at half life ± 10 %) without a failed
    // request: the control plane logged renewals over its TLS port, and the frontend's
    // certificate in force is one of those renewals, not the first one.
    for (int i = 0; i < 5; ++i) readLog(100);  // take in what the control plane has logged so far
    const qsizetype renewed = renewals("frontend");
    qInfo("frontend renewals seen by the control plane: %lld", static_cast<long long>(renewed));
    QVERIFY2(renewed >= 1, qPrintable(log_.right(2000)));
    QSet<QString> serials;
    for (const auto& c : QJsonDocument::fromJson(ctl({"get", "certs", "-o", "json"})).array())
      if (c.toObject()["proxy_id"].toString() == "frontend")
        serials.insert(c.toObject()["serial"].toString());
    QVERIFY(!serials.isEmpty());  // the certificate in force is listed
    qInfo("whole test: %.1f s", msSince(t0) / 1000);
  }

 private:
  // A counter of a sidecar's /stats (Prometheus text), -1 when absent.
  static double adminStat(const Sidecar& s, const std::string& name) {
    std::string body;
    loopbackHttp(s.admin, "GET", "/stats", "", std::chrono::milliseconds(500), &body, nullptr);
    const size_t at = body.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::strtod(body.c_str() + at + name.size() + 2, nullptr);
  }

  // At most one stale request per pooled connection (--connections 4 of meshdeck-load).
  static constexpr int kStaleRequests = 4;
  Sidecar reviews_, frontend_;
};

QTEST_GUILESS_MAIN(MeshMtlsE2eTest)
#include "mesh_mtls_e2e_test.moc"
