// Root rotation with real processes on 127.0.0.1 (issue #7): a control plane, two sidecars with
// bootstrap tokens and a demo backend; steady traffic through the sidecar pair over mutual TLS
// while an operator runs `meshdeckctl ca rotate begin` and `meshdeckctl ca rotate retire`.
//
//   meshdeck-load --proxy --> [frontend sidecar] ==mTLS==> [reviews sidecar] --> demo reviews
//
// Checked: RETIRE is refused while a proxy still holds a certificate of the old root; both
// proxies receive the new trust bundle by push and renew early from the new root (reviews'
// certificate lives 24 h, so only the rotation makes it renew); RETIRE then succeeds; a renewal
// over the TLS port after RETIRE works (the port's certificate is from the new root and the
// proxies trust only that one); not a single request fails throughout.
//
// Second case: a control plane restarted with the same state directory has no record of the
// certificates it issued before; its proxies report the certificate they hold in their
// telemetry, so `get certs` lists it again and RETIRE is still refused while a proxy is on the
// old root.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <thread>

#include "integration/common/mesh_harness.h"

using namespace meshdeck::test;

class RootRotationTest : public QObject, public MeshHarness {
  Q_OBJECT

 private slots:
  void initTestCase() { QVERIFY(initHarness()); }
  void cleanupTestCase() { stopAll(); }

  void rotatesTheRootUnderTrafficWithoutAFailedRequest() {
    const auto t0 = Clock::now();
    const auto plane = secureControlPlane();
    QVERIFY2(startControlPlaneAndWait(plane.args, "TLS listening on "), qPrintable(log_));
    // The tokens are written after the ports listen; a sidecar whose file is missing exits.
    QVERIFY(waitLog("/frontend.token", 10'000) && waitLog("/reviews-v1.token", 10'000));
    // The TLS port's identity lives in files gRPC re-reads, 0600 in the state directory.
    const QString tls_key = dir_->filePath("state/identity/tls/current/key.pem");
    QVERIFY(QFile::exists(tls_key));
    QCOMPARE(QFile::permissions(tls_key) & (QFile::ReadGroup | QFile::ReadOther),
             QFileDevice::Permissions());

    const uint16_t app = port();
    startDemo("reviews", "v1", app);
    // reviews keeps the default 24 h certificate: it renews only because of the rotation. The
    // frontend's live 12 s, so it also renews on its own about every 6 s.
    reviews_ = startSidecar("reviews", "reviews-v1", app,
                            bootstrapped(plane.tls, plane.tokens + "/reviews-v1.token"));
    frontend_ = startSidecar(
        "frontend", "frontend", port(),
        bootstrapped(plane.tls, plane.tokens + "/frontend.token", {"--cert-ttl", "12"}));
    QVERIFY(waitReady({reviews_, frontend_}, 15'000));
    QVERIFY(waitConfig(frontend_, "MUTUAL_TLS", 5000));

    QJsonObject status = caStatus();
    QCOMPARE(status["rotation_in_progress"].toBool(), false);
    const QString old_root = status["active_root"].toObject()["subject"].toString();
    const QString old_fp = status["active_root"].toObject()["fingerprint_sha256"].toString();
    QVERIFY2(old_fp.size() == 95, qPrintable(old_fp));
    QVERIFY(waitIssuers(old_root, 5000));  // both sidecars hold a certificate of this root

    // Steady traffic over mutual TLS for the whole rotation.
    constexpr int kRate = 50, kSeconds = 30;
    QProcess& load = startLoad(frontend_, kRate, QString("%1s").arg(kSeconds), 4);
    std::this_thread::sleep_for(std::chrono::seconds(2));

    // BEGIN: a new root signs; RETIRE right away is refused (nobody renewed yet: proxies wait
    // at least a second after the new bundle before they renew).
    const auto begin_at = Clock::now();
    QJsonObject begun =
        QJsonDocument::fromJson(ctl({"ca", "rotate", "begin", "-o", "json"})).object();
    QCOMPARE(last_code_, 0);
    QCOMPARE(begun["rotation_in_progress"].toBool(), true);
    const QString new_root = begun["active_root"].toObject()["subject"].toString();
    QVERIFY(new_root != old_root);
    QCOMPARE(begun["retiring_roots"].toArray().size(), qsizetype(1));
    QCOMPARE(begun["retiring_roots"].toArray()[0].toObject()["fingerprint_sha256"].toString(),
             old_fp);
    const QByteArray refused = ctl({"ca", "rotate", "retire"});
    readLog(100);
    QVERIFY2(last_code_ == 1, qPrintable(QString::fromUtf8(refused) + log_.right(5000)));
    QVERIFY2(last_error_.contains("still hold a certificate from the retiring root"),
             last_error_.constData());
    QCOMPARE(ctl({"ca", "rotate", "begin"}).size(), 0);  // one rotation at a time
    QCOMPARE(last_code_, 1);

    // Both proxies get the new bundle by push and renew from the new root.
    QVERIFY2(waitIssuers(new_root, 15'000), qPrintable(log_.right(3000)));
    const double renewed_ms = msSince(begin_at);
    status = caStatus();
    QCOMPARE(status["proxies_on_retiring_root"].toArray().size(), qsizetype(0));
    QCOMPARE(status["proxies_unknown_issuer"].toArray().size(), qsizetype(0));
    qInfo("both proxies renewed from the new root %.1f s after BEGIN", renewed_ms / 1000);
    // reviews renewed although its certificate had 24 h left: the pushed bundle did it.
    QVERIFY(waitLog(
        "renewed spiffe://meshdeck.local/ns/default/sa/reviews for proxy \"reviews-v1\"", 2000));

    // RETIRE: accepted now; the old root leaves the bundle.
    const QJsonObject retired =
        QJsonDocument::fromJson(ctl({"ca", "rotate", "retire", "-o", "json"})).object();
    QCOMPARE(last_code_, 0);
    QCOMPARE(retired["rotation_in_progress"].toBool(), false);
    QCOMPARE(retired["retiring_roots"].toArray().size(), qsizetype(0));
    QCOMPARE(retired["active_root"].toObject()["subject"].toString(), new_root);
    ctl({"ca", "rotate", "retire"});
    QCOMPARE(last_code_, 1);  // nothing left to retire

    // A renewal over the TLS port after RETIRE: the frontend (12 s certificates) renews within
    // about 7 s, trusting only the new root, so the port presents a certificate of the new root.
    const qsizetype before = renewals("frontend");
    const auto retire_at = Clock::now();
    bool renewed_after = false;
    while (msSince(retire_at) < 15'000 && !renewed_after) {
      readLog(200);
      renewed_after = renewals("frontend") > before;
    }
    QVERIFY2(renewed_after, qPrintable(log_.right(3000)));
    QVERIFY(log_.contains(QRegularExpression("control plane TLS certificate \\S+ issued by " +
                                             QRegularExpression::escape(new_root))));

    // Zero failed requests throughout.
    QVERIFY(load.waitForFinished((kSeconds + 20) * 1000));
    const QJsonObject report = QJsonDocument::fromJson(load.readAllStandardOutput()).object();
    qInfo("load: %lld completed, %lld 2xx, %lld errors", report["completed"].toInteger(),
          report["responses"].toObject()["2xx"].toInteger(),
          report["errors"].toObject()["total"].toInteger());
    QCOMPARE(report["completed"].toInteger(), qint64(kRate * kSeconds));
    QCOMPARE(report["responses"].toObject()["2xx"].toInteger(), qint64(kRate * kSeconds));
    QCOMPARE(report["errors"].toObject()["total"].toInteger(), qint64(0));
    // And no renewal failed on the proxies' side.
    for (auto& child : children_) {
      const QString err = QString::fromUtf8(child->readAllStandardError());
      QVERIFY2(!err.contains("renewal of"), qPrintable(err.right(2000)));
    }
    qInfo("whole test: %.1f s", msSince(t0) / 1000);
  }

  void aRestartedControlPlaneKnowsWhichRootEachProxyIsOn() {
    stopAll();
    const auto plane = secureControlPlane({"reviews-v1=default/reviews"});
    QVERIFY2(startControlPlaneAndWait(plane.args, "TLS listening on "), qPrintable(log_));
    QVERIFY(waitLog("/reviews-v1.token", 10'000));
    const uint16_t app = port();
    startDemo("reviews", "v1", app);
    reviews_ = startSidecar("reviews", "reviews-v1", app,
                            bootstrapped(plane.tls, plane.tokens + "/reviews-v1.token"));
    QVERIFY(waitReady({reviews_}, 15'000));
    const QString root = caStatus()["active_root"].toObject()["subject"].toString();
    QVERIFY(!root.isEmpty());

    // Restart: the state directory keeps the CA, not the issued records. The sidecar keeps
    // its 24 h certificate and reconnects.
    stopProcess(*cp_);
    QVERIFY2(startControlPlaneAndWait(plane.args, "TLS listening on "), qPrintable(log_));
    QString serial;
    const auto t = Clock::now();
    while (serial.isEmpty() && msSince(t) < 15'000) {
      for (const auto& c : QJsonDocument::fromJson(ctl({"get", "certs", "-o", "json"})).array()) {
        const QJsonObject o = c.toObject();
        if (o["proxy_id"] == "reviews-v1" && o["issuer"] == root) serial = o["serial"].toString();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    QVERIFY2(!serial.isEmpty(), qPrintable(ctl({"get", "certs"}) + log_.right(3000)));
    qInfo("the restarted control plane learnt reviews-v1's certificate %s after %.1f s",
          qPrintable(serial), msSince(t) / 1000);
    // Not issued by this process: nothing in its log about signing it.
    readLog(0);
    QVERIFY2(!log_.contains(QRegularExpression("identity: \\S+ spiffe://\\S+ for proxy")),
             qPrintable(log_));

    // BEGIN, then RETIRE at once: refused, the proxy still holds the old root's certificate.
    ctl({"ca", "rotate", "begin"});
    QCOMPARE(last_code_, 0);
    ctl({"ca", "rotate", "retire"});
    QCOMPARE(last_code_, 1);
    QVERIFY2(last_error_.contains("still hold a certificate from the retiring root (reviews-v1)"),
             last_error_.constData());
    // The pushed bundle makes it renew from the new root; RETIRE then goes through.
    QVERIFY2(waitLog("renewed spiffe://meshdeck.local/ns/default/sa/reviews for proxy "
                     "\"reviews-v1\"",
                     15'000),
             qPrintable(log_.right(3000)));
    ctl({"ca", "rotate", "retire"});
    QCOMPARE(last_code_, 0);
    stopAll();
  }

 private:
  Sidecar reviews_, frontend_;
};

QTEST_GUILESS_MAIN(RootRotationTest)
#include "root_rotation_test.moc"
