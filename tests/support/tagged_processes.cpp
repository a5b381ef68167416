#include "support/tagged_processes.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QUuid>
#include <chrono>
#include <csignal>
#include <thread>

namespace meshdeck::test {

QByteArray newProcessTag() {
  return "MESHDECK_TEST_TAG=" + QUuid::createUuid().toByteArray(QUuid::WithoutBraces);
}

QProcessEnvironment taggedEnvironment(const QByteArray& tag) {
  auto env = QProcessEnvironment::systemEnvironment();
  const qsizetype eq = tag.indexOf('=');
  env.insert(QString::fromUtf8(tag.left(eq)), QString::fromUtf8(tag.mid(eq + 1)));
  return env;
}

QList<int> processesTagged(const QByteArray& tag) {
  QList<int> pids;
  for (const auto& entry : QDir("/proc").entryList(QDir::Dirs)) {
    bool ok = false;
    const int pid = entry.toInt(&ok);
    if (!ok || pid == QCoreApplication::applicationPid()) continue;
    QFile env("/proc/" + entry + "/environ");
    if (env.open(QIODevice::ReadOnly) && env.readAll().contains(tag)) pids << pid;
  }
  return pids;
}

QList<int> survivorsTagged(const QByteArray& tag, int timeout_ms) {
  constexpr int kStepMs = 100;
  QList<int> pids = processesTagged(tag);
  for (int waited = 0; !pids.isEmpty() && waited < timeout_ms; waited += kStepMs) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kStepMs));
    pids = processesTagged(tag);
  }
  return pids;
}

bool signalProcess(const QProcess& p, int signo) {
  const qint64 pid = p.processId();
  return pid > 0 && ::kill(static_cast<pid_t>(pid), signo) == 0;
}

}  // namespace meshdeck::test
