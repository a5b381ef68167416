// telemetry_report: a TelemetryReport from a peer, as protobuf bytes, into the control plane's
// ingest (TelemetryIngestService::ingest: validation, EdgeReport conversion, the aggregator and
// the registry), then read back the way the graph and the charts read it. Each edge's latency
// histogram also goes through common::fromProto/toProto on its own.
// Oracle: no crash, hang or sanitizer report, and
//   - a histogram fromProto() accepts survives toProto() -> fromProto() unchanged, and its
//     percentiles are finite and ordered (p50 <= p90 <= p99);
//   - every window the aggregator reports has a success rate in [0, 1] and finite, ordered
//     percentiles.
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "common/clock.h"
#include "common/histogram_proto.h"
#include "controlplane/registry/registry.h"
#include "controlplane/server/telemetry_service.h"
#include "controlplane/telemetry/telemetry_aggregator.h"
#include "meshdeck/v1/telemetry.pb.h"

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "telemetry_report: %s\n", what);
  __builtin_trap();
}

void checkWindow(const meshdeck::cp::WindowMetrics& m) {
  check(m.success_rate >= 0 && m.success_rate <= 1, "success rate outside [0, 1]");
  check(std::isfinite(m.p50_ms) && std::isfinite(m.p90_ms) && std::isfinite(m.p99_ms),
        "a window percentile is not finite");
  check(m.p50_ms <= m.p90_ms && m.p90_ms <= m.p99_ms, "window percentiles out of order");
  check(std::isfinite(m.requests_per_second) && m.requests_per_second >= 0,
        "requests per second negative or not finite");
}

void checkHistogram(const meshdeck::v1::Histogram& in) {
  meshdeck::common::LatencyHistogram h;
  std::string error;
  if (!meshdeck::common::fromProto(in, &h, &error)) return;
  meshdeck::v1::Histogram out;
  meshdeck::common::toProto(h, &out);
  meshdeck::common::LatencyHistogram again;
  check(meshdeck::common::fromProto(out, &again, &error),
        "toProto() output refused by fromProto()");
  check(again == h, "histogram changed in a toProto/fromProto round trip");
  const double p50 = h.percentile(50), p90 = h.percentile(90), p99 = h.percentile(99);
  check(std::isfinite(p50) && std::isfinite(p90) && std::isfinite(p99),
        "histogram percentile not finite");
  check(p50 <= p90 && p90 <= p99, "histogram percentiles out of order");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  meshdeck::v1::TelemetryReport report;
  if (!report.ParseFromArray(data, static_cast<int>(size))) return 0;
  for (const auto& e : report.edges()) checkHistogram(e.latency());

  meshdeck::common::SimulatedTimeSource time;
  meshdeck::cp::TelemetryAggregator aggregator(time, 120, 60);
  meshdeck::cp::Registry registry;
  meshdeck::cp::ProxyNode node;
  node.proxy_id = report.proxy_id();
  node.service = "fuzz";
  node.version = "v1";
  registry.connect(node, time.systemNow());
  meshdeck::cp::TelemetryIngestService service(aggregator, registry, time);
  // The same report twice, a second apart, so that windows hold more than one interval.
  service.ingest(report);
  time.advance(std::chrono::seconds(1));
  service.ingest(report);

  for (const auto& edge : aggregator.edges(60)) {
    checkWindow(edge.metrics);
    (void)aggregator.history(edge.source, edge.destination, 60);
  }
  for (const auto& [name, metrics] : aggregator.nodes(60)) checkWindow(metrics);
  (void)aggregator.authorization(60);
  (void)registry.reportedCertificates();
  return 0;
}
