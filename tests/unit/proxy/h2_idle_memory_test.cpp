// The idle-memory design of downstream HTTP/2 connections (docs/http2.md, "Memory per idle
// connection"): an idle connection holds no read or output buffer; both are lent by the
// worker's h2::IoBufferPool only while bytes are parsed or written. A Worker serves h2c
// connections on this thread (its io_context run here, its thread never started), so the
// pool seen here is the worker's. No timing: the test waits for bytes, bounded by rounds.
#include <QtTest>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <vector>

#include "meshdeck/v1/discovery.pb.h"
#include "proxy/http2/h2_codec.h"
#include "proxy/http2/io_buffer_pool.h"
#include "proxy/worker.h"
#include "unit/proxy/compile_yaml.h"

using namespace meshdeck::proxy;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

const char* kYaml = R"(
listeners:
  - name: inbound
    address: {port: 15006}
    direction: OUTBOUND
    route_table: local
route_tables:
  - name: local
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: all
            destinations: [{cluster: app}]
clusters:
  - name: app
    endpoints: [{address: {port: 9}}]
)";

constexpr int kConnections = 50;
constexpr int kPings = 40;  // 40 × 17 bytes: more than the read loop's peek buffer holds

std::string frame(uint8_t type, uint8_t flags, const std::string& payload) {
  std::string f;
  const size_t n = payload.size();
  f += static_cast<char>(n >> 16);
  f += static_cast<char>(n >> 8);
  f += static_cast<char>(n);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f.append(4, '\0');  // stream 0
  return f + payload;
}

// A client connection: what it received, and how many PING acks and SETTINGS frames it saw.
struct Client {
  explicit Client(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::string in;
  int settings = 0;  // SETTINGS frames without ACK (the server's own)
  int ping_acks = 0;

  void readAvailable() {
    boost::system::error_code ec;
    const size_t n = socket.available(ec);
    if (ec || n == 0) return;
    std::string chunk(n, '\0');
    chunk.resize(socket.read_some(asio::buffer(chunk), ec));
    in += chunk;
    while (in.size() >= 9) {
      const size_t len = (static_cast<uint8_t>(in[0]) << 16) | (static_cast<uint8_t>(in[1]) << 8) |
                         static_cast<uint8_t>(in[2]);
      if (in.size() < 9 + len) break;
      const auto type = static_cast<uint8_t>(in[3]);
      const bool ack = static_cast<uint8_t>(in[4]) & 0x1;
      if (type == 0x4 && !ack) ++settings;
      if (type == 0x6 && ack) ++ping_acks;
      in.erase(0, 9 + len);
    }
  }
};

}  // namespace

class H2IdleMemoryTest : public QObject {
  Q_OBJECT

 private slots:
  void idleConnectionsHoldNoBuffers() {
    std::atomic<bool> draining{false};
    WorkerContext context;
    context.draining = &draining;
    Worker worker(0, context);
    worker.setConfig(test::compileYaml(kYaml));
    auto acceptor = std::make_shared<tcp::acceptor>(
        worker.io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor->local_endpoint().port();
    auto shared = std::make_shared<ListenerShared>();
    shared->name = "inbound";
    worker.addListener(acceptor, shared);

    auto& pool = h2::IoBufferPool::local();
    const uint64_t reads_before = pool.readsTaken();
    const uint64_t outputs_before = pool.outputsTaken();

    asio::io_context client_io;
    std::vector<std::unique_ptr<Client>> clients;
    const std::string opening = std::string(h2::kClientPreface) + frame(0x4, 0, "");
    for (int i = 0; i < kConnections; ++i) {
      auto c = std::make_unique<Client>(client_io);
      c->socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
      asio::write(c->socket, asio::buffer(opening));
      clients.push_back(std::move(c));
    }
    // Runs the worker until every client has what `done` asks for (bounded rounds; each
    // round waits for the worker's events, up to 20 ms).
    auto serveUntil = [&](auto done) {
      for (int round = 0; round < 1000; ++round) {
        worker.io().run_for(std::chrono::milliseconds(20));
        worker.io().restart();
        bool all = true;
        for (auto& c : clients) {
          c->readAvailable();
          all = all && done(*c);
        }
        if (all) return true;
      }
      return false;
    };
    QVERIFY(serveUntil([](const Client& c) { return c.settings == 1; }));
    QCOMPARE(worker.sessionCount(), size_t(kConnections));
    // Every connection is idle now (SETTINGS exchanged): none holds a buffer.
    QCOMPARE(pool.borrowed(), size_t(0));
    QVERIFY(pool.outputsTaken() >= outputs_before + kConnections);  // the writes went through it

    // Bytes beyond the read loop's peek buffer in one go: read into buffers of the pool,
    // given back once parsed (and the acks written out of pooled output buffers).
    std::string pings;
    for (int i = 0; i < kPings; ++i) pings += frame(0x6, 0, "12345678");
    for (auto& c : clients) asio::write(c->socket, asio::buffer(pings));
    QVERIFY(serveUntil([](const Client& c) { return c.ping_acks == kPings; }));
    QVERIFY(pool.readsTaken() >= reads_before + kConnections);
    QCOMPARE(pool.borrowed(), size_t(0));
    QCOMPARE(worker.sessionCount(), size_t(kConnections));

    // The clients go: the connections end, still holding nothing.
    for (auto& c : clients) c->socket.close();
    for (int round = 0; round < 1000 && worker.sessionCount() > 0; ++round) {
      worker.io().run_for(std::chrono::milliseconds(20));
      worker.io().restart();
    }
    QCOMPARE(worker.sessionCount(), size_t(0));
    QCOMPARE(pool.borrowed(), size_t(0));
    acceptor->close();
    worker.io().poll();
  }
};

QTEST_GUILESS_MAIN(H2IdleMemoryTest)
#include "h2_idle_memory_test.moc"
