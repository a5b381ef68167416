// gRPC semantics through the real meshdeck-proxy (docs/http2.md#grpc): HTTP/2 gRPC callers
// (python3-h2) in front of an HTTP/1.1 backend that answers gRPC-shaped responses (test_backend:
// /grpc/...). Classification by grpc-status (trailers, trailers-only, missing), retries on a
// trailers-only status, fault aborts with a gRPC status, and grpc-timeout (honoured, capped by
// the route's timeout, passed on adjusted, malformed ones ignored and counted).
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>
#include <optional>
#include <string>

#include "proxy_process.h"
#include "python_peer.h"
#include "test_backend.h"

using namespace meshdeck::proxy::testing;

namespace {

// One request with tests/integration/proxy/h2_client.py; stream 1 of its JSON.
QJsonObject call(const QString& port, const QString& path, QStringList headers = {},
                 bool grpc = true) {
  if (grpc)
    headers << "content-type=application/grpc"
            << "te=trailers";
  const auto doc = runPeerJson(peerScript("h2_client.py"), QStringList{"get", port, path} + headers,
                               nullptr, 60'000);
  return doc["streams"].toObject()["1"].toObject();
}

// The call's grpc-status: from the trailers, else (trailers-only) from the headers; "" if none.
QString grpcStatus(const QJsonObject& s) {
  const auto t = s["trailers"].toObject();
  if (t.contains("grpc-status")) return t["grpc-status"].toString();
  return s["headers"].toObject()["grpc-status"].toString();
}

// The grpc-timeout the backend saw last, in nanoseconds (nullopt: none).
std::optional<double> seenTimeoutNs(const std::string& headers) {
  const std::string key = "grpc-timeout: ";
  const auto at = headers.find(key);
  if (at == std::string::npos) return std::nullopt;
  const auto end = headers.find('\n', at);
  const std::string v = headers.substr(at + key.size(), end - at - key.size());
  if (v.size() < 2) return -1.0;
  const double n = std::stod(v.substr(0, v.size() - 1));
  switch (v.back()) {
    case 'n':
      return n;
    case 'u':
      return n * 1e3;
    case 'm':
      return n * 1e6;
    case 'S':
      return n * 1e9;
    case 'M':
      return n * 60e9;
    case 'H':
      return n * 3600e9;
  }
  return -1.0;
}

}  // namespace

class ProxyGrpcCallsTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    backend_ = std::make_unique<TestBackend>("b1");
    writeFile(proxy_.dir() + "/grpc.yaml", QString(R"(listeners:
  - {name: edge, address: {port: 0}, route_table: main}
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: retried
            match: {path_prefix: /grpc/, headers: [{name: x-retry}]}
            retry: {attempts: 2, retry_on: [unavailable, resource-exhausted], base_interval: 1ms,
                    max_interval: 5ms}
            destinations: [{cluster: app}]
          - name: capped
            match: {path_prefix: /grpc/, headers: [{name: x-capped}]}
            timeout: 300ms
            destinations: [{cluster: app}]
          - name: fault
            match: {path_prefix: /fault}
            fault: {abort_percent: 100, abort_grpc_status: 14}
            destinations: [{cluster: app}]
          - name: all
            match: {path_prefix: /}
            destinations: [{cluster: app}]
clusters:
  - {name: app, endpoints: [{address: {port: %1}}]}
)")
                                               .arg(backend_->port()));
    QVERIFY(proxy_.start({"--config", proxy_.dir() + "/grpc.yaml", "--workers", "1"}));
    port_ = QString::number(proxy_.port("edge"));
  }

  void statusComesFromGrpcStatus() {
    auto ok = call(port_, "/grpc/trailer/0");
    QCOMPARE(ok["status"].toInt(), 200);
    QCOMPARE(grpcStatus(ok), QString("0"));
    auto failed = call(port_, "/grpc/trailer/14");
    QCOMPARE(failed["status"].toInt(), 200);  // HTTP says nothing of the call's outcome
    QCOMPARE(grpcStatus(failed), QString("14"));
    auto only = call(port_, "/grpc/status/5");
    QCOMPARE(only["status"].toInt(), 200);
    QCOMPARE(only["headers"].toObject()["grpc-status"].toString(), QString("5"));
    QVERIFY(only["ended"].toBool());
    auto missing = call(port_, "/grpc/missing");
    QCOMPARE(missing["status"].toInt(), 200);
    QCOMPARE(grpcStatus(missing), QString());
    // Neither a plain HTTP/2 request nor an HTTP/1.1 one is a gRPC call.
    QCOMPARE(call(port_, "/grpc/trailer/0", {}, false)["status"].toInt(), 200);
    Client c(proxy_.port("edge"));
    QCOMPARE(c.request("GET", "/grpc/trailer/13").status, 200);
    QVERIFY2(proxy_.running(), qPrintable(proxy_.output()));
    QCOMPARE(grpcCalls("OK"), 1.0);
    QCOMPARE(grpcCalls("UNAVAILABLE"), 1.0);
    QCOMPARE(grpcCalls("NOT_FOUND"), 1.0);
    QCOMPARE(grpcCalls("UNKNOWN"), 1.0);  // no grpc-status: a failure
    QCOMPARE(grpcCalls("INTERNAL"), 0.0);
  }

  void retriesTrailersOnlyStatusesOnly() {
    const auto before = backend_->targets().size();
    backend_->grpc_fail_next = 2;  // two trailers-only UNAVAILABLE, then OK
    auto r = call(port_, "/grpc/status/0", {"x-retry=1"});
    QCOMPARE(grpcStatus(r), QString("0"));
    QCOMPARE(backend_->targets().size(), before + 3);
    // Attempts spent: the third UNAVAILABLE is answered.
    backend_->grpc_fail_next = 5;
    r = call(port_, "/grpc/status/0", {"x-retry=1"});
    QCOMPARE(grpcStatus(r), QString("14"));
    QCOMPARE(backend_->targets().size(), before + 6);
    backend_->grpc_fail_next = 0;
    // A status in the trailers (a body was streamed) is never retried, nor one the policy does
    // not name, nor any on a route without the policy.
    QCOMPARE(grpcStatus(call(port_, "/grpc/trailer/14", {"x-retry=1"})), QString("14"));
    QCOMPARE(backend_->targets().size(), before + 7);
    QCOMPARE(grpcStatus(call(port_, "/grpc/status/13", {"x-retry=1"})), QString("13"));
    QCOMPARE(backend_->targets().size(), before + 8);
    backend_->grpc_fail_next = 1;
    QCOMPARE(grpcStatus(call(port_, "/grpc/status/0")), QString("14"));
    QCOMPARE(backend_->targets().size(), before + 9);
    backend_->grpc_fail_next = 0;
  }

  void faultAbortsWithGrpcStatus() {
    auto r = call(port_, "/fault/call");
    QCOMPARE(r["status"].toInt(), 200);
    const auto h = r["headers"].toObject();
    QCOMPARE(h["grpc-status"].toString(), QString("14"));  // trailers-only UNAVAILABLE
    QCOMPARE(h["x-meshdeck-error"].toString(), QString("FI"));
    QCOMPARE(r["size"].toInt(), 0);
    QVERIFY(r["ended"].toBool());
    // Callers that are not gRPC get the HTTP status it stands for.
    QCOMPARE(call(port_, "/fault/call", {}, false)["status"].toInt(), 503);
    Client c(proxy_.port("edge"));
    QCOMPARE(c.request("GET", "/fault/call").status, 503);
  }

  void grpcTimeoutIsHonouredCappedAndPassedOn() {
    // The call's own deadline: DEADLINE_EXCEEDED long before the backend's 3 s answer.
    QElapsedTimer t;
    t.start();
    auto r = call(port_, "/grpc/slow?ms=3000", {"grpc-timeout=200m"});
    QCOMPARE(r["status"].toInt(), 200);
    QCOMPARE(grpcStatus(r), QString("4"));
    QCOMPARE(r["headers"].toObject()["x-meshdeck-error"].toString(), QString("UT"));
    QVERIFY2(t.elapsed() < 2500, qPrintable(QString::number(t.elapsed())));
    auto seen = seenTimeoutNs(backend_->lastHeaders());
    QVERIFY2(seen && *seen > 0 && *seen <= 200e6, backend_->lastHeaders().c_str());

    // Capped by the route's timeout (300 ms) when the call allows more.
    t.restart();
    r = call(port_, "/grpc/slow?ms=3000", {"x-capped=1", "grpc-timeout=10S"});
    QCOMPARE(grpcStatus(r), QString("4"));
    QVERIFY2(t.elapsed() < 2500, qPrintable(QString::number(t.elapsed())));
    seen = seenTimeoutNs(backend_->lastHeaders());
    QVERIFY2(seen && *seen > 0 && *seen <= 300e6, backend_->lastHeaders().c_str());

    // In time: answered, the backend told the time left.
    r = call(port_, "/grpc/slow?ms=10", {"grpc-timeout=5S"});
    QCOMPARE(grpcStatus(r), QString("0"));
    seen = seenTimeoutNs(backend_->lastHeaders());
    QVERIFY2(seen && *seen > 1e9 && *seen <= 5e9, backend_->lastHeaders().c_str());

    // Malformed: treated as absent (counted, not passed on).
    const double malformed = proxy_.stat("meshdeck_grpc_timeout_malformed_total");
    for (const char* bad : {"grpc-timeout=1x", "grpc-timeout=123456789S", "grpc-timeout=S"}) {
      r = call(port_, "/grpc/slow?ms=10", {bad});
      QCOMPARE(grpcStatus(r), QString("0"));
      QVERIFY2(!seenTimeoutNs(backend_->lastHeaders()), backend_->lastHeaders().c_str());
    }
    QCOMPARE(proxy_.stat("meshdeck_grpc_timeout_malformed_total"), malformed + 3);
    QCOMPARE(grpcCalls("DEADLINE_EXCEEDED"), 2.0);
  }

 private:
  // Calls counted with `status` on the listener (/stats lists statuses with calls only).
  double grpcCalls(const char* status) {
    return std::max(
        0.0, proxy_.stat(
                 QString("meshdeck_listener_grpc_calls_total{listener=\"edge\",grpc_status=\"%1\"}")
                     .arg(status)
                     .toStdString()));
  }

  std::unique_ptr<TestBackend> backend_;
  ProxyProcess proxy_;
  QString port_;
};

QTEST_GUILESS_MAIN(ProxyGrpcCallsTest)
#include "proxy_grpc_calls_test.moc"
