#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>

#include "proxy/http/id_generator.h"
#include "proxy/session_host.h"

namespace meshdeck::proxy::testing {

// AdmissionServices with a simulated clock (it moves only by advance()), scripted random
// values (`draws`, then 0) and buckets made at full rate (no worker share), for unit tests.
class FakeAdmissionServices : public AdmissionServices {
 public:
  TimePoint now() override { return now_; }
  uint64_t random() override {
    ++draws_taken;
    if (draws.empty()) return 0;
    const uint64_t v = draws.front();
    draws.pop_front();
    return v;
  }
  IdGenerator& idGenerator() override { return ids_; }
  TokenBucket& bucket(const RateLimitConfig& limit) override {
    auto it = buckets_.find(&limit);
    if (it == buckets_.end())
      it = buckets_
               .emplace(&limit, TokenBucket(limit.requests_per_second,
                                            std::max<double>(1.0, limit.burst), now_))
               .first;
    return it->second;
  }
  WorkerStats& stats() override { return stats_; }

  void advance(std::chrono::nanoseconds d) { now_ += d; }

  std::deque<uint64_t> draws;
  size_t draws_taken = 0;

 private:
  TimePoint now_{std::chrono::seconds(1000)};
  IdGenerator ids_{42};
  std::map<const RateLimitConfig*, TokenBucket> buckets_;
  WorkerStats stats_;
};

}  // namespace meshdeck::proxy::testing
