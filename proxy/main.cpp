// meshdeck-proxy: parses the command line, starts the proxy (and in mesh mode its agent) and
// runs until SIGTERM. The modes and their options: proxy/cli/command_line.h.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <thread>

#include "common/logging.h"
#include "meshdeck/version.h"
#include "proxy/cli/command_line.h"

int main(int argc, char** argv) {
  using namespace meshdeck::proxy;
  CLI::App app{"meshdeck-proxy: the Meshdeck sidecar proxy (HTTP/1.1, Boost.Beast)"};
  CommandLine cl;
  declareOptions(app, cl);
  CLI11_PARSE(app, argc, argv);
  if (cl.print_version) {
    std::cout << meshdeck::kVersion << "\n";
    return 0;
  }
  meshdeck::common::setupLogging("meshdeck-proxy", cl.log_level);

  StartupPlan plan;
  std::string error;
  if (!planStartup(cl, &plan, &error)) {
    std::cerr << "meshdeck-proxy: " << error << "\n";
    if (cl.config_file.empty() && cl.listen.empty() && cl.mesh.control_plane.empty())
      std::cerr << app.help();
    return 2;
  }
  Proxy proxy(plan.options);
  if (!plan.tls_files.empty() && !loadTlsIdentity(plan.tls_files, proxy, &error)) {
    std::cerr << "meshdeck-proxy: " << error << "\n";
    return 2;
  }
  if (!cl.config_file.empty() || !plan.tls_files.empty())
    proxy.setReloadHook(makeReloadHook(proxy, cl.config_file, cl.tls_flags));
  if (!proxy.start(plan.config, &error)) {
    std::cerr << "meshdeck-proxy: " << (cl.config_file.empty() ? "" : cl.config_file + ": ")
              << error << "\n";
    return 2;
  }
  std::unique_ptr<MeshAgent> agent;
  if (plan.mesh) {
    spdlog::info("mesh mode: {} ({} {}) taking config from {}", plan.mesh->proxy_id,
                 plan.mesh->service, plan.mesh->version, plan.mesh->control_plane);
    agent = std::make_unique<MeshAgent>(proxy, std::move(*plan.mesh));
    agent->start();
  }
  // --tap-bench: what a tap costs the request path, without a control plane (docs/tap.md).
  std::atomic<bool> bench_stop{false};
  std::thread tap_drain;
  if (cl.tap_bench_rate > 0) {
    TapSpec everything;
    everything.tap_id = 1;
    everything.events_per_second = cl.tap_bench_rate;
    everything.burst = static_cast<uint32_t>(std::max(1.0, cl.tap_bench_rate));
    proxy.tap().set({everything});
    tap_drain = std::thread([&] {
      while (!bench_stop) {
        std::this_thread::sleep_for(MeshAgent::kTapFlushInterval);
        proxy.tap().drain(nullptr);
      }
    });
  }
  const int status = proxy.run();
  bench_stop = true;
  if (tap_drain.joinable()) tap_drain.join();
  if (agent) agent->stop();
  return status;
}
