#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/duration.h"
#include "common/logging.h"
#include "controlplane/fleet/demo_runner.h"
#include "controlplane/identity/bootstrap_tokens.h"
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
  std::string secure_listen;
  auto* secure_opt = app.add_option(
      "--secure-listen", secure_listen,
      "TLS address (mutual TLS: certificate renewals); default 127.0.0.1:15012, or port 0 when "
      "--listen uses port 0; \"\" for none");
  std::vector<std::string> token_requests;
  std::string token_dir;
  app.add_option("--bootstrap-token", token_requests,
                 "Issue a one-time bootstrap token PROXY_ID=NAMESPACE/SERVICE into --token-dir "
                 "(repeatable)");
  app.add_option("--token-dir", token_dir,
                 "Directory (0700) of bootstrap token files <proxy-id>.token (0600); default "
                 "<state-dir>/tokens");
  app.add_option("--trust-domain", options.trust_domain, "SPIFFE trust domain of the mesh")
      ->capture_default_str();
  app.add_option("--ca-import", options.ca_import_dir,
                 "Run the CA from an imported root + intermediate: DIR/root-cert.pem (trust "
                 "anchor), DIR/ca-cert.pem (the intermediate that signs), DIR/ca-key.pem (its "
                 "key, mode 0600, owned by this user), optional DIR/cert-chain.pem (intermediate "
                 "... root). Validated completely, then stored in <state-dir>/identity/ca.json "
                 "(later starts need not repeat it). See docs/security.md")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--ca-import-replace", options.ca_import_replace,
               "Let --ca-import replace a stored CA with another root: every certificate issued "
               "under the old root stops verifying for peers until its proxy renews");
  app.add_option("--history-seconds", options.history_seconds, "Seconds of per-edge history kept")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  double shutdown_grace_seconds = 5;
  app.add_option("--shutdown-grace", shutdown_grace_seconds,
                 "Seconds an orderly shutdown may take after SIGTERM/SIGINT; then the process "
                 "logs what is still running and exits with status 3")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  std::string demo, scenario, duration_text;
  uint64_t seed = 0;
  app.add_option("--demo", demo,
                 "Start a demo mesh: a bundled name (storefront, large) or a DemoMesh file");
  app.add_option("--scenario", scenario,
                 "Run a training scenario over the demo (bundled name or file); exit 1 if a "
                 "checkpoint fails")
      ->needs("--demo");
  app.add_option("--duration", duration_text, "Stop the demo after this long (e.g. 60s, 10m)")
      ->needs("--demo");
  app.add_option("--seed", seed, "Seed of the demo's random behaviour (default: the scenario's)")
      ->needs("--demo");
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
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  spdlog::info("meshdeck-controlplane {} starting (state {}, policies {})", meshdeck::kVersion,
               options.state_dir, options.policy_dir.empty() ? "-" : options.policy_dir);
  if (secure_opt->count() > 0) options.secure_listen = secure_listen;
  if (options.ca_import_replace && options.ca_import_dir.empty()) {
    spdlog::error("--ca-import-replace needs --ca-import DIR");
    return 1;
  }
  meshdeck::cp::InProcessControlPlane control_plane(options);
  std::string error;
  if (!control_plane.start(&error)) {
    spdlog::error("{}", error);
    return 1;
  }
  if (!token_requests.empty()) {
    if (token_dir.empty())
      token_dir = (std::filesystem::path(options.state_dir) / "tokens").string();
    for (const auto& request : token_requests) {
      // PROXY_ID=NAMESPACE/SERVICE; the token itself is never logged.
      const auto eq = request.find('=');
      const auto slash = request.find('/', eq == std::string::npos ? 0 : eq);
      const std::string proxy = request.substr(0, eq);
      const std::string token =
          eq == std::string::npos || slash == std::string::npos
              ? std::string()
              : control_plane.issueBootstrapToken(proxy, request.substr(eq + 1, slash - eq - 1),
                                                  request.substr(slash + 1));
      const auto file =
          token.empty() ? std::nullopt
                        : meshdeck::cp::identity::writeTokenFile(token_dir, proxy, token, &error);
      if (!file) {
        spdlog::error(
            "--bootstrap-token \"{}\": {}", request,
            token.empty() ? "expected PROXY_ID=NAMESPACE/SERVICE with a valid identity" : error);
        control_plane.stop();
        return 2;
      }
      spdlog::info("bootstrap token for proxy \"{}\" written to {}", proxy, file->string());
    }
  }
  const auto grace = std::chrono::milliseconds(static_cast<int64_t>(shutdown_grace_seconds * 1000));
  int status = 0;
  if (demo.empty()) {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("signal {}: shutting down", sig);
    armShutdownWatchdog(grace, control_plane);
  } else {
    meshdeck::cp::fleet::DemoRunOptions run;
    run.demo = demo;
    if (!scenario.empty()) run.scenario = scenario;
    if (!duration_text.empty()) {
      const auto d = meshdeck::common::parseDuration(duration_text);
      if (!d) {
        spdlog::error("--duration: \"{}\" is not a duration like 60s or 10m", duration_text);
        return 2;
      }
      run.duration = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    }
    run.seed = seed;
    run.bin_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
    run.control_plane_address = control_plane.listenAddress();
    run.control_plane_tls_address = control_plane.secureListenAddress();
    run.trust_domain = options.trust_domain;
    run.register_service = [&](const std::string& s, const std::string& v, const std::string& t) {
      control_plane.registerService(s, v, t);
    };
    run.on_fleet = [&](meshdeck::cp::fleet::DemoFleet* f) { control_plane.setFleet(f); };
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
    meshdeck::cp::fleet::DemoRunner runner(control_plane, run, std::cout);
    status = runner.run([&] { return cancelled.load(); });
    if (!cancelled) ::kill(::getpid(), SIGUSR1);
    signal_waiter.join();
  }
  control_plane.stop();
  const auto c = control_plane.counters();
  spdlog::info("stopped: {} pushes, {} acks, {} nacks, {} reports, {} edges ({} refused)", c.pushes,
               c.acks, c.nacks, c.reports, c.edges_accepted, c.edges_rejected);
  return status;
}
