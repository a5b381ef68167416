#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// Plain C++ types of a tap (docs/tap.md): the filter an operator asks for and the events that
// come back. No protobuf, no Qt.
namespace meshdeck::cp {

// Which requests a tap shows. Empty fields match everything.
struct TapFilter {
  // A service whose requests in either direction match (its proxies' inbound and outbound);
  // with `service_version`, only that version's. "" with no other field: the whole mesh.
  std::string service, service_version;
  std::string source_service, source_version;
  std::string destination_service, destination_version;
  std::string method;              // exactly
  std::string path_prefix;         // the path (query excluded) starts with it
  std::string authority;           // exactly
  uint32_t status_class = 0;       // 1..5; 0 any
  uint64_t min_latency_us = 0;     // at least this long
  double events_per_second = 100;  // across the mesh; the control plane caps it at kMaxTapRate
  bool headers = false;            // copy request and response headers (redacted)
  std::vector<std::string> redact_headers;  // besides the ones always redacted

  static constexpr double kDefaultRate = 100;
  static constexpr double kMaxTapRate = 1000;
  // A one-line description for logs and the audit trail ("svc=reviews to=ratings path=/api").
  std::string describe() const;
};

// One request seen by one proxy.
struct TapEvent {
  uint64_t tap_id = 0;
  std::chrono::system_clock::time_point start;
  bool client_side = false;  // seen by the caller's outbound proxy (else the callee's inbound)
  std::string proxy_id;
  std::string source_service, source_version, source_identity;
  std::string destination_service, destination_version, destination_identity;
  std::string protocol;  // "http/1.1", "h2", "grpc"
  std::string method, authority, path;
  uint32_t status = 0;
  std::optional<uint32_t> grpc_status;
  uint64_t latency_us = 0, bytes_in = 0, bytes_out = 0;
  uint32_t retries = 0;
  std::string error_code, route, authorization_policy, authorization_rule;
  bool mtls = false;
  std::string trace_id, span_id;
  std::vector<std::pair<std::string, std::string>> request_headers, response_headers;

  // The status class 1..5 of the event (a gRPC call: of the HTTP status its status stands
  // for); 0 without a response.
  uint32_t statusClass() const;
  // One JSON object on one line (what `meshdeckctl tap -o json` and the panel's export write).
  std::string toJson() const;
};

// What a tap's callback receives: events in arrival order and the running count of events
// dropped for the tap (proxies' rate shares and buffers, the client's queue).
struct TapBatch {
  std::vector<TapEvent> events;
  uint64_t dropped = 0;
  uint32_t proxies = 0;  // proxies the tap is subscribed on now
};

using TapCallback = std::function<void(const TapBatch&)>;

}  // namespace meshdeck::cp
