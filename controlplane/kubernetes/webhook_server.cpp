#include "controlplane/kubernetes/webhook_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <mutex>

#include "common/net/tcp_listener.h"
#include "controlplane/kubernetes/admission_review.h"

namespace meshdeck::cp::kubernetes {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// A server context of TLS 1.2 and 1.3 (the API server speaks both) with this key and chain.
std::shared_ptr<ssl::context> serverContext(const std::string& key_pem,
                                            const std::string& chain_pem, std::string* error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain(asio::buffer(chain_pem), ec);
  if (ec) {
    *error = "webhook certificate: " + ec.message();
    return nullptr;
  }
  ctx->use_private_key(asio::buffer(key_pem), ssl::context::pem, ec);
  if (ec) {
    *error = "webhook key: " + ec.message();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    *error = "webhook key does not match its certificate";
    return nullptr;
  }
  return ctx;
}
}  // namespace

struct WebhookServer::State {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer refresh_timer{io};
  std::mutex mu;
  std::shared_ptr<ssl::context> tls;  // replaced whole on refresh; connections keep theirs
};

WebhookServer::WebhookServer(InjectionSettings settings, CertificateSource certificates,
                             std::chrono::seconds refresh)
    : settings_(std::move(settings)),
      certificates_(std::move(certificates)),
      refresh_(refresh),
      state_(std::make_unique<State>()) {}

WebhookServer::~WebhookServer() { stop(); }

WebhookServer::Counters WebhookServer::counters() const {
  Counters c;
  c.injected = injected_.load();
  c.skipped = skipped_.load();
  c.bad_requests = bad_requests_.load();
  c.handshake_failures = handshake_failures_.load();
  c.certificate_loads = certificate_loads_.load();
  c.certificate_failures = certificate_failures_.load();
  return c;
}

bool WebhookServer::loadCertificate(std::string* error) {
  std::string key, chain;
  if (!certificates_(&key, &chain, error)) return false;
  auto ctx = serverContext(key, chain, error);
  if (!ctx) return false;
  std::lock_guard lock(state_->mu);
  state_->tls = std::move(ctx);
  ++certificate_loads_;
  return true;
}

bool WebhookServer::start(const std::string& address, std::string* error) {
  if (const auto bad = settings_.check(); !bad.empty()) {
    *error = "injection settings: " + bad;
    return false;
  }
  if (!loadCertificate(error)) return false;
  if (!common::listenTcp(state_->acceptor, address, "webhook", &address_, error)) return false;

  const auto timeout = std::chrono::seconds(kRequestTimeoutSeconds);
  auto serve = [this, timeout](tcp::socket socket,
                               std::shared_ptr<ssl::context> tls) -> asio::awaitable<void> {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(timeout);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
    if (hec) {
      ++handshake_failures_;
      spdlog::debug("webhook: TLS handshake failed: {}", hec.message());
      co_return;
    }
    beast::flat_buffer buffer;
    bool open = true;
    for (int served = 0; served < 1000 && open; ++served) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
      parser.body_limit(kMaxBodyBytes);
      lowest.expires_after(timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
      // A connection closed between requests (or before any) is not a bad request.
      if ((ec == http::error::end_of_stream || ec == ssl::error::stream_truncated) &&
          buffer.size() == 0)
        break;
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      if (ec) {
        ++bad_requests_;
        if (ec == beast::error::timeout || ec == http::error::end_of_stream ||
            ec == http::error::partial_message || ec == ssl::error::stream_truncated ||
            ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
          break;
        if (ec == http::error::header_limit) {
          res.result(http::status::request_header_fields_too_large);
          res.body() = "request header too large\n";
        } else if (ec == http::error::body_limit) {
          res.result(http::status::payload_too_large);
          res.body() = fmt::format("request body over {} bytes\n", kMaxBodyBytes);
        } else {
          res.result(http::status::bad_request);
          res.body() = "bad request: " + ec.message() + "\n";
        }
        open = false;
      } else {
        const auto& req = parser.get();
        res.version(req.version());
        const auto target = std::string_view(req.target().data(), req.target().size());
        const auto path = target.substr(0, target.find('?'));
        if (path != "/inject") {
          ++bad_requests_;
          res.result(http::status::not_found);
          res.body() = "only POST /inject is served here\n";
        } else if (req.method() != http::verb::post) {
          ++bad_requests_;
          res.result(http::status::method_not_allowed);
          res.set(http::field::allow, "POST");
          res.body() = "method not allowed\n";
        } else {
          const auto answer = answerAdmissionReview(req.body(), settings_);
          res.result(static_cast<http::status>(answer.status));
          res.set(http::field::content_type, answer.content_type);
          res.body() = answer.body;
          switch (answer.outcome) {
            case ReviewAnswer::Outcome::kInjected:
              ++injected_;
              spdlog::debug("webhook: injected: {}", answer.reason);
              break;
            case ReviewAnswer::Outcome::kSkipped:
              ++skipped_;
              spdlog::debug("webhook: no sidecar: {}", answer.reason);
              break;
            case ReviewAnswer::Outcome::kBadRequest:
              ++bad_requests_;
              spdlog::warn("webhook: refused a request: {}", answer.reason);
              break;
          }
        }
        open = req.keep_alive();
      }
      res.prepare_payload();
      res.keep_alive(open);
      lowest.expires_after(timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, kNoThrow);
      if (wec) break;
    }
    lowest.expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kNoThrow);
  };
  // Each connection keeps the TLS context current when it was accepted.
  auto with_current_tls = [this, serve](tcp::socket socket) {
    std::shared_ptr<ssl::context> tls;
    {
      std::lock_guard lock(state_->mu);
      tls = state_->tls;
    }
    return serve(std::move(socket), std::move(tls));
  };
  asio::co_spawn(state_->io,
                 common::acceptCapped(state_->acceptor, kMaxConnections, with_current_tls,
                                      [this] { ++bad_requests_; }),
                 asio::detached);
  asio::co_spawn(
      state_->io,
      [this]() -> asio::awaitable<void> {
        for (;;) {
          state_->refresh_timer.expires_after(refresh_);
          auto [ec] = co_await state_->refresh_timer.async_wait(kNoThrow);
          if (ec) break;
          std::string why;
          if (!loadCertificate(&why)) {
            ++certificate_failures_;
            spdlog::warn("webhook: keeping the current certificate: {}", why);
          }
        }
      },
      asio::detached);
  thread_ = std::make_unique<std::thread>([this] { state_->io.run(); });
  return true;
}

void WebhookServer::stop() {
  state_->io.stop();
  if (thread_ && thread_->joinable()) thread_->join();
  thread_.reset();
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

}  // namespace meshdeck::cp::kubernetes
