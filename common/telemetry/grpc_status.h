#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

// gRPC status codes (grpc/doc/statuscodes.md) as the proxy counts them, the control plane
// aggregates them and meshdeckctl and the UI show them. Header only, no dependency.
namespace meshdeck::common {

inline constexpr size_t kGrpcStatusCount = 17;  // OK (0) .. UNAUTHENTICATED (16)
inline constexpr uint32_t kGrpcOk = 0;
inline constexpr uint32_t kGrpcCancelled = 1;
inline constexpr uint32_t kGrpcUnknown = 2;
inline constexpr uint32_t kGrpcInvalidArgument = 3;
inline constexpr uint32_t kGrpcDeadlineExceeded = 4;
inline constexpr uint32_t kGrpcResourceExhausted = 8;
inline constexpr uint32_t kGrpcInternal = 13;
inline constexpr uint32_t kGrpcUnavailable = 14;

// Per-status counts, index = status code.
using GrpcStatusCounts = std::array<uint64_t, kGrpcStatusCount>;

inline constexpr std::array<std::string_view, kGrpcStatusCount> kGrpcStatusNames{
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// "UNAVAILABLE" for 14; "" for a code outside 0..16.
inline constexpr std::string_view grpcStatusName(uint32_t code) {
  return code < kGrpcStatusCount ? kGrpcStatusNames[code] : std::string_view{};
}

// The code of a status name (upper case, as in grpc/doc/statuscodes.md), or nullopt.
inline constexpr std::optional<uint32_t> grpcStatusFromName(std::string_view name) {
  for (uint32_t i = 0; i < kGrpcStatusCount; ++i)
    if (kGrpcStatusNames[i] == name) return i;
  return std::nullopt;
}

// The HTTP status a gRPC status stands for (Envoy's Grpc::Utility::grpcToHttpStatus): how an
// edge counts a gRPC call in its responses by code and class. 5xx (UNKNOWN, DEADLINE_EXCEEDED,
// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS) are server errors and lower the success
// rate; 4xx (and CANCELLED, 499) are client errors, failures of the call that do not.
inline constexpr unsigned grpcStatusHttpEquivalent(uint32_t code) {
  switch (code) {
    case 0:
      return 200;  // OK
    case 1:
      return 499;  // CANCELLED (client closed request)
    case 3:
    case 9:
    case 11:
      return 400;  // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
    case 4:
      return 504;  // DEADLINE_EXCEEDED
    case 5:
      return 404;  // NOT_FOUND
    case 6:
    case 10:
      return 409;  // ALREADY_EXISTS, ABORTED
    case 7:
      return 403;  // PERMISSION_DENIED
    case 8:
      return 429;  // RESOURCE_EXHAUSTED
    case 12:
      return 501;  // UNIMPLEMENTED
    case 14:
      return 503;  // UNAVAILABLE
    case 16:
      return 401;  // UNAUTHENTICATED
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS and codes outside 0..16
  }
}

inline constexpr bool grpcStatusIsServerError(uint32_t code) {
  return grpcStatusHttpEquivalent(code) >= 500;
}

}  // namespace meshdeck::common
