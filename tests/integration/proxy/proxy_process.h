#pragma once

#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>
#include <map>
#include <string>

namespace meshdeck::proxy::testing {

// Runs the real meshdeck-proxy binary (from MESHDECK_BIN_DIR) and learns its ports from the
// --port-file it writes once every listener is bound.
class ProxyProcess {
 public:
  ProxyProcess();
  ~ProxyProcess();
  // Adds --port-file and --admin 127.0.0.1:0 unless given. Waits up to 10 s for the ports.
  bool start(QStringList args);
  // Standalone reverse proxy ("main" listener on 127.0.0.1:0) in front of 127.0.0.1:upstream.
  bool startStandalone(uint16_t upstream_port, int workers);
  uint16_t port(const std::string& listener) const;
  uint16_t adminPort() const { return port("admin"); }
  long pid() const { return static_cast<long>(process_.processId()); }
  void signal(int signo);
  // Waits for exit; returns the exit code, or -1 if it did not exit in time / crashed.
  int waitForExit(int ms);
  bool running() const { return process_.state() != QProcess::NotRunning; }
  QString output();
  QString dir() const { return dir_.path(); }
  // GET on the admin listener; empty on failure.
  std::string admin(const std::string& path, const std::string& method = "GET");
  // A named counter line's value from /stats (the exact series text before the value).
  double stat(const std::string& series);
  bool reloadPortFile();

 private:
  QTemporaryDir dir_;
  QProcess process_;
  std::map<std::string, uint16_t> ports_;
  QString port_file_;
  QString output_;
};

}  // namespace meshdeck::proxy::testing
