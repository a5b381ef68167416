#pragma once

#include <chrono>
#include <cstdint>

namespace meshdeck::tools {

// The send times of an open-loop load: request j of the whole run is due at
// start + j / rate, whatever happened to earlier requests. That fixed timetable is what makes
// the measured latency honest: a request is timed from when it was due, so a stalled server
// cannot slow the generator down and hide its own stall (coordinated omission).
//
// With several workers, worker `index` of `count` owns the requests j = k * count + index,
// so the workers together keep the exact global timetable.
// Pure arithmetic, no clock: callers pass "now".
class OpenLoopSchedule {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `rate` > 0 requests per second over the whole run of `duration`; 0 <= index < count.
  OpenLoopSchedule(TimePoint start, double rate, std::chrono::nanoseconds duration, int index = 0,
                   int count = 1);

  // When this worker's k-th request (from 0) is due.
  TimePoint at(uint64_t k) const;
  // How many of this worker's requests are due at or before `now` (never more than total()).
  uint64_t dueBy(TimePoint now) const;
  // How many requests this worker sends over the whole run.
  uint64_t total() const { return total_; }
  TimePoint start() const { return start_; }
  TimePoint end() const { return start_ + duration_; }

 private:
  TimePoint start_;
  double rate_;
  std::chrono::nanoseconds duration_;
  uint64_t index_;
  uint64_t count_;
  uint64_t total_;
};

}  // namespace meshdeck::tools
