#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QtTest>
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "proxy_process.h"
#include "test_backend.h"

using namespace meshdeck::proxy::testing;

namespace {

struct RawReply {
  std::string bytes;
  bool closed = false;  // the proxy closed the connection (EOF) before the deadline
};

// Writes `request` on a new connection, then reads until the proxy closes it or `timeout_ms`.
RawReply exchangeUntilClose(uint16_t port, const std::string& request, int timeout_ms = 3000) {
  RawReply out;
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  boost::system::error_code ec;
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return out;
  ::fcntl(s.native_handle(), F_SETFD, FD_CLOEXEC);
  boost::asio::write(s, boost::asio::buffer(request), ec);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (int rounds = 0; rounds < 1000; ++rounds) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd p{s.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    const ssize_t n = ::recv(s.native_handle(), buf, sizeof buf, 0);
    if (n <= 0) {
      out.closed = true;  // EOF or reset: either way the connection is over
      break;
    }
    out.bytes.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int statusOf(const std::string& raw) {
  if (raw.size() < 12 || raw.rfind("HTTP/1.", 0) != 0) return 0;
  return std::stoi(raw.substr(9, 3));
}

std::string hex(size_t n) {
  char b[32];
  std::snprintf(b, sizeof b, "%zx", n);
  return b;
}

std::string lowerCase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

// HTTP/1.1 request smuggling and message framing through the real proxy (issue 15):
// docs/http1-framing.md names these cases.
class ProxySmugglingTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    backend_ = std::make_unique<TestBackend>("b1");
    // One worker: every client shares the same upstream connection pool, as in the report.
    QVERIFY(proxy_.startStandalone(backend_->port(), 1));
    port_ = proxy_.port("main");
  }

  void smuggledRequestNeverReachesTheBackend() {
    // Warm the pool so that the smuggler and the others would share upstream connections.
    {
      Client warm(port_);
      QCOMPARE(warm.request("GET", "/path/warm").status, 200);
    }
    const std::string smuggled = "GET /path/smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string attack =
        "POST /path/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
        "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n" +
        hex(smuggled.size()) + "\r\n" + smuggled + "\r\n0\r\n\r\n";
    const double refused_before =
        proxy_.stat("meshdeck_malformed_requests_total{reason=\"unsupported_transfer_encoding\"}");

    RawReply smuggler;
    std::thread attacker([&] { smuggler = exchangeUntilClose(port_, attack); });
    // Ten clients right behind it, each on its own keep-alive connection, twice each.
    std::vector<std::string> bodies(20);
    std::vector<int> statuses(20);
    std::vector<std::thread> clients;
    for (size_t i = 0; i < 10; ++i) {
      clients.emplace_back([&, i] {
        Client c(port_);
        for (size_t round = 0; round < 2; ++round) {
          auto r = c.request("GET", "/path/client-" + std::to_string(i));
          statuses[2 * i + round] = r.status;
          bodies[2 * i + round] = r.body;
        }
      });
    }
    attacker.join();
    for (auto& t : clients) t.join();

    const int status = statusOf(smuggler.bytes);
    QVERIFY2(status == 400 || status == 501, smuggler.bytes.c_str());
    QVERIFY2(smuggler.bytes.find("x-meshdeck-error: BR") != std::string::npos,
             smuggler.bytes.c_str());
    QVERIFY(smuggler.closed);
    // Exactly one response: nothing the body held was answered.
    QCOMPARE(smuggler.bytes.find("HTTP/1.1", 1), std::string::npos);
    for (size_t i = 0; i < 20; ++i) {
      QCOMPARE(statuses[i], 200);
      QCOMPARE(bodies[i], "/path/client-" + std::to_string(i / 2));
    }
    for (const auto& t : backend_->targets()) {
      QVERIFY2(t != "/path/smuggled", "the backend served the smuggled request");
      QVERIFY2(t != "/path/upload", "the refused request reached the backend");
    }
    QCOMPARE(
        proxy_.stat("meshdeck_malformed_requests_total{reason=\"unsupported_transfer_encoding\"}") -
            std::max(0.0, refused_before),
        1.0);
  }

  void refusedShapesAreAnsweredAndClosed_data() {
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("reason");
    const QByteArray body = "5\r\nhello\r\n0\r\n\r\n";
    auto row = [](const char* name, const QByteArray& request, int status, const char* reason) {
      QTest::newRow(name) << request << status << QByteArray(reason);
    };
    row("te chunked, identity",
        "POST /path/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n" + body,
        400, "chunked_not_last");
    row("te gzip, chunked",
        "POST /path/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + body, 501,
        "unsupported_transfer_encoding");
    row("te chunked twice",
        "POST /path/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
        "chunked\r\n\r\n" +
            body,
        400, "chunked_twice");
    row("te chunked + cl",
        "POST /path/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
        "15\r\n\r\n" +
            body,
        400, "content_length_with_transfer_encoding");
    row("http/1.0 + te",
        "POST /path/x HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body, 400,
        "transfer_encoding_http10");
    row("cl 5, 6", "POST /path/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!", 400,
        "multiple_content_length");
    row("cl +5", "POST /path/x HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400,
        "bad_content_length");
    row("host with space", "GET /path/x HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad_host");
    row("host with @", "GET /path/x HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "bad_host");
    row("host bad port", "GET /path/x HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400, "bad_host");
    row("host empty", "GET /path/x HTTP/1.1\r\nHost:\r\n\r\n", 400, "bad_host");
    row("two hosts", "GET /path/x HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "multiple_host");
    row("absolute-form with userinfo", "GET http://u@a/path/x HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "bad_target");
    row("trailer content-length",
        "POST /path/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
        "Content-Length: 5\r\n\r\n",
        400, "bad_trailer");
    row("trailer host",
        "POST /path/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
        "Host: evil\r\n\r\n",
        400, "bad_trailer");
    // Bytes that can never begin a request line are answered at once, not after the header
    // timeout (the head's end never arrives).
    QByteArray binary;
    for (int i = 0; i < 1024; ++i) binary.append(static_cast<char>(i % 256));
    row("binary", binary, 400, "bad_request_line");
    row("tls client hello on a plain port", QByteArray::fromHex("1603010200010001fc0303"), 400,
        "bad_request_line");
    row("control in target", QByteArray("GET /a\x01b HTTP/1.1\r\nHo", 24), 400, "bad_request_line");
    row("not http version", "GET / SPDY/3\r\nHost: a", 400, "bad_request_line");
    row("bad chunk",
        "POST /path/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0"
        "\r\n\r\n",
        400, "bad_chunk");
  }

  void refusedShapesAreAnsweredAndClosed() {
    QFETCH(QByteArray, request);
    QFETCH(int, status);
    QFETCH(QByteArray, reason);
    const std::string series =
        "meshdeck_malformed_requests_total{reason=\"" + reason.toStdString() + "\"}";
    const double before = std::max(0.0, proxy_.stat(series));
    // Each refused request is one downstream request, counted once under its status class.
    const std::string status_class = std::string("meshdeck_listener_requests_total{listener=") +
                                     "\"main\",class=\"" + std::to_string(status / 100) + "xx\"}";
    const std::string no_class =
        "meshdeck_listener_requests_total{listener=\"main\",class=\"none\"}";
    const double class_before = std::max(0.0, proxy_.stat(status_class));
    const double none_before = std::max(0.0, proxy_.stat(no_class));
    const size_t seen = backend_->targets().size();
    // Keep-alive is asked for: the proxy must close anyway.
    const auto r = exchangeUntilClose(port_, request.toStdString());
    QVERIFY2(statusOf(r.bytes) == status, r.bytes.c_str());
    QVERIFY2(r.bytes.find("x-meshdeck-error: BR") != std::string::npos, r.bytes.c_str());
    QVERIFY2(r.closed, "the connection stayed open");
    QCOMPARE(backend_->targets().size(), seen);  // no complete request reached the backend
    QCOMPARE(proxy_.stat(series) - before, 1.0);
    QCOMPARE(proxy_.stat(status_class) - class_before, 1.0);
    QCOMPARE(std::max(0.0, proxy_.stat(no_class)) - none_before, 0.0);
  }

  // A head refused by admission's head checks (field count, framing, Host) is answered in the
  // request's HTTP version and counted as a request of the listener; one the parser refuses
  // (a byte rule) is answered HTTP/1.1 before any exchange exists. The HTTP/1.1 codec makes
  // both kinds of checks in one pass and keeps the two answers apart (h1::Result::head_checks).
  void refusalVersionFollowsTheCheckThatRefused() {
    std::string many = "GET / HTTP/1.0\r\nHost: a\r\n";
    for (int i = 0; i < 120; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
    many += "\r\n";
    const struct {
      const char* name;
      std::string bytes;
      const char* status_line;
    } cases[] = {
        {"te in 1.0", "POST /x HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
         "HTTP/1.0 400 "},
        {"too many headers in 1.0", many, "HTTP/1.0 431 "},
        {"two hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.0 400 "},
        {"bad name in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nBad Name: x\r\n\r\n", "HTTP/1.1 400 "},
        {"missing host in 1.1", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
    };
    for (const auto& c : cases) {
      const auto r = exchangeUntilClose(port_, c.bytes);
      QVERIFY2(r.bytes.rfind(c.status_line, 0) == 0,
               (std::string(c.name) + ": " + r.bytes).c_str());
      QVERIFY2(r.closed, c.name);
    }
  }

  void acceptedShapesAreForwardedNormalised() {
    Client c(port_);
    // Identical Content-Length values collapse to one line.
    auto cl = c.request("POST", "/headers", {{"content-length", "5, 5"}}, "hello");
    QCOMPARE(cl.status, 200);
    const auto headers = lowerCase(cl.body);
    QVERIFY2(headers.find("content-length: 5\n") != std::string::npos, cl.body.c_str());
    QCOMPARE(headers.find("content-length", headers.find("content-length") + 1), std::string::npos);
    // h2c is never offered to the backend; the request itself is served.
    auto h2c = c.request("GET", "/headers",
                         {{"connection", "Upgrade, HTTP2-Settings"},
                          {"upgrade", "h2c"},
                          {"http2-settings", "AAMAAABkAARAAAAAAAIAAAAA"}});
    QCOMPARE(h2c.status, 200);
    QVERIFY2(lowerCase(h2c.body).find("h2c") == std::string::npos, h2c.body.c_str());
    QVERIFY2(lowerCase(h2c.body).find("http2-settings") == std::string::npos, h2c.body.c_str());
    QVERIFY(lowerCase(h2c.body).find("upgrade") == std::string::npos);
    // A harmless trailer is accepted and dropped; the body arrives intact.
    const auto r = exchangeUntilClose(port_,
                                      "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                                      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
                                      "X-Checksum: 5d41\r\n\r\n");
    QCOMPARE(statusOf(r.bytes), 200);
    QVERIFY2(r.bytes.find("\r\n\r\nhello") != std::string::npos, r.bytes.c_str());
    QVERIFY(lowerCase(backend_->lastHeaders()).find("x-checksum") == std::string::npos);
  }

  void malformedUpstreamResponsesAre502_data() {
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<QByteArray>("reason");
    QTest::newRow("cl + te") << QByteArray("/bad-framing") << QByteArray("bad_framing");
    QTest::newRow("te gzip") << QByteArray("/bad-te")
                             << QByteArray("unsupported_transfer_encoding");
    QTest::newRow("te identity + chunked lines")
        << QByteArray("/bad-te-lines") << QByteArray("unsupported_transfer_encoding");
  }

  void malformedUpstreamResponsesAre502() {
    QFETCH(QByteArray, path);
    QFETCH(QByteArray, reason);
    const std::string series =
        "meshdeck_malformed_responses_total{reason=\"" + reason.toStdString() + "\"}";
    const double before = std::max(0.0, proxy_.stat(series));
    Client c(port_);
    auto r = c.request("GET", path.toStdString());
    QCOMPARE(r.status, 502);
    QCOMPARE(std::string(r.headers["x-meshdeck-error"]), std::string("UR"));
    QCOMPARE(proxy_.stat(series) - before, 1.0);
    // The proxy stays healthy for the next request.
    Client next(port_);
    QCOMPARE(next.request("GET", "/path/after").body, std::string("/path/after"));
  }

  void cleanupTestCase() {
    proxy_.signal(SIGTERM);
    QCOMPARE(proxy_.waitForExit(10000), 0);
    backend_->stop();
  }

 private:
  std::unique_ptr<TestBackend> backend_;
  ProxyProcess proxy_;
  uint16_t port_ = 0;
};

QTEST_GUILESS_MAIN(ProxySmugglingTest)
#include "proxy_smuggling_test.moc"
