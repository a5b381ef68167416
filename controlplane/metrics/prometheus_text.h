#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/api/types.h"
#include "controlplane/telemetry/telemetry_aggregator.h"

// The Prometheus text exposition format (version 0.0.4) of the control plane's metrics
// (docs/health-and-metrics.md). Pure: no socket, no clock.
namespace meshdeck::cp::metrics {

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// What one scrape shows.
struct MetricsInput {
  std::vector<EdgeTotals> edges;  // cumulative since start (TelemetryAggregator::totals())
  // Proxies by sync state, index = SyncState.
  std::array<uint64_t, 5> proxies_by_state{};
  std::optional<SystemTime> ca_root_expiry;  // not_after of the active root; unset: no CA yet
  // Health per service (services without a computed health are left out).
  std::vector<std::pair<std::string, ServiceHealth>> health;
  uint64_t bad_requests = 0;  // HTTP requests to the metrics port refused
  // Security refusals since start (docs/security.md), each a `reason` of
  // meshdeck_security_refusals_total: proxy streams refused when they opened; discovery nodes
  // and telemetry reports speaking for another identity; management calls without a known
  // identity, and with an identity, role or place that may not make them; Identity.Sign
  // requests refused (token, CSR, identity).
  struct SecurityRefusals {
    uint64_t proxy_streams = 0, proxy_identity = 0;
    uint64_t management_unauthenticated = 0, management_forbidden = 0;
    uint64_t identity_sign = 0;
  };
  SecurityRefusals refusals;
};

// Upper bounds (seconds) of the latency histogram's buckets, before "+Inf".
inline constexpr std::array<double, 14> kDurationBuckets{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// A label value as the format wants it: `\` `"` and newline escaped; bytes that are not UTF-8
// replaced by U+FFFD (service names come from the network).
std::string escapeLabelValue(std::string_view value);

// Every family with its HELP and TYPE lines. Edges sorted as given.
std::string renderPrometheus(const MetricsInput& input);

}  // namespace meshdeck::cp::metrics
