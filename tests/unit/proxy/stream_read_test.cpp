// Reads through the MeshStream the proxy reads with, on real loopback connections: the next
// read always learns what the socket holds, at once and without waiting for an edge that has
// already come and gone: data that arrives before the next read is issued, data whose edge the
// reactor saw while no read was pending, an end of stream alone, an end of stream or a reset
// that came with the last bytes; request-response ping-pong with random sizes and timing,
// plain and TLS, finishes every exchange in bounded time and in order.
//
// (A reset that came with the last bytes is why the proxy's reads are Asio's own again: the
// "draining reads" of stops 26-28 parked the next read after one that left nothing, and after a
// reset the kernel says nothing is left. docs/proxy.md, "Reads".)

#include <sys/socket.h>
#include <sys/time.h>

#include <QtTest>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "proxy/tls/mesh_stream.h"
#include "support/io_run.h"
#include "unit/proxy/mesh_stream_fixtures.h"

using namespace meshdeck::proxy;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// A plain MeshStream accepted from a loopback connection, and the client's socket.
struct Loopback {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  asio::ip::tcp::socket client{io};
  std::optional<tls::MeshStream> stream;
  Loopback() {
    client.connect(acceptor.local_endpoint());
    client.set_option(asio::ip::tcp::no_delay(true));
    stream.emplace(tls::MeshStream::TcpStream(acceptor.accept(io)));
    stream->socket().set_option(asio::ip::tcp::no_delay(true));
  }
  void send(const std::string& s) { asio::write(client, asio::buffer(s)); }
  // Runs handlers until `done` (bounded: data on loopback arrives at once).
  template <typename Pred>
  bool runUntil(Pred done) {
    return meshdeck::test::runIoUntil(io, done, 5s);
  }
  // Lets the reactor look at the sockets for a while with nothing else to do.
  void idle(std::chrono::milliseconds how_long) {
    asio::steady_timer t(io, how_long);
    bool fired = false;
    t.async_wait([&](boost::system::error_code) { fired = true; });
    runUntil([&] { return fired; });
  }
};

struct Read {
  char buf[64];
  bool done = false;
  boost::system::error_code ec;
  size_t n = 0;
  std::string text() const { return std::string(buf, n); }
  void start(tls::MeshStream& s, size_t size = sizeof(buf)) {
    done = false;
    s.async_read_some(asio::buffer(buf, size), [this](boost::system::error_code e, size_t got) {
      done = true;
      ec = e;
      n = got;
    });
  }
};

}  // namespace

class StreamReadTest : public QObject {
  Q_OBJECT

 private slots:
  // The bytes and the end of the stream arrive together, and reading the bytes raises no edge
  // for the end: a FIN (a close-delimited body, a client that sends and closes), or an RST (a
  // peer that closes with unread data in its buffer, or with SO_LINGER 0), whose edge is the
  // last the socket will ever raise. Either way the next read must end at once. (The kernel's
  // TCP_INQ says 1 after a FIN but 0 after a reset: "nothing left" cannot be trusted to park
  // the next read, which is why the draining reads of stops 26-28 were removed.)
  void anEndThatCameWithTheLastBytesEndsTheNextRead_data() {
    QTest::addColumn<bool>("reset");
    QTest::newRow("FIN") << false;
    QTest::newRow("RST") << true;
  }

  void anEndThatCameWithTheLastBytesEndsTheNextRead() {
    QFETCH(bool, reset);
    for (const bool read_pending : {false, true}) {
      Loopback l;
      Read r;
      if (read_pending) {
        l.send("hello");
        r.start(*l.stream);
        QVERIFY(l.runUntil([&] { return r.done; }));  // drained
        r.start(*l.stream);
      }
      l.send("bye");
      if (reset) {
        l.client.set_option(asio::socket_base::linger(true, 0));
        l.client.close();
      } else {
        l.client.shutdown(asio::ip::tcp::socket::shutdown_send);
      }
      l.idle(20ms);  // both arrived; their edge came and went (or performed the read)
      if (!read_pending) r.start(*l.stream);
      QVERIFY(l.runUntil([&] { return r.done; }));
      QCOMPARE(r.text(), std::string("bye"));
      QVERIFY(!r.ec);
      r.start(*l.stream);
      QVERIFY2(l.runUntil([&] { return r.done; }), "the end of the stream was never seen");
      const boost::system::error_code end =
          reset ? boost::system::error_code(asio::error::connection_reset)
                : boost::system::error_code(asio::error::eof);
      QCOMPARE(r.ec, end);
    }
  }

  void dataSentBeforeTheNextReadIsIssuedIsRead() {
    Loopback l;
    Read r;
    for (int i = 0; i < 200; ++i) {
      const std::string msg = "m" + std::to_string(i);
      l.send(msg);
      r.start(*l.stream);
      QVERIFY(l.runUntil([&] { return r.done; }));
      QCOMPARE(r.text(), msg);
      // The next message is on its way before the read that wants it starts (its edge is
      // still in epoll's ready list when the read parks).
    }
  }

  void dataWhoseEdgeTheReactorSawWithNoReadPendingIsRead() {
    Loopback l;
    Read r;
    l.send("first");
    r.start(*l.stream);
    QVERIFY(l.runUntil([&] { return r.done; }));
    QCOMPARE(r.text(), std::string("first"));
    l.send("second");
    l.idle(30ms);  // the edge comes and goes with no read queued
    r.start(*l.stream);
    QVERIFY(l.runUntil([&] { return r.done; }));
    QCOMPARE(r.text(), std::string("second"));
  }

  void anEndOfStreamAfterAShortReadEndsTheNextRead() {
    Loopback l;
    Read r;
    l.send("last");
    r.start(*l.stream);
    QVERIFY(l.runUntil([&] { return r.done; }));
    r.start(*l.stream);
    l.idle(10ms);
    QVERIFY(!r.done);
    l.client.shutdown(asio::ip::tcp::socket::shutdown_send);
    QVERIFY(l.runUntil([&] { return r.done; }));
    QCOMPARE(r.ec, boost::system::error_code(asio::error::eof));
    QCOMPARE(r.n, size_t{0});
  }

  // The proxy's pattern: the peer answers only after it got the previous answer. A client
  // thread sends random-sized requests (some larger than the reader's buffer, some with a
  // pause inside) and waits for each echo; the io_context echoes every read back.
  void pingPongWithRandomSizesAndTimingLosesNothing() {
    Loopback l;
    constexpr int kExchanges = 2000;
    std::vector<char> buf(256);
    size_t echoed = 0;
    std::function<void()> readNext = [&] {
      l.stream->async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, size_t n) {
        if (ec) return;
        echoed += n;
        asio::write(l.stream->socket(), asio::buffer(buf.data(), n));
        readNext();
      });
    };
    readNext();
    std::atomic<bool> client_ok{true}, client_done{false};
    size_t sent = 0;
    std::thread client([&] {
      const int fd = l.client.native_handle();
      timeval tv{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::mt19937 rng(20261207);
      std::vector<char> out(1000), in(1000);
      for (int i = 0; i < kExchanges && client_ok; ++i) {
        const size_t size = 1 + rng() % 600;
        for (size_t j = 0; j < size; ++j) out[j] = static_cast<char>('a' + (i + j) % 26);
        const size_t split = rng() % 8 == 0 ? size / 2 : size;
        if (::send(fd, out.data(), split, 0) != static_cast<ssize_t>(split)) client_ok = false;
        if (split < size) {
          std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
          if (::send(fd, out.data() + split, size - split, 0) != static_cast<ssize_t>(size - split))
            client_ok = false;
        }
        sent += size;
        size_t got = 0;
        while (client_ok && got < size) {
          const ssize_t r = ::recv(fd, in.data() + got, size - got, 0);
          if (r <= 0)
            client_ok = false;  // includes the 5 s timeout: a lost wake-up
          else
            got += static_cast<size_t>(r);
        }
        if (client_ok && std::memcmp(in.data(), out.data(), size) != 0) client_ok = false;
      }
      client_done = true;
    });
    meshdeck::test::runIoUntil(
        l.io, [&] { return client_done.load(); }, 60s);
    client.join();
    QVERIFY2(client_ok, "an exchange timed out, came back short or changed");
    QCOMPARE(echoed, sent);
  }

  // The same over mutual TLS 1.3: both ends are MeshStreams on one io_context (the TLS
  // connection's receives fill its input buffer). Messages up to 40 KB
  // span several records and several receives.
  void tlsPingPongLosesNothing() {
    test::TlsLoopback l(*tls_.server, *tls_.client);
    QVERIFY(l.ok);
    auto& io = l.io;
    auto& client = *l.client;
    auto& server = *l.server;
    for (auto* stream : {&client, &server})
      stream->socket().set_option(asio::ip::tcp::no_delay(true));

    constexpr int kExchanges = 300;
    std::mt19937 rng(7);
    std::vector<char> server_buf(16384), message, echo;
    int exchanges = 0;
    std::string error;
    std::function<void()> serverRead = [&] {
      server.async_read_some(asio::buffer(server_buf), [&](boost::system::error_code ec, size_t n) {
        if (ec) return;
        asio::async_write(server, asio::buffer(server_buf.data(), n),
                          [&](boost::system::error_code wec, size_t) {
                            if (!wec) serverRead();
                          });
      });
    };
    std::function<void()> clientExchange;
    std::function<void()> clientRead = [&] {
      const size_t have = echo.size();
      echo.resize(message.size());
      client.async_read_some(asio::buffer(echo.data() + have, echo.size() - have),
                             [&, have](boost::system::error_code ec, size_t n) {
                               echo.resize(have + n);
                               if (ec) return void(error = ec.message());
                               if (echo.size() < message.size()) return clientRead();
                               if (echo != message) return void(error = "echo differs");
                               if (++exchanges < kExchanges) clientExchange();
                             });
    };
    clientExchange = [&] {
      message.resize(1 + rng() % 40000);
      for (auto& c : message) c = static_cast<char>(rng());
      echo.clear();
      asio::async_write(client, asio::buffer(message), [&](boost::system::error_code ec, size_t) {
        if (ec) return void(error = ec.message());
        clientRead();
      });
    };
    serverRead();
    clientExchange();
    meshdeck::test::runIoUntil(
        io, [&] { return exchanges == kExchanges || !error.empty(); }, 60s);
    QVERIFY2(error.empty(), error.c_str());
    QCOMPARE(exchanges, kExchanges);
  }

  void initTestCase() {
    QVERIFY2(tls_.make("stream read test root", "spiffe://mesh.local/ns/test/sa/server",
                       "spiffe://mesh.local/ns/test/sa/client"),
             tls_.error.c_str());
  }

 private:
  test::MutualTlsContexts tls_;
};

QTEST_GUILESS_MAIN(StreamReadTest)
#include "stream_read_test.moc"
