#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "proxy/config/config.h"

namespace meshdeck::proxy {

// Passive outlier detection for one cluster on one worker: an endpoint failing
// `consecutive_errors` times in a row (5xx, connect failure, reset, timeout) is ejected for
// base_ejection_time × (number of times it has been ejected), unless that would eject more than
// max_ejection_percent of the cluster. Time is passed in, so tests drive it with a simulated
// clock. Not thread-safe.
class OutlierDetector {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  OutlierDetector(const OutlierConfig& config, size_t endpoints);

  void onSuccess(size_t endpoint);
  // Returns true when this failure ejected the endpoint.
  bool onFailure(size_t endpoint, TimePoint now);
  // Whether the endpoint is ejected at `now`; an expired ejection ends here.
  bool isEjected(size_t endpoint, TimePoint now);
  size_t ejectedCount(TimePoint now);
  uint32_t timesEjected(size_t endpoint) const { return state_[endpoint].times_ejected; }
  bool enabled() const { return config_.consecutive_errors > 0; }

 private:
  struct State {
    uint32_t consecutive_errors = 0;
    uint32_t times_ejected = 0;
    bool ejected = false;
    TimePoint until{};
  };
  OutlierConfig config_;
  std::vector<State> state_;
};

}  // namespace meshdeck::proxy
