// Opening a TCP listening socket from a "host:port" the operator typed, and accepting on it with
// a cap on live connections (the control plane's HTTP side ports: /metrics, the injection
// webhook).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
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

// Serves one accepted connection; the connection's slot is held until the coroutine ends.
using ServeConnection = std::function<boost::asio::awaitable<void>(boost::asio::ip::tcp::socket)>;

// Accepts on `acceptor` until it is closed or an accept is aborted (other accept errors are
// skipped). While fewer than `max_connections` connections accepted here are being served, a
// new one is handed to `serve`, run as a coroutine of its own on the acceptor's executor; one
// beyond the cap is closed at once and `refused` (may be empty) is called. A connection's slot
// frees when its coroutine ends, returning or throwing. `serve` is kept alive (copied into
// this coroutine and shared with every connection) as long as any of them runs. Co_spawn it on
// the acceptor's executor.
boost::asio::awaitable<void> acceptCapped(boost::asio::ip::tcp::acceptor& acceptor,
                                          int max_connections, ServeConnection serve,
                                          std::function<void()> refused);

}  // namespace meshdeck::common
