// common/net/tcp_listener.h on real loopback sockets: listenTcp's address parsing and binding,
// and acceptCapped's cap (a connection over it is closed, a connection that ends frees its
// slot, a serve that throws too) and its end when the acceptor closes.
#include "common/net/tcp_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <QtTest>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using meshdeck::common::acceptCapped;
using meshdeck::common::listenTcp;

namespace {

// What the server side saw, waited on by the test thread (bounded waits on events, no sleeps).
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  int started = 0, ended = 0, refused = 0;
  bool loop_ended = false;

  // Waits up to 10 s for `done` (called under the lock); its value then.
  template <typename F>
  bool waitFor(F done) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return done(); });
  }
  void bump(int Seen::*field) {
    std::lock_guard lock(mu);
    ++(this->*field);
    cv.notify_all();
  }
};

// A server of acceptCapped on 127.0.0.1:0 on a thread of its own. Each connection is served
// until the client closes it; with `throw_first`, the first connection's serve throws at once.
class Server {
 public:
  explicit Server(int cap, bool throw_first = false) {
    std::string error;
    if (!listenTcp(acceptor_, "127.0.0.1:0", "test", &address_, &error))
      throw std::runtime_error(error);
    port_ = acceptor_.local_endpoint().port();
    auto serve = [this, throw_first](tcp::socket socket) -> asio::awaitable<void> {
      const bool first = [&] {
        std::lock_guard lock(seen_.mu);
        return seen_.started == 0;
      }();
      seen_.bump(&Seen::started);
      if (throw_first && first) throw std::runtime_error("serve failed");
      char buf[256];
      for (;;) {
        auto [ec, n] =
            co_await socket.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
        if (ec) break;
      }
      seen_.bump(&Seen::ended);
    };
    asio::co_spawn(io_, acceptCapped(acceptor_, cap, serve, [this] { seen_.bump(&Seen::refused); }),
                   [this](std::exception_ptr) {
                     std::lock_guard lock(seen_.mu);
                     seen_.loop_ended = true;
                     seen_.cv.notify_all();
                   });
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server() {
    io_.stop();
    thread_.join();
  }
  void closeAcceptor() {
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
    });
  }
  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  Seen& seen() { return seen_; }

 private:
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  std::string address_;
  uint16_t port_ = 0;
  Seen seen_;
  std::thread thread_;
};

// A plain blocking client socket connected to 127.0.0.1:port (reads time out after 10 s); -1
// when the connection failed.
int connectTo(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when the server closed `fd` (a read ends with end of stream or a reset, not a time-out).
bool closedByServer(int fd) {
  char c;
  const auto n = ::recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// Connects to `server` until a connection is served as its `nth`, after a slot freed: the slot
// frees just after the serve coroutine that held it ends, so a connection that raced that is
// refused, and another is tried (20 at most). The served connection's fd, or -1.
int connectUntilServed(Server& server, int nth) {
  Seen& seen = server.seen();
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int refused_before = [&] {
      std::lock_guard lock(seen.mu);
      return seen.refused;
    }();
    const int fd = connectTo(server.port());
    if (fd < 0) return -1;
    if (!seen.waitFor([&] { return seen.started == nth || seen.refused > refused_before; })) {
      ::close(fd);
      return -1;
    }
    std::lock_guard lock(seen.mu);
    if (seen.started == nth) return fd;
    ::close(fd);
  }
  return -1;
}

}  // namespace

class TcpListenerTest : public QObject {
  Q_OBJECT

 private slots:
  void splitsHostAndPort() {
    using meshdeck::common::splitHostPort;
    std::string host;
    uint16_t port = 0;
    QVERIFY(splitHostPort("127.0.0.1:9090", &host, &port));
    QCOMPARE(host, std::string("127.0.0.1"));
    QCOMPARE(port, uint16_t(9090));
    QVERIFY(splitHostPort("[::1]:0", &host, &port));
    QCOMPARE(host, std::string("::1"));
    QCOMPARE(port, uint16_t(0));
    for (const char* bad : {"", "9090", ":9090", "host:", "host:65536", "host:123456", "host:-1"})
      QVERIFY2(!splitHostPort(bad, &host, &port), bad);
  }

  void listensOrSaysWhy() {
    asio::io_context io;
    tcp::acceptor a(io), b(io);
    std::string bound, error;
    QVERIFY2(listenTcp(a, "127.0.0.1:0", "test", &bound, &error), error.c_str());
    QVERIFY(bound.rfind("127.0.0.1:", 0) == 0);
    QVERIFY(bound != "127.0.0.1:0");
    QVERIFY(!listenTcp(b, "localhost:1", "test", &bound, &error));
    QVERIFY2(error.rfind("test address \"localhost:1\": ", 0) == 0, error.c_str());
    // The port `a` listens on: refused, and the acceptor is left closed.
    const std::string taken = bound;
    QVERIFY(!listenTcp(b, taken, "test", &bound, &error));
    QVERIFY2(error.rfind("test listener 127.0.0.1:", 0) == 0, error.c_str());
    QVERIFY(!b.is_open());
    QVERIFY(!listenTcp(b, "no-port", "test", &bound, &error));
    QCOMPARE(error, std::string("test address \"no-port\" is not host:port"));
  }

  void capHoldsAndAClosedConnectionFreesItsSlot() {
    Server server(2);
    Seen& seen = server.seen();
    const int a = connectTo(server.port()), b = connectTo(server.port());
    QVERIFY(a >= 0 && b >= 0);
    QVERIFY(seen.waitFor([&] { return seen.started == 2; }));

    // A third is over the cap: closed by the server, never served.
    const int c = connectTo(server.port());
    QVERIFY(c >= 0);
    QVERIFY(seen.waitFor([&] { return seen.refused == 1; }));
    QVERIFY(closedByServer(c));
    ::close(c);

    // `a` closed: its serve ends and its slot frees, so a new connection is served.
    ::close(a);
    QVERIFY(seen.waitFor([&] { return seen.ended == 1; }));
    const int d = connectUntilServed(server, 3);
    QVERIFY(d >= 0);

    // `b` and `d` are live: the cap still holds.
    const int refused_before = [&] {
      std::lock_guard lock(seen.mu);
      return seen.refused;
    }();
    const int e = connectTo(server.port());
    QVERIFY(e >= 0);
    QVERIFY(seen.waitFor([&] { return seen.refused == refused_before + 1; }));
    QVERIFY(closedByServer(e));
    {
      std::lock_guard lock(seen.mu);
      QCOMPARE(seen.started, 3);
    }
    ::close(e);
    ::close(b);
    ::close(d);
    QVERIFY(seen.waitFor([&] { return seen.ended == 3; }));
  }

  void aServeThatThrowsFreesItsSlot() {
    Server server(1, /*throw_first=*/true);
    Seen& seen = server.seen();
    const int a = connectTo(server.port());
    QVERIFY(a >= 0);
    QVERIFY(seen.waitFor([&] { return seen.started == 1; }));
    // Its serve threw: the slot is free for the next.
    const int b = connectUntilServed(server, 2);
    QVERIFY(b >= 0);
    ::close(a);
    ::close(b);
    QVERIFY(seen.waitFor([&] { return seen.ended == 1; }));
  }

  void endsWhenTheAcceptorCloses() {
    Server server(4);
    Seen& seen = server.seen();
    const int a = connectTo(server.port());
    QVERIFY(a >= 0);
    QVERIFY(seen.waitFor([&] { return seen.started == 1; }));
    server.closeAcceptor();
    QVERIFY(seen.waitFor([&] { return seen.loop_ended; }));
    // The connection accepted before keeps being served until its client closes it.
    const int refused_port = connectTo(server.port());
    if (refused_port >= 0) ::close(refused_port);
    QVERIFY(refused_port < 0);
    {
      std::lock_guard lock(seen.mu);
      QCOMPARE(seen.ended, 0);
    }
    ::close(a);
    QVERIFY(seen.waitFor([&] { return seen.ended == 1; }));
  }
};

QTEST_GUILESS_MAIN(TcpListenerTest)
#include "tcp_listener_test.moc"
