#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <memory>
#include <optional>
#include <string>

#include "proxy/config/config.h"
#include "proxy/http/field_allocator.h"
#include "proxy/policy/retry_policy.h"
#include "proxy/tls/mesh_stream.h"
#include "proxy/worker.h"

namespace meshdeck::proxy {

class Worker;
struct ListenerShared;
struct ClusterRuntime;
struct UpstreamConnection;

// Short reason codes of responses the proxy generates itself, sent as `x-meshdeck-error`.
namespace error_code {
inline constexpr const char* kUpstreamConnect = "UC";   // 502: connect failed or refused
inline constexpr const char* kUpstreamReset = "UR";     // 502: connection reset / bad response
inline constexpr const char* kNoHealthy = "UH";         // 503: no endpoint available
inline constexpr const char* kOverflow = "UO";          // 503: circuit breaker open
inline constexpr const char* kTimeout = "UT";           // 504: route or per-try timeout
inline constexpr const char* kRateLimited = "RL";       // 429: local rate limit
inline constexpr const char* kFault = "FI";             // configured status: fault injection
inline constexpr const char* kDenied = "DENY";          // 403: authorization rule
inline constexpr const char* kNoRoute = "NR";           // 404: no virtual host or route matched
inline constexpr const char* kBadRequest = "BR";        // 400/431/501/505: malformed request
inline constexpr const char* kDraining = "DR";          // 503: proxy shutting down
inline constexpr const char* kUpstreamTls = "TLS";      // 502: TLS handshake with upstream failed
inline constexpr const char* kUpstreamIdentity = "UI";  // 502: upstream's SPIFFE id unexpected
}  // namespace error_code

// One downstream connection: reads requests with Beast's parser, routes each one, relays it
// to an upstream connection and streams the response back (buffer_body in both directions, so
// memory stays bounded whatever the body size). Requests on a connection are handled one at a
// time, which answers pipelined requests in order. Lives on one worker thread.
//
// Transport: per the listener's TLS mode the connection is plain, mutual TLS 1.3 (STRICT), or
// either (PERMISSIVE: the first byte decides). The verified peer SPIFFE id of an mTLS
// connection is the request's source identity for authorization; plain peers have none.
// The session's coroutines run on the worker's io_context executor itself, like its sockets and
// timers (tls::MeshStream): with boost::asio::awaitable's default any_io_executor every resume
// and every co_await went through the type-erased executor (copies, prefer/require dispatch).
using Executor = boost::asio::io_context::executor_type;
template <typename T>
using Awaitable = boost::asio::awaitable<T, Executor>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = tls::MeshStream::TcpStream::socket_type;  // on the worker's io_context

  Session(Worker& worker, Socket socket, std::shared_ptr<ListenerShared> listener);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Closes the connection if it waits for its next request (drain, listener removal).
  void closeIfIdle();

 private:
  using RequestParser =
      boost::beast::http::request_parser<boost::beast::http::buffer_body, FieldAllocator<char>>;
  using ResponseParser =
      boost::beast::http::response_parser<boost::beast::http::buffer_body, FieldAllocator<char>>;
  struct Exchange;
  struct Verdict;
  struct Attempt;
  enum class HeadResult {
    kOk,
    kClosed,
    kIdleTimeout,
    kHeaderTimeout,
    kTooLarge,
    kObsFold,
    kBadRequestLine
  };

  Awaitable<void> run(std::shared_ptr<Session> keep);
  // Takes this session's listener config from `config` if that is a newer config.
  void refreshListenerConfig(const ConfigPtr& config);
  // Peeks the first byte and does the TLS handshake as the listener's mode asks; false when
  // the connection is refused (counted by reason) or gone.
  Awaitable<bool> establishTransport();
  Awaitable<HeadResult> readHead(const ListenerConfig& listener, bool first, size_t* head_size);
  Awaitable<bool> handleRequest(RequestParser& parser, Exchange& ex);
  // Checks and routes a request (validation, route, authorization, rate limits, fault delay);
  // for an admitted one without delay also prepareUpstreamRequest().
  Verdict admitRequest(RequestParser& parser, Exchange& ex);
  // Fault abort, destination and the upstream head (into ex.head).
  Verdict prepareUpstreamRequest(RequestParser& parser, Exchange& ex);
  Awaitable<void> sleepFor(Duration d);
  // Sends ex.head (and the body) upstream, with retries, and relays the response.
  Awaitable<bool> forward(RequestParser& parser, Exchange& ex);
  // Sends a copy of a replayable request to the route's mirror cluster (by its percentage),
  // in a detached coroutine whose response is ignored.
  void sendMirror(Exchange& ex);
  Awaitable<void> runAttempt(RequestParser& parser, Exchange& ex, bool replayable, bool fresh_only,
                             Attempt& at);
  Awaitable<bool> relayResponse(RequestParser& parser, Exchange& ex, Attempt& at);
  Awaitable<void> tunnel(UpstreamConnection& upstream);
  // Frames what goes out next: what wire_ holds (a serialized head, or nothing) followed by one
  // body piece, framed as a chunk when `chunked` (with the last chunk when `last`), as the
  // buffers of one gathered write (wire_buffers_); returns their size. Not a coroutine: the
  // caller co_awaits the write itself (one coroutine frame less per send), then clearWire().
  size_t framePiece(const char* data, size_t size, bool chunked, bool last);
  void clearWire();
  Awaitable<bool> sendLocal(Exchange& ex, unsigned status, const char* code, bool keep_alive,
                            const char* detail = "");
  // Answers a malformed request with `status` and closes. Within an exchange (`ex` set) the
  // request is counted once, by finish(); before one exists, here.
  Awaitable<bool> refuseMalformed(unsigned version, unsigned status, const char* reason,
                                  Exchange* ex = nullptr);
  void finish(Exchange& ex);

  Worker& worker_;
  tls::MeshStream down_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<ListenerShared> listener_;
  std::string peer_ip_;
  bool mtls_ = false;                 // downstream is mutual TLS
  std::string peer_identity_;         // its verified SPIFFE id (empty for plain text)
  ListenerConfig listener_config_;    // last known config of this session's listener
  ConfigPtr listener_config_source_;  // the config listener_config_ was taken from
  bool idle_ = false;
  bool closed_ = false;
  std::string wire_;  // serialized head (and small body piece) on its way out
  std::array<boost::asio::const_buffer, 3> wire_buffers_;  // wire_ [, body piece, chunk end]
  RelayBuffer body_;  // relay buffer, both directions; lent by the worker for one exchange
  size_t prefetched_ = 0;
};

}  // namespace meshdeck::proxy
