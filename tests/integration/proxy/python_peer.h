// Running the Python peers of the proxy's HTTP/2 and gRPC tests (h2_client.py, grpc_peer.py,
// h2_bad_server.py beside this file; Debian's python3-h2 and python3-grpcio, so always
// /usr/bin/python3) and the small file helper those tests share.
#pragma once

#include <QByteArray>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTest>

namespace meshdeck::proxy::testing {

// tests/integration/proxy/<name> in the source tree (MESHDECK_SOURCE_DIR, set by CTest).
inline QString peerScript(const char* name) {
  return QString::fromLocal8Bit(qgetenv("MESHDECK_SOURCE_DIR")) + "/tests/integration/proxy/" +
         name;
}

// Runs a one-shot mode of a Python peer (killed after `timeout_ms`) and returns the JSON object
// it printed (empty when it printed none); `error` gets its stderr and stdout for messages.
inline QJsonObject runPeerJson(const QString& path, const QStringList& args,
                               QString* error = nullptr, int timeout_ms = 90'000) {
  QProcess p;
  p.start("/usr/bin/python3", QStringList{path} + args);
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    p.waitForFinished();
  }
  const QByteArray out = p.readAllStandardOutput();
  if (error)
    *error = QString::fromLocal8Bit(p.readAllStandardError()) + QString::fromLocal8Bit(out);
  return QJsonDocument::fromJson(out).object();
}

inline void writeFile(const QString& path, const QString& text) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
  f.write(text.toUtf8());
}

}  // namespace meshdeck::proxy::testing
