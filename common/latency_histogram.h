#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace meshdeck::common {

// A fixed log-linear latency histogram (HdrHistogram-like), shared by the proxy, the control
// plane and the load generator so that histograms from anywhere can be merged by adding counts.
//
// Layout (version kLayout): values are nanoseconds. Every power-of-two range [2^e, 2^(e+1)) for
// e in [kLowestExponent, kHighestExponent] is split into kSubBuckets equal buckets, so a bucket
// is at most 1/kSubBuckets (0.78 %) of its lower bound wide: any value reported from a bucket is
// within 0.78 % of every value recorded in it. The range is 512 ns .. 2^36 ns (68.7 s).
// Values outside it are clamped into the first or last bucket and counted as underflow or
// overflow, never dropped.
//
// Thread-safety: none; the proxy keeps one histogram per worker and merges them.
// record() never allocates.
class LatencyHistogram {
 public:
  static constexpr uint32_t kLayout = 1;
  static constexpr int kSubBucketBits = 7;
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  static constexpr int kLowestExponent = 9;
  static constexpr int kHighestExponent = 35;
  static constexpr int kOctaves = kHighestExponent - kLowestExponent + 1;
  static constexpr int kBucketCount = kOctaves * kSubBuckets;
  static constexpr uint64_t kLowestTrackable = uint64_t{1} << kLowestExponent;
  static constexpr uint64_t kHighestTrackable = (uint64_t{1} << (kHighestExponent + 1)) - 1;

  // Records one value in nanoseconds.
  void record(uint64_t value_ns) noexcept { recordN(value_ns, 1); }
  // Records `n` occurrences of one value.
  void recordN(uint64_t value_ns, uint64_t n) noexcept;
  // Adds every count of `other` to this histogram.
  void merge(const LatencyHistogram& other) noexcept;
  // Clears all counts.
  void reset() noexcept;

  // Value at percentile `p` (0..100) in nanoseconds, interpolated within its bucket and limited
  // to [min, max]. Returns 0 when the histogram is empty.
  double percentile(double p) const noexcept;
  double mean() const noexcept { return count_ ? double(sum_) / double(count_) : 0.0; }

  uint64_t count() const noexcept { return count_; }
  uint64_t sum() const noexcept { return sum_; }
  uint64_t min() const noexcept { return count_ ? min_ : 0; }
  uint64_t max() const noexcept { return max_; }
  uint64_t underflow() const noexcept { return underflow_; }
  uint64_t overflow() const noexcept { return overflow_; }
  uint64_t bucketCount(int index) const noexcept { return buckets_[static_cast<size_t>(index)]; }

  // Bucket index of a value (after clamping) and the bounds of a bucket: [lower, upper).
  static int bucketIndex(uint64_t value_ns) noexcept;
  static uint64_t bucketLower(int index) noexcept;
  static uint64_t bucketUpper(int index) noexcept;

  // Sets the summary fields directly; used when decoding a serialized histogram whose
  // buckets were restored with addToBucket(). Returns false when they are inconsistent.
  bool restoreSummary(uint64_t count, uint64_t sum, uint64_t min, uint64_t max, uint64_t underflow,
                      uint64_t overflow) noexcept;
  void addToBucket(int index, uint64_t n) noexcept { buckets_[static_cast<size_t>(index)] += n; }
  // The summary half of merge(): adds the count, sum, extremes and out-of-range counts of values
  // whose buckets were added with addToBucket() (a merge from a sparse form without building a
  // dense copy first). `count` must be > 0 and the values consistent (see restoreSummary()).
  void addSummary(uint64_t count, uint64_t sum, uint64_t min, uint64_t max, uint64_t underflow,
                  uint64_t overflow) noexcept;

  bool operator==(const LatencyHistogram& other) const noexcept = default;

 private:
  std::array<uint64_t, kBucketCount> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  uint64_t underflow_ = 0;
  uint64_t overflow_ = 0;
};

}  // namespace meshdeck::common
