#include "controlplane/fleet/loopback_http.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace meshdeck::cp::fleet {

namespace http = boost::beast::http;

unsigned loopbackHttp(uint16_t port, const std::string& method, const std::string& target,
                      const std::string& json_body, std::chrono::milliseconds timeout,
                      std::string* response_body, std::string* error) {
  try {
    boost::asio::io_context io;
    boost::beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!json_body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = json_body;
    }
    req.prepare_payload();
    http::write(stream, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (response_body) *response_body = std::move(res.body());
    return res.result_int();
  } catch (const std::exception& e) {
    if (error) *error = e.what();
  }
  return 0;
}

}  // namespace meshdeck::cp::fleet
