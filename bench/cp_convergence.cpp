// Convergence of the control plane's push: from applyPolicies() returning to the control plane
// having received an ACK of the new config from every proxy, with N simulated proxies on one
// gRPC channel per 50 proxies (bench only; the real proxy opens one channel each).
//
//   cp_convergence [--proxies 500] [--services 50] [--rounds 30]
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <thread>

#include "controlplane/in_process_control_plane.h"
#include "integration/controlplane/fake_proxy.h"

using namespace meshdeck;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int proxies = 500, services = 50, rounds = 30;
  CLI::App app{"cp_convergence: apply -> all proxies ACKed, with simulated proxies"};
  app.add_option("--proxies", proxies)->capture_default_str();
  app.add_option("--services", services)->capture_default_str();
  app.add_option("--rounds", rounds)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  cp::ControlPlaneOptions options;
  options.listen = "127.0.0.1:0";
  options.state_dir.clear();
  cp::InProcessControlPlane control_plane(options);
  std::string error;
  if (!control_plane.start(&error)) {
    fmt::print(stderr, "{}\n", error);
    return 1;
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::ConfigDiscovery::Stub>> stubs;
  std::vector<std::unique_ptr<testing::FakeProxy>> fleet;
  for (int i = 0; i < proxies; ++i) {
    if (i % 50 == 0) {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", i);  // distinct channels, not one shared subchannel
      channels.push_back(grpc::CreateCustomChannel(control_plane.listenAddress(),
                                                   grpc::InsecureChannelCredentials(), args));
      stubs.push_back(v1::ConfigDiscovery::NewStub(channels.back()));
    }
    const std::string svc = fmt::format("svc{}", i % services);
    const std::string ver = (i / services) % 2 ? "v2" : "v1";
    fleet.push_back(std::make_unique<testing::FakeProxy>(
        stubs.back().get(),
        testing::makeNode(fmt::format("{}-{}", svc, i), svc, ver, 20000 + 4 * uint32_t(i))));
  }
  // Everyone connected and synced on the initial config.
  const auto connect_deadline = Clock::now() + 60s;
  for (;;) {
    const auto g = control_plane.snapshot();
    const auto synced = std::count_if(g->proxies.begin(), g->proxies.end(), [](const auto& p) {
      return p.state == cp::SyncState::kSynced;
    });
    if (synced == proxies) break;
    if (Clock::now() > connect_deadline) {
      fmt::print(stderr, "only {} of {} proxies synced\n", synced, proxies);
      return 1;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(300ms);

  const std::string dest = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: svc0}
spec:
  host: svc0
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
)";
  if (!control_plane.applyPolicies(dest, "dest.yaml", "bench", false).ok) return 1;
  std::this_thread::sleep_for(500ms);

  std::vector<double> samples;
  for (int r = 0; r < rounds; ++r) {
    const int w = 10 + r % 80;
    const std::string route = fmt::format(R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {{name: canary}}
spec:
  host: svc0
  http:
  - route:
    - {{destination: {{host: svc0, subset: v1}}, weight: {}}}
    - {{destination: {{host: svc0, subset: v2}}, weight: {}}}
)",
                                          100 - w, w);
    const uint64_t acks_before = control_plane.counters().acks;
    const auto result = control_plane.applyPolicies(route, "route.yaml", "bench", false);
    const auto t0 = Clock::now();
    if (!result.ok) return 1;
    const auto deadline = t0 + 10s;
    while (control_plane.counters().acks < acks_before + uint64_t(proxies) &&
           Clock::now() < deadline)
      std::this_thread::sleep_for(200us);
    const auto t1 = Clock::now();
    if (t1 >= deadline) {
      fmt::print(stderr, "round {}: not every proxy ACKed within 10 s\n", r);
      return 1;
    }
    samples.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    std::this_thread::sleep_for(100ms);
  }
  std::sort(samples.begin(), samples.end());
  auto pct = [&](double p) {
    return samples[std::min(samples.size() - 1, size_t(p / 100.0 * double(samples.size())))];
  };
  fmt::print(
      "proxies={} services={} rounds={} debounce={}ms  convergence ms: p50={:.1f} p90={:.1f} "
      "p99={:.1f} max={:.1f}\n",
      proxies, services, rounds, options.push_debounce.count(), pct(50), pct(90), pct(99),
      samples.back());
  fleet.clear();
  control_plane.stop();
  return 0;
}
