#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <iostream>
#include <memory>

#include "common/atomic_file.h"
#include "common/bounded_file.h"
#include "common/input_limits.h"
#include "common/logging.h"
#include "meshdeck/v1/discovery.pb.h"
#include "meshdeck/version.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"
#include "proxy/mesh/mesh_agent.h"
#include "proxy/proxy.h"

namespace {

using meshdeck::proxy::Proxy;
using meshdeck::proxy::TlsFiles;

// Reads the identity files and hands them to the proxy (first start and every SIGHUP).
bool loadTlsIdentity(const TlsFiles& files, Proxy& proxy, std::string* error) {
  std::string chain, key, bundle;
  for (const auto& [path, out] :
       {std::pair{&files.cert, &chain}, {&files.key, &key}, {&files.trust_bundle, &bundle}}) {
    if (!meshdeck::common::readFileLimited(*path, meshdeck::common::limits::kMaxPemFileBytes, out,
                                           error))
      return false;
  }
  if (!proxy.setTlsIdentity(chain, key, bundle, error)) {
    *error = files.cert.string() + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace meshdeck::proxy;
  CLI::App app{"meshdeck-proxy: the Meshdeck sidecar proxy (HTTP/1.1, Boost.Beast)"};
  std::string listen;
  std::vector<std::string> upstreams;
  std::string config_file;
  Proxy::Options options;
  std::string log_level = "info";
  double drain_seconds = 30;
  auto* listen_opt = app.add_option("--listen", listen,
                                    "Standalone mode: host:port to accept on (port 0 picks one)");
  auto* upstream_opt = app.add_option(
      "--upstream", upstreams, "Standalone mode: upstream host:port (repeatable; round robin)");
  auto* config_opt = app.add_option(
      "--config", config_file,
      "Static configuration (YAML mapped onto meshdeck.v1.ProxyConfig); SIGHUP reloads it");
  app.add_option("--workers", options.workers, "Worker threads (default: number of cores)");
  app.add_option("--admin", options.admin_address,
                 "Admin listener host:port (/stats, /config, /ready, ...)");
  app.add_option(
      "--port-file", options.port_file,
      "Write the bound ports as JSON ({\"<listener>\": port, \"admin\": port}) once listening");
  app.add_option("--drain-timeout", drain_seconds, "Seconds SIGTERM waits for in-flight requests")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-connections", options.default_max_connections,
                 "Default connection limit per listener");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off");
  TlsFiles tls_flags;
  auto* cert_opt = app.add_option("--tls-cert", tls_flags.cert,
                                  "Mesh identity: certificate chain (PEM, leaf first, one "
                                  "spiffe:// URI SAN); overrides the config's tls.cert");
  auto* key_opt = app.add_option("--tls-key", tls_flags.key, "Mesh identity: private key (PEM)");
  auto* trust_opt = app.add_option("--tls-trust", tls_flags.trust_bundle,
                                   "Mesh identity: trusted root certificates (PEM)");
  cert_opt->needs(key_opt)->needs(trust_opt);
  key_opt->needs(cert_opt);
  trust_opt->needs(cert_opt);
  std::string listen_tls_mode;
  auto* listen_tls_opt =
      app.add_option("--listen-tls-mode", listen_tls_mode,
                     "Standalone mode: strict (mutual TLS required), permissive or disable")
          ->check(CLI::IsMember({"strict", "permissive", "disable"}));
  bool upstream_tls = false;
  auto* upstream_tls_opt = app.add_flag("--upstream-tls", upstream_tls,
                                        "Standalone mode: mutual TLS towards the upstreams");
  std::vector<std::string> upstream_identities;
  auto* upstream_id_opt = app.add_option(
      "--upstream-identity", upstream_identities,
      "Standalone mode: SPIFFE id the upstream must present (repeatable; default: any of the "
      "trust domain)");
  std::string trust_domain;
  auto* trust_domain_opt = app.add_option(
      "--trust-domain", trust_domain,
      "Standalone mode: trust domain of peers (default: that of the own certificate); mesh "
      "mode: trust domain of the identity requested (default meshdeck.local)");
  MeshIdentity mesh;
  std::string bootstrap_token_file;
  auto* token_opt = app.add_option(
      "--bootstrap-token-file", bootstrap_token_file,
      "Mesh mode: file holding the one-time token for the first certificate (read once at "
      "start; keep it 0600 in a 0700 directory, never pass the token on the command line)");
  auto* cp_tls_opt =
      app.add_option("--control-plane-tls", mesh.control_plane_tls,
                     "Mesh mode: the control plane's TLS port host:port, used to renew the "
                     "certificate");
  auto* cert_ttl_opt = app.add_option("--cert-ttl", mesh.cert_ttl_seconds,
                                      "Mesh mode: requested certificate lifetime in seconds "
                                      "(default: the CA's, 24 h)");
  auto* control_opt = app.add_option("--control-plane", mesh.control_plane,
                                     "Mesh mode: control plane host:port to take config from");
  app.add_option("--service", mesh.service, "Mesh mode: service this proxy is the sidecar of");
  // --version alone prints the program version; with a value it is the workload's version.
  auto* version_opt =
      app.add_option("--version", mesh.version,
                     "Mesh mode: version label of the workload; alone: print the program version")
          ->expected(0, 1);
  app.add_option("--namespace", mesh.ns, "Mesh mode: namespace of the service")
      ->capture_default_str();
  app.add_option("--proxy-id", mesh.proxy_id, "Mesh mode: unique id (default service-version-pid)");
  app.add_option("--inbound-port", mesh.inbound_port, "Mesh mode: port for mesh traffic in");
  app.add_option("--app-port", mesh.app_port, "Mesh mode: local port of the application");
  app.add_option("--outbound-port", mesh.outbound_port,
                 "Mesh mode: port the application sends its calls to (HTTP proxy)");
  app.add_option("--admin-port", mesh.admin_port, "Mesh mode: admin port on 127.0.0.1");
  control_opt->excludes(listen_opt)->excludes(config_opt);
  listen_opt->needs(upstream_opt);
  upstream_opt->needs(listen_opt);
  config_opt->excludes(listen_opt);
  for (auto* o : {listen_tls_opt, upstream_tls_opt, upstream_id_opt}) o->needs(listen_opt);
  for (auto* o : {token_opt, cp_tls_opt, cert_ttl_opt}) o->needs(control_opt);
  trust_domain_opt->excludes(config_opt);
  upstream_id_opt->needs(upstream_tls_opt);
  CLI11_PARSE(app, argc, argv);
  if (version_opt->count() > 0 && mesh.version.empty()) {
    std::cout << meshdeck::kVersion << "\n";
    return 0;
  }

  meshdeck::common::setupLogging("meshdeck-proxy", log_level);
  options.drain_timeout = std::chrono::milliseconds(static_cast<int64_t>(drain_seconds * 1000));

  meshdeck::v1::ProxyConfig config;
  std::string error;
  TlsFiles tls_files = tls_flags;
  if (!config_file.empty()) {
    TlsFiles from_file;
    std::vector<meshdeck::common::LocatedError> errors;
    if (!loadProxyConfigFile(config_file, &config, &errors, &from_file)) {
      std::cerr << "meshdeck-proxy: " << meshdeck::common::toString(errors) << "\n";
      return 2;
    }
    if (tls_files.empty()) tls_files = from_file;
    options.require_tls_identity = true;
  } else if (!mesh.control_plane.empty()) {
    if (mesh.service.empty() || mesh.inbound_port == 0 || mesh.outbound_port == 0 ||
        mesh.app_port == 0) {
      std::cerr << "meshdeck-proxy: mesh mode needs --service, --inbound-port, --app-port and "
                   "--outbound-port\n";
      return 2;
    }
    if (mesh.version.empty()) mesh.version = "v1";
    if (mesh.proxy_id.empty())
      mesh.proxy_id = mesh.service + "-" + mesh.version + "-" + std::to_string(::getpid());
    if (!trust_domain.empty()) mesh.trust_domain = trust_domain;
    if (!bootstrap_token_file.empty()) {
      // Read once; the agent forgets the token after its first use.
      if (!meshdeck::common::readFileLimited(bootstrap_token_file,
                                             meshdeck::common::limits::kMaxTokenFileBytes,
                                             &mesh.bootstrap_token, &error)) {
        std::cerr << "meshdeck-proxy: --bootstrap-token-file: " << error << "\n";
        return 2;
      }
      while (!mesh.bootstrap_token.empty() &&
             std::isspace(static_cast<unsigned char>(mesh.bootstrap_token.back())))
        mesh.bootstrap_token.pop_back();
      if (mesh.bootstrap_token.empty()) {
        std::cerr << "meshdeck-proxy: --bootstrap-token-file " << bootstrap_token_file
                  << " is empty\n";
        return 2;
      }
    }
    if (mesh.admin_port != 0 && options.admin_address.empty())
      options.admin_address = "127.0.0.1:" + std::to_string(mesh.admin_port);
    // Until the control plane answers, the proxy serves nothing and /ready says so.
  } else if (!listen.empty()) {
    if (!standaloneConfig(listen, upstreams, &config, &error)) {
      std::cerr << "meshdeck-proxy: " << error << "\n";
      return 2;
    }
    auto* l = config.mutable_listeners(0);
    if (listen_tls_mode == "strict") l->set_tls_mode(meshdeck::v1::MUTUAL_TLS);
    if (listen_tls_mode == "permissive") l->set_tls_mode(meshdeck::v1::PERMISSIVE);
    if (listen_tls_mode == "disable") l->set_tls_mode(meshdeck::v1::PLAINTEXT);
    if (upstream_tls) {
      auto* tls = config.mutable_clusters(0)->mutable_tls();
      tls->set_mode(meshdeck::v1::MUTUAL_TLS);
      for (const auto& id : upstream_identities) tls->add_expected_identities(id);
    }
    config.mutable_security()->set_trust_domain(trust_domain);
    options.require_tls_identity = true;
  } else {
    std::cerr << "meshdeck-proxy: give --listen and --upstream, --config, or --control-plane\n"
              << app.help();
    return 2;
  }

  Proxy proxy(options);
  if (!tls_files.empty() && !loadTlsIdentity(tls_files, proxy, &error)) {
    std::cerr << "meshdeck-proxy: " << error << "\n";
    return 2;
  }
  if (!config_file.empty() || !tls_files.empty()) {
    // SIGHUP: identity files first (rotation: new connections use the new certificate,
    // existing ones continue), then the config file; anything invalid keeps what runs.
    proxy.setReloadHook([&proxy, config_file, tls_flags] {
      meshdeck::v1::ProxyConfig next;
      TlsFiles files = tls_flags;
      std::string why;
      if (!config_file.empty()) {
        TlsFiles from_file;
        std::vector<meshdeck::common::LocatedError> errors;
        if (!loadProxyConfigFile(config_file, &next, &errors, &from_file)) {
          spdlog::error("reload of {} refused, keeping the running config: {}", config_file,
                        meshdeck::common::toString(errors));
          return;
        }
        if (files.empty()) files = from_file;
      }
      if (!files.empty() && !loadTlsIdentity(files, proxy, &why)) {
        spdlog::error("reload refused, keeping the running identity and config: {}", why);
        return;
      }
      if (!config_file.empty()) {
        if (!proxy.applyConfig(next, &why)) {
          spdlog::error("reload of {} refused, keeping the running config: {}", config_file, why);
          return;
        }
        spdlog::info("reloaded {}", config_file);
      }
    });
  }
  if (!proxy.start(config, &error)) {
    std::cerr << "meshdeck-proxy: " << (config_file.empty() ? "" : config_file + ": ") << error
              << "\n";
    return 2;
  }
  std::unique_ptr<MeshAgent> agent;
  if (!mesh.control_plane.empty()) {
    spdlog::info("mesh mode: {} ({} {}) taking config from {}", mesh.proxy_id, mesh.service,
                 mesh.version, mesh.control_plane);
    agent = std::make_unique<MeshAgent>(proxy, std::move(mesh));
    agent->start();
  }
  const int status = proxy.run();
  if (agent) agent->stop();
  return status;
}
