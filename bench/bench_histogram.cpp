// Micro-benchmark: nanoseconds per LatencyHistogram::record() and per percentile().
// Usage: bench_histogram [iterations]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "common/latency_histogram.h"

int main(int argc, char** argv) {
  const size_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 50'000'000;
  // Pre-generate log-normal latencies so the benchmark measures record(), not the RNG.
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> dist(14.5, 1.0);  // median ~2 ms in ns
  std::vector<uint64_t> values(1 << 16);
  for (auto& v : values) v = static_cast<uint64_t>(dist(rng));

  meshdeck::common::LatencyHistogram h;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < iterations; ++i) h.record(values[i & (values.size() - 1)]);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const double ns = std::chrono::duration<double, std::nano>(elapsed).count() / double(iterations);

  const auto p_start = std::chrono::steady_clock::now();
  double sink = 0;
  constexpr int kPercentiles = 10'000;
  for (int i = 0; i < kPercentiles; ++i) sink += h.percentile(99.0);
  const double p_ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - p_start).count() /
      kPercentiles;

  std::printf("record: %.2f ns/op over %zu values (count %llu)\n", ns, iterations,
              static_cast<unsigned long long>(h.count()));
  std::printf("percentile(99): %.0f ns/op (p99 = %.3f ms, checksum %.0f)\n", p_ns,
              h.percentile(99) / 1e6, sink);
  return 0;
}
