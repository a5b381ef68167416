#include "integration/common/mesh_harness.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMap>
#include <QRegularExpression>
#include <thread>

#include "controlplane/fleet/loopback_http.h"
#include "support/free_ports.h"
#include "support/tagged_processes.h"

namespace meshdeck::test {

using meshdeck::cp::fleet::loopbackHttp;

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

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

MeshHarness::~MeshHarness() { stopAll(); }

bool MeshHarness::initHarness() {
  dir_ = std::make_unique<QTemporaryDir>();
  files_ = 0;
  return dir_->isValid();
}

void MeshHarness::stopAll() {
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) stopProcess(**it);
  children_.clear();
  cp_ = nullptr;
}

QProcess& MeshHarness::spawn(const QString& program, const QStringList& args) {
  auto p = std::make_unique<QProcess>();
  p->setProcessChannelMode(QProcess::SeparateChannels);
  p->start(bin(program), args);
  p->waitForStarted(5000);
  children_.push_back(std::move(p));
  return *children_.back();
}

void MeshHarness::stopProcess(QProcess& p) {
  if (p.state() == QProcess::NotRunning) return;
  meshdeck::test::signalProcess(p, SIGTERM);
  if (!p.waitForFinished(10'000)) {
    p.kill();
    p.waitForFinished(5000);
  }
}

uint16_t MeshHarness::port() { return freePort(); }

QProcess& MeshHarness::startControlPlane(const QStringList& args) {
  log_.clear();
  cp_ = &spawn("meshdeck-controlplane", args);
  return *cp_;
}

bool MeshHarness::startControlPlaneAndWait(const QStringList& args, const QString& needle,
                                           int timeout_ms) {
  startControlPlane(args);
  return waitLog(needle, timeout_ms);
}

MeshHarness::SecurePlane MeshHarness::secureControlPlane(const QStringList& bootstrap) {
  const uint16_t plain = port(), secure = port();
  address_ = QString("127.0.0.1:%1").arg(plain);
  SecurePlane plane;
  plane.tls = QString("127.0.0.1:%1").arg(secure);
  plane.tokens = dir_->filePath("tokens");
  plane.args = QStringList{"--listen",    address_,      "--secure-listen",
                           plane.tls,     "--state-dir", dir_->filePath("state"),
                           "--token-dir", plane.tokens};
  for (const auto& b : bootstrap) plane.args << "--bootstrap-token" << b;
  return plane;
}

void MeshHarness::readLog(int wait_ms) {
  cp_->waitForReadyRead(wait_ms);
  log_ += QString::fromUtf8(cp_->readAllStandardError());
}

bool MeshHarness::waitLog(const QString& needle, int timeout_ms) {
  const auto t = Clock::now();
  readLog(0);
  while (!log_.contains(needle) && msSince(t) < timeout_ms) readLog(100);
  return log_.contains(needle);
}

qsizetype MeshHarness::renewals(const QString& proxy) const {
  return log_.count(QRegularExpression("identity: renewed \\S+ for proxy \"" + proxy + "\""));
}

QProcess& MeshHarness::startDemo(const QString& name, const QString& version, uint16_t app) {
  return spawn("meshdeck-demo-service",
               {"--name", name, "--version", version, "--listen", QString("127.0.0.1:%1").arg(app),
                "--latency-p50", "1ms", "--latency-p99", "3ms", "--log-level", "warn"});
}

SidecarOptions bootstrapped(const QString& control_plane_tls, const QString& token_file,
                            const QStringList& extra) {
  SidecarOptions o;
  o.control_plane_tls = control_plane_tls;
  o.token_file = token_file;
  o.extra = extra;
  return o;
}

Sidecar MeshHarness::startSidecar(const QString& service, const QString& id, uint16_t app,
                                  const SidecarOptions& o) {
  Sidecar s{id, app, port(), port(), port()};
  QStringList args = o.extra;
  args << "--control-plane" << (o.control_plane.isEmpty() ? address_ : o.control_plane);
  if (!o.control_plane_tls.isEmpty()) args << "--control-plane-tls" << o.control_plane_tls;
  if (!o.token_file.isEmpty()) args << "--bootstrap-token-file" << o.token_file;
  args << "--service" << service << "--version" << o.version << "--proxy-id" << id
       << "--inbound-port" << QString::number(s.inbound) << "--app-port" << QString::number(s.app)
       << "--outbound-port" << QString::number(s.outbound) << "--admin-port"
       << QString::number(s.admin) << "--workers"
       << "1"
       << "--log-level" << o.log_level;
  spawn("meshdeck-proxy", args);
  return s;
}

bool MeshHarness::waitReady(const std::vector<Sidecar>& sidecars, int timeout_ms) {
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

CtlResult MeshHarness::ctlRun(const QStringList& args) {
  QProcess p;
  p.start(bin("meshdeckctl"), QStringList{"--server", address_} + args);
  CtlResult r;
  if (!p.waitForFinished(15'000)) {
    p.kill();
    p.waitForFinished();
    return r;
  }
  r.code = p.exitCode();
  r.out = p.readAllStandardOutput();
  r.err = p.readAllStandardError();
  return r;
}

QByteArray MeshHarness::ctl(const QStringList& args) {
  CtlResult r = ctlRun(args);
  last_code_ = r.code;
  last_error_ = r.err;
  if (r.code != 0) qWarning("meshdeckctl: %s", r.err.constData());
  return r.out;
}

CtlResult MeshHarness::apply(const QString& yaml) {
  const QString file = dir_->filePath(QString("policy-%1.yaml").arg(++files_));
  QFile f(file);
  if (!f.open(QIODevice::WriteOnly)) return {};
  f.write(yaml.toUtf8());
  f.close();
  CtlResult r = ctlRun({"apply", "-f", file});
  if (r.code != 0) qWarning("meshdeckctl apply: %s", r.err.constData());
  return r;
}

QJsonObject MeshHarness::findEdge(const QString& source, const QString& destination, int window_s) {
  const auto r = ctlRun({"get", "edges", "-o", "json", "-w", QString::number(window_s)});
  for (const auto& e : QJsonDocument::fromJson(r.out).array())
    if (e.toObject()["source"].toString() == source &&
        e.toObject()["destination"].toString() == destination)
      return e.toObject();
  return {};
}

QJsonObject MeshHarness::edgeMetrics(const QString& source, const QString& destination,
                                     int window_s) {
  return findEdge(source, destination, window_s)["metrics"].toObject();
}

QJsonObject MeshHarness::caStatus() {
  return QJsonDocument::fromJson(ctl({"ca", "status", "-o", "json"})).object();
}

bool MeshHarness::waitIssuers(const QString& issuer, int timeout_ms) {
  const auto t = Clock::now();
  while (msSince(t) < timeout_ms) {
    QMap<QString, QString> newest;  // `get certs` lists the oldest first
    for (const auto& c : QJsonDocument::fromJson(ctl({"get", "certs", "-o", "json"})).array())
      newest[c.toObject()["proxy_id"].toString()] = c.toObject()["issuer"].toString();
    if (newest.value("frontend") == issuer && newest.value("reviews-v1") == issuer) return true;
    readLog(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

QString MeshHarness::proxyConfig(const Sidecar& s) {
  std::string body;
  loopbackHttp(s.admin, "GET", "/config", "", std::chrono::milliseconds(500), &body, nullptr);
  return QString::fromStdString(body);
}

bool MeshHarness::waitConfig(const Sidecar& s, const QString& needle, int timeout_ms) {
  const auto t = Clock::now();
  while (msSince(t) < timeout_ms) {
    if (proxyConfig(s).contains(needle)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool MeshHarness::waitConfigGone(const Sidecar& s, const QString& needle, int timeout_ms) {
  const auto t = Clock::now();
  while (msSince(t) < timeout_ms) {
    const QString c = proxyConfig(s);
    if (!c.isEmpty() && !c.contains(needle)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

QProcess& MeshHarness::startLoad(const Sidecar& via, int rate, const QString& duration,
                                 int connections) {
  return spawn("meshdeck-load",
               {"--url", "http://reviews/", "--proxy",
                QString("http://127.0.0.1:%1").arg(via.outbound), "--rate", QString::number(rate),
                "--connections", QString::number(connections), "--duration", duration, "--json"});
}

QJsonObject MeshHarness::load(const Sidecar& via, int rate, const QString& duration,
                              int connections, int timeout_ms) {
  QProcess& p = startLoad(via, rate, duration, connections);
  p.waitForFinished(timeout_ms);
  const auto out = p.readAllStandardOutput();
  const auto doc = QJsonDocument::fromJson(out);
  if (!doc.isObject()) qWarning("meshdeck-load: %s", out.constData());
  return doc.object();
}

}  // namespace meshdeck::test
