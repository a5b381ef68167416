// The fleet end to end: meshdeck-controlplane starts the storefront demo (real demo services,
// real sidecars, real load on loopback), runs the bundled scenarios headless, and leaves no
// process behind.
#include <signal.h>

#include <QtTest>
#include <thread>

#include "support/binaries.h"
#include "support/tagged_processes.h"

using namespace meshdeck::test;

namespace {

struct Result {
  int code = -1;
  QString out;
  QList<int> leftovers;
};

Result runControlPlane(const QStringList& args, int timeout_ms) {
  const QByteArray tag = newProcessTag();
  QTemporaryDir state;
  QProcess p;
  p.setProcessEnvironment(taggedEnvironment(tag));
  p.setProcessChannelMode(QProcess::MergedChannels);
  p.start(bin("meshdeck-controlplane"),
          QStringList{"--listen", "127.0.0.1:0", "--state-dir", state.path()} + args);
  Result r;
  if (!p.waitForFinished(timeout_ms)) {
    meshdeck::test::signalProcess(p, SIGTERM);
    p.waitForFinished(15'000);
    r.out = "TIMED OUT\n";
  }
  r.out += QString::fromUtf8(p.readAll());
  r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  r.leftovers = survivorsTagged(tag);
  return r;
}

}  // namespace

class FleetDemoTest : public QObject {
  Q_OBJECT

 private slots:
  void storefrontComesUpAndStopsCleanly() {
    const Result r = runControlPlane({"--demo", "storefront", "--duration", "5s"}, 120'000);
    QVERIFY2(r.code == 0, qPrintable(r.out));
    const QRegularExpression first("first complete graph.*\\(([0-9.]+) s after start\\)");
    const auto m = first.match(r.out);
    QVERIFY2(m.hasMatch(), qPrintable(r.out));
    qInfo("storefront: first complete graph after %s s", qPrintable(m.captured(1)));
    QVERIFY2(r.leftovers.isEmpty(),
             qPrintable(QString("processes left behind: %1").arg(r.leftovers.size())));
  }

  void killedProxyIsRestartedAndResyncs() {
    QTemporaryDir state;
    QProcess cp;
    cp.setProcessChannelMode(QProcess::MergedChannels);
    cp.start(bin("meshdeck-controlplane"), {"--listen", "127.0.0.1:0", "--state-dir", state.path(),
                                            "--demo", "storefront", "--duration", "60s"});
    QString out, address;
    const QRegularExpression listening("listening on (127\\.0\\.0\\.1:[0-9]+)");
    QElapsedTimer timer;
    timer.start();
    while (!out.contains("first complete graph") && timer.elapsed() < 60'000) {
      cp.waitForReadyRead(500);
      out += QString::fromUtf8(cp.readAll());
    }
    if (const auto m = listening.match(out); m.hasMatch()) address = m.captured(1);
    QVERIFY2(!address.isEmpty() && out.contains("first complete graph"), qPrintable(out));
    auto ctl = [&](const QStringList& args) {
      QProcess p;
      p.start(bin("meshdeckctl"), QStringList{"--server", address} + args);
      p.waitForFinished(10'000);
      return QString::fromUtf8(p.readAllStandardOutput());
    };
    // Find the pid of catalog's first sidecar and kill it the hard way.
    auto proxyLine = [&] {
      for (const auto& line : ctl({"fleet", "ls"}).split('\n'))
        if (line.startsWith("catalog-v1-0/proxy ")) return line.simplified().split(' ');
      return QStringList{};
    };
    const QStringList before = proxyLine();
    QVERIFY2(before.size() >= 5 && before[2] == "running", qPrintable(before.join(' ')));
    const int pid = before[3].toInt();
    QVERIFY(pid > 0);
    QCOMPARE(::kill(pid, SIGKILL), 0);
    // The supervisor restarts it, and the new process resyncs with the control plane.
    bool recovered = false;
    while (!recovered && timer.elapsed() < 100'000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      const QStringList now = proxyLine();
      const QString proxies = ctl({"get", "proxies"});
      recovered = now.size() >= 5 && now[2] == "running" && now[3].toInt() != pid &&
                  now[4].toInt() >= 1 &&
                  QRegularExpression("catalog-v1-0 .* synced").match(proxies).hasMatch();
    }
    QVERIFY2(recovered, qPrintable(ctl({"fleet", "ls"}) + ctl({"get", "proxies"})));
    // And traffic through the restarted sidecar shows on the graph again, over mutual TLS (the
    // demo's sidecars use it by default; a plaintext or mixed edge would say so). Right after
    // the restart the edge may have had no request in the window yet ("-"): wait for one.
    // The requests that failed while the sidecar was down never crossed the hop: they must not
    // count as plaintext (the edge would read "mixed" for a window).
    QString edges, row, downgraded;
    QElapsedTimer shown;
    shown.start();
    do {
      if (!row.isEmpty()) std::this_thread::sleep_for(std::chrono::milliseconds(500));
      edges = ctl({"get", "edges"});
      row.clear();  // the storefront-web -> catalog line (the whole table is too long to show)
      for (const QString& line : edges.split('\n'))
        if (line.startsWith("storefront-web")) row += line + "\n";
      if (row.isEmpty()) row = "(no storefront-web edge)";
      if (QRegularExpression("storefront-web +catalog .* (mixed|plaintext) ").match(row).hasMatch())
        downgraded = row;
    } while (!QRegularExpression("storefront-web +catalog .* mtls ").match(row).hasMatch() &&
             shown.elapsed() < 30'000);
    qInfo("storefront-web edges %lld ms after the restart was seen: %s", (long long)shown.elapsed(),
          qPrintable(row.trimmed()));
    QVERIFY2(QRegularExpression("\\bTRANSPORT\\b").match(edges).hasMatch(), qPrintable(edges));
    QVERIFY2(downgraded.isEmpty(), qPrintable(downgraded));
    QVERIFY2(QRegularExpression("storefront-web +catalog .* mtls ").match(row).hasMatch(),
             qPrintable(row));
    meshdeck::test::signalProcess(cp, SIGTERM);
    QVERIFY(cp.waitForFinished(30'000));
    QCOMPARE(cp.exitCode(), 0);
  }

  void bundledScenarioPasses_data() {
    QTest::addColumn<QString>("scenario");
    const QDir dir(qEnvironmentVariable("MESHDECK_SOURCE_DIR") + "/resources/scenarios");
    for (const auto& f : dir.entryList({"*.yaml"}, QDir::Files, QDir::Name))
      QTest::newRow(qPrintable(f)) << QFileInfo(f).completeBaseName();
  }

  void bundledScenarioPasses() {
    QFETCH(QString, scenario);
    const Result r = runControlPlane({"--demo", "storefront", "--scenario", scenario}, 300'000);
    QVERIFY2(r.code == 0 && r.out.contains("scenario passed"), qPrintable(r.out));
    // "A canary goes bad" watches the failing requests with a tap: the step's result names
    // them (docs/tap.md), and there are some (v2 answers half its calls with errors).
    if (scenario == "canary-goes-bad") {
      const QRegularExpression tapped(
          "done: watch to=recommendations status=5xx [^\n]*: ([0-9]+) request\\(s\\) seen: "
          "([^\n]*)");
      const auto m = tapped.match(r.out);
      QVERIFY2(m.hasMatch(), qPrintable(r.out));
      qInfo("the tap step: %s requests: %s", qPrintable(m.captured(1)), qPrintable(m.captured(2)));
      QVERIFY(m.captured(1).toInt() > 0);
      // Each named request failed: HTTP 5xx or a gRPC error (grpc 13: INTERNAL, v2's 500).
      QVERIFY2(m.captured(2).contains("grpc 13") || m.captured(2).contains(" 500"),
               qPrintable(m.captured(2)));
    }
    QVERIFY(r.leftovers.isEmpty());
  }

  void malformedDemoIsRefusedWithLineAndField() {
    QTemporaryFile file(QDir::tempPath() + "/bad-demo-XXXXXX.yaml");
    QVERIFY(file.open());
    file.write(
        "apiVersion: meshdeck.io/v1alpha1\nkind: DemoMesh\nmetadata: {name: bad}\n"
        "spec:\n  services:\n    - name: a\n      replicas: 2\n");
    file.close();
    const Result r = runControlPlane({"--demo", file.fileName(), "--duration", "1s"}, 30'000);
    QCOMPARE(r.code, 2);
    QVERIFY2(r.out.contains(file.fileName() + ":7:7: spec.services[0].replicas: unknown field"),
             qPrintable(r.out));
  }
};

QTEST_GUILESS_MAIN(FleetDemoTest)
#include "fleet_demo_test.moc"
