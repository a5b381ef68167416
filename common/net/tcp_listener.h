// Opening a TCP listening socket from a "host:port" the operator typed (the control plane's
// HTTP side ports: /metrics, the injection webhook).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace meshdeck::common {

// "host:port" or "[v6]:port" into its parts; false when it is not that (no port, a port that
// is not 0..65535 in at most five digits).
bool splitHostPort(const std::string& text, std::string* host, uint16_t* port);

// Opens, binds (with SO_REUSEADDR) and listens on `address` ("IP:port"; port 0 picks one).
// `what` names the port in errors ("metrics", "webhook"). On success `bound` is the address
// actually bound ("127.0.0.1:41234", "[::1]:41234"); on failure the acceptor is closed and
// `error` says why.
bool listenTcp(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address,
               std::string_view what, std::string* bound, std::string* error);

}  // namespace meshdeck::common
