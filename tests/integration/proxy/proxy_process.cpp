#include "proxy_process.h"

#include <signal.h>

#include <QFile>
#include <QThread>

#include "support/binaries.h"
#include "support/tagged_processes.h"
#include "test_backend.h"

namespace meshdeck::proxy::testing {

ProxyProcess::ProxyProcess() { process_.setProcessChannelMode(QProcess::MergedChannels); }

ProxyProcess::~ProxyProcess() {
  if (running()) {
    process_.kill();
    process_.waitForFinished(5000);
  }
}

bool ProxyProcess::start(QStringList args) {
  port_file_ = dir_.filePath("ports.json");
  args << "--port-file" << port_file_;
  if (!args.contains("--admin"))
    args << "--admin"
         << "127.0.0.1:0";
  process_.start(meshdeck::test::bin("meshdeck-proxy"), args);
  if (!process_.waitForStarted(5000)) return false;
  for (int i = 0; i < 200; ++i) {
    if (reloadPortFile() && ports_.count("admin")) return true;
    if (process_.waitForFinished(50)) return false;
  }
  return false;
}

bool ProxyProcess::reloadPortFile() {
  QFile f(port_file_);
  if (!f.open(QIODevice::ReadOnly)) return false;
  const auto doc = QJsonDocument::fromJson(f.readAll());
  if (!doc.isObject()) return false;
  ports_.clear();
  const auto obj = doc.object();
  for (auto it = obj.begin(); it != obj.end(); ++it)
    ports_[it.key().toStdString()] = static_cast<uint16_t>(it.value().toInt());
  return true;
}

bool ProxyProcess::startStandalone(uint16_t upstream_port, int workers) {
  return start({"--listen", "127.0.0.1:0", "--upstream", QString("127.0.0.1:%1").arg(upstream_port),
                "--workers", QString::number(workers)}) &&
         port("main") != 0;
}

uint16_t ProxyProcess::port(const std::string& listener) const {
  auto it = ports_.find(listener);
  return it == ports_.end() ? 0 : it->second;
}

void ProxyProcess::signal(int signo) { meshdeck::test::signalProcess(process_, signo); }

int ProxyProcess::waitForExit(int ms) {
  if (process_.state() != QProcess::NotRunning && !process_.waitForFinished(ms)) return -1;
  if (process_.exitStatus() != QProcess::NormalExit) return -1;
  return process_.exitCode();
}

QString ProxyProcess::output() {
  process_.waitForReadyRead(200);
  output_ += QString::fromUtf8(process_.readAll());
  return output_;
}

std::string ProxyProcess::admin(const std::string& path, const std::string& method) {
  Client client(adminPort());
  auto res = client.request(method, path);
  return res.status ? res.body : std::string();
}

double ProxyProcess::stat(const std::string& series) {
  const std::string text = admin("/stats");
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace meshdeck::proxy::testing
