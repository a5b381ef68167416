// The generated `large` demo at a size a loaded 2-core machine runs in a test: 40 services from
// the same generator (spec.generate) with the apps packed into multi-service demo-service
// processes, every service still behind a sidecar of its own. Checks that every proxy syncs,
// that traffic flows on the call edges, that the app side really is packed, and that no process
// is left behind.
#include <signal.h>

#include <QtTest>
#include <thread>

#include "support/binaries.h"
#include "support/tagged_processes.h"

using namespace meshdeck::test;

class FleetLargeTest : public QObject {
  Q_OBJECT

 private slots:
  void packedGeneratedMeshSyncsAndCarriesTraffic() {
    constexpr int kServices = 40;
    constexpr int kAppsPerProcess = 12;  // 40 apps -> 4 demo-service processes
    QTemporaryDir dir;
    const QString demo = dir.filePath("large-40.yaml");
    {
      QFile f(demo);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(QString("apiVersion: meshdeck.io/v1alpha1\nkind: DemoMesh\n"
                      "metadata: {name: large-40}\n"
                      "spec:\n  generate: {services: %1, seed: 7}\n"
                      "  pack: {appsPerProcess: %2}\n")
                  .arg(kServices)
                  .arg(kAppsPerProcess)
                  .toUtf8());
    }
    const QByteArray tag = newProcessTag();
    QProcess cp;
    cp.setProcessEnvironment(taggedEnvironment(tag));
    cp.setProcessChannelMode(QProcess::MergedChannels);
    cp.start(bin("meshdeck-controlplane"),
             {"--listen", "127.0.0.1:0", "--state-dir", dir.filePath("state"), "--demo", demo,
              "--duration", "300s"});
    QVERIFY(cp.waitForStarted(10'000));
    QString out, address;
    QElapsedTimer timer;
    timer.start();
    while (!out.contains("first complete graph") && !out.contains("did not come up") &&
           !out.contains("no traffic yet") && timer.elapsed() < 90'000 &&
           cp.state() == QProcess::Running) {
      cp.waitForReadyRead(500);
      out += QString::fromUtf8(cp.readAll());
    }
    if (const auto m = QRegularExpression("listening on (127\\.0\\.0\\.1:[0-9]+)").match(out);
        m.hasMatch())
      address = m.captured(1);
    auto stop = [&] {
      meshdeck::test::signalProcess(cp, SIGTERM);
      cp.waitForFinished(30'000);
    };
    if (!out.contains("first complete graph")) stop();
    QVERIFY2(!address.isEmpty() && out.contains("first complete graph"), qPrintable(out));
    const auto first = QRegularExpression("first complete graph.*\\(([0-9.]+) s after start\\)");
    qInfo("large-%d: first complete graph after %s s", kServices,
          qPrintable(first.match(out).captured(1)));

    auto ctl = [&](const QStringList& args) {
      QProcess p;
      p.start(bin("meshdeckctl"), QStringList{"--server", address, "--timeout", "10000"} + args);
      p.waitForFinished(20'000);
      return p.readAllStandardOutput();
    };
    // Every sidecar (one per service, plus one per load stream) synced.
    const auto proxies = QJsonDocument::fromJson(ctl({"get", "proxies", "-o", "json"})).array();
    int synced = 0;
    for (const auto& p : proxies) synced += p.toObject()["state"].toString() == "SYNCED";
    // The processes: one sidecar per service, the apps packed.
    const auto fleet = QString::fromUtf8(ctl({"fleet", "ls"}));
    const int packs = int(
        fleet.count(QRegularExpression("^apps-[0-9]+/app ", QRegularExpression::MultilineOption)));
    const int sidecars =
        int(fleet.count(QRegularExpression("/proxy ", QRegularExpression::MultilineOption)));
    // Traffic keeps flowing on the call edges after the first complete graph.
    std::this_thread::sleep_for(std::chrono::seconds(3));
    const auto edges =
        QJsonDocument::fromJson(ctl({"get", "edges", "-o", "json", "-w", "10"})).array();
    int busy = 0, total = 0;
    for (const auto& e : edges) {
      ++total;
      // protobuf's JSON writes uint64 as a string
      if (e.toObject()["metrics"].toObject()["requests"].toVariant().toLongLong() > 0) ++busy;
    }
    stop();
    out += QString::fromUtf8(cp.readAll());
    const QList<int> leftovers = survivorsTagged(tag);
    qInfo("large-%d: %d proxies synced of %lld, %d sidecars, %d app processes, %d of %d edges busy",
          kServices, synced, static_cast<long long>(proxies.size()), sidecars, packs, busy, total);
    const int load_streams = qMax(1, kServices / 50);
    QCOMPARE(proxies.size(), kServices + load_streams);
    QCOMPARE(synced, kServices + load_streams);
    QCOMPARE(sidecars, kServices + load_streams);
    QCOMPARE(packs, (kServices + kAppsPerProcess - 1) / kAppsPerProcess);
    // The generator gives 40 services about 70 call edges; allow a few idle in a 10 s window.
    QVERIFY2(total >= kServices && busy >= total * 9 / 10,
             qPrintable(QString("%1 of %2 edges busy").arg(busy).arg(total)));
    QCOMPARE(cp.exitCode(), 0);
    QVERIFY2(leftovers.isEmpty(),
             qPrintable(QString("processes left behind: %1").arg(leftovers.size())));
  }
};

QTEST_GUILESS_MAIN(FleetLargeTest)
#include "fleet_large_test.moc"
