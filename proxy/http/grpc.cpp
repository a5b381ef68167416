#include "proxy/http/grpc.h"

#include <array>

namespace meshdeck::proxy {

bool isGrpcContentType(std::string_view ct) {
  constexpr std::string_view kGrpc = "application/grpc";
  if (ct.size() < kGrpc.size()) return false;
  for (size_t i = 0; i < kGrpc.size(); ++i) {
    char c = ct[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kGrpc[i]) return false;
  }
  return true;
}

std::optional<uint32_t> parseGrpcStatus(std::string_view v) {
  if (v.empty() || v.size() > 3) return std::nullopt;
  uint32_t n = 0;
  for (const char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n < common::kGrpcStatusCount ? n : common::kGrpcUnknown;
}

std::optional<uint32_t> headerGrpcStatus(const Fields& fields) {
  const auto it = fields.find("grpc-status");
  if (it == fields.end()) return std::nullopt;
  const auto v = it->value();
  return parseGrpcStatus({v.data(), v.size()}).value_or(common::kGrpcUnknown);
}

uint32_t grpcCallStatus(unsigned http_status, std::optional<uint32_t> grpc_status) {
  if (grpc_status) return *grpc_status;
  switch (http_status) {
    case 200:
      return common::kGrpcUnknown;
    case 400:
      return common::kGrpcInternal;
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
      return 12;  // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return common::kGrpcUnavailable;
    default:
      return common::kGrpcUnknown;
  }
}

uint32_t grpcStatusOfLocalReply(unsigned status) {
  switch (status) {
    case 400:
    case 431:
      return common::kGrpcInternal;
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
      return 12;  // UNIMPLEMENTED
    case 429:
      return common::kGrpcResourceExhausted;
    case 502:
    case 503:
      return common::kGrpcUnavailable;
    case 504:
      return common::kGrpcDeadlineExceeded;
    default:
      return common::kGrpcUnknown;
  }
}

std::optional<Duration> parseGrpcTimeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    const char c = v[i];
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  // At most 99'999'999 hours: about 3.6e20 ns, beyond int64 nanoseconds; saturate.
  constexpr int64_t kMax = std::chrono::nanoseconds::max().count();
  auto scaled = [&](int64_t unit_ns) -> Duration {
    return Duration{n > kMax / unit_ns ? kMax : n * unit_ns};
  };
  switch (v.back()) {
    case 'H':
      return scaled(3'600'000'000'000);
    case 'M':
      return scaled(60'000'000'000);
    case 'S':
      return scaled(1'000'000'000);
    case 'm':
      return scaled(1'000'000);
    case 'u':
      return scaled(1'000);
    case 'n':
      return scaled(1);
    default:
      return std::nullopt;
  }
}

std::string formatGrpcTimeout(Duration d) {
  constexpr int64_t kMaxValue = 99'999'999;
  struct Unit {
    int64_t ns;
    char c;
  };
  static constexpr std::array<Unit, 6> kUnits{{{1, 'n'},
                                               {1'000, 'u'},
                                               {1'000'000, 'm'},
                                               {1'000'000'000, 'S'},
                                               {60'000'000'000, 'M'},
                                               {3'600'000'000'000, 'H'}}};
  const int64_t ns = std::max<int64_t>(d.count(), 1);
  for (const auto& u : kUnits) {
    const int64_t value = ns / u.ns + (ns % u.ns ? 1 : 0);  // rounded up
    if (value <= kMaxValue) return std::to_string(value) + u.c;
  }
  return std::to_string(kMaxValue) + "H";
}

}  // namespace meshdeck::proxy
