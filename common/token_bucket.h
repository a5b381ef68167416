#pragma once

#include <chrono>
#include <cstdint>

namespace meshdeck::common {

// A token bucket: `rate` tokens per second refill a bucket of `burst` tokens, starting full.
// Time is passed in (simulated in tests). Not thread-safe. Used by the proxy's local rate
// limits (one bucket per worker, rate and burst divided between workers) and by the control
// plane's per-stream telemetry limit.
class TokenBucket {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  TokenBucket(double rate, double burst, TimePoint now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

  // Takes a token if one is available at `now`.
  bool tryTake(TimePoint now) {
    refill(now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }
  double tokens(TimePoint now) {
    refill(now);
    return tokens_;
  }

 private:
  void refill(TimePoint now) {
    if (now <= last_) return;
    const double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = tokens_ + seconds * rate_;
    if (tokens_ > burst_) tokens_ = burst_;
    last_ = now;
  }
  double rate_;
  double burst_;
  double tokens_;
  TimePoint last_;
};

}  // namespace meshdeck::common
