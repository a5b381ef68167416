#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>

#include "common/logging.h"
#include "controlplane/in_process_control_plane.h"
#include "meshdeck/version.h"

namespace {
std::string defaultStateDir() {
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/meshdeck";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.local/state/meshdeck";
  return ".meshdeck-state";
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"meshdeck-controlplane: the Meshdeck control plane without the desktop UI"};
  meshdeck::cp::ControlPlaneOptions options;
  options.state_dir = defaultStateDir();
  std::string log_level = "info";
  app.add_option("--listen", options.listen, "Address for proxies and management clients")
      ->capture_default_str();
  app.add_option("--state-dir", options.state_dir, "Directory of the durable policy history")
      ->capture_default_str();
  app.add_option("--policy-dir", options.policy_dir,
                 "Apply every *.yaml file of this directory at start");
  app.add_option("--trust-domain", options.trust_domain, "SPIFFE trust domain of the mesh")
      ->capture_default_str();
  app.add_option("--history-seconds", options.history_seconds, "Seconds of per-edge history kept")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  app.set_version_flag("--version", meshdeck::kVersion);
  CLI11_PARSE(app, argc, argv);
  if (!meshdeck::common::setupLogging("controlplane", log_level)) {
    spdlog::error("unknown log level \"{}\"", log_level);
    return 2;
  }

  // Block the stop signals before any thread starts, so that only sigwait() below sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  spdlog::info("meshdeck-controlplane {} starting (state {}, policies {})", meshdeck::kVersion,
               options.state_dir, options.policy_dir.empty() ? "-" : options.policy_dir);
  meshdeck::cp::InProcessControlPlane control_plane(options);
  std::string error;
  if (!control_plane.start(&error)) {
    spdlog::error("{}", error);
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {}: shutting down", sig);
  control_plane.stop();
  const auto c = control_plane.counters();
  spdlog::info("stopped: {} pushes, {} acks, {} nacks, {} reports, {} edges ({} refused)", c.pushes,
               c.acks, c.nacks, c.reports, c.edges_accepted, c.edges_rejected);
  return 0;
}
