#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>
#include <utility>

namespace meshdeck::proxy::tls {

// A connection that is either plain TCP or TLS over TCP, with the one interface Beast's HTTP
// algorithms need (AsyncReadStream / AsyncWriteStream), so the request path is written once.
// Both variants sit on a beast::tcp_stream, whose expiry (expires_after / expires_at) keeps
// working for TLS too: the TLS layer reads and writes through it.
//
// A stream starts plain; startTls() wraps it in TLS before the handshake. Not thread-safe
// (like the streams it wraps): one read and one write may be outstanding at a time.
class MeshStream {
 public:
  // On the worker's io_context executor itself rather than beast::tcp_stream's
  // any_io_executor: the stream's operations, timer and work guards then skip the type-erased
  // executor (a heap allocation and indirect calls per operation).
  using TcpStream =
      boost::beast::basic_stream<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
  using TlsStream = boost::beast::ssl_stream<TcpStream>;
  using executor_type = TcpStream::executor_type;

  explicit MeshStream(TcpStream tcp) : plain_(std::move(tcp)) {}
  template <typename ExecutionContext>
  explicit MeshStream(ExecutionContext& context) : plain_(std::in_place, context) {}

  // An SSL freed without a shutdown has its session marked not resumable by OpenSSL, which
  // would defeat ClientSessionCache: connections are closed without close_notify (like TCP
  // ones), so the shutdown state is set by hand. Fatal TLS errors still mark the session.
  ~MeshStream() {
    if (tls_) SSL_set_shutdown(tls_->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  MeshStream(const MeshStream&) = delete;
  MeshStream& operator=(const MeshStream&) = delete;

  executor_type get_executor() noexcept {
    return tls_ ? tls_->get_executor() : plain_->get_executor();
  }

  // The TCP stream underneath: connect, timeouts, socket options, close.
  TcpStream& tcp() noexcept { return tls_ ? boost::beast::get_lowest_layer(*tls_) : *plain_; }
  TcpStream::socket_type& socket() noexcept { return tcp().socket(); }
  void expires_after(std::chrono::steady_clock::duration d) { tcp().expires_after(d); }
  void expires_at(std::chrono::steady_clock::time_point t) { tcp().expires_at(t); }
  void expires_never() { tcp().expires_never(); }

  // Wraps the TCP connection in TLS with `context` (call before any TLS handshake). The SSL
  // object holds its own reference to the context's SSL_CTX.
  void startTls(boost::asio::ssl::context& context) {
    if (tls_) return;
    tls_.emplace(std::move(*plain_), context);
    plain_.reset();
  }
  bool isTls() const noexcept { return tls_.has_value(); }
  TlsStream* tls() noexcept { return tls_ ? &*tls_ : nullptr; }
  SSL* ssl() noexcept { return tls_ ? tls_->native_handle() : nullptr; }

  template <typename MutableBufferSequence,
            typename ReadToken = boost::asio::default_completion_token_t<executor_type>>
  auto async_read_some(
      const MutableBufferSequence& buffers,
      ReadToken&& token = boost::asio::default_completion_token_t<executor_type>{}) {
    return boost::asio::async_initiate<ReadToken, void(boost::system::error_code, std::size_t)>(
        [this](auto&& handler, const MutableBufferSequence& b) {
          if (tls_)
            tls_->async_read_some(b, std::forward<decltype(handler)>(handler));
          else
            plain_->async_read_some(b, std::forward<decltype(handler)>(handler));
        },
        token, buffers);
  }

  template <typename ConstBufferSequence,
            typename WriteToken = boost::asio::default_completion_token_t<executor_type>>
  auto async_write_some(
      const ConstBufferSequence& buffers,
      WriteToken&& token = boost::asio::default_completion_token_t<executor_type>{}) {
    return boost::asio::async_initiate<WriteToken, void(boost::system::error_code, std::size_t)>(
        [this](auto&& handler, const ConstBufferSequence& b) {
          if (tls_)
            tls_->async_write_some(b, std::forward<decltype(handler)>(handler));
          else
            plain_->async_write_some(b, std::forward<decltype(handler)>(handler));
        },
        token, buffers);
  }

 private:
  std::optional<TcpStream> plain_;
  std::optional<TlsStream> tls_;
};

}  // namespace meshdeck::proxy::tls
