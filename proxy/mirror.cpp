#include "proxy/mirror.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cassert>
#include <memory>
#include <vector>

#include "proxy/policy/router.h"
#include "proxy/upstream_attempt.h"

namespace meshdeck::proxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;

void sendMirror(SessionHost& host, const Exchange& ex, const char* body, size_t body_size) {
  assert(ex.route && !ex.route->mirror.cluster.empty());
  const MirrorConfig& mirror = ex.route->mirror;
  if (!selectPercent(mirror.percent, host.random())) return;
  auto cluster = host.cluster(*ex.config, mirror.cluster_slot, mirror.cluster);
  if (!cluster) return;
  auto shadow = std::make_shared<http::request<http::string_body, Fields>>(ex.head);
  shadow->body().assign(body, body_size);
  shadow->chunked(false);
  shadow->prepare_payload();
  ++cluster->statsIn(host.stats()).mirror_sent;
  SessionHost* h = &host;
  asio::co_spawn(
      host.io().get_executor(),
      [h, cluster, shadow]() -> Awaitable<void> {
        std::vector<EndpointView> views = cluster->endpoints;
        const int i = cluster->lb.pick(views, h->random(), nullptr);
        if (i < 0) co_return;
        const auto& cc = *cluster->config;
        const auto& ep = cc.endpoints[static_cast<size_t>(i)];
        auto& pool = h->pool();
        auto conn = pool.take(cluster->pool_keys[static_cast<size_t>(i)]);
        if (!conn || !pool.stillOpen(*conn, h->now())) {
          conn = std::make_unique<UpstreamConnection>(h->io());
          auto& cs = cluster->statsIn(h->stats());
          const auto outcome = co_await connectUpstream(
              *h, *conn, ep, cc, h->now() + cc.connect_timeout, cs, cc.http2());
          if (outcome != ConnectOutcome::kOk) co_return;
        }
        conn->stream.expires_after(std::chrono::seconds(5));
        auto [wec, wn] = co_await http::async_write(conn->stream, *shadow, kNoThrow);
        if (wec) co_return;
        http::response_parser<http::string_body> rp;
        rp.body_limit(1024 * 1024);
        if (shadow->method() == http::verb::head) rp.skip(true);
        auto [rec, rn] = co_await http::async_read(conn->stream, conn->buffer, rp, kNoThrow);
        if (!rec && rp.keep_alive())
          h->pool().give(std::move(conn), cluster->config->max_idle_connections, h->now());
      },
      asio::detached);
}

}  // namespace meshdeck::proxy
