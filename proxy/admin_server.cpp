#include "proxy/admin_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include "common/logging.h"
#include "proxy/config/config_compiler.h"
#include "proxy/proxy.h"

namespace meshdeck::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
}  // namespace

AdminServer::AdminServer(Proxy& proxy) : proxy_(proxy) {}

AdminServer::~AdminServer() { stop(); }

bool AdminServer::start(const std::string& address, std::string* error) {
  std::string host;
  uint16_t port = 0;
  if (!parseHostPort(address, &host, &port)) {
    *error = fmt::format("admin address \"{}\" is not host:port", address);
    return false;
  }
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec) {
    *error = fmt::format("admin address \"{}\": {}", address, ec.message());
    return false;
  }
  acceptor_ = std::make_unique<tcp::acceptor>(io_);
  const tcp::endpoint ep(ip, port);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(64, ec);
  if (ec) {
    *error = fmt::format("admin listener {}: {}", address, ec.message());
    return false;
  }
  port_ = acceptor_->local_endpoint().port();

  auto serve = [this](tcp::socket socket) -> asio::awaitable<void> {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      stream.expires_after(std::chrono::seconds(30));
      auto [ec, n] = co_await http::async_read(stream, buffer, req, kNoThrow);
      if (ec) break;
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      auto url = boost::urls::parse_origin_form(req.target());
      const std::string path = url ? std::string(url->path()) : std::string(req.target());
      const bool get = req.method() == http::verb::get;
      const bool post = req.method() == http::verb::post;
      if (get && path == "/stats") {
        res.set(http::field::content_type, "text/plain; version=0.0.4");
        res.body() = proxy_.collectStats().renderPrometheus() + proxy_.tap().renderPrometheus();
        // A scoped sidecar's on-demand discovery (docs/counters.md).
        if (proxy_.onDemand().scoped()) res.body() += proxy_.onDemand().renderPrometheus();
      } else if (get && path == "/config") {
        res.set(http::field::content_type, "application/json");
        auto config = proxy_.config();
        res.body() = config ? configJson(*config) : "{}";
      } else if (get && path == "/listeners") {
        res.set(http::field::content_type, "application/json");
        std::string body = "{";
        for (const auto& [name, port] : proxy_.listenerPorts())
          body += fmt::format("{}\"{}\": {}", body.size() > 1 ? ", " : "", name, port);
        body += fmt::format("{}\"admin\": {}}}", body.size() > 1 ? ", " : "", port_);
        res.body() = body;
      } else if (get && path == "/ready") {
        const bool ready = proxy_.ready();
        res.result(ready ? http::status::ok : http::status::service_unavailable);
        res.body() = ready ? "ready\n" : (proxy_.draining() ? "draining\n" : "not configured\n");
      } else if (get && path == "/healthz") {
        res.body() = "ok\n";
      } else if (post && path == "/drain") {
        res.body() = "draining\n";
        proxy_.drain();
      } else if (post && path == "/log-level") {
        std::string level;
        if (url)
          for (auto param : url->params())
            if (param.key == "level") level = param.value;
        if (common::setLogLevel(level)) {
          res.body() = fmt::format("log level {}\n", level);
          spdlog::info("log level set to {}", level);
        } else {
          res.result(http::status::bad_request);
          res.body() = "level must be one of trace, debug, info, warn, error, off\n";
        }
      } else if (path == "/stats" || path == "/config" || path == "/ready" || path == "/healthz" ||
                 path == "/drain" || path == "/log-level" || path == "/listeners") {
        res.result(http::status::method_not_allowed);
        res.body() = "method not allowed\n";
      } else {
        res.result(http::status::not_found);
        res.body() =
            "endpoints: /stats /config /listeners /ready /healthz POST /drain POST "
            "/log-level?level=\n";
      }
      res.prepare_payload();
      res.keep_alive(req.keep_alive());
      auto [wec, wn] = co_await http::async_write(stream, res, kNoThrow);
      if (wec || !req.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  };
  asio::co_spawn(
      io_,
      [this, serve]() -> asio::awaitable<void> {
        for (;;) {
          auto [ec, socket] = co_await acceptor_->async_accept(kNoThrow);
          if (ec == asio::error::operation_aborted || !acceptor_->is_open()) break;
          if (ec) continue;
          asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
        }
      },
      asio::detached);
  thread_ = std::make_unique<std::thread>([this] { io_.run(); });
  return true;
}

void AdminServer::stop() {
  io_.stop();
  if (thread_ && thread_->joinable()) thread_->join();
  thread_.reset();
}

}  // namespace meshdeck::proxy
