#include "proxy/tunnel.h"

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>
#include <memory>

namespace meshdeck::proxy {

namespace asio = boost::asio;

Awaitable<void> tunnel(tls::MeshStream& down, boost::beast::flat_buffer& down_buffer,
                       UpstreamConnection& upstream, char* buf, size_t size) {
  auto& up = upstream.stream;
  down.expires_never();
  up.expires_never();
  if (upstream.buffer.size() > 0) {
    co_await asio::async_write(down, upstream.buffer.data(), kNoThrow);
    upstream.buffer.consume(upstream.buffer.size());
  }
  if (down_buffer.size() > 0) {
    co_await asio::async_write(up, down_buffer.data(), kNoThrow);
    down_buffer.consume(down_buffer.size());
  }
  // Both directions run in this coroutine; the direction that ends first closes both sockets,
  // which ends the other.
  auto pump = [](tls::MeshStream& from, tls::MeshStream& to, char* b,
                 size_t n_max) -> Awaitable<void> {
    for (;;) {
      auto [ec, n] = co_await from.async_read_some(asio::buffer(b, n_max), kNoThrow);
      if (ec) break;
      auto [wec, wn] = co_await asio::async_write(to, asio::buffer(b, n), kNoThrow);
      if (wec) break;
    }
    boost::system::error_code ignored;
    from.socket().close(ignored);
    to.socket().close(ignored);
  };
  auto up_buf = std::make_unique<std::array<char, 16384>>();
  using namespace asio::experimental::awaitable_operators;
  co_await (pump(down, up, buf, size) && pump(up, down, up_buf->data(), up_buf->size()));
}

}  // namespace meshdeck::proxy
