#include "downstream_client.h"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace meshdeck::tools {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
constexpr size_t kMaxIdlePerPeer = 64;
constexpr uint64_t kBodyLimit = 16u << 20;
}  // namespace

struct DownstreamClient::Connection {
  explicit Connection(const net::any_io_executor& ex) : stream(ex) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

struct DownstreamClient::Exchange {
  HttpUrl url;
  std::string peer_host;
  uint16_t peer_port = 0;
  std::string key;
  http::request<http::empty_body> request;
  std::optional<http::response_parser<http::string_body>> parser;
  std::unique_ptr<Connection> conn;
  Clock::time_point start;
  Clock::time_point deadline;
  bool reused = false;
  bool retried = false;
  Callback done;
};

std::shared_ptr<DownstreamClient> DownstreamClient::create(net::any_io_executor executor,
                                                           std::optional<HttpUrl> proxy) {
  return std::shared_ptr<DownstreamClient>(
      new DownstreamClient(std::move(executor), std::move(proxy)));
}

DownstreamClient::DownstreamClient(net::any_io_executor executor, std::optional<HttpUrl> proxy)
    : executor_(std::move(executor)), proxy_(std::move(proxy)), resolver_(executor_) {}

void DownstreamClient::get(const HttpUrl& url, const Headers& headers,
                           std::chrono::nanoseconds timeout, Callback done) {
  auto ex = std::make_shared<Exchange>();
  ex->url = url;
  const HttpUrl& peer = proxy_ ? *proxy_ : url;
  ex->peer_host = peer.host;
  ex->peer_port = peer.port;
  ex->key = peer.host + ":" + std::to_string(peer.port);
  ex->request = {http::verb::get, proxy_ ? url.absoluteForm() : url.target, 11};
  ex->request.set(http::field::host, url.authority);
  ex->request.set(http::field::user_agent, "meshdeck-demo-service");
  for (const auto& [name, value] : headers) ex->request.set(name, value);
  ex->start = Clock::now();
  ex->deadline = ex->start + timeout;
  ex->done = std::move(done);
  auto& pool = idle_[ex->key];
  if (!pool.empty()) {
    ex->conn = std::move(pool.back());
    pool.pop_back();
    ex->reused = true;
    ex->conn->stream.expires_at(ex->deadline);
    return write(std::move(ex));
  }
  connect(std::move(ex));
}

void DownstreamClient::connect(std::shared_ptr<Exchange> ex) {
  ex->conn = std::make_unique<Connection>(executor_);
  ex->conn->stream.expires_at(ex->deadline);
  auto on_connect = [self = shared_from_this(), ex](const beast::error_code& ec, const auto&...) {
    if (ec) return self->finish(ex, ec == beast::error::timeout ? "timeout" : "connect");
    ex->conn->stream.socket().set_option(tcp::no_delay(true));
    self->write(ex);
  };
  beast::error_code ec;
  const auto address = net::ip::make_address(ex->peer_host, ec);
  if (!ec) {
    ex->conn->stream.async_connect(tcp::endpoint(address, ex->peer_port),
                                   [on_connect](const beast::error_code& e) { on_connect(e); });
    return;
  }
  resolver_.async_resolve(ex->peer_host, std::to_string(ex->peer_port),
                          [self = shared_from_this(), ex, on_connect](
                              const beast::error_code& e, tcp::resolver::results_type results) {
                            if (e) return self->finish(ex, "resolve");
                            ex->conn->stream.async_connect(results, on_connect);
                          });
}

void DownstreamClient::write(std::shared_ptr<Exchange> ex) {
  http::async_write(ex->conn->stream, ex->request,
                    [self = shared_from_this(), ex](const beast::error_code& ec, size_t) {
                      if (ec && ex->reused && !ex->retried && ec != beast::error::timeout) {
                        ex->retried = true;  // a stale pooled connection: see read()
                        ex->reused = false;
                        return self->connect(ex);
                      }
                      if (ec)
                        return self->finish(ex, ec == beast::error::timeout ? "timeout" : "reset");
                      self->read(ex);
                    });
}

void DownstreamClient::read(std::shared_ptr<Exchange> ex) {
  ex->parser.emplace();
  ex->parser->body_limit(kBodyLimit);
  http::async_read(ex->conn->stream, ex->conn->buffer, *ex->parser,
                   [self = shared_from_this(), ex](const beast::error_code& ec, size_t) {
                     if (!ec) return self->finish(ex, {});
                     if (ec == beast::error::timeout) return self->finish(ex, "timeout");
                     const bool closed =
                         ec == http::error::end_of_stream || ec == net::error::eof ||
                         ec == net::error::connection_reset || ec == http::error::partial_message;
                     // A pooled connection the peer closed while it sat idle: not the peer's
                     // failure, so try once more on a fresh connection.
                     if (closed && ex->reused && !ex->retried && Clock::now() < ex->deadline) {
                       ex->retried = true;
                       ex->reused = false;
                       return self->connect(ex);
                     }
                     self->finish(ex, closed ? "reset" : "protocol");
                   });
}

void DownstreamClient::finish(const std::shared_ptr<Exchange>& ex, std::string error) {
  DownstreamResult result;
  result.url = ex->url.absoluteForm();
  result.latency = Clock::now() - ex->start;
  if (error.empty()) {
    const auto& res = ex->parser->get();
    result.status = res.result_int();
    auto& pool = idle_[ex->key];
    if (res.keep_alive() && pool.size() < kMaxIdlePerPeer) {
      ex->conn->stream.expires_never();
      pool.push_back(std::move(ex->conn));
    }
  } else {
    result.error = std::move(error);
  }
  if (ex->conn) {
    beast::error_code ignored;
    ex->conn->stream.socket().close(ignored);
    ex->conn.reset();
  }
  auto done = std::move(ex->done);
  done(std::move(result));
}

void DownstreamClient::closeIdle() {
  for (auto& [key, pool] : idle_)
    for (auto& c : pool) c->stream.close();
  idle_.clear();
}

}  // namespace meshdeck::tools
