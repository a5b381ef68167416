#include "open_loop_schedule.h"

#include <algorithm>
#include <cmath>

namespace meshdeck::tools {

OpenLoopSchedule::OpenLoopSchedule(TimePoint start, double rate, std::chrono::nanoseconds duration,
                                   int index, int count)
    : start_(start),
      rate_(rate),
      duration_(duration),
      index_(static_cast<uint64_t>(index)),
      count_(static_cast<uint64_t>(count)) {
  // Global requests j with j / rate < duration, i.e. j < duration * rate.
  const double seconds = std::chrono::duration<double>(duration_).count();
  const auto global = static_cast<uint64_t>(std::ceil(seconds * rate_ - 1e-9));
  total_ = global > index_ ? (global - index_ + count_ - 1) / count_ : 0;
}

OpenLoopSchedule::TimePoint OpenLoopSchedule::at(uint64_t k) const {
  const double j = double(k * count_ + index_);
  return start_ + std::chrono::nanoseconds(static_cast<int64_t>(std::llround(j * 1e9 / rate_)));
}

uint64_t OpenLoopSchedule::dueBy(TimePoint now) const {
  if (now < start_ || total_ == 0) return 0;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  // Estimate, then correct for rounding in at() so that the answer agrees with it exactly.
  const double estimate = (elapsed * rate_ - double(index_)) / double(count_);
  uint64_t k = estimate < 0 ? 0 : static_cast<uint64_t>(std::floor(estimate)) + 1;
  k = std::min(k, total_);
  while (k > 0 && at(k - 1) > now) --k;
  while (k < total_ && at(k) <= now) ++k;
  return k;
}

}  // namespace meshdeck::tools
