// The history store's cost (docs/history.md, "Measured cost"): bytes per edge per day and the
// writer's CPU per 10 s batch, with a simulated clock driving one day of buckets through a real
// HistoryStore file.
//
//   history_cost --edges 200 --hours 24 --dir /tmp/history-cost
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <random>

#include "common/clock.h"
#include "controlplane/history/history_store.h"

using namespace meshdeck;
using namespace meshdeck::cp::history;

namespace {
double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app("history store cost");
  int edges = 200, hours = 24, rps = 50;
  std::string dir = "/tmp/history-cost";
  app.add_option("--edges", edges, "Edges (each also a service bucket)")->capture_default_str();
  app.add_option("--hours", hours, "Simulated hours of traffic")->capture_default_str();
  app.add_option("--rps", rps, "Requests per second per edge (log-normal latencies)")
      ->capture_default_str();
  app.add_option("--dir", dir, "Directory of the database (emptied first)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto path = std::filesystem::path(dir) / "history.db";

  // A pool of 10 s histograms (log-normal around 5 ms, sigma 0.6), reused so that their
  // generation is not measured.
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(5e6), 0.6);
  std::vector<SparseLatency> pool;
  size_t nonempty = 0;
  for (int i = 0; i < 64; ++i) {
    common::LatencyHistogram h;
    for (int n = 0; n < rps * 10; ++n) h.record(static_cast<uint64_t>(latency(rng)));
    pool.push_back(SparseLatency::fromDense(h));
    nonempty += pool.back().buckets.size();
  }

  common::SimulatedTimeSource clock;
  HistoryOptions options;
  options.max_bytes = uint64_t{1} << 40;  // measure, do not drop
  std::string error;
  auto store = HistoryStore::open(path, options, clock, &error);
  if (!store) {
    fmt::print(stderr, "{}\n", error);
    return 1;
  }
  const int64_t t0 =
      std::chrono::duration_cast<std::chrono::seconds>(clock.systemNow().time_since_epoch())
          .count();
  const int64_t steps = int64_t(hours) * 360;
  double enqueue_seconds = 0;
  const double cpu0 = cpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < steps; ++step) {
    std::vector<Bucket> batch;
    batch.reserve(size_t(edges) * 2);
    for (int e = 0; e < edges; ++e) {
      for (const auto kind : {SeriesKind::kEdge, SeriesKind::kService}) {
        Bucket b;
        b.start = t0 + step * 10;
        b.kind = kind;
        b.source = kind == SeriesKind::kEdge ? fmt::format("service-{}", e) : "";
        b.destination = fmt::format("service-{}", (e * 7 + 1) % edges);
        b.latency = pool[size_t(step + e) % pool.size()];
        b.counters.requests = b.latency.count;
        b.counters.responses_by_class[1] = b.latency.count;
        batch.push_back(std::move(b));
      }
    }
    const auto q0 = std::chrono::steady_clock::now();
    store->recordBuckets(std::move(batch));
    enqueue_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - q0).count();
    clock.advance(std::chrono::seconds(10));
    // The writer keeps up in real time; waiting each step keeps the queue from dropping.
    store->flush();
  }
  const double cpu = cpuSeconds() - cpu0;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const uint64_t used_day = store->usedBytes();
  const auto file_day = std::filesystem::file_size(path);
  // One day later the 10 s buckets are gone and only the 1 min ones are left.
  clock.advance(std::chrono::hours(25));
  store->flush();
  const uint64_t used_coarse = store->usedBytes();
  const double days = hours / 24.0;
  const double series = edges * 2.0;
  const double per_fine_day = double(used_day - used_coarse) / series / days;
  const double per_coarse_day = double(used_coarse) / series / days;
  fmt::print(
      "edges {} (+{} service series), {} simulated hours, {} req/s per edge, {:.0f} "
      "non-empty histogram buckets per 10 s on average\n",
      edges, edges, hours, rps, double(nonempty) / double(pool.size()));
  fmt::print("file after the run: {:.1f} MiB ({:.1f} MiB of pages in use)\n",
             double(file_day) / (1 << 20), double(used_day) / (1 << 20));
  fmt::print("per series per day: 10 s buckets {:.0f} KiB, 1 min buckets {:.0f} KiB\n",
             per_fine_day / 1024, per_coarse_day / 1024);
  fmt::print("per series at steady state (24 h of 10 s + 30 d of 1 min): {:.1f} MiB\n",
             (per_fine_day + 30 * per_coarse_day) / (1 << 20));
  fmt::print(
      "writer: {} batches of {} buckets, CPU {:.3f} s total = {:.2f} ms per batch "
      "({:.1f} us per bucket), wall {:.1f} s; enqueue (the ingest side) {:.1f} us per "
      "batch\n",
      steps, edges * 2, cpu, cpu * 1e3 / double(steps), cpu * 1e6 / double(steps) / series, wall,
      enqueue_seconds * 1e6 / double(steps));
  fmt::print("dropped {}\n", store->droppedItems());
  return 0;
}
