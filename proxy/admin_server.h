#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <thread>

namespace meshdeck::proxy {

class Proxy;

// The admin listener, on its own thread so that a slow scrape never delays traffic:
//   GET  /stats      Prometheus text (merged per-worker counters and histograms)
//   GET  /config     the configuration in force, as JSON
//   GET  /listeners  bound ports by listener name, as JSON
//   GET  /ready      200 when configured and not draining, else 503
//   GET  /healthz    200 while the process runs
//   POST /drain      start draining (like SIGTERM)
//   POST /log-level?level=debug
class AdminServer {
 public:
  explicit AdminServer(Proxy& proxy);
  ~AdminServer();
  // Binds host:port (port 0 picks one). Returns false with a message on failure.
  bool start(const std::string& address, std::string* error);
  void stop();
  uint16_t port() const { return port_; }

 private:
  Proxy& proxy_;
  boost::asio::io_context io_{1};
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::unique_ptr<std::thread> thread_;
  uint16_t port_ = 0;
};

}  // namespace meshdeck::proxy
