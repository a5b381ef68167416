#pragma once

#include <chrono>
#include <cstdint>

#include "proxy/config/config.h"
#include "proxy/policy/retry_policy.h"

namespace meshdeck::proxy {

// How one upstream attempt ended, as the retry decision sees it.
struct AttemptOutcome {
  AttemptFailure failure = AttemptFailure::kNone;
  unsigned status = 0;   // the response's status when failure is kNone
  bool reused = false;   // the attempt ran on a pooled connection
  int grpc_status = -1;  // a gRPC call answered trailers-only: its grpc-status (0..16)
};

// The retry decisions of one request (Envoy's RetryStateImpl): after each attempt, whether to
// try again, on what kind of connection and after what backoff. Pure: time and random values
// are passed in, and the cluster's retry budget is the only state outside it.
class RetryState {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  enum class Action {
    kStop,        // relay the response, or answer the failure
    kRetryFresh,  // again at once on a fresh connection (a pooled one had been closed); not a
                  // retry of the route's policy
    kRetry,       // a retry: wait `backoff`, then release() the budget slot and try again
  };
  struct Decision {
    Action action = Action::kStop;
    Duration backoff{0};
    bool budget_exhausted = false;  // kStop because the cluster's retry budget was spent
  };

  // `replayable`: the whole request is in hand (a body not yet read cannot be sent twice).
  RetryState(const RetryConfig& policy, bool replayable, TimePoint deadline)
      : policy_(policy), replayable_(replayable), deadline_(deadline) {}

  // Whether the next attempt must open a fresh connection: a request that cannot be replayed
  // is never sent on a pooled connection that may turn out closed, and neither is the attempt
  // after a kRetryFresh.
  bool freshOnly() const { return !replayable_ || fresh_retry_used_; }

  // Decides after an attempt that ended with `outcome` at `now`. `budget` is the cluster's
  // retry budget (nullptr: the cluster is gone, no policy retry) with `active_requests` in
  // flight; a kRetry holds one of its slots until the caller's release(). `random` is drawn
  // for the backoff's jitter only when retrying.
  template <typename Random>
  Decision next(const AttemptOutcome& outcome, RetryBudget* budget, uint32_t active_requests,
                TimePoint now, Random&& random) {
    Decision d;
    if (outcome.reused && outcome.failure == AttemptFailure::kReset && replayable_ &&
        !fresh_retry_used_) {
      fresh_retry_used_ = true;
      d.action = Action::kRetryFresh;
      return d;
    }
    const bool retriable =
        replayable_ && retries_ < policy_.attempts &&
        isRetriable(policy_.retry_on, outcome.failure, outcome.status, outcome.grpc_status) &&
        now < deadline_;
    if (!retriable || !budget) return d;
    if (!budget->tryAcquire(policy_, active_requests + 1)) {
      d.budget_exhausted = true;
      return d;
    }
    ++retries_;
    d.action = Action::kRetry;
    d.backoff = std::min<Duration>(retryBackoff(policy_, retries_, random()), deadline_ - now);
    return d;
  }

  uint32_t retries() const { return retries_; }

 private:
  const RetryConfig& policy_;
  bool replayable_;
  TimePoint deadline_;
  uint32_t retries_ = 0;
  bool fresh_retry_used_ = false;
};

}  // namespace meshdeck::proxy
