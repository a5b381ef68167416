// A blocking TLS client connection for tests of HTTPS servers (the injection webhook): the
// server verified against the test's roots, for a name. Header only, Boost.Asio/Beast and
// OpenSSL.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <string>

namespace meshdeck::test {

class TlsClient {
 public:
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  // Connects to `address` ("host:port") and completes the handshake, sending `host` as the
  // server name and verifying the server's chain against `roots_pem` and its name against
  // `host`. `timeout` bounds the connection's asynchronous operations. Throws
  // (boost::system::system_error) when the connection or the handshake fails.
  TlsClient(const std::string& address, const std::string& roots_pem, const std::string& host,
            std::chrono::seconds timeout)
      : ctx_(clientContext(roots_pem)) {
    namespace asio = boost::asio;
    SSL_set_tlsext_host_name(stream_.native_handle(), host.c_str());
    stream_.set_verify_callback(asio::ssl::host_name_verification(host));
    const auto colon = address.rfind(':');
    asio::ip::tcp::resolver resolver(io_);
    boost::beast::get_lowest_layer(stream_).expires_after(timeout);
    boost::beast::get_lowest_layer(stream_).connect(
        resolver.resolve(address.substr(0, colon), address.substr(colon + 1)));
    stream_.handshake(asio::ssl::stream_base::client);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  Stream& stream() { return stream_; }

 private:
  // The context is set up whole before the stream is made of it: an SSL object takes the
  // context's verify mode when it is created.
  static boost::asio::ssl::context clientContext(const std::string& roots_pem) {
    namespace ssl = boost::asio::ssl;
    ssl::context ctx(ssl::context::tls_client);
    ctx.add_certificate_authority(boost::asio::buffer(roots_pem));
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
  }

  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  Stream stream_{io_, ctx_};
};

}  // namespace meshdeck::test
