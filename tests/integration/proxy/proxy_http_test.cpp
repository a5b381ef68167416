#include <signal.h>
#include <unistd.h>

#include <QFile>
#include <QtTest>
#include <boost/asio/write.hpp>

#include "proxy_process.h"
#include "test_backend.h"

using namespace meshdeck::proxy::testing;

namespace {

int statusOf(const std::string& raw) {
  if (raw.size() < 12 || raw.rfind("HTTP/1.", 0) != 0) return 0;
  return std::stoi(raw.substr(9, 3));
}

std::string headerOf(const Response& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : std::string(it->value());
}

// CPU seconds (user + system) the process has used, from /proc/PID/stat.
double cpuSeconds(long pid) {
  QFile f(QString("/proc/%1/stat").arg(pid));
  if (!f.open(QIODevice::ReadOnly)) return -1;
  const QByteArray stat = f.readAll();
  // After the command name's closing parenthesis: state is field 3, utime 14, stime 15.
  const QList<QByteArray> fields = stat.mid(stat.lastIndexOf(')') + 2).split(' ');
  if (fields.size() < 13) return -1;
  return (fields[11].toDouble() + fields[12].toDouble()) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

// The proxy between a real client and a real backend on loopback: HTTP semantics, streaming,
// malformed input, timeouts and limits.
class ProxyHttpTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    backend_ = std::make_unique<TestBackend>("b1");
    QVERIFY(proxy_.startStandalone(backend_->port(), 2));
    port_ = proxy_.port("main");
  }

  void forwardsWithProxyHeaders() {
    Client c(port_);
    const std::string incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    auto r = c.request("GET", "/headers",
                       {{"connection", "keep-alive, x-hop"},
                        {"x-hop", "secret"},
                        {"traceparent", incoming},
                        {"x-forwarded-for", "10.0.0.1"},
                        {"proxy-connection", "keep-alive"}});
    QCOMPARE(r.status, 200);
    QVERIFY2(r.body.find("x-forwarded-for: 10.0.0.1, 127.0.0.1\n") != std::string::npos,
             r.body.c_str());
    QVERIFY(r.body.find("x-forwarded-proto: http\n") != std::string::npos);
    QVERIFY(r.body.find("x-request-id: ") != std::string::npos);
    QVERIFY(r.body.find("x-hop") == std::string::npos);
    QVERIFY(r.body.find("proxy-connection") == std::string::npos);
    const auto tp = r.body.find("traceparent: ");
    QVERIFY(tp != std::string::npos);
    const std::string sent = r.body.substr(tp + 13, 55);
    QCOMPARE(sent.substr(0, 36), incoming.substr(0, 36));     // same trace
    QVERIFY(sent.substr(36, 16) != incoming.substr(36, 16));  // new span
    // Keep-alive: a second request on the same connection, with a request id kept as given.
    auto r2 = c.request("GET", "/headers", {{"x-request-id", "abc-123"}});
    QCOMPARE(r2.status, 200);
    QVERIFY(r2.body.find("x-request-id: abc-123\n") != std::string::npos);
    QVERIFY(r2.body.find("traceparent: 00-") != std::string::npos);  // generated when missing
  }

  void httpSemantics() {
    Client c(port_);
    auto head = c.request("HEAD", "/download?bytes=12345");
    QCOMPARE(head.status, 200);
    QCOMPARE(headerOf(head, "content-length"), std::string("12345"));
    QVERIFY(head.body.empty());
    auto nc = c.request("GET", "/status/204");
    QCOMPARE(nc.status, 204);
    auto nm = c.request("GET", "/status/304");
    QCOMPARE(nm.status, 304);
    auto chunked = c.request("GET", "/chunked?bytes=100000");
    QCOMPARE(chunked.status, 200);
    QCOMPARE(chunked.body.size(), size_t{100000});
    auto hints = c.request("GET", "/interim");
    QCOMPARE(hints.status, 200);
    QCOMPARE(hints.body, std::string("after hints"));
    auto cd = c.request("GET", "/close-delimited");
    QCOMPARE(cd.status, 200);
    QCOMPARE(cd.body, std::string("until the end"));
    auto echo = c.request("POST", "/echo", {}, "hello body");
    QCOMPARE(echo.body, std::string("hello body"));
    QVERIFY(c.open());

    // Interim 103 reaches an HTTP/1.1 client before the final response.
    const std::string raw_hints =
        rawExchange(port_, "GET /interim HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    QVERIFY2(raw_hints.rfind("HTTP/1.1 103", 0) == 0, raw_hints.c_str());

    // HTTP/1.0 client: chunked upstream body is de-chunked and the connection closes.
    const std::string old = rawExchange(port_, "GET /chunked?bytes=5000 HTTP/1.0\r\n\r\n");
    QVERIFY2(old.rfind("HTTP/1.0 200", 0) == 0, old.substr(0, 100).c_str());
    QVERIFY(old.find("chunked") == std::string::npos);
    QCOMPARE(old.size() - (old.find("\r\n\r\n") + 4), size_t{5000});

    // Chunked request body, with Expect: 100-continue answered before the body is sent.
    const std::string expect = rawExchange(
        port_,
        "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    QVERIFY2(expect.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", 0) == 0, expect.c_str());
    QVERIFY(expect.find("bytes=11") != std::string::npos);

    // Pipelined requests are answered in order.
    const std::string piped = rawExchange(
        port_,
        "GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\none"
        "GET /name HTTP/1.1\r\nHost: a\r\n\r\n"
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nthree");
    const auto a = piped.find("\r\n\r\none");
    const auto b = piped.find("\r\n\r\nb1");
    const auto c3 = piped.find("\r\n\r\nthree");
    QVERIFY2(a != std::string::npos && b != std::string::npos && c3 != std::string::npos && a < b &&
                 b < c3,
             piped.c_str());
  }

  void tunnelsUpgrade() {
    const std::string out = rawExchange(port_,
                                        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: "
                                        "Upgrade\r\nUpgrade: websocket\r\n\r\nping-bytes",
                                        1500);
    QVERIFY2(out.rfind("HTTP/1.1 101", 0) == 0, out.c_str());
    QVERIFY2(out.find("\r\n\r\nping-bytes") != std::string::npos, out.c_str());
  }

  void refusesMalformedRequests() {
    struct Case {
      const char* name;
      std::string bytes;
      int status;
    };
    const std::vector<Case> cases = {
        {"cl+te",
         "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n",
         400},
        {"te+cl",
         "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
         "5\r\n\r\n0\r\n\r\n",
         400},
        {"differing cl",
         "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
         400},
        {"bad chunk size",
         "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
         "chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
         400},
        {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n", 400},
        {"bad header name", "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400},
        {"header name with colon space", "GET / HTTP/1.1\r\nHost: a\r\nX(y): x\r\n\r\n", 400},
        {"long request line", "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
         431},
        {"huge headers",
         "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(70000, 'b') + "\r\n\r\n", 431},
        {"too many headers",
         [] {
           std::string s = "GET / HTTP/1.1\r\nHost: a\r\n";
           for (int i = 0; i < 150; ++i) s += "X-H" + std::to_string(i) + ": v\r\n";
           return s + "\r\n";
         }(),
         431},
        {"unsupported te", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
        {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"bad version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"tls hello", "\x16\x03\x01\x02\x10\x01\xfc\x03\x03\r\n\r\n", 400},
    };
    const uint64_t before = backend_->requests.load();
    const double malformed_before = proxy_.stat("meshdeck_proxy_errors_total{code=\"BR\"}");
    for (const auto& c : cases) {
      const std::string out = rawExchange(port_, c.bytes);
      QVERIFY2(statusOf(out) == c.status, qPrintable(QString("%1: %2").arg(
                                              c.name, QString::fromStdString(out.substr(0, 80)))));
      QVERIFY2(out.find("x-meshdeck-error: BR") != std::string::npos, c.name);
    }
    QCOMPARE(backend_->requests.load(), before);  // nothing reached the backend
    const double malformed_after = proxy_.stat("meshdeck_proxy_errors_total{code=\"BR\"}");
    QCOMPARE(malformed_after - std::max(0.0, malformed_before), double(cases.size()));
  }

  void streamsLargeBodiesWithBoundedMemory() {
    constexpr uint64_t kSize = 256ull << 20;
    const size_t rss_before = rssBytes(proxy_.pid());
    QVERIFY(rss_before > 0);
    // Download through the proxy, counting bytes without keeping them.
    {
      const std::string req = "GET /download?bytes=" + std::to_string(kSize) +
                              " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
      boost::asio::write(s, boost::asio::buffer(req));
      std::vector<char> buf(1 << 20);
      uint64_t total = 0;
      boost::system::error_code ec;
      for (int i = 0; i < 1'000'000 && !ec; ++i) total += s.read_some(boost::asio::buffer(buf), ec);
      QVERIFY(total > kSize);
      QVERIFY(total < kSize + 1024);
    }
    // Upload through the proxy, chunked, streamed from a fixed buffer.
    {
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
      boost::asio::write(s, boost::asio::buffer(std::string(
                                "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                                std::to_string(kSize) + "\r\nConnection: close\r\n\r\n")));
      std::vector<char> buf(1 << 20, 'u');
      for (uint64_t sent = 0; sent < kSize; sent += buf.size())
        boost::asio::write(s, boost::asio::buffer(buf));
      std::string reply;
      boost::system::error_code ec;
      char tmp[4096];
      for (int i = 0; i < 1000 && !ec; ++i)
        reply.append(tmp, s.read_some(boost::asio::buffer(tmp), ec));
      QVERIFY2(reply.find("bytes=" + std::to_string(kSize)) != std::string::npos, reply.c_str());
    }
    const size_t rss_after = rssBytes(proxy_.pid());
    const double growth_mb = (double(rss_after) - double(rss_before)) / (1 << 20);
    qInfo("proxy RSS %.1f MB -> %.1f MB after 256 MiB each way (growth %.1f MB)",
          rss_before / 1048576.0, rss_after / 1048576.0, growth_mb);
    QVERIFY2(growth_mb < 16.0, qPrintable(QString::number(growth_mb)));
  }

  // A client that reads late through a small receive buffer: the proxy's sends of a chunked
  // body then take only part of their buffers (head and chunk size, the piece, the chunk end),
  // and the rest must follow byte-exact (WireFrames::consume() and the async_write of what a
  // write_some left). The client decodes the chunked body strictly.
  void aSlowReaderGetsEveryChunkWhole() {
    constexpr size_t kSize = 3'000'000;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    s.open(boost::asio::ip::tcp::v4());
    s.set_option(boost::asio::socket_base::receive_buffer_size(4096));
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    const std::string req = "GET /chunked?bytes=" + std::to_string(kSize) +
                            " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    boost::asio::write(s, boost::asio::buffer(req));
    std::string in;
    boost::system::error_code ec;
    char buf[1500];
    for (int i = 0; i < 400'000 && !ec; ++i) {
      if (i < 40) QTest::qWait(5);  // late at first: the proxy's socket buffer fills
      in.append(buf, s.read_some(boost::asio::buffer(buf), ec));
    }
    QCOMPARE(ec, boost::system::error_code(boost::asio::error::eof));
    const size_t head_end = in.find("\r\n\r\n");
    QVERIFY(head_end != std::string::npos);
    QVERIFY2(in.find("Transfer-Encoding: chunked") < head_end, in.substr(0, head_end).c_str());
    size_t p = head_end + 4, body = 0, chunks = 0;
    for (;;) {
      const size_t eol = in.find("\r\n", p);
      QVERIFY(eol != std::string::npos);
      const size_t n = std::stoul(in.substr(p, eol - p), nullptr, 16);
      p = eol + 2;
      if (n == 0) break;
      QVERIFY(p + n + 2 <= in.size());
      QVERIFY2(in.find_first_not_of('x', p) >= p + n, "a chunk's data is not the backend's");
      QCOMPARE(in.substr(p + n, 2), std::string("\r\n"));
      p += n + 2;
      body += n;
      ++chunks;
    }
    QCOMPARE(in.substr(p), std::string("\r\n"));  // no trailers, nothing after
    QCOMPARE(body, kSize);
    QVERIFY(chunks > 1);
  }

  void upstreamFailures() {
    // Refused: an endpoint nobody listens on.
    uint16_t dead_port = 0;
    {
      TestBackend gone("gone");
      dead_port = gone.port();
    }
    ProxyProcess refused;
    QVERIFY(refused.start({"--listen", "127.0.0.1:0", "--upstream",
                           QString("127.0.0.1:%1").arg(dead_port), "--workers", "1"}));
    Client rc(refused.port("main"));
    auto r = rc.request("GET", "/");
    QCOMPARE(r.status, 502);
    QCOMPARE(headerOf(r, "x-meshdeck-error"), std::string("UC"));
    // A proxy-generated answer honours the client's Connection: close (it said close and
    // closed, so the read ends at the close, not at the 10 s limit given to rawExchange).
    QElapsedTimer closing;
    closing.start();
    const std::string closed = rawExchange(
        refused.port("main"), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10000);
    QVERIFY2(closed.rfind("HTTP/1.1 502", 0) == 0, closed.c_str());
    QVERIFY2(closed.find("Connection: close\r\n") != std::string::npos, closed.c_str());
    QVERIFY2(closing.elapsed() < 5000, qPrintable(QString::number(closing.elapsed())));
    // Reset: the backend closes abruptly after reading the request.
    // A reset on a pooled connection is retried once on a fresh one (the upstream may simply
    // have closed an idle connection), so the backend resets twice.
    backend_->reset_next = 2;
    Client c(port_);
    auto reset = c.request("GET", "/name");
    QCOMPARE(reset.status, 502);
    QCOMPARE(headerOf(reset, "x-meshdeck-error"), std::string("UR"));
  }

  void timeoutsAndLimitsFromConfig() {
    QFile yaml(proxy_.dir() + "/limits.yaml");
    QVERIFY(yaml.open(QIODevice::WriteOnly));
    yaml.write(QString(R"(listeners:
  - name: edge
    address: {host: 127.0.0.1, port: 0}
    route_table: main
    header_timeout: 300ms
    idle_timeout: 600ms
    max_connections: 3
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: slow
            match: {path_prefix: /slow}
            timeout: 200ms
            destinations: [{cluster: app}]
          - name: rest
            destinations: [{cluster: app}]
clusters:
  - name: app
    endpoints: [{address: {host: 127.0.0.1, port: %1}}]
)")
                   .arg(backend_->port())
                   .toUtf8());
    yaml.close();
    ProxyProcess p;
    QVERIFY(p.start({"--config", yaml.fileName(), "--workers", "1"}));
    const uint16_t port = p.port("edge");
    // Slowloris: a header trickling in is cut off by the header timeout.
    QElapsedTimer t;
    t.start();
    const std::string slow = rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ", 3000);
    QVERIFY2(slow.empty(), slow.c_str());  // closed by the proxy, not by our 3 s limit
    QVERIFY(t.elapsed() < 2000);
    // Route timeout: a slow upstream answer becomes 504 UT.
    Client c(port);
    auto r = c.request("GET", "/slow?ms=1000");
    QCOMPARE(r.status, 504);
    QCOMPARE(headerOf(r, "x-meshdeck-error"), std::string("UT"));
    // Idle keep-alive connections are closed after the idle timeout.
    Client idle(port);
    QCOMPARE(idle.request("GET", "/name").status, 200);
    QThread::msleep(900);
    QVERIFY(idle.request("GET", "/name").status == 0);
    // Connection limit: the fourth concurrent connection is closed at once.
    std::vector<std::unique_ptr<Client>> held;
    for (int i = 0; i < 3; ++i) {
      held.push_back(std::make_unique<Client>(port));
      QCOMPARE(held.back()->request("GET", "/name").status, 200);
    }
    Client extra(port);
    QCOMPARE(extra.request("GET", "/name").status, 0);
    QVERIFY(p.stat("meshdeck_listener_connections_overflow_total{listener=\"edge\"}") >= 1);
    QVERIFY(p.stat("meshdeck_listener_timeouts_total{listener=\"edge\",kind=\"header\"}") >= 1);
  }

  void adminEndpoints() {
    QCOMPARE(Client(port_).request("GET", "/name").status, 200);
    QVERIFY(proxy_.admin("/healthz") == "ok\n");
    QVERIFY(proxy_.admin("/ready") == "ready\n");
    QVERIFY(proxy_.admin("/config").find("\"clusters\"") != std::string::npos);
    QVERIFY(proxy_.admin("/listeners").find("\"main\"") != std::string::npos);
    QVERIFY(proxy_.admin("/log-level?level=debug", "POST").find("debug") != std::string::npos);
    QVERIFY(proxy_.admin("/log-level?level=loud", "POST").find("must be") != std::string::npos);
    const std::string stats = proxy_.admin("/stats");
    QVERIFY(stats.find("# TYPE meshdeck_listener_request_duration_seconds histogram") !=
            std::string::npos);
    QVERIFY(stats.find("meshdeck_cluster_requests_total{cluster=\"upstream\",class=\"2xx\"}") !=
            std::string::npos);
  }

  // --busy-poll: the worker never sleeps, so the process uses CPU with no request in flight
  // while a proxy without it uses next to none; requests flow and SIGTERM still stops it.
  void busyPollingKeepsTheWorkerAwake() {
    ProxyProcess p;
    QVERIFY(
        p.start({"--listen", "127.0.0.1:0", "--upstream",
                 QString("127.0.0.1:%1").arg(backend_->port()), "--workers", "1", "--busy-poll"}));
    const uint16_t port = p.port("main");
    QCOMPARE(Client(port).request("GET", "/name").status, 200);
    const double polling_before = cpuSeconds(p.pid());
    const double sleeping_before = cpuSeconds(proxy_.pid());
    QVERIFY(polling_before >= 0 && sleeping_before >= 0);
    QElapsedTimer t;
    t.start();
    QThread::msleep(600);
    const double polling = cpuSeconds(p.pid()) - polling_before;
    const double sleeping = cpuSeconds(proxy_.pid()) - sleeping_before;
    const double wall = static_cast<double>(t.elapsed()) / 1000.0;
    // A polling worker takes its CPU whenever it gets it: at least a fifth of it even on a
    // CI machine whose two cores run other tests.
    QVERIFY2(polling >= 0.2 * wall,
             qPrintable(QString("%1 s of CPU in %2 s").arg(polling).arg(wall)));
    QVERIFY2(sleeping < 0.1 * wall,
             qPrintable(QString("%1 s of CPU in %2 s").arg(sleeping).arg(wall)));
    Client c(port);
    for (int i = 0; i < 20; ++i) QCOMPARE(c.request("GET", "/name").status, 200);
    QVERIFY2(p.output().contains("busy-poll"), qPrintable(p.output()));
    p.signal(SIGTERM);
    QCOMPARE(p.waitForExit(10000), 0);
  }

  void cleanupTestCase() {
    if (qEnvironmentVariableIsSet("MESHDECK_TEST_VERBOSE"))
      qInfo("%s", qPrintable(proxy_.output()));
    proxy_.signal(SIGTERM);
    QCOMPARE(proxy_.waitForExit(10000), 0);
    backend_->stop();
  }

 private:
  std::unique_ptr<TestBackend> backend_;
  ProxyProcess proxy_;
  uint16_t port_ = 0;
};

QTEST_GUILESS_MAIN(ProxyHttpTest)
#include "proxy_http_test.moc"
