#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/latency_histogram.h"

namespace meshdeck::tools {

// Why a request got no response.
enum class TransportError : uint8_t {
  kConnect,   // the connection could not be opened (refused, unreachable, connect timeout)
  kTimeout,   // no complete response within --timeout of the request's scheduled time
  kReset,     // the server closed or reset the connection before the response was complete
  kProtocol,  // the response was not valid HTTP/1.1
};
inline constexpr int kTransportErrorCount = 4;
std::string_view toString(TransportError e);

// What a load run counted. Every scheduled request ends in exactly one of: a response
// (counted by status class, latency recorded), a transport error, or "unfinished" (the run was
// interrupted while it was queued or in flight).
struct LoadStats {
  uint64_t scheduled = 0;   // requests whose send time came during the run
  uint64_t sent = 0;        // requests written to a connection
  uint64_t completed = 0;   // responses received, any status
  uint64_t unfinished = 0;  // neither answered nor failed when the run was interrupted
  std::array<uint64_t, 6> status_classes{};  // [1] = 1xx ... [5] = 5xx; [0] = other
  std::array<uint64_t, kTransportErrorCount> transport_errors{};
  // Response latency from the scheduled send time, nanoseconds.
  common::LatencyHistogram latency;

  void recordResponse(unsigned status, uint64_t latency_ns);
  void recordError(TransportError e) { ++transport_errors[static_cast<size_t>(e)]; }
  uint64_t transportErrors(TransportError e) const {
    return transport_errors[static_cast<size_t>(e)];
  }
  // Transport errors plus 5xx responses.
  uint64_t errorTotal() const;
  void merge(const LoadStats& other);
};

}  // namespace meshdeck::tools
