#include "controlplane/metrics/metrics_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "common/net/tcp_listener.h"
#include "controlplane/metrics/prometheus_text.h"

namespace meshdeck::cp::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

}  // namespace

struct MetricsServer::State {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
};

MetricsServer::MetricsServer(std::function<std::string()> render)
    : render_(std::move(render)), state_(std::make_unique<State>()) {}

MetricsServer::~MetricsServer() { stop(); }

bool MetricsServer::start(const std::string& address, std::string* error) {
  if (!common::listenTcp(state_->acceptor, address, "metrics", &address_, error)) return false;

  auto serve = [this](tcp::socket socket) -> asio::awaitable<void> {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(kMaxHeaderBytes);
    // A bounded number of requests per connection, so one client cannot hold the thread's
    // attention forever (Prometheus reconnects).
    for (int served = 0; served < 1000; ++served) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
      parser.body_limit(0);
      stream.expires_after(std::chrono::seconds(kRequestTimeoutSeconds));
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
      // A connection closed between requests (or before any) is not a bad request.
      if (ec == http::error::end_of_stream && buffer.size() == 0) break;
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      bool close = false;
      if (ec) {
        // Every request that does not arrive whole is refused and counted; a time-out or a
        // client gone gets no answer (there is nobody to read it).
        ++bad_requests_;
        if (ec == beast::error::timeout || ec == http::error::end_of_stream ||
            ec == http::error::partial_message || ec == asio::error::connection_reset ||
            ec == asio::error::operation_aborted)
          break;
        res.result(ec == http::error::header_limit ? http::status::request_header_fields_too_large
                                                   : http::status::bad_request);
        res.body() = ec == http::error::header_limit ? "request header too large\n"
                                                     : "bad request: " + ec.message() + "\n";
        close = true;
      } else {
        const auto& req = parser.get();
        res.version(req.version());
        const auto target = std::string_view(req.target().data(), req.target().size());
        const auto path = target.substr(0, target.find('?'));
        const bool get = req.method() == http::verb::get, head = req.method() == http::verb::head;
        if (path != "/metrics") {
          ++bad_requests_;
          res.result(http::status::not_found);
          res.body() = "only /metrics is served here\n";
        } else if (!get && !head) {
          ++bad_requests_;
          res.result(http::status::method_not_allowed);
          res.set(http::field::allow, "GET, HEAD");
          res.body() = "method not allowed\n";
        } else {
          ++scrapes_;
          res.set(http::field::content_type, kContentType);
          res.body() = render_();
        }
        close = !req.keep_alive();
        if (head) {
          res.prepare_payload();
          res.keep_alive(!close);
          http::response_serializer<http::string_body> sr(res);
          sr.split(true);
          auto [wec, wn] = co_await http::async_write_header(stream, sr, kNoThrow);
          if (wec || close) break;
          continue;
        }
      }
      res.prepare_payload();
      res.keep_alive(!close);
      stream.expires_after(std::chrono::seconds(kRequestTimeoutSeconds));
      auto [wec, wn] = co_await http::async_write(stream, res, kNoThrow);
      if (wec || close) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  };
  asio::co_spawn(
      state_->io,
      common::acceptCapped(state_->acceptor, kMaxConnections, serve, [this] { ++bad_requests_; }),
      asio::detached);
  thread_ = std::make_unique<std::thread>([this] { state_->io.run(); });
  return true;
}

void MetricsServer::stop() {
  state_->io.stop();
  if (thread_ && thread_->joinable()) thread_->join();
  thread_.reset();
  // Closed too, so that the port refuses connections at once (not only stops answering).
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

}  // namespace meshdeck::cp::metrics
