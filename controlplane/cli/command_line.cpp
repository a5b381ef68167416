#include "controlplane/cli/command_line.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "common/duration.h"
#include "controlplane/identity/bootstrap_tokens.h"
#include "meshdeck/version.h"

namespace meshdeck::cp {

std::string defaultStateDir() {
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/meshdeck";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.local/state/meshdeck";
  return ".meshdeck-state";
}

void declareOptions(CLI::App& app, CommandLine& cl) {
  auto& options = cl.options;
  options.state_dir = defaultStateDir();
  app.add_option("--listen", options.listen, "Address for proxies and management clients")
      ->capture_default_str();
  app.add_option("--state-dir", options.state_dir, "Directory of the durable policy history")
      ->capture_default_str();
  app.add_option("--policy-dir", options.policy_dir,
                 "Apply every *.yaml file of this directory at start");
  app.add_option("--secure-listen", cl.secure_listen,
                 "TLS address (mutual TLS: certificate renewals); default 127.0.0.1:15012, or "
                 "port 0 when --listen uses port 0; \"\" for none");
  app.add_option("--metrics-listen", cl.metrics_listen,
                 "Address of the Prometheus endpoint GET /metrics; \"off\" for none. When the "
                 "default address is busy the control plane warns and runs without it; an address "
                 "given here must be free")
      ->capture_default_str();
  app.add_option("--bootstrap-token", cl.token_requests,
                 "Issue a one-time bootstrap token PROXY_ID=NAMESPACE/SERVICE into --token-dir "
                 "(repeatable)");
  app.add_option("--token-dir", cl.token_dir,
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
  app.add_flag("--no-plaintext-management{false}", options.plaintext_management,
               "Refuse every management call on the plaintext --listen port (operators use the "
               "TLS port with their credentials; proxies keep using --listen)");
  app.add_flag("--no-plaintext-proxies{false}", options.plaintext_proxies,
               "Refuse proxies' discovery and telemetry streams on the plaintext --listen port: "
               "only proxies authenticated by their workload certificate on the TLS port are "
               "served (meshdeck-proxy --bootstrap-token ... --control-plane-tls ADDR)");
  app.add_flag("--insecure-management", options.insecure_management,
               "Serve management calls on the plaintext --listen port to any client, also when "
               "it listens beyond loopback (no identity, no role: whoever reaches the port may "
               "change the mesh)");
  app.add_option("--history-max-mb", options.history_max_mb,
                 "Size limit of <state-dir>/history.db in MiB (the oldest data is dropped first; "
                 "docs/history.md)")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  app.add_option("--history-seconds", options.history_seconds, "Seconds of per-edge history kept")
      ->capture_default_str();
  app.add_option("--server-shards", options.server_shards,
                 "gRPC servers sharing the listen ports (SO_REUSEPORT; docs/cp-scale.md, "
                 "\"Server shards\")")
      ->check(CLI::Range(1u, ControlPlaneOptions::kMaxServerShards))
      ->capture_default_str();
  app.add_option("--telemetry-queues", options.telemetry_queues,
                 "Completion queues (one thread each) per gRPC server serving the proxies' "
                 "telemetry streams (docs/cp-scale.md, \"Telemetry on queues of its own\")")
      ->check(CLI::Range(1u, ControlPlaneOptions::kMaxTelemetryQueues))
      ->capture_default_str();
  app.add_option("--log-level", cl.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  app.add_option("--shutdown-grace", cl.shutdown_grace_seconds,
                 "Seconds an orderly shutdown may take after SIGTERM/SIGINT; then the process "
                 "logs what is still running and exits with status 3")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--demo", cl.demo,
                 "Start a demo mesh: a bundled name (storefront, large) or a DemoMesh file");
  app.add_option("--scenario", cl.scenario,
                 "Run a training scenario over the demo (bundled name or file); exit 1 if a "
                 "checkpoint fails")
      ->needs("--demo");
  app.add_option("--duration", cl.duration_text, "Stop the demo after this long (e.g. 60s, 10m)")
      ->needs("--demo");
  app.add_option("--seed", cl.seed, "Seed of the demo's random behaviour (default: the scenario's)")
      ->needs("--demo");
  app.add_option("--demo-ports", cl.demo_ports_text,
                 "Loopback ports the demo's processes listen on, FIRST-LAST (default "
                 "21000-32000; keep below 32768, where outgoing connections take theirs); give two "
                 "demos on one machine ranges that do not overlap")
      ->needs("--demo");
  declareWebhookOptions(app, cl.webhook);
  app.add_option("--registry", options.registry,
                 "Where services, versions and endpoints come from besides the connected proxies: "
                 "proxies, or kubernetes (Pods, Services and EndpointSlices watched through the "
                 "API server; docs/kubernetes-registry.md)")
      ->check(CLI::IsMember({"proxies", "kubernetes"}))
      ->capture_default_str();
  app.add_option("--kube-api", options.kube_api,
                 "Kubernetes API server https://HOST[:PORT] (default: in-cluster, from "
                 "KUBERNETES_SERVICE_HOST and the pod's service account); with it, Identity.Sign "
                 "also takes service-account tokens (TokenReview)");
  app.add_option("--kube-token-file", options.kube_token_file,
                 "Bearer token file for --kube-api (re-read when it changes)");
  app.add_option("--kube-ca", options.kube_ca_file,
                 "PEM file of the CA of the API server's certificate, for --kube-api");
  app.add_option("--kube-namespace", options.kube_namespace,
                 "Watch only this namespace (default: all)");
  app.set_version_flag("--version", kVersion);
}

bool finishParse(CLI::App& app, CommandLine& cl, std::string* error) {
  if (app.get_option("--secure-listen")->count() > 0) cl.options.secure_listen = cl.secure_listen;
  const bool metrics_given = app.get_option("--metrics-listen")->count() > 0;
  if (cl.metrics_listen == "off") {
    cl.options.metrics_listen.clear();
  } else if (metrics_given) {
    if (cl.metrics_listen.rfind(':') == std::string::npos) {
      *error = "--metrics-listen \"" + cl.metrics_listen + "\": expected HOST:PORT or off";
      return false;
    }
    cl.options.metrics_listen = cl.metrics_listen;
    cl.options.metrics_listen_optional = false;
  } else {
    // Like the TLS port: a control plane on port 0 (tests, throw-away runs) never collides.
    const auto colon = cl.options.listen.rfind(':');
    cl.options.metrics_listen =
        colon != std::string::npos && cl.options.listen.substr(colon + 1) == "0"
            ? cl.options.listen.substr(0, colon) + ":0"
            : cl.metrics_listen;
    cl.options.metrics_listen_optional = true;
  }
  if (!finishWebhookOptions(cl.webhook, cl.options, error)) return false;
  if (cl.options.ca_import_replace && cl.options.ca_import_dir.empty()) {
    *error = "--ca-import-replace needs --ca-import DIR";
    return false;
  }
  if (!cl.options.plaintext_management && cl.options.insecure_management) {
    *error = "--no-plaintext-management and --insecure-management contradict each other";
    return false;
  }
  if (!cl.options.plaintext_proxies && cl.options.secure_listen &&
      cl.options.secure_listen->empty()) {
    *error = "--no-plaintext-proxies needs the TLS port, but --secure-listen is empty";
    return false;
  }
  if (cl.options.kube_api.empty() &&
      (!cl.options.kube_token_file.empty() || !cl.options.kube_ca_file.empty())) {
    *error = "--kube-token-file and --kube-ca need --kube-api URL";
    return false;
  }
  if (!cl.duration_text.empty() && !common::parseDuration(cl.duration_text)) {
    *error = "--duration: \"" + cl.duration_text + "\" is not a duration like 60s or 10m";
    return false;
  }
  if (!cl.demo_ports_text.empty()) {
    const auto range = parsePortRange(cl.demo_ports_text);
    if (!range) {
      *error = "--demo-ports: \"" + cl.demo_ports_text +
               "\" is not a port range FIRST-LAST with 1024 <= FIRST < LAST <= 65535";
      return false;
    }
    cl.demo_port_first = range->first;
    cl.demo_port_last = range->second;
  }
  for (const auto& request : cl.token_requests) {
    if (!parseTokenRequest(request)) {
      *error = "--bootstrap-token \"" + request + "\": expected PROXY_ID=NAMESPACE/SERVICE";
      return false;
    }
  }
  return true;
}

std::optional<TokenRequest> parseTokenRequest(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) return std::nullopt;
  const auto slash = text.find('/', eq);
  if (slash == std::string::npos) return std::nullopt;
  TokenRequest r{text.substr(0, eq), text.substr(eq + 1, slash - eq - 1), text.substr(slash + 1)};
  if (r.proxy_id.empty() || r.ns.empty() || r.service.empty()) return std::nullopt;
  return r;
}

bool issueBootstrapTokens(InProcessControlPlane& control_plane, const CommandLine& cl,
                          std::string* error) {
  const std::string dir = cl.token_dir.empty()
                              ? (std::filesystem::path(cl.options.state_dir) / "tokens").string()
                              : cl.token_dir;
  for (const auto& text : cl.token_requests) {
    const auto request = parseTokenRequest(text);
    const std::string token = request ? control_plane.issueBootstrapToken(
                                            request->proxy_id, request->ns, request->service)
                                      : std::string();
    if (token.empty()) {
      *error = "--bootstrap-token \"" + text +
               "\": expected PROXY_ID=NAMESPACE/SERVICE with a valid identity";
      return false;
    }
    std::string why;
    const auto file = identity::writeTokenFile(dir, request->proxy_id, token, &why);
    if (!file) {
      *error = "--bootstrap-token \"" + text + "\": " + why;
      return false;
    }
    spdlog::info("bootstrap token for proxy \"{}\" written to {}", request->proxy_id,
                 file->string());
  }
  return true;
}

std::optional<std::pair<uint16_t, uint16_t>> parsePortRange(const std::string& text) {
  const auto dash = text.find('-');
  if (dash == std::string::npos) return std::nullopt;
  auto number = [](const std::string& digits) -> std::optional<uint32_t> {
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    return static_cast<uint32_t>(std::stoul(digits));
  };
  const auto first = number(text.substr(0, dash)), last = number(text.substr(dash + 1));
  if (!first || !last || *first < 1024 || *first >= *last || *last > 65535) return std::nullopt;
  return std::pair<uint16_t, uint16_t>(static_cast<uint16_t>(*first), static_cast<uint16_t>(*last));
}

std::optional<fleet::DemoRunOptions> demoRunOptions(const CommandLine& cl,
                                                    InProcessControlPlane& control_plane,
                                                    std::string* error) {
  fleet::DemoRunOptions run;
  run.demo = cl.demo;
  if (!cl.scenario.empty()) run.scenario = cl.scenario;
  if (!cl.duration_text.empty()) {
    const auto d = common::parseDuration(cl.duration_text);
    if (!d) {
      *error = "--duration: \"" + cl.duration_text + "\" is not a duration like 60s or 10m";
      return std::nullopt;
    }
    run.duration = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  run.seed = cl.seed;
  run.port_first = cl.demo_port_first;
  run.port_last = cl.demo_port_last;
  run.bin_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  run.control_plane_address = control_plane.listenAddress();
  run.control_plane_tls_address = control_plane.secureListenAddress();
  run.trust_domain = cl.options.trust_domain;
  run.register_service = [&control_plane](const std::string& s, const std::string& v,
                                          const std::string& t) {
    control_plane.registerService(s, v, t);
  };
  run.on_fleet = [&control_plane](fleet::DemoFleet* f) { control_plane.setFleet(f); };
  run.record_event = control_plane.eventRecorder();
  return run;
}

}  // namespace meshdeck::cp
