#include "proxy/policy/outlier_detector.h"

namespace meshdeck::proxy {

OutlierDetector::OutlierDetector(const OutlierConfig& config, size_t endpoints)
    : config_(config), state_(endpoints) {}

void OutlierDetector::onSuccess(size_t endpoint) { state_[endpoint].consecutive_errors = 0; }

bool OutlierDetector::onFailure(size_t endpoint, TimePoint now) {
  if (!enabled()) return false;
  State& s = state_[endpoint];
  if (isEjected(endpoint, now)) return false;
  if (++s.consecutive_errors < config_.consecutive_errors) return false;
  // Strict cap: with max 50 % of 2 endpoints one may go, of 1 endpoint none.
  const size_t after = ejectedCount(now) + 1;
  if (after * 100 > static_cast<size_t>(config_.max_ejection_percent) * state_.size()) return false;
  s.consecutive_errors = 0;
  s.ejected = true;
  ++s.times_ejected;
  s.until = now + config_.base_ejection_time * s.times_ejected;
  return true;
}

bool OutlierDetector::isEjected(size_t endpoint, TimePoint now) {
  State& s = state_[endpoint];
  if (s.ejected && now >= s.until) s.ejected = false;
  return s.ejected;
}

size_t OutlierDetector::ejectedCount(TimePoint now) {
  size_t n = 0;
  for (size_t i = 0; i < state_.size(); ++i) n += isEjected(i, now) ? 1 : 0;
  return n;
}

}  // namespace meshdeck::proxy
