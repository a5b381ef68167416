// Authorization decisions counted per rule, end to end with real processes on 127.0.0.1
// (issue #7): a dry-run DENY lets requests through, logs what it would deny (rate-limited) and
// counts it on its rule in `meshdeckctl get authz`; a real DENY refuses with 403, the reason
// names the rule, and the refusals are counted on that rule there and in the proxy's /stats.
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

class AuthzE2eTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    std::random_device rd;
    const uint16_t first = static_cast<uint16_t>(21000 + rd() % 1500);
    ports_ = std::make_unique<meshdeck::cp::fleet::PortAllocator>(first, 23999);
  }
  void cleanupTestCase() {
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) stopProcess(**it);
    children_.clear();
  }

  void dryRunThenDenyCountedPerRule() {
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

    const uint16_t app = port();
    spawn("meshdeck-demo-service",
          {"--name", "reviews", "--version", "v1", "--listen", QString("127.0.0.1:%1").arg(app),
           "--latency-p50", "1ms", "--latency-p99", "3ms", "--log-level", "warn"});
    const QString cp_tls = QString("127.0.0.1:%1").arg(secure);
    // The callee logs at info: the dry-run lines are what the operator reads.
    reviews_ = startSidecar("reviews", "reviews-v1", app, tokens + "/reviews-v1.token", cp_tls, {},
                            "info");
    reviews_process_ = children_.back().get();
    frontend_ = startSidecar("frontend", "frontend", port(), tokens + "/frontend.token", cp_tls);
    QVERIFY(waitReady({reviews_, frontend_}, 15'000));
    QVERIFY(waitConfig(frontend_, "MUTUAL_TLS", 5000));

    // 1. Dry-run DENY of the caller's identity: nothing is refused, everything is counted.
    QCOMPARE(apply("apiVersion: meshdeck.io/v1alpha1\nkind: AuthorizationPolicy\n"
                   "metadata: {name: audit-frontend}\nspec:\n  selector: {service: reviews}\n"
                   "  action: DENY\n  dryRun: true\n  rules:\n"
                   "  - from:\n    - source: {services: [frontend]}\n"),
             0);
    QVERIFY(waitConfig(reviews_, "audit-frontend", 3000));
    QJsonObject report = load(50, "2s");
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
                   "  action: DENY\n  rules:\n  - from:\n    - source: {services: [frontend]}\n"),
             0);
    QVERIFY(waitConfig(reviews_, "deny-frontend", 3000));
    QByteArray denied;
    qint64 refused = 0;
    for (int i = 0; i < kStaleRequests + 2 && !denied.startsWith("HTTP/1.1 403"); ++i)
      denied = rawRequest(frontend_.outbound, "reviews");
    QVERIFY2(denied.startsWith("HTTP/1.1 403"), denied.constData());
    QVERIFY2(denied.contains("policy deny-frontend rule rules[0]"), denied.constData());
    ++refused;
    report = load(50, "2s");
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
                       const QStringList& extra = {}, const QString& log_level = "warn") {
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
                                                log_level});
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
  QProcess* reviews_process_ = nullptr;
  int files_ = 0;
  int last_code_ = -1;
};

QTEST_GUILESS_MAIN(AuthzE2eTest)
#include "authz_e2e_test.moc"
