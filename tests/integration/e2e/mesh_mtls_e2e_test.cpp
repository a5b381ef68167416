// Mutual TLS end to end with real processes on 127.0.0.1 (issue #7): a control plane issues
// bootstrap tokens, two sidecars obtain certificates with them through their identity agent,
// traffic between the sidecars runs over mutual TLS without any PeerAuthentication (auto-mTLS),
// and an AuthorizationPolicy DENY on the caller's SPIFFE identity is enforced and removed again.
//
//   meshdeck-load --proxy --> [frontend sidecar] ==mTLS==> [reviews sidecar] --> demo reviews
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

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

// One HTTP/1.1 request through a sidecar's outbound (HTTP proxy) port; the raw response.
QByteArray rawRequest(uint16_t port, const QByteArray& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  QByteArray out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const QByteArray req = "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
    if (::write(fd, req.constData(), static_cast<size_t>(req.size())) == req.size()) {
      char buf[4096];
      for (int i = 0; i < 1000; ++i) {  // bounded; the peer closes (Connection: close)
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<qsizetype>(n));
      }
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

class MeshMtlsE2eTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    std::random_device rd;
    const uint16_t first = static_cast<uint16_t>(16700 + rd() % 1500);
    ports_ = std::make_unique<meshdeck::cp::fleet::PortAllocator>(first, 20999);
  }
  void cleanupTestCase() {
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) stopProcess(**it);
    children_.clear();
  }

  void sidecarsGetCertificatesAndTalkMutualTls() {
    const auto t0 = Clock::now();
    const uint16_t plain = port(), secure = port();
    address_ = QString("127.0.0.1:%1").arg(plain);
    const QString tokens = dir_->filePath("tokens");
    QProcess& cp =
        spawn("meshdeck-controlplane",
              {"--listen", address_, "--secure-listen", QString("127.0.0.1:%1").arg(secure),
               "--state-dir", dir_->filePath("state"), "--token-dir", tokens, "--bootstrap-token",
               "frontend=default/frontend", "--bootstrap-token", "reviews-v1=default/reviews"});
    QString log;
    for (int i = 0; i < 100 && !log.contains("TLS listening on "); ++i) {
      cp.waitForReadyRead(100);
      log += QString::fromUtf8(cp.readAllStandardError());
    }
    QVERIFY2(log.contains("TLS listening on "), qPrintable(log));
    // The tokens are handed over as 0600 files in a 0700 directory.
    QCOMPARE(QFile::permissions(tokens + "/frontend.token") &
                 (QFile::ReadGroup | QFile::ReadOther | QFile::WriteGroup | QFile::WriteOther),
             QFileDevice::Permissions());

    const uint16_t app = port();
    spawn("meshdeck-demo-service",
          {"--name", "reviews", "--version", "v1", "--listen", QString("127.0.0.1:%1").arg(app),
           "--latency-p50", "1ms", "--latency-p99", "3ms", "--log-level", "warn"});
    const QString cp_tls = QString("127.0.0.1:%1").arg(secure);
    reviews_ = startSidecar("reviews", "reviews-v1", app, tokens + "/reviews-v1.token", cp_tls);
    // The frontend's certificates live 8 s: it renews about every 4 s over the TLS port,
    // authenticated by its current certificate, while the traffic below runs.
    frontend_ = startSidecar("frontend", "frontend", port(), tokens + "/frontend.token", cp_tls,
                             {"--cert-ttl", "8"});
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
    QJsonObject report = load(50, "2s");
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

    // DENY the caller's identity on reviews: 403 with the reason header, visible on the edge.
    QCOMPARE(apply("apiVersion: meshdeck.io/v1alpha1\nkind: AuthorizationPolicy\n"
                   "metadata: {name: deny-frontend}\nspec:\n  selector: {service: reviews}\n"
                   "  action: DENY\n  rules:\n  - from:\n    - source: {services: [frontend]}\n"),
             0);
    QVERIFY(waitConfig(reviews_, "deny-frontend", 3000));
    // The proxies take a pushed config from their workers' event loops, so a request racing
    // the push may still pass; a few are allowed.
    QByteArray denied;
    for (int i = 0; i < kStaleRequests + 2 && !denied.startsWith("HTTP/1.1 403"); ++i)
      denied = rawRequest(frontend_.outbound, "reviews");
    QVERIFY2(denied.startsWith("HTTP/1.1 403"), denied.constData());
    QVERIFY2(denied.toLower().contains("x-meshdeck-error: deny"), denied.constData());
    report = load(50, "2s");
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
    QProcess& healing = startLoad(50, "4s");
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
    for (int i = 0; i < 5; ++i) {  // take in what the control plane has logged so far
      cp.waitForReadyRead(100);
      log += QString::fromUtf8(cp.readAllStandardError());
    }
    const qsizetype renewals =
        log.count(QRegularExpression("identity: renewed \\S+ for proxy \"frontend\""));
    qInfo("frontend renewals seen by the control plane: %lld", static_cast<long long>(renewals));
    QVERIFY2(renewals >= 1, qPrintable(log.right(2000)));
    QSet<QString> serials;
    for (const auto& c : QJsonDocument::fromJson(ctl({"get", "certs", "-o", "json"})).array())
      if (c.toObject()["proxy_id"].toString() == "frontend")
        serials.insert(c.toObject()["serial"].toString());
    QVERIFY(!serials.isEmpty());  // the certificate in force is listed
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
    if (last_code_ != 0) qWarning("meshdeckctl: %s", p.readAllStandardError().constData());
    return p.readAllStandardOutput();
  }
  int apply(const QString& yaml) {
    const QString file = dir_->filePath(QString("policy-%1.yaml").arg(++files_));
    QFile f(file);
    if (!f.open(QIODevice::WriteOnly)) return -1;
    f.write(yaml.toUtf8());
    f.close();
    ctl({"apply", "-f", file});
    return last_code_;
  }
  QJsonObject edgeMetrics(const QString& source, const QString& destination, int window_s) {
    const auto out = ctl({"get", "edges", "-o", "json", "-w", QString::number(window_s)});
    for (const auto& e : QJsonDocument::fromJson(out).array())
      if (e.toObject()["source"].toString() == source &&
          e.toObject()["destination"].toString() == destination)
        return e.toObject()["metrics"].toObject();
    return {};
  }
  QString proxyConfig(const Sidecar& s) {
    std::string body;
    loopbackHttp(s.admin, "GET", "/config", "", std::chrono::milliseconds(500), &body, nullptr);
    return QString::fromStdString(body);
  }
  bool waitConfig(const Sidecar& s, const QString& needle, int timeout_ms) {
    const auto t = Clock::now();
    while (msSince(t) < timeout_ms) {
      if (proxyConfig(s).contains(needle)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  bool waitConfigGone(const Sidecar& s, const QString& needle, int timeout_ms) {
    const auto t = Clock::now();
    while (msSince(t) < timeout_ms) {
      const QString c = proxyConfig(s);
      if (!c.isEmpty() && !c.contains(needle)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  QProcess& startLoad(int rate, const QString& duration) {
    return spawn("meshdeck-load",
                 {"--url", "http://reviews/", "--proxy",
                  QString("http://127.0.0.1:%1").arg(frontend_.outbound), "--rate",
                  QString::number(rate), "--connections", "4", "--duration", duration, "--json"});
  }
  QJsonObject load(int rate, const QString& duration) {
    QProcess& p = startLoad(rate, duration);
    p.waitForFinished(30'000);
    const auto out = p.readAllStandardOutput();
    const auto doc = QJsonDocument::fromJson(out);
    if (!doc.isObject()) qWarning("meshdeck-load: %s", out.constData());
    return doc.object();
  }

  // At most one stale request per pooled connection (--connections 4 of meshdeck-load).
  static constexpr int kStaleRequests = 4;
  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<meshdeck::cp::fleet::PortAllocator> ports_;
  std::vector<std::unique_ptr<QProcess>> children_;
  QString address_;
  Sidecar reviews_, frontend_;
  int files_ = 0;
  int last_code_ = -1;
};

QTEST_GUILESS_MAIN(MeshMtlsE2eTest)
#include "mesh_mtls_e2e_test.moc"
