#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "proxy/awaitable.h"
#include "proxy/config/config.h"
#include "proxy/http/field_allocator.h"
#include "proxy/http/framing.h"
#include "proxy/policy/authorization.h"
#include "proxy/tap/tap_registry.h"

namespace meshdeck::proxy {

namespace h2 {
class UpstreamStream;
}

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

// One request and its response, whatever protocol carried them: what admission decided, the
// request head as it goes upstream, the timing and the outcome that finish() counts and turns
// into telemetry. Filled by admission (proxy/admission.h), the upstream attempts
// (proxy/upstream_attempt.h) and the relay; owned by the downstream connection for the length
// of one request. An HTTP/1.1 connection has one at a time; an HTTP/2 connection would have
// one per stream.
struct Exchange {
  using TimePoint = std::chrono::steady_clock::time_point;

  // Protocol of the request as the proxy received it (the edge's protocol in telemetry).
  enum class Protocol : uint8_t { kHttp1, kHttp2, kGrpc };
  static constexpr uint8_t kNoGrpcStatus = 0xff;

  // --- set when the request arrives ---
  ConfigPtr config;  // the config in force when the request arrived; kept to the end
  const ListenerConfig* listener = nullptr;
  TimePoint start;
  TimePoint end;  // when the response was out (set by the HTTP/1.1 relay; else finish() reads it)

  // --- admission ---
  unsigned version = 11;                 // HTTP version of the request (10 or 11): the response's
  Protocol protocol = Protocol::kHttp1;  // set by the downstream codec before admission
  bool is_head = false;
  Framing framing;  // of the request: how its body is read and framed upstream
  bool upgrade = false;
  bool te_trailers = false;                    // the client sent `te: trailers` (it reads trailers)
  std::string source_service, source_version;  // telemetry source of the request
  const VirtualHostConfig* vhost = nullptr;
  const RouteConfig* route = nullptr;
  std::optional<AuthorizationDecision> authz;  // set when inbound authorization ran
  // The destination picked by weight (nullptr: none picked: a local reply came first).
  const WeightedDestination* destination = nullptr;
  TimePoint deadline = TimePoint::max();  // of the route's timeout
  RequestHeader head;                     // the request head as it goes upstream
  // Set instead of `head` by admitView() (proxy/admission.h): the upstream head as written
  // (HTTP/1.1 bytes held by the downstream connection for the exchange); `head` is then empty.
  std::string_view wire_head;

  // --- outcome ---
  unsigned status = 0;               // sent to the client (0: none)
  const char* error_code = nullptr;  // x-meshdeck-error of a local reply
  std::string destination_version;   // version of the endpoint that answered
  std::optional<bool> upstream_tls;  // set when an upstream connection carried the request
  std::string upstream_identity;     // SPIFFE id the upstream presented over TLS ("": plain text)
  uint64_t bytes_in = 0;             // request body bytes read
  uint64_t bytes_out = 0;            // response body bytes sent
  uint32_t retries = 0;
  // gRPC calls (protocol kGrpc): the call's grpc-status (docs/http2.md#grpc), kNoGrpcStatus
  // until known; finish() counts UNKNOWN for a call that got none.
  uint8_t grpc_status = kNoGrpcStatus;
  bool timeout = false, circuit_open = false, rate_limited = false, fault = false, denied = false;

  // --- tap (docs/tap.md) ---
  // Set at the request's start when an open tap matched it; finish() then offers the event.
  std::unique_ptr<TapCapture> tap;

  // The destination's cluster name ("" before one is picked).
  const std::string& clusterName() const {
    static const std::string kNone;
    return destination ? destination->cluster : kNone;
  }
  // The destination's cluster in `config` (nullptr: none picked or no such cluster).
  const ClusterConfig* clusterConfig() const {
    if (!destination || !config) return nullptr;
    if (destination->cluster_slot >= 0 &&
        static_cast<size_t>(destination->cluster_slot) < config->cluster_slots.size())
      return config->cluster_slots[static_cast<size_t>(destination->cluster_slot)].get();
    return config->findCluster(destination->cluster);
  }
};

// One piece of a request body, read by the downstream connection into its relay buffer.
struct BodyPiece {
  const char* data = nullptr;  // nullptr when size is 0
  size_t size = 0;
  bool last = false;  // the body is complete
  // The client went away or timed out (`malformed` null, size 0), or sent a malformed chunk
  // (size 0) or trailer section (the piece before it is still described) (`malformed`: the
  // reason).
  bool failed = false;
  const char* malformed = nullptr;
};

// What an upstream attempt needs from the side the request came from, whatever its protocol:
// the rest of the request body, and a way to pass interim (1xx) responses on.
class Downstream {
 public:
  virtual ~Downstream() = default;
  // Reads the next piece of the request body (valid until the next call). Called only while
  // the body is not complete.
  virtual Awaitable<BodyPiece> readBody(Exchange& ex) = 0;
  // Passes an interim response (1xx other than 100 and 101) on to the client.
  virtual Awaitable<void> sendInterim(Exchange& ex, const ResponseHeader& interim) = 0;
  // Whether readBody() may run while the response is being relayed (an HTTP/2 stream): an
  // HTTP/2 upstream attempt then sends the rest of the body from a pump of its own, so that a
  // bidirectional stream works. An HTTP/1.1 connection reads and writes one thing at a time.
  virtual bool concurrentBody() const { return false; }
  // The client gave the request up (an HTTP/2 stream reset).
  virtual bool cancelled() const { return false; }
  // Set by an HTTP/2 upstream attempt while it waits: called when the client gives the
  // request up, so the upstream stream is reset too (cancellation reaches the server).
  std::function<void()> on_cancel;
  // The HTTP/2 upstream stream whose request body pump (concurrentBody()) may still run: the
  // downstream waits for it (UpstreamStream::pumping, pump_done) before the exchange ends.
  std::shared_ptr<h2::UpstreamStream> pump;
};

}  // namespace meshdeck::proxy
