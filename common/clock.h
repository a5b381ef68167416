#pragma once

#include <atomic>
#include <chrono>

namespace meshdeck::common {

// TimeSource lets time-dependent logic (rate limits, outlier ejection, backoff, rotation,
// history rings) be tested with a simulated clock instead of sleeping.
// Implementations are thread-safe.
class TimeSource {
 public:
  virtual ~TimeSource() = default;
  // Monotonic time, for intervals and deadlines.
  virtual std::chrono::steady_clock::time_point monotonicNow() const = 0;
  // Wall-clock time, for timestamps shown to people and written to files.
  virtual std::chrono::system_clock::time_point systemNow() const = 0;
};

// The real clocks.
class RealTimeSource final : public TimeSource {
 public:
  std::chrono::steady_clock::time_point monotonicNow() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point systemNow() const override {
    return std::chrono::system_clock::now();
  }
  // A process-wide instance.
  static RealTimeSource& instance() {
    static RealTimeSource source;
    return source;
  }
};

// A clock that only moves when told to; both clocks advance together.
class SimulatedTimeSource final : public TimeSource {
 public:
  SimulatedTimeSource()
      : system_start_(std::chrono::system_clock::time_point{} + kStartAfterEpoch) {}
  std::chrono::steady_clock::time_point monotonicNow() const override {
    return std::chrono::steady_clock::time_point{} + elapsed();
  }
  std::chrono::system_clock::time_point systemNow() const override {
    using std::chrono::system_clock;
    return system_start_ + std::chrono::duration_cast<system_clock::duration>(elapsed());
  }
  void advance(std::chrono::nanoseconds d) { elapsed_ns_ += d.count(); }

 private:
  std::chrono::nanoseconds elapsed() const { return std::chrono::nanoseconds{elapsed_ns_.load()}; }
  static constexpr std::chrono::hours kStartAfterEpoch{24 * 365 * 56};
  std::chrono::system_clock::time_point system_start_;
  std::atomic<int64_t> elapsed_ns_{0};
};

}  // namespace meshdeck::common
