#include "latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace meshdeck::common {

int LatencyHistogram::bucketIndex(uint64_t v) noexcept {
  v = std::clamp(v, kLowestTrackable, kHighestTrackable);
  const int exponent = std::bit_width(v) - 1;
  const int sub = static_cast<int>((v >> (exponent - kSubBucketBits)) & (kSubBuckets - 1));
  const int index = (exponent - kLowestExponent) * kSubBuckets + sub;
  assert(index >= 0 && index < kBucketCount);
  return index;
}

uint64_t LatencyHistogram::bucketLower(int index) noexcept {
  assert(index >= 0 && index < kBucketCount);
  const int exponent = kLowestExponent + index / kSubBuckets;
  const uint64_t sub = static_cast<uint64_t>(index % kSubBuckets);
  return (uint64_t{1} << exponent) + (sub << (exponent - kSubBucketBits));
}

uint64_t LatencyHistogram::bucketUpper(int index) noexcept {
  const int exponent = kLowestExponent + index / kSubBuckets;
  return bucketLower(index) + (uint64_t{1} << (exponent - kSubBucketBits));
}

void LatencyHistogram::recordN(uint64_t value_ns, uint64_t n) noexcept {
  if (n == 0) return;
  if (value_ns < kLowestTrackable) {
    underflow_ += n;
    value_ns = kLowestTrackable;
  } else if (value_ns > kHighestTrackable) {
    overflow_ += n;
    value_ns = kHighestTrackable;
  }
  buckets_[static_cast<size_t>(bucketIndex(value_ns))] += n;
  count_ += n;
  sum_ += value_ns * n;
  min_ = std::min(min_, value_ns);
  max_ = std::max(max_, value_ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  underflow_ += other.underflow_;
  overflow_ += other.overflow_;
}

void LatencyHistogram::addSummary(uint64_t count, uint64_t sum, uint64_t min, uint64_t max,
                                  uint64_t underflow, uint64_t overflow) noexcept {
  count_ += count;
  sum_ += sum;
  min_ = std::min(min_, min);
  max_ = std::max(max_, max);
  underflow_ += underflow;
  overflow_ += overflow;
}

void LatencyHistogram::reset() noexcept { *this = LatencyHistogram{}; }

double LatencyHistogram::percentile(double p) const noexcept {
  if (count_ == 0) return 0.0;
  p = std::clamp(p, 0.0, 100.0);
  // Nearest-rank definition: the value with rank ceil(p/100 * N) (at least 1).
  const double rank = std::max(1.0, p / 100.0 * static_cast<double>(count_));
  uint64_t cumulative = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    const uint64_t c = buckets_[static_cast<size_t>(i)];
    if (c == 0) continue;
    if (static_cast<double>(cumulative + c) >= rank) {
      // Spread the bucket's values evenly over its width and take the rank's position.
      const double lower = static_cast<double>(bucketLower(i));
      const double width = static_cast<double>(bucketUpper(i) - bucketLower(i));
      const double within = (rank - static_cast<double>(cumulative)) / static_cast<double>(c);
      const double value = lower + within * width;
      return std::clamp(value, static_cast<double>(min_), static_cast<double>(max_));
    }
    cumulative += c;
  }
  return static_cast<double>(max_);
}

bool LatencyHistogram::restoreSummary(uint64_t count, uint64_t sum, uint64_t min, uint64_t max,
                                      uint64_t underflow, uint64_t overflow) noexcept {
  uint64_t total = 0;
  for (uint64_t c : buckets_) total += c;
  if (total != count || underflow + overflow > count) return false;
  if (count > 0 && (min > max || min < kLowestTrackable || max > kHighestTrackable)) return false;
  count_ = count;
  sum_ = sum;
  min_ = count ? min : UINT64_MAX;
  max_ = count ? max : 0;
  underflow_ = underflow;
  overflow_ = overflow;
  return true;
}

}  // namespace meshdeck::common
