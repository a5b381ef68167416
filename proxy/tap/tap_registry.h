#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meshdeck::proxy {

// One tap as a proxy runs it (meshdeck.v1.TapSubscription, docs/tap.md). Empty strings match
// everything.
struct TapSpec {
  // kFirstHop: each request once, by the first mesh proxy it passes (docs/tap.md): every
  // outbound request, and the inbound requests no mesh proxy sent (no x-meshdeck-source).
  enum class Direction : uint8_t { kBoth, kInbound, kOutbound, kFirstHop };
  uint64_t tap_id = 0;
  std::string service, service_version;  // either side of the request
  std::string source_service, source_version, destination_service, destination_version;
  std::string method, path_prefix, authority;
  uint32_t status_class = 0;  // 1..5, 0 any
  uint64_t min_latency_us = 0;
  double events_per_second = 1;
  uint32_t burst = 1;
  bool headers = false;
  std::vector<std::string> redact_headers;  // lower case
  Direction direction = Direction::kBoth;
};

// What is known of a request when it arrives (before admission).
struct TapStartFacts {
  bool outbound = false;  // on an outbound listener: the workload is the source
  std::string_view workload_service, workload_version;
  std::string_view method, target, host;  // target as received (origin or absolute form)
  std::string_view peer_identity;         // SPIFFE id of a mutual TLS peer
  bool from_mesh_proxy = false;  // inbound and labelled by the caller's proxy (x-meshdeck-source)
};

// What the request start of the taps that matched keeps in the Exchange (docs/tap.md): which
// taps, and the request's facts as it arrived. Made only when a tap matched.
struct TapCapture {
  struct Set;
  uint64_t mask = 0;  // bit i: tap i of `set`
  std::shared_ptr<const Set> set;
  std::chrono::system_clock::time_point wall_start;
  std::string method, authority, path, peer_identity;
  bool wants_headers = false;  // one of the matching taps copies headers: call addHeader()
  std::vector<std::pair<std::string, std::string>> headers, response_headers;
  // x-meshdeck-error of the response as the client got it: the code of the proxy that made
  // the reply, this one's or (on an outbound listener) the peer's.
  std::string response_error;
  // Copies one request header, redacted per the matching taps (see TapRegistry).
  void addHeader(std::string_view name, std::string_view value);
  // One header of the response head sent to the client: kept in response_headers (redacted as
  // request headers are) when wants_headers; its x-meshdeck-error always.
  void addResponseHeader(std::string_view name, std::string_view value);
  // The same for a whole head: a Beast field list (name_string(), value()) or name/value pairs.
  template <typename Fields>
  void addResponseHead(const Fields& fields) {
    response_headers.clear();
    response_error.clear();
    for (const auto& f : fields) {
      if constexpr (requires { f.name_string(); }) {
        const auto n = f.name_string();
        const auto v = f.value();
        addResponseHeader({n.data(), n.size()}, {v.data(), v.size()});
      } else {
        addResponseHeader(f.first, f.second);
      }
    }
  }

 private:
  std::pair<std::string, std::string> redacted(std::string_view name, std::string_view value) const;
};

// What the end of the request adds (from the Exchange, in Session::finish).
struct TapEndFacts {
  bool client_side = false;
  std::string_view source_service, source_version, destination_service, destination_version;
  // error_code: of the proxy's own reply; "" when it relayed the upstream's (the event then has
  // the capture's response_error: a peer proxy's code, if any).
  std::string_view protocol, route, error_code, authorization_policy, authorization_rule;
  std::string_view traceparent;  // as sent upstream ("" when none)
  // SPIFFE ids: the proxy's own ("" while it holds no workload certificate), and on an
  // outbound listener the one the upstream presented over mutual TLS ("" for plain text).
  std::string_view own_identity, upstream_identity;
  uint32_t status = 0;
  std::optional<uint32_t> grpc_status;
  uint64_t latency_us = 0, bytes_in = 0, bytes_out = 0;
  uint32_t retries = 0;
  bool mtls = false;
};

// One event (meshdeck.v1.TapEvent without the proxy id, which the reporter adds).
struct TapRecord {
  uint64_t tap_id = 0;
  std::chrono::system_clock::time_point start;
  bool client_side = false;
  std::string source_service, source_version, source_identity;
  std::string destination_service, destination_version, destination_identity;
  std::string protocol, method, authority, path;
  uint32_t status = 0;
  std::optional<uint32_t> grpc_status;
  uint64_t latency_us = 0, bytes_in = 0, bytes_out = 0;
  uint32_t retries = 0;
  std::string error_code, route, authorization_policy, authorization_rule;
  bool mtls = false;
  std::string trace_id, span_id;
  std::vector<std::pair<std::string, std::string>> request_headers, response_headers;
};

// TapRegistry is a proxy's set of open taps and the buffer of their events (docs/tap.md).
//
// The request path calls active() first: one relaxed atomic load, false while no tap is open,
// and then nothing else is done (zero cost when idle; the `built` counter stays 0). With a tap
// open, start() runs the request-start filters (method, path prefix, authority, the side of
// the request the proxy's own workload is on) and returns a capture only when a tap matched;
// finish() runs the end filters (the other side's service and version, status class, minimum
// latency), then the tap's token bucket, then builds the event and offers it to a buffer of
// kBufferEvents. A bucket without a token or a full buffer drops the event and counts it; a
// request never waits. The mesh agent replaces the set with set() and takes the events with
// drain().
//
// Threading: set() and drain() from any thread; active(), start() and finish() from the
// workers. The set is swapped whole under a mutex (taken on the request path only while a tap
// is open); each tap's bucket and the buffer have mutexes of their own, taken only for a
// request that matched.
class TapRegistry {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  static constexpr size_t kMaxTaps = 64;
  static constexpr size_t kBufferEvents = 1024;

  struct Counters {
    std::atomic<uint64_t> built{0};           // events built (none while no tap is open)
    std::atomic<uint64_t> dropped_rate{0};    // over a tap's rate share
    std::atomic<uint64_t> dropped_buffer{0};  // the buffer was full
    std::atomic<uint64_t> sets_applied{0};    // tap sets received
  };

  TapRegistry();
  ~TapRegistry();

  bool active() const noexcept { return active_.load(std::memory_order_relaxed); }
  // Replaces the taps (at most kMaxTaps; the rest are ignored). Buckets of taps that stay keep
  // their tokens; events and drop counts of taps that go are discarded.
  void set(std::vector<TapSpec> specs);
  // The taps now (for /stats and tests).
  std::vector<TapSpec> specs() const;
  size_t size() const;

  // Request start; nullptr when no tap matched (or none is open).
  std::unique_ptr<TapCapture> start(const TapStartFacts& facts) const;
  // Request end: events for the taps of `capture` whose end filters match and that have a
  // token at `now`.
  void finish(const TapCapture& capture, const TapEndFacts& facts, SteadyTime now);

  // Takes the buffered events, and the drops per tap since the last call.
  std::vector<TapRecord> drain(std::map<uint64_t, uint64_t>* dropped);
  const Counters& counters() const { return counters_; }
  // The counters in Prometheus text (appended to the admin endpoint's /stats):
  // meshdeck_tap_active, meshdeck_tap_events_built_total,
  // meshdeck_tap_events_dropped_total{reason="rate"|"buffer"}.
  std::string renderPrometheus() const;

  // Header names always redacted (lower case): authorization, proxy-authorization, cookie,
  // set-cookie.
  static bool alwaysRedacted(std::string_view lower_name);
  static constexpr std::string_view kRedacted = "[redacted]";

 private:
  std::atomic<bool> active_{false};
  mutable std::mutex set_mutex_;
  std::shared_ptr<TapCapture::Set> set_;
  std::mutex buffer_mutex_;
  std::vector<TapRecord> buffer_;
  std::map<uint64_t, uint64_t> dropped_;
  Counters counters_;
};

}  // namespace meshdeck::proxy
