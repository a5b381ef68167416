#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/telemetry/grpc_status.h"
#include "proxy/config/config.h"
#include "proxy/http/headers.h"

namespace meshdeck::proxy {

// gRPC over HTTP/2 as the proxy sees it (docs/http2.md#grpc): which requests are gRPC calls,
// their status, and their deadline (grpc/doc/PROTOCOL-HTTP2.md).

// A request is a gRPC call when its content-type starts with "application/grpc".
bool isGrpcContentType(std::string_view content_type);

// The value of a grpc-status field: 1..3 ASCII digits; a number above 16 is UNKNOWN (the
// spec's rule for codes a peer does not know). nullopt when it is not a number at all.
std::optional<uint32_t> parseGrpcStatus(std::string_view value);

// The grpc-status of a response's header section when it has one (a trailers-only response);
// nullopt without the field. A malformed value is UNKNOWN.
std::optional<uint32_t> headerGrpcStatus(const Fields& fields);

// The status of a gRPC call whose response had HTTP status `http_status` and (in its trailers
// or trailers-only headers) `grpc_status` (nullopt: none found): that status; without one,
// UNKNOWN for a 200, else the spec's HTTP mapping (http-grpc-status-mapping.md: 400 INTERNAL,
// 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE,
// others UNKNOWN).
uint32_t grpcCallStatus(unsigned http_status, std::optional<uint32_t> grpc_status);

// The gRPC status of an error the proxy generates with HTTP status `status` (the spec's HTTP
// mapping, with the proxy's own meanings of 429 and 504 as Envoy has them).
uint32_t grpcStatusOfLocalReply(unsigned status);

// The grpc-timeout request header (TimeoutValue: 1..8 ASCII digits, TimeoutUnit: one of
// H M S m u n, nothing else, no space): the timeout, or nullopt when malformed.
std::optional<Duration> parseGrpcTimeout(std::string_view value);

// A grpc-timeout value for `d` (at least 1n, rounded up to the unit that keeps 8 digits).
std::string formatGrpcTimeout(Duration d);

}  // namespace meshdeck::proxy
