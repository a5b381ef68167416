#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QtTest>

#include "proxy_process.h"
#include "python_peer.h"
#include "test_backend.h"

using namespace meshdeck::proxy::testing;

namespace {

// Runs h2load (nghttp2-client) and returns its output; empty when it did not finish.
QString h2load(const QStringList& args) {
  QProcess p;
  p.start("/usr/bin/h2load", args);
  if (!p.waitForFinished(120'000)) {
    p.kill();
    p.waitForFinished(5'000);
    return {};
  }
  return QString::fromLocal8Bit(p.readAllStandardOutput());
}

// The number after `label` in h2load's summary ("requests: ... 2000 succeeded", "status
// codes: 2000 2xx"); -1 when absent.
long long field(const QString& out, const QString& pattern) {
  const auto m = QRegularExpression(pattern).match(out);
  return m.hasMatch() ? m.captured(1).toLongLong() : -1;
}

// A proxy config: every request on listener "edge" to cluster "app", given as `cluster` (the
// YAML list item under clusters:).
QString config(const QString& cluster) {
  return QString(R"(listeners:
  - {name: edge, address: {port: 0}, route_table: main}
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - {name: all, match: {path_prefix: /}, destinations: [{cluster: app}]}
clusters:
)") + cluster;
}

}  // namespace

// Fan-in from HTTP/2 clients to an HTTP/1.1 upstream through the real meshdeck-proxy
// (docs/http2.md, "Fan-in to an HTTP/1.1 upstream"): many concurrent streams share at most the
// endpoint's limit of upstream connections per worker (the cluster's max_idle_connections),
// waiting in its queue for a released connection, and every request is answered.
class ProxyFaninTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY2(QFile::exists("/usr/bin/h2load"), "nghttp2-client is missing (scripts/setup.sh)");
  }

  void manyStreamsShareTheEndpointsConnectionLimit() {
    TestBackend backend("b1");
    ProxyProcess proxy;
    writeFile(proxy.dir() + "/fanin.yaml",
              config(QString("  - {name: app, max_idle_connections: 4, endpoints: "
                             "[{address: {port: %1}}]}\n")
                         .arg(backend.port())));
    QVERIFY(proxy.start({"--config", proxy.dir() + "/fanin.yaml", "--workers", "2"}));
    const QString url = QString("http://127.0.0.1:%1/slow?ms=2").arg(proxy.port("edge"));
    // 4 connections × 50 streams: 200 requests in flight for 8 upstream connections (4 per
    // worker).
    const QString out = h2load({"-c4", "-m50", "-n2000", url});
    QVERIFY2(!out.isEmpty(), "h2load did not finish");
    QCOMPARE(field(out, R"(requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded)"), 2000);
    QCOMPARE(field(out, R"(status codes: (\d+) 2xx)"), 2000);
    QCOMPARE(backend.requests.load(), uint64_t(2000));
    QVERIFY2(backend.accepted.load() <= 8,
             qPrintable(QString("%1 upstream connections").arg(backend.accepted.load())));
    QVERIFY(backend.max_open_connections.load() <= 8);
    // The streams did wait, nothing overflowed, and nobody waits any more.
    QVERIFY(proxy.stat(R"(meshdeck_cluster_events_total{cluster="app",event="pending"})") > 0);
    QCOMPARE(proxy.stat(R"(meshdeck_cluster_events_total{cluster="app",event="pending_overflow"})"),
             0.0);
    QCOMPARE(proxy.stat(R"(meshdeck_cluster_pending_active{cluster="app"})"), 0.0);
  }

  void longPollsAboveTheDefaultLimitDoNotWait() {
    // A sidecar's own app (the control plane gives "inbound|local" a limit of 1024): 100
    // requests the app holds open at once, from one HTTP/2 hop connection, each get their own
    // app connection at once; none waits in the queue as it would behind the default 64.
    TestBackend backend("b1");
    ProxyProcess proxy;
    writeFile(proxy.dir() + "/fanin.yaml",
              config(QString("  - {name: app, max_idle_connections: 1024, endpoints: "
                             "[{address: {port: %1}}]}\n")
                         .arg(backend.port())));
    QVERIFY(proxy.start({"--config", proxy.dir() + "/fanin.yaml", "--workers", "1"}));
    const QString url = QString("http://127.0.0.1:%1/slow?ms=500").arg(proxy.port("edge"));
    const QString out = h2load({"-c1", "-m100", "-n100", url});
    QVERIFY2(!out.isEmpty(), "h2load did not finish");
    QCOMPARE(field(out, R"(status codes: (\d+) 2xx)"), 100);
    QVERIFY2(
        backend.max_open_connections.load() > 64,
        qPrintable(
            QString("%1 app connections open at most").arg(backend.max_open_connections.load())));
    QCOMPARE(proxy.stat(R"(meshdeck_cluster_events_total{cluster="app",event="pending"})"), 0.0);
  }

  void aFullQueueIsAnsweredWithOverflow() {
    // One connection and at most 2 waiting (the circuit breaker's max_pending_requests) per
    // worker: of 20 streams at once to a slow endpoint, the ones past the queue get 503 UO.
    TestBackend backend("b1");
    ProxyProcess proxy;
    writeFile(proxy.dir() + "/fanin.yaml", config(QString(R"(  - name: app
    max_idle_connections: 1
    circuit_breaker: {max_pending_requests: 2}
    endpoints: [{address: {port: %1}}]
)")
                                                      .arg(backend.port())));
    QVERIFY(proxy.start({"--config", proxy.dir() + "/fanin.yaml", "--workers", "1"}));
    const QString url = QString("http://127.0.0.1:%1/slow?ms=200").arg(proxy.port("edge"));
    const QString out = h2load({"-c1", "-m20", "-n20", url});
    QVERIFY2(!out.isEmpty(), "h2load did not finish");
    const auto ok = field(out, R"(status codes: (\d+) 2xx)");
    const auto refused = field(out, R"(status codes: \d+ 2xx, \d+ 3xx, \d+ 4xx, (\d+) 5xx)");
    QCOMPARE(ok + refused, 20);
    QVERIFY2(ok >= 3, qPrintable(out));  // the one on the connection and the two that waited
    QCOMPARE(proxy.stat(R"(meshdeck_cluster_events_total{cluster="app",event="pending_overflow"})"),
             double(refused));
    QVERIFY(refused > 0);
    QCOMPARE(backend.accepted.load(), uint64_t(1));
  }
};

QTEST_MAIN(ProxyFaninTest)
#include "proxy_fanin_test.moc"
