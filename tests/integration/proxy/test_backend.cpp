#include "test_backend.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>

namespace meshdeck::proxy::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

TestBackend::TestBackend(std::string name) : name_(std::move(name)), acceptor_(io_) {
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(256);
  ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
  port_ = acceptor_.local_endpoint().port();
  accept_thread_ = std::thread([this] {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (stopped_) break;
      if (ec) continue;
      ++accepted;
      // Proxies started later by QProcess must not inherit backend connections.
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      socket.set_option(tcp::no_delay(true), ec);
      std::lock_guard lock(mutex_);
      fds_.push_back(socket.native_handle());
      threads_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
    }
  });
}

TestBackend::~TestBackend() { stop(); }

void TestBackend::stop() {
  if (stopped_.exchange(true)) return;
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  boost::system::error_code ec;
  acceptor_.close(ec);
}

std::string TestBackend::lastHeaders() {
  std::lock_guard lock(mutex_);
  return last_headers_;
}

std::vector<std::string> TestBackend::targets() {
  std::lock_guard lock(mutex_);
  return targets_;
}

namespace {

uint64_t queryNumber(const std::string& target, const std::string& key, uint64_t fallback) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return fallback;
  for (auto p : url->params())
    if (p.key == key) return std::stoull(std::string(p.value));
  return fallback;
}

void writeAll(tcp::socket& s, std::string_view data) {
  boost::system::error_code ec;
  asio::write(s, asio::buffer(data.data(), data.size()), ec);
}

}  // namespace

void TestBackend::serve(tcp::socket socket) {
  const int now_open = ++open_connections;
  for (int seen = max_open_connections;
       now_open > seen && !max_open_connections.compare_exchange_weak(seen, now_open);) {
  }
  struct Closed {
    std::atomic<int>& open;
    ~Closed() { --open; }
  } closed{open_connections};
  beast::flat_buffer buffer;
  // What downloads send (all 'x'); request bodies and echoed bytes are read into `scratch`,
  // never into it, so a later download on the same connection still sends only 'x'.
  const std::vector<char> chunk(64 * 1024, 'x');
  std::vector<char> scratch(64 * 1024);
  for (;;) {
    http::request_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    boost::system::error_code ec;
    http::read_header(socket, buffer, parser, ec);
    if (ec) break;
    ++requests;
    auto& req = parser.get();
    std::ostringstream headers;
    for (const auto& f : req) headers << f.name_string() << ": " << f.value() << "\n";
    {
      std::lock_guard lock(mutex_);
      last_headers_ = headers.str();
      targets_.emplace_back(req.target());
    }
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    if (reset_next > 0) {
      --reset_next;
      socket.set_option(asio::socket_base::linger(true, 0), ec);
      socket.close(ec);
      return;
    }
    if (path == "/ws" && parser.upgrade()) {
      writeAll(
          socket,
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
      if (buffer.size()) {
        writeAll(socket,
                 std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size()));
        buffer.consume(buffer.size());
      }
      for (;;) {
        const size_t n = socket.read_some(asio::buffer(scratch), ec);
        if (ec) return;
        writeAll(socket, std::string_view(scratch.data(), n));
      }
    }
    // Drain the body; keep small bodies for /echo.
    uint64_t body_bytes = 0;
    std::string body;
    while (!parser.is_done()) {
      req.body().data = scratch.data();
      req.body().size = scratch.size();
      http::read(socket, buffer, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return;
      const size_t n = scratch.size() - req.body().size;
      body_bytes += n;
      if (body.size() < 1024 * 1024) body.append(scratch.data(), n);
    }
    const bool keep = parser.keep_alive();
    auto reply = [&](unsigned status, const std::string& text, const std::string& extra = "") {
      std::string head =
          "HTTP/1.1 " + std::to_string(status) + " X\r\nx-backend: " + name_ + "\r\n" + extra;
      if (status != 204 && status != 304)
        head += "Content-Length: " + std::to_string(text.size()) + "\r\n";
      if (!keep) head += "Connection: close\r\n";
      head += "\r\n";
      writeAll(socket, head);
      if (req.method() != http::verb::head) writeAll(socket, text);
    };
    // gRPC-shaped answers (content-type application/grpc): trailers-only, or a chunked body
    // with the status in its trailer section.
    auto grpcTrailersOnly = [&](unsigned code) {
      reply(200, "",
            "Content-Type: application/grpc\r\ngrpc-status: " + std::to_string(code) +
                "\r\ngrpc-message: from " + name_ + "\r\n");
    };
    auto grpcWithTrailer = [&](const std::string& trailer) {
      std::string text =
          "HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\n"
          "Transfer-Encoding: chunked\r\n";
      if (!keep) text += "Connection: close\r\n";
      text += "\r\n5\r\n" + std::string(5, '\0') + "\r\n0\r\n" + trailer + "\r\n";
      writeAll(socket, std::string_view(text.data(), text.size()));
    };
    if (always_fail || fail_next > 0) {
      if (fail_next > 0) --fail_next;
      reply(503, "failing\n");
    } else if (path.rfind("/grpc/", 0) == 0 && grpc_fail_next > 0) {
      --grpc_fail_next;
      grpcTrailersOnly(14);  // UNAVAILABLE
    } else if (path.rfind("/grpc/status/", 0) == 0) {
      grpcTrailersOnly(static_cast<unsigned>(std::stoi(path.substr(13))));
    } else if (path.rfind("/grpc/trailer/", 0) == 0) {
      grpcWithTrailer("grpc-status: " + path.substr(14) + "\r\n");
    } else if (path == "/grpc/missing") {
      grpcWithTrailer("");
    } else if (path == "/grpc/slow") {
      std::this_thread::sleep_for(std::chrono::milliseconds(queryNumber(target, "ms", 100)));
      grpcWithTrailer("grpc-status: 0\r\n");
    } else if (path.rfind("/path/", 0) == 0) {
      reply(200, target);
    } else if (path == "/bad-framing") {
      writeAll(socket,
               "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
               "0\r\n\r\n");
    } else if (path == "/bad-te") {
      writeAll(socket, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxxxx");
      break;
    } else if (path == "/bad-te-lines") {
      writeAll(socket,
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: "
               "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    } else if (path == "/name") {
      reply(200, name_);
    } else if (path == "/headers") {
      reply(200, headers.str());
    } else if (path == "/upload") {
      reply(200, "bytes=" + std::to_string(body_bytes));
    } else if (path == "/echo") {
      reply(200, body);
    } else if (path == "/download") {
      uint64_t left = queryNumber(target, "bytes", 0);
      writeAll(socket, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(left) + "\r\n\r\n");
      if (req.method() == http::verb::head) continue;
      while (left > 0 && !ec) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
        asio::write(socket, asio::buffer(chunk.data(), n), ec);
        left -= n;
      }
      if (ec) return;
    } else if (path == "/chunked") {
      uint64_t left = queryNumber(target, "bytes", 0);
      writeAll(socket, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      while (left > 0) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, 10000));
        std::ostringstream size;
        size << std::hex << n << "\r\n";
        writeAll(socket, size.str());
        writeAll(socket, std::string_view(chunk.data(), n));
        writeAll(socket, "\r\n");
        left -= n;
      }
      writeAll(socket, "0\r\n\r\n");
    } else if (path == "/trailers") {
      // A chunked body with a trailer section, as a gRPC server's status would travel.
      writeAll(socket,
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n"
               "5\r\nhello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: fine\r\n\r\n");
    } else if (path.rfind("/status/", 0) == 0) {
      reply(static_cast<unsigned>(std::stoi(path.substr(8))), "");
    } else if (path == "/slow") {
      std::this_thread::sleep_for(std::chrono::milliseconds(queryNumber(target, "ms", 100)));
      reply(200, "slow");
    } else if (path == "/interim") {
      writeAll(socket, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n");
      reply(200, "after hints");
    } else if (path == "/hop-by-hop") {
      // Hop-by-hop fields, one named by the Connection field, and names in mixed case.
      reply(200, "hop",
            "Connection: X-Private, keep-alive\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\n"
            "Proxy-Authenticate: Basic\r\nUpgrade: h2c\r\nX-Kept: Yes\r\n");
    } else if (path == "/plain-connection") {
      // Connection naming only tokens that name no other field: the proxy's fast path.
      reply(200, "plain",
            "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Mixed-Case: Kept\r\n"
            "TE: trailers\r\nTrailer: x-none\r\n");
    } else if (path == "/close-delimited") {
      writeAll(socket, "HTTP/1.1 200 OK\r\n\r\nuntil the end");
      socket.shutdown(tcp::socket::shutdown_send, ec);
      return;
    } else {
      reply(200, "ok " + name_);
    }
    if (!keep) break;
  }
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

std::string rawExchange(uint16_t port, const std::string& bytes, int timeout_ms) {
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return "connect failed: " + ec.message();
  ::fcntl(s.native_handle(), F_SETFD, FD_CLOEXEC);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  asio::write(s, asio::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::recv(s.native_handle(), buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct Client::Impl {
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  bool open = false;
};

Client::Client(uint16_t port) : impl_(std::make_unique<Impl>()) {
  boost::system::error_code ec;
  impl_->socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  impl_->open = !ec;
  if (impl_->open) {
    ::fcntl(impl_->socket.native_handle(), F_SETFD, FD_CLOEXEC);
    impl_->socket.set_option(tcp::no_delay(true), ec);
  }
  timeval tv{10, 0};
  ::setsockopt(impl_->socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

Client::~Client() = default;

bool Client::open() const { return impl_->open; }

Response Client::request(const std::string& method, const std::string& target,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         const std::string& body) {
  Response out;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "backend");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT") req.prepare_payload();
  boost::system::error_code ec;
  http::write(impl_->socket, req, ec);
  if (ec) {
    out.error = ec.message();
    impl_->open = false;
    return out;
  }
  // Interim 1xx responses (other than 101) precede the final one.
  std::optional<http::response_parser<http::string_body>> parser;
  for (int i = 0; i < 10; ++i) {
    parser.emplace();
    parser->body_limit(512 * 1024 * 1024);
    if (method == "HEAD") parser->skip(true);
    http::read(impl_->socket, impl_->buffer, *parser, ec);
    if (ec) {
      out.error = ec.message();
      impl_->open = false;
      return out;
    }
    const unsigned status = parser->get().result_int();
    if (status < 100 || status >= 200 || status == 101) break;
  }
  auto res = parser->release();
  out.status = res.result_int();
  out.headers = res.base();
  out.body = std::move(res.body());
  if (!res.keep_alive()) impl_->open = false;
  return out;
}

size_t rssBytes(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

}  // namespace meshdeck::proxy::testing
