#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/fields.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace meshdeck::proxy::testing {

// A small HTTP/1.1 backend for the proxy's integration tests: one thread per connection, Beast
// for parsing. Behaviour by path:
//   /name            body = backend name          /headers   body = request headers, one a line
//   /upload          drains the body, body = "bytes=N"   /echo  body = request body (small)
//   /download?bytes=N  N bytes, Content-Length    /chunked?bytes=N  N bytes, chunked
//   /status/N        status N, empty body         /slow?ms=N  answers after N ms
//   /interim         103 Early Hints, then 200    /close-delimited  body ends at close
//   /trailers        chunked "hello" with trailers grpc-status: 0, grpc-message: fine
//   /ws              101 Switching Protocols, then echoes raw bytes
//   /path/...        body = the request target
//   /bad-framing     a response with Content-Length and Transfer-Encoding: chunked
//   /bad-te          a response with Transfer-Encoding: gzip
//   /bad-te-lines    a response with Transfer-Encoding: identity and a second line chunked
// gRPC-shaped (content-type application/grpc, a 5-byte empty message where there is a body):
//   /grpc/status/N   trailers-only: grpc-status N in the head, no body
//   /grpc/trailer/N  chunked body, grpc-status N in the trailer section
//   /grpc/missing    chunked body, no grpc-status at all
//   /grpc/slow?ms=N  answers (grpc-status 0 in the trailers) after N ms
// Knobs: fail_next (answer 503 to that many requests), reset_next (close abruptly instead),
// grpc_fail_next (answer that many /grpc/ requests trailers-only UNAVAILABLE).
class TestBackend {
 public:
  explicit TestBackend(std::string name);
  ~TestBackend();
  uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }
  void stop();

  std::atomic<int> fail_next{0};
  std::atomic<bool> always_fail{false};
  std::atomic<int> reset_next{0};
  std::atomic<int> grpc_fail_next{0};
  std::atomic<uint64_t> requests{0};
  // Connections accepted, open now, and the most open at once.
  std::atomic<uint64_t> accepted{0};
  std::atomic<int> open_connections{0};
  std::atomic<int> max_open_connections{0};
  std::string lastHeaders();
  // Every request target received, in order.
  std::vector<std::string> targets();

 private:
  void serve(boost::asio::ip::tcp::socket socket);
  std::string name_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::mutex mutex_;
  std::vector<std::thread> threads_;
  std::vector<int> fds_;
  std::string last_headers_;
  std::vector<std::string> targets_;
  std::atomic<bool> stopped_{false};
};

// Sends raw bytes on a fresh connection and returns everything read until the peer closes or
// `timeout_ms` passes.
std::string rawExchange(uint16_t port, const std::string& bytes, int timeout_ms = 3000);

struct Response {
  int status = 0;
  boost::beast::http::fields headers;
  std::string body;
  std::string error;
};

// A keep-alive HTTP/1.1 client (sync Beast).
class Client {
 public:
  explicit Client(uint16_t port);
  ~Client();
  Response request(const std::string& method, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers = {},
                   const std::string& body = {});
  bool open() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Resident set size of a process in bytes (from /proc), 0 if unknown.
size_t rssBytes(long pid);

}  // namespace meshdeck::proxy::testing
