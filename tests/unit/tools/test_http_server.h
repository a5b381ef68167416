#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace meshdeck::tools::testing {

// A scriptable HTTP/1.1 server on 127.0.0.1:0 for the tools' unit tests. Each request asks
// the handler what to do: answer (after a delay), close the connection, or never answer.
// Runs on its own thread; every socket and timer is closed by the destructor.
class TestHttpServer {
 public:
  enum class Kind { kRespond, kClose, kHang };
  struct Action {
    Kind kind = Kind::kRespond;
    unsigned status = 200;
    std::chrono::milliseconds delay{0};
  };
  // Called on the server thread with the 0-based index of the request across connections.
  using Handler = std::function<Action(uint64_t index)>;

  explicit TestHttpServer(Handler handler) : handler_(std::move(handler)) {
    namespace net = boost::asio;
    acceptor_.open(net::ip::tcp::v4());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TestHttpServer() {
    boost::asio::post(ioc_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      for (auto& s : sessions_) s->close();
    });
    thread_.join();
  }
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  uint64_t requests() const { return requests_; }
  uint64_t connections() const { return connections_; }
  std::string lastTarget() const {
    std::lock_guard lock(mutex_);
    return last_target_;
  }
  std::string lastHost() const {
    std::lock_guard lock(mutex_);
    return last_host_;
  }
  // A header of the last request, empty when it had none.
  std::string lastHeader(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = last_headers_.find(name);
    return it == last_headers_.end() ? std::string() : it->second;
  }

 private:
  struct Session : std::enable_shared_from_this<Session> {
    Session(TestHttpServer& s, boost::asio::ip::tcp::socket sock)
        : server(s), stream(std::move(sock)), timer(server.ioc_) {}
    void read() {
      request = {};
      boost::beast::http::async_read(
          stream, buffer, request,
          [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
            if (!ec) self->onRequest();
          });
    }
    void onRequest() {
      {
        std::lock_guard lock(server.mutex_);
        server.last_target_ = std::string(request.target());
        server.last_host_ = std::string(request[boost::beast::http::field::host]);
        server.last_headers_.clear();
        for (const auto& field : request)
          server.last_headers_[std::string(field.name_string())] = std::string(field.value());
      }
      const auto action = server.handler_(server.requests_++);
      if (action.kind == Kind::kClose) return close();
      if (action.kind == Kind::kHang) return;  // keeps the socket open, never answers
      timer.expires_after(action.delay);
      timer.async_wait(
          [self = shared_from_this(), status = action.status](const boost::system::error_code& ec) {
            if (!ec) self->respond(status);
          });
    }
    void respond(unsigned status) {
      namespace http = boost::beast::http;
      response = {};
      response.result(status);
      response.version(11);
      response.set(http::field::content_type, "text/plain");
      response.body() = "ok\n";
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      http::async_write(stream, response,
                        [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                          if (!ec && self->response.keep_alive()) self->read();
                        });
    }
    void close() {
      boost::system::error_code ec;
      timer.cancel();
      stream.socket().close(ec);
    }
    TestHttpServer& server;
    boost::beast::tcp_stream stream;
    boost::asio::steady_timer timer;
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> request;
    boost::beast::http::response<boost::beast::http::string_body> response;
  };

  void accept() {
    acceptor_.async_accept(
        [this](const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket) {
          if (ec) return;
          ++connections_;
          auto session = std::make_shared<Session>(*this, std::move(socket));
          sessions_.push_back(session);
          session->read();
          accept();
        });
  }

  Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  std::vector<std::shared_ptr<Session>> sessions_;  // kept so that kHang holds its socket
  uint16_t port_ = 0;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> connections_{0};
  mutable std::mutex mutex_;
  std::string last_target_;
  std::string last_host_;
  std::map<std::string, std::string> last_headers_;
  std::thread thread_;
};

}  // namespace meshdeck::tools::testing
