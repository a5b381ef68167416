#include "common/net/tcp_listener.h"

#include <fmt/format.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>

namespace meshdeck::common {

using tcp = boost::asio::ip::tcp;

bool splitHostPort(const std::string& text, std::string* host, uint16_t* port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  *host = text.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  const std::string digits = text.substr(colon + 1);
  if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const unsigned long value = std::stoul(digits);
  if (value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

bool listenTcp(tcp::acceptor& acceptor, const std::string& address, std::string_view what,
               std::string* bound, std::string* error) {
  std::string host;
  uint16_t port = 0;
  if (!splitHostPort(address, &host, &port)) {
    *error = fmt::format("{} address \"{}\" is not host:port", what, address);
    return false;
  }
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(host, ec);
  if (ec) {
    *error = fmt::format("{} address \"{}\": {}", what, address, ec.message());
    return false;
  }
  const tcp::endpoint ep(ip, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(64, ec);
  if (ec) {
    *error = fmt::format("{} listener {}: {}", what, address, ec.message());
    boost::system::error_code ignored;
    acceptor.close(ignored);
    return false;
  }
  const auto local = acceptor.local_endpoint();
  *bound = local.address().is_v6()
               ? fmt::format("[{}]:{}", local.address().to_string(), local.port())
               : fmt::format("{}:{}", local.address().to_string(), local.port());
  return true;
}

boost::asio::awaitable<void> acceptCapped(tcp::acceptor& acceptor, int max_connections,
                                          ServeConnection serve, std::function<void()> refused) {
  namespace asio = boost::asio;
  // Shared with each connection's completion handler, so that the count and `serve` outlive
  // this loop while a connection still runs (the acceptor closes before they end).
  const auto live = std::make_shared<std::atomic<int>>(0);
  const auto shared_serve = std::make_shared<ServeConnection>(std::move(serve));
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
    if (ec) continue;
    if (live->load() >= max_connections) {
      if (refused) refused();
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++*live;
    asio::co_spawn(acceptor.get_executor(), (*shared_serve)(std::move(socket)),
                   [live, shared_serve](std::exception_ptr) { --*live; });
  }
}

}  // namespace meshdeck::common
