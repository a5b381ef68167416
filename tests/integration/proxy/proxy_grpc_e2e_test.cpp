#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <memory>

#include "proxy_process.h"
#include "python_peer.h"
#include "support/binaries.h"
#include "support/test_certificates.h"
#include "test_backend.h"

using namespace meshdeck::proxy::testing;
using namespace meshdeck::test;

namespace {

QJsonObject peer(const QStringList& args, QString* error = nullptr) {
  return runPeerJson(peerScript("grpc_peer.py"), args, error);
}

// A long-running helper (grpc_peer.py serve, h2_bad_server.py) that prints its ports on its
// first line; killed when destroyed.
class Server {
 public:
  Server(const QString& path, const QStringList& args) {
    p_.start("/usr/bin/python3", QStringList{path} + args);
    for (int i = 0; i < 100 && !p_.canReadLine(); ++i) p_.waitForReadyRead(100);
    const auto words = QString::fromLocal8Bit(p_.readLine()).trimmed().split(' ');
    for (int i = 1; i < words.size(); ++i) ports_.push_back(words[i].toUShort());
  }
  ~Server() {
    p_.kill();
    p_.waitForFinished();
  }
  uint16_t port(int i = 0) const { return i < static_cast<int>(ports_.size()) ? ports_[i] : 0; }

 private:
  QProcess p_;
  std::vector<uint16_t> ports_;
};

}  // namespace

// gRPC through the real meshdeck-proxy to a real gRPC server (Debian's python3-grpcio, generic
// handlers on raw bytes) with an HTTP/2 upstream (--upstream-protocol http2 and a config
// cluster with `protocol: grpc`): the four call shapes, errors, deadlines and cancellation,
// per-request balancing on one client channel, trailers to an HTTP/1.1 client; and upstreams
// that misbehave (garbage, oversized headers, GOAWAY mid-stream, a refused stream, silence),
// each a clean counted error for the client.
class ProxyGrpcTest : public QObject {
  Q_OBJECT

 private:
  double grpcCalls(const char* status) {
    return proxy_.stat(
        QString("meshdeck_listener_grpc_calls_total{listener=\"main\",grpc_status=\"%1\"}")
            .arg(status)
            .toStdString());
  }

 private slots:
  void initTestCase() {
    QProcess check;
    check.start("/usr/bin/python3", {"-c", "import grpc, h2"});
    QVERIFY(check.waitForFinished(30'000));
    QVERIFY2(check.exitCode() == 0, "python3-grpcio or python3-h2 is missing (scripts/setup.sh)");
    grpc_ = std::make_unique<Server>(peerScript("grpc_peer.py"), QStringList{"serve", "a", "b"});
    QVERIFY(grpc_->port(0) != 0 && grpc_->port(1) != 0);
    QVERIFY(proxy_.start({"--listen", "127.0.0.1:0", "--upstream",
                          QString("127.0.0.1:%1").arg(grpc_->port(0)), "--upstream",
                          QString("127.0.0.1:%1").arg(grpc_->port(1)), "--upstream-protocol",
                          "http2", "--workers", "1"}));
    port_ = QString::number(proxy_.port("main"));
  }

  void allCallShapes() {
    QString err;
    const auto r = peer({"calls", port_}, &err);
    QVERIFY2(!r.isEmpty(), qPrintable(err));
    QVERIFY2(r["unary"].toString().endsWith(":hello"), qPrintable(err));
    QCOMPARE(r["server_stream"].toArray(), QJsonArray({"0", "1", "2", "3", "4"}));
    QCOMPARE(r["client_stream"].toString(), QString("a,b,c"));
    // Ping-pong: only works if both directions of the stream are relayed at once.
    QCOMPARE(r["bidi"].toArray(), QJsonArray({"one", "two", "three"}));
    // 3 MB down and 3 MB up, through both connections' flow-control windows.
    QCOMPARE(r["big"].toInt(), 3000000);
    QCOMPARE(r["upload"].toInt(), 3000002);
    // A handler's error reaches the client as its status and message.
    QCOMPARE(r["fail"].toObject()["code"].toString(), QString("UNAVAILABLE"));
    QCOMPARE(r["fail"].toObject()["details"].toString(), QString("backend down"));
    // A deadline shorter than the handler: DEADLINE_EXCEEDED on time.
    QCOMPARE(r["deadline"].toObject()["code"].toString(), QString("DEADLINE_EXCEEDED"));
    QVERIFY(r["deadline"].toObject()["seconds"].toDouble() < 5);
    // The proxy judged each call by its grpc-status from the HTTP/2 upstream (in the trailers,
    // or the head of a trailers-only answer), not by the HTTP 200 every call had.
    QVERIFY2(grpcCalls("OK") >= 6, qPrintable(QString::number(grpcCalls("OK"))));
    QVERIFY2(grpcCalls("UNAVAILABLE") >= 1, qPrintable(QString::number(grpcCalls("UNAVAILABLE"))));
  }

  void cancellationReachesTheServer() {
    // A proxy in front of server a alone, so the cancelled call is known to land there.
    ProxyProcess proxy;
    QVERIFY(proxy.start({"--listen", "127.0.0.1:0", "--upstream",
                         QString("127.0.0.1:%1").arg(grpc_->port(0)), "--upstream-protocol",
                         "http2", "--workers", "1"}));
    const QString server = QString::number(grpc_->port(0));
    const int before = peer({"stats", server})["cancelled"].toInt();
    // A call without deadline (the server cannot know by itself), cancelled by the client: the
    // RST_STREAM the client sends the proxy becomes one the proxy sends the server.
    QCOMPARE(peer({"cancel", QString::number(proxy.port("main"))})["cancelled"].toBool(), true);
    // (The server's Stats waits, at most 10 s, for the cancellation to be seen.)
    QCOMPARE(peer({"stats", server, QString::number(before + 1)})["cancelled"].toInt(), before + 1);
  }

  void perRequestBalancingOnOneChannel() {
    const auto r = peer({"spread", port_, "20"});
    // One client connection, its calls spread over both servers (round robin).
    QCOMPARE(r["a"].toInt(), 10);
    QCOMPARE(r["b"].toInt(), 10);
    // One multiplexed connection per endpoint carried every call of this test case so far.
    QCOMPARE(proxy_.stat("meshdeck_cluster_events_total{cluster=\"upstream\",event=\"connect\"}"),
             2.0);
    QVERIFY(proxy_.stat("meshdeck_cluster_events_total{cluster=\"upstream\",event=\"reused\"}") >=
            20);
  }

  void http1ClientGetsTrailersWhenItAsks() {
    // te: trailers: the gRPC status arrives in the last chunk's trailer section.
    QString raw = peer({"http1", port_})["raw"].toString();
    QVERIFY2(raw.startsWith("HTTP/1.1 200 OK\r\n"), qPrintable(raw));
    QVERIFY2(raw.contains("Transfer-Encoding: chunked\r\n", Qt::CaseInsensitive), qPrintable(raw));
    QVERIFY2(raw.contains("a:hi\r\n0\r\ngrpc-status: 0\r\n\r\n") ||
                 raw.contains("b:hi\r\n0\r\ngrpc-status: 0\r\n\r\n"),
             qPrintable(raw));
    // An `http2` cluster sends te only when the client did: the gRPC server refuses the call
    // (a gRPC cluster would add it, configClusterProtocolGrpc).
    raw = peer({"http1", port_, "none"})["raw"].toString();
    QVERIFY2(raw.contains("grpc-message: Missing :te header\r\n"), qPrintable(raw));
  }

  void configClusterProtocolGrpc() {
    ProxyProcess proxy;
    writeFile(proxy.dir() + "/grpc.yaml", QString(R"(listeners:
  - {name: edge, address: {port: 0}, route_table: main}
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: all
            match: {path_prefix: /}
            destinations: [{cluster: greeter}]
clusters:
  - name: greeter
    protocol: grpc
    endpoints: [{address: {port: %1}}, {address: {port: %2}}]
)")
                                              .arg(grpc_->port(0))
                                              .arg(grpc_->port(1)));
    QVERIFY(proxy.start({"--config", proxy.dir() + "/grpc.yaml", "--workers", "1"}));
    const QString port = QString::number(proxy.port("edge"));
    const auto r = peer({"spread", port, "4"});
    QCOMPARE(r["a"].toInt(), 2);
    QCOMPARE(r["b"].toInt(), 2);
    // A gRPC cluster sends te: trailers even for an HTTP/1.1 client that did not; that client
    // reads no trailers, so they are dropped: a plain last chunk.
    const QString raw = peer({"http1", port, "none"})["raw"].toString();
    QVERIFY2(raw.startsWith("HTTP/1.1 200 OK\r\n"), qPrintable(raw));
    QVERIFY2(raw.endsWith(":hi\r\n0\r\n\r\n"), qPrintable(raw));
    QVERIFY2(!raw.contains("grpc-status"), qPrintable(raw));

    // A bad value names the field and the values it may take.
    ProxyProcess bad;
    writeFile(bad.dir() + "/bad.yaml", R"(listeners:
  - {name: edge, address: {port: 0}, route_table: main}
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - {name: all, match: {path_prefix: /}, destinations: [{cluster: greeter}]}
clusters:
  - {name: greeter, protocol: http3, endpoints: [{address: {port: 1}}]}
)");
    QVERIFY(!bad.start({"--config", bad.dir() + "/bad.yaml"}));
    const QString out = bad.output();
    QVERIFY2(out.contains("clusters[0].protocol") && out.contains("http3") &&
                 out.contains("HTTP2") && out.contains("GRPC"),
             qPrintable(out));
  }

  // A server stream of meshdeck-demo-service (--protocol grpc, Demo/Stream) through a sidecar
  // pair over mutual TLS, both clusters `protocol: grpc`: every message arrives in order, and
  // both sidecars count the call by its grpc-status (what the graph's edge shows), OK and a
  // refused one alike.
  void demoStreamThroughASidecarPair() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString d = dir.path();
    const std::string td = "spiffe://meshdeck.local/ns/default/sa/";
    TestCa ca("meshdeck test root");
    QVERIFY(writeText((d + "/ca.pem").toStdString(), ca.certPem()));
    for (const char* service : {"storefront", "recommendations"}) {
      const TestCertificate c = ca.issue(td + service);
      QVERIFY(writeText(QString("%1/%2.crt").arg(d, service).toStdString(), c.cert_pem));
      QVERIFY(writeText(QString("%1/%2.key").arg(d, service).toStdString(), c.key_pem));
    }

    QProcess demo;
    demo.setProcessChannelMode(QProcess::ForwardedChannels);
    demo.start(meshdeck::test::bin("meshdeck-demo-service"),
               {"--name", "recommendations", "--version", "v2", "--protocol", "grpc", "--listen",
                "127.0.0.1:0", "--port-file", d + "/demo.port", "--log-level", "warn"});
    QVERIFY(demo.waitForStarted());
    QFile port_file(d + "/demo.port");
    QTRY_VERIFY_WITH_TIMEOUT(port_file.exists() && port_file.size() > 0, 10000);
    QVERIFY(port_file.open(QIODevice::ReadOnly));
    const QString demo_port = QString::fromLatin1(port_file.readAll()).trimmed();
    QVERIFY(demo_port.toUShort() != 0);

    ProxyProcess inbound, outbound;
    writeFile(
        d + "/inbound.yaml",
        QString(
            R"(tls: {cert: %1/recommendations.crt, key: %1/recommendations.key, trust_bundle: %1/ca.pem}
workload: {service: recommendations, version: v2}
security: {inbound_mode: MUTUAL_TLS}
listeners:
  - {name: inbound, address: {port: 0}, direction: INBOUND, route_table: inbound}
route_tables:
  - name: inbound
    virtual_hosts: [{name: local, domains: ["*"], routes: [{name: in, destinations: [{cluster: "inbound|local"}]}]}]
clusters:
  - {name: "inbound|local", protocol: grpc, endpoints: [{address: {port: %2}}]}
)")
            .arg(d, demo_port));
    QVERIFY(inbound.start({"--config", d + "/inbound.yaml", "--workers", "1"}));
    writeFile(
        d + "/outbound.yaml",
        QString(R"(tls: {cert: %1/storefront.crt, key: %1/storefront.key, trust_bundle: %1/ca.pem}
workload: {service: storefront, version: v1}
listeners:
  - {name: outbound, address: {port: 0}, direction: OUTBOUND, route_table: outbound}
route_tables:
  - name: outbound
    virtual_hosts: [{name: recommendations, domains: ["*"], routes: [{name: r, destinations: [{cluster: recommendations}]}]}]
clusters:
  - name: recommendations
    service: recommendations
    protocol: grpc
    endpoints: [{address: {port: %2}}]
    tls: {mode: MUTUAL_TLS, expected_identities: ["%3recommendations"]}
)")
            .arg(d)
            .arg(inbound.port("inbound"))
            .arg(QString::fromStdString(td)));
    QVERIFY(outbound.start({"--config", d + "/outbound.yaml", "--workers", "1"}));
    const QString port = QString::number(outbound.port("outbound"));

    QString err;
    const auto r = peer({"demo-stream", port, "200", "1000"}, &err);
    QVERIFY2(!r.isEmpty(), qPrintable(err));
    QCOMPARE(r["code"].toString(), QString("OK"));
    QCOMPARE(r["service"].toString(), QString("recommendations"));
    QCOMPARE(r["version"].toString(), QString("v2"));
    QJsonArray expected;
    for (int i = 0; i < 200; ++i) expected.append(i);
    QCOMPARE(r["indexes"].toArray(), expected);
    QCOMPARE(r["payload_bytes"].toInt(), 200 * 1000);
    // Too many messages: the demo refuses the call, a trailers-only INVALID_ARGUMENT.
    const auto refused = peer({"demo-stream", port, "10001"}, &err);
    QVERIFY2(!refused.isEmpty(), qPrintable(err));
    QCOMPARE(refused["code"].toString(), QString("INVALID_ARGUMENT"));
    QVERIFY(refused["indexes"].toArray().isEmpty());

    // Each sidecar counted one call of each status, on the hop over mutual TLS.
    for (auto [proxy, listener] : {std::pair{&outbound, "outbound"}, {&inbound, "inbound"}}) {
      const auto calls = [&](const char* status) {
        return proxy->stat(
            QString("meshdeck_listener_grpc_calls_total{listener=\"%1\",grpc_status=\"%2\"}")
                .arg(listener, status)
                .toStdString());
      };
      QCOMPARE(calls("OK"), 1.0);
      QCOMPARE(calls("INVALID_ARGUMENT"), 1.0);
    }
    QCOMPARE(inbound.stat("meshdeck_listener_http2_connections_total{listener=\"inbound\"}"), 1.0);
    demo.kill();
    demo.waitForFinished();
  }

  void misbehavingUpstreams() {
    // Each answer is a clean error, counted, with neither crash nor hang; the proxy serves on.
    struct Case {
      const char* mode;
      int status;           // to an HTTP/1.1 client
      const char* counter;  // a series that must have grown
    };
    const Case cases[] = {
        {"garbage", 502, "meshdeck_proxy_errors_total{code=\"UR\"}"},
        {"big_headers", 502, "meshdeck_malformed_responses_total{reason=\"header_too_large\"}"},
        {"refuse_first", 200, "meshdeck_cluster_events_total{cluster=\"bad\",event=\"reset\"}"},
        {"hang", 504, "meshdeck_proxy_errors_total{code=\"UT\"}"},
    };
    for (const auto& c : cases) {
      Server bad(peerScript("h2_bad_server.py"), {c.mode});
      QVERIFY(bad.port() != 0);
      ProxyProcess proxy;
      // A short route timeout only where the wait is the point (python-h2 takes its time to
      // encode 80 KiB of headers on a busy machine).
      const bool hang = std::string_view(c.mode) == "hang";
      QVERIFY(proxy.start(
          {"--config", badConfig(proxy.dir(), bad.port(), hang ? "1s" : "30s"), "--workers", "1"}));
      const uint16_t port = proxy.port("edge");
      Client client(port);
      const auto res = client.request("GET", "/x");
      QVERIFY2(res.status == c.status, qPrintable(QString("%1: %2 %3 %4")
                                                      .arg(c.mode)
                                                      .arg(res.status)
                                                      .arg(QString::fromStdString(res.error))
                                                      .arg(QString::fromStdString(res.body))));
      // The same through an HTTP/2 client: a response, not a reset.
      const auto h2 = runPeerJson(peerScript("h2_client.py"), {"get", QString::number(port), "/x"});
      QCOMPARE(h2["streams"].toObject()["1"].toObject()["status"].toInt(), c.status);
      QVERIFY2(proxy.stat(c.counter) >= 1, c.mode);
      QVERIFY(proxy.running());
    }

    // GOAWAY in the middle of a body: the head is out, so the HTTP/1.1 client sees a body
    // shorter than its content-length and the connection closed; the HTTP/2 client a reset.
    Server bad(peerScript("h2_bad_server.py"), {"goaway_mid"});
    ProxyProcess proxy;
    QVERIFY(proxy.start({"--config", badConfig(proxy.dir(), bad.port(), "30s"), "--workers", "1"}));
    const uint16_t port = proxy.port("edge");
    const std::string raw =
        rawExchange(port, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", /*timeout_ms=*/10'000);
    QVERIFY2(raw.starts_with("HTTP/1.1 200 OK\r\n"), raw.c_str());
    QVERIFY(raw.find("content-length: 100000\r\n") != std::string::npos);
    QVERIFY(raw.size() < 100000);
    const auto h2 = runPeerJson(peerScript("h2_client.py"), {"get", QString::number(port), "/x"});
    const auto s1 = h2["streams"].toObject()["1"].toObject();
    QCOMPARE(s1["status"].toInt(), 200);
    QCOMPARE(s1["ended"].toBool(), false);
    QCOMPARE(s1["reset"].toInt(), 2);  // INTERNAL_ERROR
    QCOMPARE(proxy.stat("meshdeck_cluster_events_total{cluster=\"bad\",event=\"reset\"}"), 2.0);
    QVERIFY(proxy.running());
  }

 private:
  static QString badConfig(const QString& dir, uint16_t port, const char* timeout) {
    const QString path = dir + "/bad.yaml";
    writeFile(path, QString(R"(listeners:
  - {name: edge, address: {port: 0}, route_table: main}
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: all
            match: {path_prefix: /}
            timeout: %2
            destinations: [{cluster: bad}]
clusters:
  - {name: bad, protocol: http2, endpoints: [{address: {port: %1}}]}
)")
                        .arg(port)
                        .arg(timeout));
    return path;
  }

  std::unique_ptr<Server> grpc_;
  ProxyProcess proxy_;
  QString port_;
};

QTEST_GUILESS_MAIN(ProxyGrpcTest)
#include "proxy_grpc_e2e_test.moc"
