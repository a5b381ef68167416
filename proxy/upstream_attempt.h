#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <memory>
#include <optional>

#include "proxy/awaitable.h"
#include "proxy/cluster_runtime.h"
#include "proxy/exchange.h"
#include "proxy/http/h1_response.h"
#include "proxy/http/wire_frames.h"
#include "proxy/session_host.h"
#include "proxy/upstream_pool.h"

namespace meshdeck::proxy {

namespace h2 {
class UpstreamStream;
}

// Largest response or request head the proxy reads.
inline constexpr size_t kMaxHeaderBytes = 64 * 1024;

using ResponseParser =
    boost::beast::http::response_parser<boost::beast::http::buffer_body, FieldAllocator<char>>;

enum class ConnectOutcome { kOk, kConnectFailed, kTimeout, kTlsFailed, kIdentityMismatch };

// Opens `conn` to endpoint `ep` of cluster `cc` before `deadline`. For a MUTUAL_TLS cluster it
// then does the TLS 1.3 handshake with the host's current identity (offering the last session
// of that endpoint, so most handshakes are resumptions) and checks the server's SPIFFE id
// against the trust domain and the cluster's expected identities; `h2`: the connection will
// speak HTTP/2 (ALPN h2 offered). Counts into `cs`.
Awaitable<ConnectOutcome> connectUpstream(SessionHost& host, UpstreamConnection& conn,
                                          const EndpointConfig& ep, const ClusterConfig& cc,
                                          std::chrono::steady_clock::time_point deadline,
                                          ClusterStats& cs, bool h2);

// The state and result of one upstream attempt (Envoy's UpstreamRequest).
struct Attempt {
  // User-provided, so that making one (PooledAttempt::fresh(), once per attempt) runs the
  // member initialisers only: value-initialising an aggregate-like Attempt zeroed all of it,
  // the head's raw field storage included, first.
  Attempt() noexcept {}

  AttemptFailure failure = AttemptFailure::kNone;
  const char* local_code = nullptr;  // set when the attempt ended in a local reply (UH, UO)
  unsigned local_status = 0;
  std::unique_ptr<UpstreamConnection> conn;
  // The final response head of an HTTP/1.1 upstream, read by the proxy's codec
  // (proxy/http/h1_response.h, docs/h1-codec.md): views into conn->buffer, whose first
  // head.size bytes are the head until consumeHead() takes them out.
  h1::ResponseHead head;
  bool has_head = false;  // `head` holds the final response head
  bool head_consumed = false;
  // The body read by readResponseBody(): bytes of a content-length body still to come, and
  // whether the body is complete.
  uint64_t body_left = 0;
  bool body_done = false;
  // Beast's parser, only where the body is still read with it: a chunked body (set up by
  // readResponseBody() with a head that states only the framing).
  std::optional<ResponseParser> response;
  // To an HTTP/2 or gRPC cluster: the stream whose final response head arrived (instead of
  // `conn` and `response`); its body and trailers are read from it.
  std::shared_ptr<h2::UpstreamStream> h2;
  Framing framing;  // of the response head
  int endpoint = -1;
  bool reused = false;
  bool request_sent = false;
  bool downstream_failed = false;
  const char* malformed = nullptr;  // downstream_failed by a malformed body: the reason
  std::shared_ptr<ClusterRuntime> cluster;
  const char* tls_code = nullptr;  // TLS / UI when the connect failure was about TLS
  // When the final response head came or the attempt failed (steady_clock, read once there):
  // the retry decision and the response's first write deadline use it.
  std::chrono::steady_clock::time_point ended_at{};

  // The final response's status (0: none came).
  unsigned status() const;
  // Takes the head's bytes out of conn->buffer (after the relay wrote the head from the views,
  // which then no longer point anywhere) and sets up the body's reading.
  void consumeHead();
};

// One piece of the response body of an HTTP/1.1 upstream (Session::relayResponse), read into
// `buf`: as Beast's async_read of a buffer_body does (until `buf` is full, the body is complete
// or the read fails), by the attempt itself for a content-length or close-delimited body and by
// Beast's parser for a chunked one. Call consumeHead() first (after writing the head). `ec`: the
// upstream failed mid-body (an end of stream before a content-length or chunked body is complete
// included).
struct ResponseBodyPiece {
  boost::beast::error_code ec;
  size_t size = 0;
  bool last = false;  // the body is complete
};
Awaitable<ResponseBodyPiece> readResponseBody(Attempt& at, char* buf, size_t size, Duration idle);
// The piece readResponseBody() would return without reading, without its coroutine: a
// content-length body whose rest (or `size` bytes of it) is buffered, or a body already
// complete. nullopt when a read is needed, or for a chunked or close-delimited body: then call
// readResponseBody(). Call consumeHead() first or let this call it.
std::optional<ResponseBodyPiece> bufferedResponseBody(Attempt& at, char* buf, size_t size);
// Whether the upstream connection may carry another request once the body was read.
bool reusableAfterBody(const Attempt& at);

// One attempt to carry the request of `ex` upstream: the circuit breaker, an endpoint by the
// cluster's balancer (outlier ejections left out), a pooled connection (unless `fresh_only`)
// or a new one (connect, TLS), the head with `first` (the body piece in hand) as one send, the
// rest of the body as `downstream` delivers it, and the response head (interim 1xx responses
// passed on through `downstream`). To an HTTP/2 or gRPC cluster the request is a stream on the
// endpoint's multiplexed connection instead (at.h2; see docs/http2.md, "Upstream HTTP/2"). Counts
// into the cluster's stats and the outlier detector. On return `at` says how it ended; its
// connection, when kept, holds the final response head at the start of its buffer (at.head:
// views into it) until the relay takes it (Attempt::consumeHead()). `wire` is the downstream
// connection's frame buffer (free while an attempt runs).
Awaitable<void> runAttempt(SessionHost& host, Downstream& downstream, WireFrames& wire,
                           Exchange& ex, const BodyPiece& first, bool fresh_only, Attempt& at);

// Whether `p` reads a message body as `f` says (the response side of admission's check).
bool parserAgrees(const ResponseParser& p, const Framing& f);

}  // namespace meshdeck::proxy
