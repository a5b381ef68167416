// Telemetry ingest throughput and the memory bound of the history.
//
// 1. Throughput: edge-reports per second merged by one thread through the same path a gRPC
//    report takes after decoding (validation with common::fromProto, aggregation), for
//    500 proxies x 20 edges per 1 s report.
// 2. Memory: the same mesh (50 services, 1000 service-level edges + 50 nodes) run for one
//    simulated hour with a simulated clock; memory held by the aggregator at the end.
//
//   cp_ingest [--proxies 500] [--edges 20] [--services 50] [--seconds 3600]
//             [--throughput-seconds 60]
//   cp_ingest --proxies 10000 --services 100 --throughput-seconds 5 --seconds 5
//     (the 10,000-proxy shape: 100 proxies report each edge every second)
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <random>

#include "common/clock.h"
#include "common/histogram_proto.h"
#include "controlplane/registry/registry.h"
#include "controlplane/server/telemetry_service.h"
#include "controlplane/telemetry/telemetry_aggregator.h"

using namespace meshdeck;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  int proxies = 500, edges = 20, services = 50, seconds = 3600, throughput_seconds = 60;
  CLI::App app{"cp_ingest: telemetry ingest rate and history memory"};
  app.add_option("--proxies", proxies)->capture_default_str();
  app.add_option("--edges", edges)->capture_default_str();
  app.add_option("--services", services)->capture_default_str();
  app.add_option("--seconds", seconds)->capture_default_str();
  app.add_option("--throughput-seconds", throughput_seconds,
                 "Simulated seconds of the whole mesh the throughput is measured over")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  // One report per proxy: 20 client edges with a realistic spread of latencies.
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(3e6), 0.6);
  std::vector<v1::TelemetryReport> reports;
  for (int p = 0; p < proxies; ++p) {
    v1::TelemetryReport r;
    r.set_proxy_id(fmt::format("p{}", p));
    const int src = p % services;
    for (int e = 0; e < edges; ++e) {
      auto* es = r.add_edges();
      es->mutable_key()->set_source_service(fmt::format("svc{}", src));
      es->mutable_key()->set_destination_service(fmt::format("svc{}", (src + 1 + e) % services));
      es->mutable_key()->set_destination_version(e % 2 ? "v2" : "v1");
      es->set_side(e == 0 ? v1::SERVER : v1::CLIENT);
      es->set_requests(100);
      (*es->mutable_responses_by_code())[200] = 99;
      (*es->mutable_responses_by_code())[503] = 1;
      common::LatencyHistogram h;
      for (int i = 0; i < 100; ++i) h.record(static_cast<uint64_t>(latency(rng)));
      common::toProto(h, es->mutable_latency());
    }
    reports.push_back(std::move(r));
  }

  common::SimulatedTimeSource clock;
  cp::TelemetryAggregator aggregator(clock, 3600, 60);
  cp::Registry registry;
  cp::TelemetryIngestService ingest(aggregator, registry, clock);

  // Throughput over --throughput-seconds simulated seconds of the whole mesh.
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t edge_reports = 0;
  for (int s = 0; s < throughput_seconds; ++s) {
    for (const auto& r : reports) {
      ingest.ingest(r);
      edge_reports += static_cast<uint64_t>(r.edges_size());
    }
    clock.advance(1s);
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(
      "ingest: {} edge-reports in {:.2f} s on one thread = {:.0f} edge-reports/s "
      "({} rejected)\n",
      edge_reports, elapsed, double(edge_reports) / elapsed, ingest.edgesRejected());

  // Memory after one hour: keep feeding one report per proxy per second.
  for (int s = throughput_seconds; s < seconds; ++s) {
    for (const auto& r : reports) ingest.ingest(r);
    clock.advance(1s);
  }
  const auto bytes = aggregator.memoryBytes();
  fmt::print(
      "memory after {} s: {} series (edges + nodes), {:.1f} MiB held by the aggregator "
      "({:.1f} KiB per series)\n",
      seconds, aggregator.seriesCount(), double(bytes) / (1 << 20),
      double(bytes) / 1024.0 / double(aggregator.seriesCount()));
  return 0;
}
