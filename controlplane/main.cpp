// meshdeck-controlplane: the control plane without the desktop. Parses the command line
// (controlplane/cli/command_line.h), issues the bootstrap tokens asked for, starts the control
// plane, then serves until a stop signal, or runs the demo mesh and its scenario.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "common/logging.h"
#include "controlplane/cli/command_line.h"
#include "meshdeck/version.h"

namespace {

// Makes sure a stop signal ends the process: if the orderly shutdown (streams, calls, fleet)
// has not finished within `grace`, it logs what is still running and leaves with status 3.
// The fleet's children die with us (PR_SET_PDEATHSIG); the state files are written atomically,
// so cutting a write short leaves the previous revision.
void armShutdownWatchdog(std::chrono::milliseconds grace,
                         const meshdeck::cp::InProcessControlPlane& control_plane) {
  std::thread([grace, &control_plane] {
    std::this_thread::sleep_for(grace);
    spdlog::error("shutdown did not finish within {} ms; still running: {}; exiting now",
                  grace.count(), control_plane.stopStatus());
    spdlog::default_logger()->flush();
    std::cerr.flush();
    ::_exit(3);
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace meshdeck::cp;
  CLI::App app{"meshdeck-controlplane: the Meshdeck control plane without the desktop UI"};
  CommandLine cl;
  declareOptions(app, cl);
  CLI11_PARSE(app, argc, argv);
  if (!meshdeck::common::setupLogging("controlplane", cl.log_level)) {
    spdlog::error("unknown log level \"{}\"", cl.log_level);
    return 2;
  }
  std::string error;
  if (!finishParse(app, cl, &error)) {
    spdlog::error("{}", error);
    return 2;
  }

  // Block the stop signals before any thread starts, so that only sigwait() below sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  spdlog::info("meshdeck-controlplane {} starting (state {}, policies {})", meshdeck::kVersion,
               cl.options.state_dir, cl.options.policy_dir.empty() ? "-" : cl.options.policy_dir);
  InProcessControlPlane control_plane(cl.options);
  // The token files exist before the ports are announced ("listening on"): a sidecar started
  // on that line reads its file at once.
  if (!issueBootstrapTokens(control_plane, cl, &error)) {
    spdlog::error("{}", error);
    return 2;
  }
  if (!control_plane.start(&error)) {
    spdlog::error("{}", error);
    return 1;
  }
  auto webhook = startWebhook(control_plane, cl.webhook, &error);
  if (!webhook && !error.empty()) {
    spdlog::error("{}", error);
    control_plane.stop();
    return 1;
  }
  const auto grace =
      std::chrono::milliseconds(static_cast<int64_t>(cl.shutdown_grace_seconds * 1000));
  int status = 0;
  if (cl.demo.empty()) {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("signal {}: shutting down", sig);
    armShutdownWatchdog(grace, control_plane);
  } else {
    auto run = demoRunOptions(cl, control_plane, &error);
    if (!run) {
      spdlog::error("{}", error);
      control_plane.stop();
      return 2;
    }
    // A signal ends the demo; the runner then stops the fleet before we stop the control plane.
    std::atomic<bool> cancelled{false};
    std::thread signal_waiter([&] {
      int sig = 0;
      sigwait(&set, &sig);
      if (sig == SIGUSR1) return;  // our own wake-up at the end of the run
      spdlog::info("signal {}: stopping the demo", sig);
      armShutdownWatchdog(grace, control_plane);
      cancelled = true;
    });
    fleet::DemoRunner runner(control_plane, *run, std::cout);
    status = runner.run([&] { return cancelled.load(); });
    if (!cancelled) ::kill(::getpid(), SIGUSR1);
    signal_waiter.join();
  }
  if (webhook) {
    webhook->stop();
    const auto w = webhook->counters();
    spdlog::info("webhook: {} injected, {} left alone, {} refused, {} failed handshakes",
                 w.injected, w.skipped, w.bad_requests, w.handshake_failures);
  }
  control_plane.stop();
  const auto c = control_plane.counters();
  spdlog::info("stopped: {} pushes, {} acks, {} nacks, {} reports, {} edges ({} refused)", c.pushes,
               c.acks, c.nacks, c.reports, c.edges_accepted, c.edges_rejected);
  return status;
}
