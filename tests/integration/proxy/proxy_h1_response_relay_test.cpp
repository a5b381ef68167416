#include <signal.h>

#include <QtTest>
#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "proxy_process.h"
#include "test_backend.h"

using namespace meshdeck::proxy::testing;
namespace asio = boost::asio;
using namespace std::string_literals;

namespace {

// An upstream that answers each request with bytes scripted by its path, written in the pieces
// given (so a head may arrive split mid-line, or a head with its body and the next head in one
// write). An empty piece list closes the connection without answering; after the pieces the
// connection is kept, closed, or reset (SO_LINGER 0: an RST, not a FIN). Counts the connections
// it accepted.
class ScriptedUpstream {
 public:
  struct Script {
    std::vector<std::string> pieces;
    enum class After { kKeep, kClose, kReset } after = After::kKeep;
  };

  explicit ScriptedUpstream(std::map<std::string, Script> scripts)
      : scripts_(std::move(scripts)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] {
      for (;;) {
        asio::ip::tcp::socket s(io_);
        boost::system::error_code ec;
        acceptor_.accept(s, ec);
        if (ec || stopped_) break;
        ++connections;
        std::lock_guard lock(mutex_);
        conns_.emplace_back([this, sock = std::move(s)]() mutable { serve(std::move(sock)); });
      }
    });
  }
  ~ScriptedUpstream() {
    stopped_ = true;
    boost::system::error_code ec;
    {
      asio::io_context io;
      asio::ip::tcp::socket poke(io);
      poke.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    }
    thread_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : conns_) t.join();
  }
  uint16_t port() const { return port_; }
  std::atomic<int> connections{0};
  std::atomic<int> requests{0};

 private:
  void serve(asio::ip::tcp::socket s) {
    asio::streambuf in;
    boost::system::error_code ec;
    for (int n = 0; n < 100 && !stopped_; ++n) {
      const size_t got = asio::read_until(s, in, "\r\n\r\n", ec);
      if (ec) return;
      std::string head(asio::buffers_begin(in.data()), asio::buffers_begin(in.data()) + got);
      in.consume(got);
      ++requests;
      const auto sp = head.find(' ');
      const std::string path = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
      const auto it = scripts_.find(path);
      if (it == scripts_.end() || it->second.pieces.empty()) return;  // closes
      for (const auto& p : it->second.pieces) {
        asio::write(s, asio::buffer(p), ec);
        if (ec) return;
      }
      if (it->second.after == Script::After::kReset) {
        s.set_option(asio::socket_base::linger(true, 0), ec);
        s.close(ec);
        return;
      }
      if (it->second.after == Script::After::kClose) {
        s.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        return;
      }
    }
  }

  std::map<std::string, Script> scripts_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::thread> conns_;
  std::atomic<bool> stopped_{false};
};

ScriptedUpstream::Script pieces(std::vector<std::string> p, bool close = false) {
  return {std::move(p),
          close ? ScriptedUpstream::Script::After::kClose : ScriptedUpstream::Script::After::kKeep};
}

ScriptedUpstream::Script resetAfter(std::vector<std::string> p) {
  return {std::move(p), ScriptedUpstream::Script::After::kReset};
}

}  // namespace

// The upstream response path through the real proxy: the head read by the proxy's HTTP/1.1
// codec over the connection's buffer, the body by the attempt's own reader (content-length,
// close-delimited) or Beast's (chunked), the errors counted as before (docs/h1-codec.md,
// "Response heads: integration").
class ProxyH1ResponseRelayTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    upstream_ = std::make_unique<ScriptedUpstream>(std::map<std::string, ScriptedUpstream::Script>{
        // A head split mid-line and its body in two more pieces; the connection is kept.
        {"/split",
         pieces({"HTTP/1.1 200 OK\r\nContent-Le", "ngth: 10\r\nX-A: 1\r\n\r\n0123", "456789"})},
        // Head, body and nothing more in one write.
        {"/one", pieces({"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"})},
        // An interim head and the final one with its body in one write.
        {"/interim", pieces({"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"})},
        // A chunked body arriving with its head (Beast's decoder is given the head's bytes).
        {"/chunked", pieces({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                             "lo\r\n6\r\n world\r\n0\r\n\r\n"})},
        // A body that ends at the close, in two pieces: chunked to an HTTP/1.1 client.
        {"/close-delimited", pieces({"HTTP/1.1 200 OK\r\n\r\nfirst,", "second"}, true)},
        // The connection closes 10 bytes into a 100-byte body: nothing was sent yet, 502.
        {"/truncated", pieces({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"}, true)},
        // The connection closes inside the head, or before any of it.
        {"/eof-in-head", pieces({"HTTP/1.1 200 OK\r\nContent-"}, true)},
        {"/eof", pieces({})},
        // obs-fold stays refused.
        {"/obs-fold", pieces({"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"})},
        // A header with a NUL byte: Beast's rules, bad_response.
        {"/nul", pieces({"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n"s})},
    });
    QVERIFY(proxy_.startStandalone(upstream_->port(), 1));
    port_ = proxy_.port("main");
  }

  void bodiesAcrossReadsAndKeptConnections() {
    Client c(port_);
    const int conns = upstream_->connections;
    for (int i = 0; i < 3; ++i) {
      auto r = c.request("GET", "/split");
      QCOMPARE(r.status, 200);
      QCOMPARE(r.body, std::string("0123456789"));
      QCOMPARE(std::string(r.headers["x-a"]), std::string("1"));
      auto one = c.request("GET", "/one");
      QCOMPARE(one.status, 200);
      QCOMPARE(one.body, std::string("abc"));
    }
    // Six responses over one pooled upstream connection: each body was read to its end and no
    // further, the head of the next one parsed from a clean buffer.
    QCOMPARE(upstream_->connections - conns, 1);
  }

  void interimHeadThenFinalInOneRead() {
    const std::string raw =
        rawExchange(port_, "GET /interim HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    // (The interim head's reason phrase is Beast's for the status, as before: sendInterim().)
    QVERIFY2(raw.rfind("HTTP/1.1 103 ", 0) == 0, raw.c_str());
    QVERIFY2(raw.find("link: </a.css>\r\n") != std::string::npos ||
                 raw.find("Link: </a.css>\r\n") != std::string::npos,
             raw.c_str());
    const auto final_head = raw.find("HTTP/1.1 200 OK\r\n");
    QVERIFY2(final_head != std::string::npos, raw.c_str());
    QVERIFY2(raw.size() >= 2 && raw.substr(raw.size() - 2) == "ok", raw.c_str());
  }

  void chunkedAndCloseDelimitedBodies() {
    Client c(port_);
    auto ch = c.request("GET", "/chunked");
    QCOMPARE(ch.status, 200);
    QCOMPARE(ch.body, std::string("hello world"));
    Client d(port_);
    auto cd = d.request("GET", "/close-delimited");
    QCOMPARE(cd.status, 200);
    QCOMPARE(cd.body, std::string("first,second"));
    QCOMPARE(std::string(cd.headers["transfer-encoding"]), std::string("chunked"));
  }

  void upstreamFailuresAre502AndCountedAsBefore_data() {
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<QByteArray>("reason");  // malformed_responses_total, "" for none
    QTest::newRow("eof before the head") << QByteArray("/eof") << QByteArray("bad_response");
    QTest::newRow("eof inside the head")
        << QByteArray("/eof-in-head") << QByteArray("bad_response");
    QTest::newRow("obs-fold") << QByteArray("/obs-fold") << QByteArray("obs_fold");
    QTest::newRow("nul in a value") << QByteArray("/nul") << QByteArray("bad_response");
    QTest::newRow("eof inside the body") << QByteArray("/truncated") << QByteArray();
  }

  void upstreamFailuresAre502AndCountedAsBefore() {
    QFETCH(QByteArray, path);
    QFETCH(QByteArray, reason);
    const std::string series =
        "meshdeck_malformed_responses_total{reason=\"" + reason.toStdString() + "\"}";
    const double before = reason.isEmpty() ? 0.0 : std::max(0.0, proxy_.stat(series));
    Client c(port_);
    auto r = c.request("GET", path.toStdString());
    QCOMPARE(r.status, 502);
    QCOMPARE(std::string(r.headers["x-meshdeck-error"]), std::string("UR"));
    if (!reason.isEmpty()) QCOMPARE(proxy_.stat(series) - before, 1.0);
    // The next request works.
    Client next(port_);
    QCOMPARE(next.request("GET", "/one").body, std::string("abc"));
  }

  // A pooled connection the upstream closed right after its last response (no Connection:
  // close, the FIN well inside UpstreamPool::kTrustRecentlyIdle, so no probe): the next
  // request's head read ends at once. That is the pooled connection gone, not a bad response:
  // the request is sent again once on a fresh connection (docs/proxy.md, "Retries"). An end
  // after an interim head on a live pooled connection stays a bad response, not retried.
  void pooledConnectionClosedByUpstreamIsRetriedFresh() {
    ScriptedUpstream upstream({
        {"/ok-close", pieces({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}, true)},
        {"/ok", pieces({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"})},
        {"/interim-eof", pieces({"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"}, true)},
    });
    ProxyProcess proxy;
    QVERIFY(proxy.startStandalone(upstream.port(), 1));
    const std::string bad = "meshdeck_malformed_responses_total{reason=\"bad_response\"}";
    Client c(proxy.port("main"));  // a 10 s receive timeout bounds each request
    auto first = c.request("GET", "/ok-close");
    QCOMPARE(first.status, 200);
    QCOMPARE(first.body, std::string("ok"));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    auto second = c.request("GET", "/ok-close");
    QVERIFY2(second.error.empty(), second.error.c_str());
    QCOMPARE(second.status, 200);
    QCOMPARE(second.body, std::string("ok"));
    // The second request reached the upstream once, on a second connection.
    QCOMPARE(upstream.connections.load(), 2);
    QCOMPARE(upstream.requests.load(), 2);
    QCOMPARE(std::max(0.0, proxy.stat(bad)), 0.0);

    // A live pooled connection (the one closed is replaced, by a probe or by the same retry),
    // then an interim head and the end on it: 502, bad_response, no second try.
    auto kept = c.request("GET", "/ok");
    QCOMPARE(kept.status, 200);
    QCOMPARE(upstream.connections.load(), 3);
    auto cut = c.request("GET", "/interim-eof");
    QCOMPARE(cut.status, 502);
    QCOMPARE(std::string(cut.headers["x-meshdeck-error"]), std::string("UR"));
    QCOMPARE(upstream.connections.load(), 3);
    QCOMPARE(upstream.requests.load(), 4);
    QCOMPARE(proxy.stat(bad), 1.0);

    proxy.signal(SIGTERM);
    QCOMPARE(proxy.waitForExit(10000), 0);
  }

  // The upstream resets the connection right after half a body (SO_LINGER 0): the bytes and the
  // reset reach the proxy together, and the reset is the last event the socket raises. The
  // client's answer ends at once, not after a timeout. (The draining reads of stops 26-28 parked
  // the read after the bytes behind the reset's edge, already consumed: most of these requests then
  // waited for the idle timeout; docs/proxy.md, "Reads".)
  void anUpstreamResetMidBodyEndsTheResponseAtOnce() {
    ScriptedUpstream upstream({{"/reset", resetAfter({"HTTP/1.1 200 OK\r\nContent-Length: "
                                                      "100000\r\n\r\n" +
                                                      std::string(1000, 'z')})}});
    ProxyProcess proxy;
    QVERIFY(proxy.startStandalone(upstream.port(), 1));
    for (int i = 0; i < 100; ++i) {
      QElapsedTimer timer;
      timer.start();
      const std::string raw =
          rawExchange(proxy.port("main"), "GET /reset HTTP/1.1\r\nHost: a\r\n\r\n", 5000);
      const qint64 ms = timer.elapsed();
      // A 502 (UR) if the reset was read before the head left, else the head and the bytes
      // and a closed connection: either way the answer ends now.
      const bool refused = raw.starts_with("HTTP/1.1 502 Bad Gateway\r\n") &&
                           raw.find("x-meshdeck-error: UR\r\n") != std::string::npos;
      const bool cut = raw.starts_with("HTTP/1.1 200 OK\r\n") &&
                       raw.find(std::string(1000, 'z')) != std::string::npos && raw.size() < 100000;
      QVERIFY2(refused || cut, raw.substr(0, 200).c_str());
      QVERIFY2(
          ms < 2000,
          qPrintable(QStringLiteral("request %1: the response ended after %2 ms").arg(i).arg(ms)));
    }
    QCOMPARE(upstream.requests.load(), 100);
    QVERIFY(proxy.running());
    proxy.signal(SIGTERM);
    QCOMPARE(proxy.waitForExit(10000), 0);
  }

  void cleanupTestCase() {
    proxy_.signal(SIGTERM);
    QCOMPARE(proxy_.waitForExit(10000), 0);
    upstream_.reset();
  }

 private:
  std::unique_ptr<ScriptedUpstream> upstream_;
  ProxyProcess proxy_;
  uint16_t port_ = 0;
};

QTEST_GUILESS_MAIN(ProxyH1ResponseRelayTest)
#include "proxy_h1_response_relay_test.moc"
