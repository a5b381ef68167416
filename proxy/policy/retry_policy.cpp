#include "proxy/policy/retry_policy.h"

#include <algorithm>

namespace meshdeck::proxy {

bool isRetriable(uint32_t retry_on, AttemptFailure failure, unsigned status, int grpc_status) {
  switch (failure) {
    case AttemptFailure::kConnectFailure:
      return (retry_on & (kRetryOnConnectFailure | kRetryOn5xx)) != 0;
    case AttemptFailure::kReset:
      return (retry_on & (kRetryOnReset | kRetryOn5xx)) != 0;
    case AttemptFailure::kTimeout:
      return (retry_on & (kRetryOn5xx | kRetryOnGatewayError)) != 0;
    case AttemptFailure::kNone:
      switch (grpc_status) {
        case 1:
          if (retry_on & kRetryOnGrpcCancelled) return true;
          break;
        case 4:
          if (retry_on & kRetryOnGrpcDeadlineExceeded) return true;
          break;
        case 8:
          if (retry_on & kRetryOnGrpcResourceExhausted) return true;
          break;
        case 13:
          if (retry_on & kRetryOnGrpcInternal) return true;
          break;
        case 14:
          if (retry_on & kRetryOnGrpcUnavailable) return true;
          break;
        default:
          break;
      }
      if (status >= 500 && (retry_on & kRetryOn5xx)) return true;
      return (status == 502 || status == 503 || status == 504) && (retry_on & kRetryOnGatewayError);
  }
  return false;
}

Duration retryBackoff(const RetryConfig& config, uint32_t retry, uint64_t random) {
  const uint32_t shift = std::min<uint32_t>(retry > 0 ? retry - 1 : 0, 30);
  const auto base = config.base_interval.count();
  const auto cap = config.max_interval.count();
  const int64_t ceiling = (base > (cap >> shift)) ? cap : std::min<int64_t>(cap, base << shift);
  if (ceiling <= 0) return Duration{0};
  return Duration{static_cast<int64_t>(random % static_cast<uint64_t>(ceiling + 1))};
}

bool RetryBudget::tryAcquire(const RetryConfig& config, uint32_t active_requests) {
  const double by_budget = config.budget_percent / 100.0 * active_requests;
  const double allowed = std::max<double>(config.min_retry_concurrency, by_budget);
  if (static_cast<double>(active_retries_) + 1 > allowed) return false;
  ++active_retries_;
  return true;
}

}  // namespace meshdeck::proxy
