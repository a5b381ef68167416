#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

#include "proxy_process.h"
#include "python_peer.h"
#include "test_backend.h"

using namespace meshdeck::proxy::testing;

namespace {

// Runs tests/integration/proxy/h2_client.py (Debian's python3-h2) and returns its JSON.
QJsonObject h2client(const QStringList& args, QString* error = nullptr) {
  return runPeerJson(peerScript("h2_client.py"), args, error);
}

QJsonObject stream(const QJsonObject& result, int id) {
  return result["streams"].toObject()[QString::number(id)].toObject();
}

QString series(const char* reason) {
  return QString("meshdeck_listener_http2_refused_total{listener=\"edge\",reason=\"%1\"}")
      .arg(reason);
}

}  // namespace

// HTTP/2 downstream (h2c prior knowledge) through the real meshdeck-proxy to an HTTP/1.1
// backend on loopback, with nghttp2-client's nghttp and python3-h2 as clients; and the
// HTTP/2 attacks, each refused, counted, and the proxy still serving others afterwards.
class ProxyHttp2Test : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY2(QFile::exists("/usr/bin/nghttp"), "nghttp2-client is missing (scripts/setup.sh)");
    backend_ = std::make_unique<TestBackend>("b1");
    writeFile(proxy_.dir() + "/h2.yaml", QString(R"(listeners:
  - {name: edge, address: {port: 0}, route_table: main}
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: broken
            match: {path_prefix: /broken}
            fault: {abort_percent: 100, abort_status: 418}
            destinations: [{cluster: app}]
          - name: edited
            match: {path_prefix: /path/edited}
            response_headers: {set: {x-served-by: meshdeck}}
            destinations: [{cluster: app}]
          - name: all
            match: {path_prefix: /}
            destinations: [{cluster: app}]
clusters:
  - {name: app, endpoints: [{address: {port: %1}}]}
)")
                                             .arg(backend_->port()));
    QVERIFY(proxy_.start({"--config", proxy_.dir() + "/h2.yaml", "--workers", "1"}));
    port_ = QString::number(proxy_.port("edge"));
  }

  void statusHeadersAndRouteEdits() {
    QString err;
    auto r = h2client({"get", port_, "/headers", "x-test=h2"}, &err);
    const auto s1 = stream(r, 1);
    QCOMPARE(s1["status"].toInt(), 200);
    const QString seen = s1["text"].toString();
    // The backend saw an HTTP/1.1 request with the proxy's headers added.
    QVERIFY2(seen.contains("x-test: h2\n"), qPrintable(seen + err));
    QVERIFY2(seen.contains("x-request-id: "), qPrintable(seen));
    QVERIFY2(seen.contains("traceparent: 00-"), qPrintable(seen));
    QVERIFY2(seen.contains(QString("host: 127.0.0.1:%1").arg(port_), Qt::CaseInsensitive),
             qPrintable(seen));
    auto edited = stream(h2client({"get", port_, "/path/edited"}), 1);
    QCOMPARE(edited["status"].toInt(), 200);
    QCOMPARE(edited["headers"].toObject()["x-served-by"].toString(), QString("meshdeck"));
    QCOMPARE(edited["text"].toString(), QString("/path/edited"));
    // No connection-specific field reaches an HTTP/2 client.
    QVERIFY(!edited["headers"].toObject().contains("connection"));
    QVERIFY(!edited["headers"].toObject().contains("keep-alive"));
    // Trailers of a chunked HTTP/1.1 upstream body reach the HTTP/2 client as trailers.
    auto trailers = stream(h2client({"get", port_, "/trailers"}), 1);
    QCOMPARE(trailers["status"].toInt(), 200);
    QCOMPARE(trailers["text"].toString(), QString("hello"));
    QCOMPARE(trailers["trailers"].toObject()["grpc-status"].toString(), QString("0"));
    QCOMPARE(trailers["trailers"].toObject()["grpc-message"].toString(), QString("fine"));
    auto nocontent = stream(h2client({"get", port_, "/status/204"}), 1);
    QCOMPARE(nocontent["status"].toInt(), 204);
    QVERIFY(nocontent["ended"].toBool());
    QVERIFY(proxy_.stat("meshdeck_listener_http2_connections_total{listener=\"edge\"}") >= 3);
  }

  // The response head of an HTTP/1.1 upstream as an HTTP/2 client gets it: names in lower
  // case, the hop-by-hop fields and those the Connection field names left out, both when the
  // Connection field names only hop-by-hop tokens (fields passed as views) and when it names
  // another field (a Beast field list); a close-delimited body ends the stream; the upstream
  // connection of a content-length response is reused.
  void hopByHopFieldsAndBodiesFromAnHttp1Upstream() {
    auto plain = stream(h2client({"get", port_, "/plain-connection"}), 1);
    QCOMPARE(plain["status"].toInt(), 200);
    QCOMPARE(plain["text"].toString(), QString("plain"));
    const auto ph = plain["headers"].toObject();
    QCOMPARE(ph["x-mixed-case"].toString(), QString("Kept"));
    QCOMPARE(ph["x-backend"].toString(), QString("b1"));
    QCOMPARE(ph["content-length"].toString(), QString("5"));
    for (const char* name : {"connection", "keep-alive", "te", "trailer"})
      QVERIFY2(!ph.contains(name), name);
    auto hop = stream(h2client({"get", port_, "/hop-by-hop"}), 1);
    QCOMPARE(hop["status"].toInt(), 200);
    QCOMPARE(hop["text"].toString(), QString("hop"));
    const auto hh = hop["headers"].toObject();
    QCOMPARE(hh["x-kept"].toString(), QString("Yes"));
    for (const char* name :
         {"connection", "keep-alive", "x-private", "proxy-authenticate", "upgrade"})
      QVERIFY2(!hh.contains(name), name);
    auto until_close = stream(h2client({"get", port_, "/close-delimited"}), 1);
    QCOMPARE(until_close["status"].toInt(), 200);
    QVERIFY(until_close["ended"].toBool());
    QCOMPARE(until_close["text"].toString(), QString("until the end"));
    // Content-length answers on one h2 connection, one after the other: each is read whole
    // and its upstream connection pooled again (the backend sees one connection for them).
    const uint64_t before = backend_->accepted;
    for (int i = 0; i < 5; ++i) {
      auto r = stream(h2client({"get", port_, "/path/reuse"}), 1);
      QCOMPARE(r["status"].toInt(), 200);
      QCOMPARE(r["text"].toString(), QString("/path/reuse"));
    }
    QVERIFY2(
        backend_->accepted - before <= 1,
        qPrintable(
            QString("%1 upstream connections for 5 requests").arg(backend_->accepted - before)));
  }

  void largeStreamedBodies() {
    // Down: 8 MB, content-length and chunked, through the stream's flow-control window.
    auto down = stream(h2client({"get", port_, "/download?bytes=8000000"}), 1);
    QCOMPARE(down["status"].toInt(), 200);
    QCOMPARE(down["size"].toInt(), 8000000);
    auto chunked = stream(h2client({"get", port_, "/chunked?bytes=3000000"}), 1);
    QCOMPARE(chunked["status"].toInt(), 200);
    QCOMPARE(chunked["size"].toInt(), 3000000);
    // Up: 5 MB, sent only as fast as the proxy opens the window.
    QString err;
    auto up = h2client({"upload", port_, "5000000"}, &err);
    QCOMPARE(up["sent"].toInt(), 5000000);
    QCOMPARE(stream(up, 1)["status"].toInt(), 200);
    QCOMPARE(stream(up, 1)["text"].toString(), QString("bytes=5000000"));
    // And with nghttp (nghttp2-client), prior knowledge, the same 8 MB.
    QProcess nghttp;
    nghttp.start("/usr/bin/nghttp",
                 {"-n", "-s", QString("http://127.0.0.1:%1/download?bytes=8000000").arg(port_)});
    QVERIFY(nghttp.waitForFinished(60'000));
    QCOMPARE(nghttp.exitCode(), 0);
    const QString out = QString::fromLocal8Bit(nghttp.readAllStandardOutput());
    QVERIFY2(out.contains("200"), qPrintable(out));
  }

  // Flow control end to end: a client that does not read a large response holds the proxy
  // to its windows (the upstream feels the back-pressure, nothing piles up in the proxy), and
  // a large upload goes only as fast as the upstream takes it; the proxy's memory stays bounded
  // while 256 MiB pass each way, as for HTTP/1.1 (proxy_http_test).
  void largeStreamsKeepMemoryBounded() {
    constexpr qint64 kSize = 256ll << 20;
    const size_t rss_before = rssBytes(proxy_.pid());
    QVERIFY(rss_before > 0);
    QString err;
    const auto slow = h2client({"slow_download", port_, QString("/download?bytes=%1").arg(kSize),
                                QString::number(proxy_.pid()), "2"},
                               &err);
    QVERIFY2(!slow.isEmpty(), qPrintable(err));
    const auto down = stream(slow, 1);
    QCOMPARE(down["status"].toInt(), 200);
    QCOMPARE(qint64(down["size"].toDouble()), kSize);
    QVERIFY(down["ended"].toBool());
    const double paused_mb =
        (slow["rss_paused"].toDouble() - slow["rss_before"].toDouble()) / (1 << 20);
    const auto up = h2client({"upload", port_, QString::number(kSize)}, &err);
    QVERIFY2(!up.isEmpty(), qPrintable(err));
    QCOMPARE(qint64(up["sent"].toDouble()), kSize);
    QCOMPARE(stream(up, 1)["status"].toInt(), 200);
    QCOMPARE(stream(up, 1)["text"].toString(), QString("bytes=%1").arg(kSize));
    const double growth_mb = (double(rssBytes(proxy_.pid())) - double(rss_before)) / (1 << 20);
    qInfo(
        "proxy RSS +%.1f MB while a 256 MiB response waited unread 2 s, +%.1f MB after "
        "256 MiB each way",
        paused_mb, growth_mb);
    QVERIFY2(paused_mb < 16.0, qPrintable(QString::number(paused_mb)));
    QVERIFY2(growth_mb < 16.0, qPrintable(QString::number(growth_mb)));
  }

  void manyConcurrentStreamsAndFaultPerStream() {
    // 100 streams on one connection (the proxy's SETTINGS_MAX_CONCURRENT_STREAMS), the route
    // fault applying to every other one.
    QString err;
    auto r = h2client({"concurrent", port_, "100", "/name,/broken/x"}, &err);
    const auto streams = r["streams"].toObject();
    QCOMPARE(streams.size(), 100);
    for (int i = 0; i < 100; ++i) {
      const auto s = streams[QString::number(1 + 2 * i)].toObject();
      if (i % 2 == 0) {
        QCOMPARE(s["status"].toInt(), 200);
        QCOMPARE(s["text"].toString(), QString("b1"));
      } else {
        QCOMPARE(s["status"].toInt(), 418);
        QCOMPARE(s["headers"].toObject()["x-meshdeck-error"].toString(), QString("FI"));
      }
    }
  }

  void proxyErrorsToGrpcCallersAreGrpcErrors() {
    // A fault abort (418) to a gRPC caller: HTTP 200, grpc-status UNKNOWN, no body.
    auto r = stream(h2client({"get", port_, "/broken/call", "content-type=application/grpc"}), 1);
    QCOMPARE(r["status"].toInt(), 200);
    const auto h = r["headers"].toObject();
    QCOMPARE(h["grpc-status"].toString(), QString("2"));
    QVERIFY2(h["grpc-message"].toString().startsWith("418 FI"),
             qPrintable(h["grpc-message"].toString()));
    QCOMPARE(h["x-meshdeck-error"].toString(), QString("FI"));
    QCOMPARE(r["size"].toInt(), 0);
    QVERIFY(r["ended"].toBool());
    // The same fault to a plain HTTP/2 caller stays an HTTP error.
    QCOMPARE(stream(h2client({"get", port_, "/broken/call"}), 1)["status"].toInt(), 418);
  }

  void rapidResetEndsWithGoaway() {
    const double before = proxy_.stat(series("rapid_reset").toStdString());
    auto r = h2client({"rapid_reset", port_, "500"});
    QCOMPARE(r["goaway"].toInt(-1), 11);  // ENHANCE_YOUR_CALM
    QVERIFY(r["closed"].toBool());
    QCOMPARE(proxy_.stat(series("rapid_reset").toStdString()), before + 1);
    servesOthers();
  }

  void continuationFloodIsRefused() {
    auto r = h2client({"continuation", port_, "200"});
    QCOMPARE(r["goaway"].toInt(-1), 11);
    QVERIFY(r["closed"].toBool());
    QCOMPARE(r["responses"].toInt(), 0);
    QCOMPARE(proxy_.stat(series("continuation_flood").toStdString()), 1.0);
    servesOthers();
  }

  void oversizedHeaderListIsRefused() {
    auto r = stream(h2client({"big_headers", port_, "80000"}), 1);
    QCOMPARE(r["status"].toInt(), 431);
    QCOMPARE(r["headers"].toObject()["x-meshdeck-error"].toString(), QString("BR"));
    QCOMPARE(proxy_.stat(series("header_list_too_large").toStdString()), 1.0);
    QVERIFY(proxy_.stat("meshdeck_malformed_requests_total{reason=\"header_too_large\"}") >= 1);
    // Under the limit, the same shape passes.
    QCOMPARE(stream(h2client({"big_headers", port_, "3000"}), 1)["status"].toInt(), 200);
    servesOthers();
  }

  void emptyFrameAndPingFloodsAreRefused() {
    auto empty = h2client({"empty_data", port_, "500"});
    QCOMPARE(empty["goaway"].toInt(-1), 11);
    QCOMPARE(proxy_.stat(series("empty_frames").toStdString()), 1.0);
    // PINGs whose acks the client never reads: nghttp2's outbound ack limit.
    auto ping = h2client({"ping_flood", port_, "1000000"});
    QVERIFY(ping["closed"].toBool());
    QCOMPARE(proxy_.stat(series("frame_flood").toStdString()), 1.0);
    servesOthers();
  }

  void drainSendsGoawayAndEnds() {
    // An idle HTTP/2 connection is told GOAWAY (NO_ERROR) when the proxy drains, then closed,
    // and the proxy exits without waiting for the drain timeout.
    ProxyProcess p;
    QVERIFY(p.startStandalone(backend_->port(), 1));
    auto r = h2client({"drain", QString::number(p.port("main")), QString::number(p.pid())});
    QCOMPARE(r["first"].toInt(), 200);
    QCOMPARE(r["goaway"].toInt(-1), 0);
    QVERIFY(r["closed"].toBool());
    QCOMPARE(p.waitForExit(10'000), 0);
    QVERIFY2(!p.output().contains("drain timeout"), qPrintable(p.output()));
  }

 private:
  // The proxy still answers HTTP/2 and HTTP/1.1 clients.
  void servesOthers() {
    QCOMPARE(stream(h2client({"get", port_, "/name"}), 1)["status"].toInt(), 200);
    Client c(proxy_.port("edge"));
    auto r = c.request("GET", "/name");
    QCOMPARE(r.status, 200);
    QCOMPARE(r.body, std::string("b1"));
  }

  std::unique_ptr<TestBackend> backend_;
  ProxyProcess proxy_;
  QString port_;
};

QTEST_GUILESS_MAIN(ProxyHttp2Test)
#include "proxy_http2_test.moc"
