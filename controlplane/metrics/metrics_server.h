#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

// MetricsServer serves GET /metrics (Prometheus text format) on a port of its own, on one
// thread of its own (docs/health-and-metrics.md). Everything else is refused and counted:
// another path 404, another method 405, a request head over kMaxHeaderBytes 431, a request
// with a body or that does not parse 400; a request not complete within kRequestTimeout and
// connections beyond kMaxConnections are closed.
namespace meshdeck::cp::metrics {

class MetricsServer {
 public:
  static constexpr size_t kMaxHeaderBytes = 8 * 1024;
  static constexpr int kRequestTimeoutSeconds = 10;
  static constexpr int kMaxConnections = 32;

  // `render` builds the body of one scrape; called on the server's thread, one call at a time.
  explicit MetricsServer(std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds `address` ("host:port"; port 0 picks one) and starts serving. False with a reason in
  // `error` (not host:port, address in use); nothing runs then. Call once.
  bool start(const std::string& address, std::string* error);
  // Stops serving and joins the thread. Idempotent.
  void stop();
  // "host:port" actually bound ("" before start()).
  std::string address() const { return address_; }
  // Requests refused (any reason above) since start.
  uint64_t badRequests() const { return bad_requests_.load(); }
  uint64_t scrapes() const { return scrapes_.load(); }

 private:
  struct State;
  std::function<std::string()> render_;
  std::unique_ptr<State> state_;
  std::unique_ptr<std::thread> thread_;
  std::string address_;
  std::atomic<uint64_t> bad_requests_{0}, scrapes_{0};
};

}  // namespace meshdeck::cp::metrics
