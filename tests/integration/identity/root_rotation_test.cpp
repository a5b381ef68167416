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
#include <signal.h>
#include <unistd.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <random>
#include <thread>

#include "controlplane/fleet/demo_fleet.h"
#include "controlplane/fleet/loopback_http.h"

namespace {

using Clock = std::chrono::steady_clock;
using meshdeck::cp::fleet::loopbackHttp;

QString bin(const QString& name) { return qEnvironmentVariable("MESHDECK_BIN_DIR") + "/" + name; }

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct Sidecar {
  QString id;
  uint16_t app = 0, inbound = 0, outbound = 0, admin = 0;
};

}  // namespace

class RootRotationTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    std::random_device rd;
    const uint16_t first = static_cast<uint16_t>(22000 + rd() % 1500);
    ports_ = std::make_unique<meshdeck::cp::fleet::PortAllocator>(first, 24999);
  }
  void cleanupTestCase() {
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) stopProcess(**it);
    children_.clear();
  }

  void rotatesTheRootUnderTrafficWithoutAFailedRequest() {
    const auto t0 = Clock::now();
    const uint16_t plain = port(), secure = port();
    address_ = QString("127.0.0.1:%1").arg(plain);
    const QString tokens = dir_->filePath("tokens");
    QProcess& cp =
        spawn("meshdeck-controlplane",
              {"--listen", address_, "--secure-listen", QString("127.0.0.1:%1").arg(secure),
               "--state-dir", dir_->filePath("state"), "--token-dir", tokens, "--bootstrap-token",
               "frontend=default/frontend", "--bootstrap-token", "reviews-v1=default/reviews"});
    cp_ = &cp;
    QVERIFY2(waitLog("TLS listening on ", 10'000), qPrintable(log_));
    // The TLS port's identity lives in files gRPC re-reads, 0600 in the state directory.
    const QString tls_key = dir_->filePath("state/identity/tls/current/key.pem");
    QVERIFY(QFile::exists(tls_key));
    QCOMPARE(QFile::permissions(tls_key) & (QFile::ReadGroup | QFile::ReadOther),
             QFileDevice::Permissions());

    const uint16_t app = port();
    spawn("meshdeck-demo-service",
          {"--name", "reviews", "--version", "v1", "--listen", QString("127.0.0.1:%1").arg(app),
           "--latency-p50", "1ms", "--latency-p99", "3ms", "--log-level", "warn"});
    const QString cp_tls = QString("127.0.0.1:%1").arg(secure);
    // reviews keeps the default 24 h certificate: it renews only because of the rotation. The
    // frontend's live 12 s, so it also renews on its own about every 6 s.
    reviews_ = startSidecar("reviews", "reviews-v1", app, tokens + "/reviews-v1.token", cp_tls);
    frontend_ = startSidecar("frontend", "frontend", port(), tokens + "/frontend.token", cp_tls,
                             {"--cert-ttl", "12"});
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
    QProcess& load = spawn("meshdeck-load", {"--url", "http://reviews/", "--proxy",
                                             QString("http://127.0.0.1:%1").arg(frontend_.outbound),
                                             "--rate", QString::number(kRate), "--connections", "4",
                                             "--duration", QString("%1s").arg(kSeconds), "--json"});
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

 private:
  QProcess& spawn(const QString& program, const QStringList& args) {
    auto p = std::make_unique<QProcess>();
    p->setProcessChannelMode(QProcess::SeparateChannels);
    p->start(bin(program), args);
    p->waitForStarted(5000);
    children_.push_back(std::move(p));
    return *children_.back();
  }
  static void stopProcess(QProcess& p) {
    if (p.state() == QProcess::NotRunning) return;
    ::kill(static_cast<pid_t>(p.processId()), SIGTERM);
    if (!p.waitForFinished(10'000)) {
      p.kill();
      p.waitForFinished(5000);
    }
  }
  uint16_t port() {
    const uint16_t p = ports_->allocate();
    if (p == 0) qFatal("no free port");
    return p;
  }
  void readLog(int wait_ms) {
    cp_->waitForReadyRead(wait_ms);
    log_ += QString::fromUtf8(cp_->readAllStandardError());
  }
  bool waitLog(const QString& needle, int timeout_ms) {
    const auto t = Clock::now();
    readLog(0);
    while (!log_.contains(needle) && msSince(t) < timeout_ms) readLog(100);
    return log_.contains(needle);
  }
  qsizetype renewals(const QString& proxy) const {
    return log_.count(QRegularExpression("identity: renewed \\S+ for proxy \"" + proxy + "\""));
  }
  Sidecar startSidecar(const QString& service, const QString& id, uint16_t app,
                       const QString& token_file, const QString& cp_tls,
                       const QStringList& extra = {}) {
    Sidecar s{id, app, port(), port(), port()};
    spawn("meshdeck-proxy", extra + QStringList{"--control-plane",
                                                address_,
                                                "--control-plane-tls",
                                                cp_tls,
                                                "--bootstrap-token-file",
                                                token_file,
                                                "--service",
                                                service,
                                                "--version",
                                                "v1",
                                                "--proxy-id",
                                                id,
                                                "--inbound-port",
                                                QString::number(s.inbound),
                                                "--app-port",
                                                QString::number(s.app),
                                                "--outbound-port",
                                                QString::number(s.outbound),
                                                "--admin-port",
                                                QString::number(s.admin),
                                                "--workers",
                                                "1",
                                                "--log-level",
                                                "warn"});
    return s;
  }
  bool waitReady(const std::vector<Sidecar>& sidecars, int timeout_ms) {
    const auto t = Clock::now();
    while (msSince(t) < timeout_ms) {
      bool ready = true;
      for (const auto& s : sidecars)
        ready = ready && loopbackHttp(s.admin, "GET", "/ready", "", std::chrono::milliseconds(500),
                                      nullptr, nullptr) == 200;
      if (ready) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  bool waitConfig(const Sidecar& s, const QString& needle, int timeout_ms) {
    const auto t = Clock::now();
    while (msSince(t) < timeout_ms) {
      std::string body;
      loopbackHttp(s.admin, "GET", "/config", "", std::chrono::milliseconds(500), &body, nullptr);
      if (QString::fromStdString(body).contains(needle)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  QByteArray ctl(QStringList args) {
    QProcess p;
    p.start(bin("meshdeckctl"), QStringList{"--server", address_} + args);
    last_code_ = -1;
    if (!p.waitForFinished(15'000)) {
      p.kill();
      p.waitForFinished();
      return {};
    }
    last_code_ = p.exitCode();
    last_error_ = p.readAllStandardError();
    return p.readAllStandardOutput();
  }
  QJsonObject caStatus() {
    return QJsonDocument::fromJson(ctl({"ca", "status", "-o", "json"})).object();
  }
  // True once the newest certificate of each sidecar (`meshdeckctl get certs`, oldest first)
  // was issued by `issuer`.
  bool waitIssuers(const QString& issuer, int timeout_ms) {
    const auto t = Clock::now();
    while (msSince(t) < timeout_ms) {
      QMap<QString, QString> newest;
      for (const auto& c : QJsonDocument::fromJson(ctl({"get", "certs", "-o", "json"})).array())
        newest[c.toObject()["proxy_id"].toString()] = c.toObject()["issuer"].toString();
      if (newest.value("frontend") == issuer && newest.value("reviews-v1") == issuer) return true;
      readLog(0);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<meshdeck::cp::fleet::PortAllocator> ports_;
  std::vector<std::unique_ptr<QProcess>> children_;
  QProcess* cp_ = nullptr;
  QString log_;
  QString address_;
  Sidecar reviews_, frontend_;
  int last_code_ = -1;
  QByteArray last_error_;
};

QTEST_GUILESS_MAIN(RootRotationTest)
#include "root_rotation_test.moc"
