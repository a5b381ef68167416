#pragma once

#include <cstdint>

#include "proxy/config/config.h"

namespace meshdeck::proxy {

// How one upstream attempt ended, as far as retrying is concerned.
enum class AttemptFailure { kNone, kConnectFailure, kReset, kTimeout };

// Whether an attempt that ended with `failure` (or, when kNone, with HTTP `status`) may be
// retried under `retry_on` (RetryOn bits). A per-try timeout counts as a 504. `grpc_status`
// (0..16, -1: none) is the status of a gRPC call's trailers-only response: retried when its
// RetryOn bit (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) is set.
bool isRetriable(uint32_t retry_on, AttemptFailure failure, unsigned status, int grpc_status = -1);

// Exponential backoff with full jitter: a uniform value in [0, min(max, base × 2^(retry-1))],
// retry counting from 1. `random` is a uniformly distributed 64-bit value.
Duration retryBackoff(const RetryConfig& config, uint32_t retry, uint64_t random);

// Limits concurrent retries of a cluster on one worker to a share of its active requests, so
// retries cannot multiply load on a struggling upstream. Not thread-safe.
class RetryBudget {
 public:
  // Takes one retry slot when allowed; every successful tryAcquire() needs a release().
  bool tryAcquire(const RetryConfig& config, uint32_t active_requests);
  void release() {
    if (active_retries_ > 0) --active_retries_;
  }
  uint32_t activeRetries() const { return active_retries_; }

 private:
  uint32_t active_retries_ = 0;
};

}  // namespace meshdeck::proxy
