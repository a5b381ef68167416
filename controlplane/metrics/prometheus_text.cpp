#include "controlplane/metrics/prometheus_text.h"

#include <fmt/format.h>

#include <chrono>
#include <utility>

#include "common/latency_histogram.h"

namespace meshdeck::cp::metrics {

namespace {

// Length of the valid UTF-8 sequence at `s[i]`, 0 when it is not one (overlong forms,
// surrogates and code points above U+10FFFF included).
size_t utf8Length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

std::string edgeLabels(const EdgeTotals& e) {
  return "source=\"" + escapeLabelValue(e.source) + "\",destination=\"" +
         escapeLabelValue(e.destination) + "\"";
}

}  // namespace

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size();) {
    const char c = value[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      const size_t n = utf8Length(value, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
        continue;
      }
      out.append(value.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  return out;
}

std::string renderPrometheus(const MetricsInput& in) {
  std::string out;
  auto sink = std::back_inserter(out);
  static constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

  family(out, "meshdeck_edge_requests_total", "counter",
         "Requests on a service-to-service edge since the control plane started (client side).");
  for (const auto& e : in.edges)
    fmt::format_to(sink, "meshdeck_edge_requests_total{{{}}} {}\n", edgeLabels(e), e.requests);

  family(out, "meshdeck_edge_responses_total", "counter",
         "Responses on an edge by status class since the control plane started (gRPC calls "
         "under the class of the HTTP status their gRPC status stands for).");
  for (const auto& e : in.edges)
    for (size_t c = 0; c < 5; ++c)
      fmt::format_to(sink, "meshdeck_edge_responses_total{{{},class=\"{}\"}} {}\n", edgeLabels(e),
                     kClasses[c], e.responses_by_class[c]);

  family(out, "meshdeck_edge_grpc_calls_total", "counter",
         "gRPC calls on an edge by grpc-status since the control plane started.");
  for (const auto& e : in.edges)
    for (uint32_t s = 0; s < common::kGrpcStatusCount; ++s)
      if (e.grpc_statuses[s])
        fmt::format_to(sink, "meshdeck_edge_grpc_calls_total{{{},grpc_status=\"{}\"}} {}\n",
                       edgeLabels(e), common::grpcStatusName(s), e.grpc_statuses[s]);

  family(out, "meshdeck_edge_request_duration_seconds", "histogram",
         "Latency of the requests of an edge since the control plane started, measured by the "
         "caller's proxy.");
  for (const auto& e : in.edges) {
    const std::string labels = edgeLabels(e);
    // A bucket of the common layout counts under the first le at or above its lower bound.
    std::array<uint64_t, kDurationBuckets.size()> counts{};
    uint64_t total = 0;
    for (const auto& [index, n] : e.latency.buckets) {
      const double lower = double(common::LatencyHistogram::bucketLower(index)) / 1e9;
      for (size_t b = 0; b < kDurationBuckets.size(); ++b) {
        if (lower <= kDurationBuckets[b]) {
          counts[b] += n;
          break;
        }
      }
      total += n;
    }
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kDurationBuckets.size(); ++b) {
      cumulative += counts[b];
      fmt::format_to(sink, "meshdeck_edge_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n",
                     labels, kDurationBuckets[b], cumulative);
    }
    fmt::format_to(sink, "meshdeck_edge_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n",
                   labels, total);
    fmt::format_to(sink, "meshdeck_edge_request_duration_seconds_sum{{{}}} {}\n", labels,
                   total ? double(e.latency.sum) / 1e9 : 0.0);
    fmt::format_to(sink, "meshdeck_edge_request_duration_seconds_count{{{}}} {}\n", labels, total);
  }

  family(out, "meshdeck_proxies", "gauge", "Proxies known to the control plane by sync state.");
  for (size_t s = 0; s < in.proxies_by_state.size(); ++s)
    fmt::format_to(sink, "meshdeck_proxies{{sync_state=\"{}\"}} {}\n",
                   toString(static_cast<SyncState>(s)), in.proxies_by_state[s]);

  if (in.ca_root_expiry) {
    family(out, "meshdeck_ca_root_expiry_timestamp_seconds", "gauge",
           "When the mesh CA's active root certificate expires (Unix time).");
    fmt::format_to(
        sink, "meshdeck_ca_root_expiry_timestamp_seconds {}\n",
        std::chrono::duration_cast<std::chrono::seconds>(in.ca_root_expiry->time_since_epoch())
            .count());
  }

  family(out, "meshdeck_service_health", "gauge",
         "Health of a service as the control plane computes it: 1 for its state, 0 for the "
         "others.");
  static constexpr HealthState kStates[] = {HealthState::kIdle, HealthState::kHealthy,
                                            HealthState::kDegraded, HealthState::kFailing};
  for (const auto& [service, health] : in.health)
    for (const auto state : kStates)
      fmt::format_to(sink, "meshdeck_service_health{{service=\"{}\",state=\"{}\"}} {}\n",
                     escapeLabelValue(service), toString(state), health.state == state ? 1 : 0);

  family(out, "meshdeck_metrics_bad_requests_total", "counter",
         "HTTP requests to the metrics port refused (malformed, too large, wrong method or "
         "path).");
  fmt::format_to(sink, "meshdeck_metrics_bad_requests_total {}\n", in.bad_requests);

  family(out, "meshdeck_security_refusals_total", "counter",
         "Callers refused by the control plane's security checks since it started, by reason "
         "(docs/security.md).");
  const auto& r = in.refusals;
  for (const auto& [reason, n] : {std::pair{"proxy_stream", r.proxy_streams},
                                  {"proxy_identity", r.proxy_identity},
                                  {"management_unauthenticated", r.management_unauthenticated},
                                  {"management_forbidden", r.management_forbidden},
                                  {"identity_sign", r.identity_sign}})
    fmt::format_to(sink, "meshdeck_security_refusals_total{{reason=\"{}\"}} {}\n", reason, n);
  return out;
}

}  // namespace meshdeck::cp::metrics
