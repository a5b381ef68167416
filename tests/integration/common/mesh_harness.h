// A shared harness for the integration tests that run a mesh of real processes on 127.0.0.1:
// meshdeck-controlplane, meshdeck-proxy sidecars, meshdeck-demo-service backends, meshdeck-load
// and meshdeckctl. A test class derives from MeshHarness (after QObject), calls initHarness()
// from its init/initTestCase and stopAll() from its cleanup; every process it spawns is stopped
// there (SIGTERM, then SIGKILL after 10 s).
#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "support/binaries.h"

namespace meshdeck::test {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t);

// One HTTP/1.1 GET through a sidecar's outbound (HTTP proxy) port; the raw response.
QByteArray rawRequest(uint16_t port, const QByteArray& host);

struct Sidecar {
  QString id;
  uint16_t app = 0, inbound = 0, outbound = 0, admin = 0;
};

// What varies between the sidecars of the tests (meshdeck-proxy's other arguments: --service,
// --version, --proxy-id, fresh --inbound/--outbound/--admin ports, --workers 1).
struct SidecarOptions {
  QString control_plane;      // --control-plane (empty: the harness's address_)
  QString control_plane_tls;  // --control-plane-tls, when set
  QString token_file;         // --bootstrap-token-file, when set
  QString version = "v1";
  QString log_level = "warn";
  QStringList extra;  // put before the other arguments
};

// A sidecar that gets its certificate with a bootstrap token over the control plane's TLS port.
SidecarOptions bootstrapped(const QString& control_plane_tls, const QString& token_file,
                            const QStringList& extra = {});

struct CtlResult {
  int code = -1;
  QByteArray out, err;
};

class MeshHarness {
 public:
  MeshHarness() = default;
  MeshHarness(const MeshHarness&) = delete;
  MeshHarness& operator=(const MeshHarness&) = delete;
  ~MeshHarness();

 protected:
  // A fresh temporary directory. False when it cannot be made.
  bool initHarness();
  // Stops every spawned process, newest first.
  void stopAll();

  // --- processes ---------------------------------------------------------------------------
  QProcess& spawn(const QString& program, const QStringList& args);
  static void stopProcess(QProcess& p);
  // A free loopback port for a process started later (support/free_ports.h: the small race).
  static uint16_t port();

  // meshdeck-controlplane with `args` (cp_; log_ starts empty). Wait with waitLog().
  QProcess& startControlPlane(const QStringList& args);
  // startControlPlane(), then waitLog(needle, timeout_ms).
  bool startControlPlaneAndWait(const QStringList& args, const QString& needle,
                                int timeout_ms = 10'000);
  // A control plane with a TLS port and bootstrap tokens: two fresh ports (address_ is set to
  // the plain one) and the arguments --listen address_ --secure-listen <tls> --state-dir
  // DIR/state --token-dir DIR/tokens, one --bootstrap-token per entry of `bootstrap`
  // ("proxy-id=namespace/account").
  struct SecurePlane {
    QString tls;     // 127.0.0.1:<TLS port>, for --control-plane-tls
    QString tokens;  // the token directory: <proxy-id>.token files
    QStringList args;
  };
  SecurePlane secureControlPlane(const QStringList& bootstrap = {"frontend=default/frontend",
                                                                 "reviews-v1=default/reviews"});
  void readLog(int wait_ms);
  bool waitLog(const QString& needle, int timeout_ms);
  // "identity: renewed ... for proxy "<proxy>"" lines in log_.
  qsizetype renewals(const QString& proxy) const;

  QProcess& startDemo(const QString& name, const QString& version, uint16_t app);
  Sidecar startSidecar(const QString& service, const QString& id, uint16_t app,
                       const SidecarOptions& o = {});
  bool waitReady(const std::vector<Sidecar>& sidecars, int timeout_ms);

  // --- meshdeckctl --server address_ -------------------------------------------------------
  CtlResult ctlRun(const QStringList& args);
  // The output; the exit code in last_code_ (-1: timed out), stderr in last_error_ (warned
  // about when the exit code is not 0).
  QByteArray ctl(const QStringList& args);
  // `meshdeckctl apply -f` of `yaml` written to a file of its own.
  CtlResult apply(const QString& yaml);
  // The edge source -> destination of `get edges -o json -w window_s` ({} when absent).
  QJsonObject findEdge(const QString& source, const QString& destination, int window_s);
  QJsonObject edgeMetrics(const QString& source, const QString& destination, int window_s);
  QJsonObject caStatus();
  // True once the newest certificate of frontend and reviews-v1 (`get certs`) was issued by
  // `issuer`.
  bool waitIssuers(const QString& issuer, int timeout_ms);

  // --- a sidecar's admin port ----------------------------------------------------------------
  QString proxyConfig(const Sidecar& s);
  bool waitConfig(const Sidecar& s, const QString& needle, int timeout_ms);
  // A config was read and no longer contains `needle`.
  bool waitConfigGone(const Sidecar& s, const QString& needle, int timeout_ms);

  // --- meshdeck-load to http://reviews/ through `via`'s outbound port ------------------------
  QProcess& startLoad(const Sidecar& via, int rate, const QString& duration, int connections = 4);
  QJsonObject load(const Sidecar& via, int rate, const QString& duration, int connections = 4,
                   int timeout_ms = 30'000);

  std::unique_ptr<QTemporaryDir> dir_;
  std::vector<std::unique_ptr<QProcess>> children_;
  QProcess* cp_ = nullptr;
  QString log_;      // the control plane's stderr so far
  QString address_;  // the control plane's plain port, for --control-plane and meshdeckctl
  int files_ = 0;
  int last_code_ = -1;
  QByteArray last_error_;
};

}  // namespace meshdeck::test
