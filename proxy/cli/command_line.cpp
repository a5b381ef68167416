#include "proxy/cli/command_line.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>

#include "common/bounded_file.h"
#include "common/input_limits.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"

namespace meshdeck::proxy {

void declareOptions(CLI::App& app, CommandLine& cl) {
  auto* listen_opt = app.add_option("--listen", cl.listen,
                                    "Standalone mode: host:port to accept on (port 0 picks one)");
  auto* upstream_opt = app.add_option(
      "--upstream", cl.upstreams, "Standalone mode: upstream host:port (repeatable; round robin)");
  auto* config_opt = app.add_option(
      "--config", cl.config_file,
      "Static configuration (YAML mapped onto meshdeck.v1.ProxyConfig); SIGHUP reloads it");
  app.add_option("--workers", cl.options.workers, "Worker threads (default: number of cores)");
  app.add_flag("--busy-poll", cl.options.busy_poll,
               "Workers poll instead of sleeping: lower latency, but each keeps a CPU 100 % busy "
               "even when idle (for proxies on cores of their own)");
  app.add_option("--tap-bench", cl.tap_bench_rate,
                 "Benchmarks only: a tap of every request open at this many events/s, its events "
                 "discarded (docs/tap.md)");
  app.add_option("--admin", cl.options.admin_address,
                 "Admin listener host:port (/stats, /config, /ready, ...)");
  app.add_option(
      "--port-file", cl.options.port_file,
      "Write the bound ports as JSON ({\"<listener>\": port, \"admin\": port}) once listening");
  app.add_option("--drain-timeout", cl.drain_seconds,
                 "Seconds SIGTERM waits for in-flight requests")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-connections", cl.options.default_max_connections,
                 "Default connection limit per listener");
  app.add_option("--log-level", cl.log_level, "trace, debug, info, warn, error or off");
  auto* cert_opt = app.add_option("--tls-cert", cl.tls_flags.cert,
                                  "Mesh identity: certificate chain (PEM, leaf first, one "
                                  "spiffe:// URI SAN); overrides the config's tls.cert");
  auto* key_opt = app.add_option("--tls-key", cl.tls_flags.key, "Mesh identity: private key (PEM)");
  auto* trust_opt = app.add_option("--tls-trust", cl.tls_flags.trust_bundle,
                                   "Mesh identity: trusted root certificates (PEM)");
  cert_opt->needs(key_opt)->needs(trust_opt);
  key_opt->needs(cert_opt);
  trust_opt->needs(cert_opt);
  auto* listen_tls_opt =
      app.add_option("--listen-tls-mode", cl.listen_tls_mode,
                     "Standalone mode: strict (mutual TLS required), permissive or disable")
          ->check(CLI::IsMember({"strict", "permissive", "disable"}));
  auto* upstream_tls_opt = app.add_flag("--upstream-tls", cl.upstream_tls,
                                        "Standalone mode: mutual TLS towards the upstreams");
  auto* upstream_protocol_opt =
      app.add_option("--upstream-protocol", cl.upstream_protocol,
                     "Standalone mode: protocol spoken to the upstreams: http1 (default) or "
                     "http2 (prior knowledge: h2c, or h2 over --upstream-tls; many requests "
                     "multiplexed on one connection per upstream)")
          ->check(CLI::IsMember({"http1", "http2"}));
  auto* upstream_id_opt = app.add_option(
      "--upstream-identity", cl.upstream_identities,
      "Standalone mode: SPIFFE id the upstream must present (repeatable; default: any of the "
      "trust domain)");
  auto* trust_domain_opt = app.add_option(
      "--trust-domain", cl.trust_domain,
      "Standalone mode: trust domain of peers (default: that of the own certificate); mesh "
      "mode: trust domain of the identity requested (default meshdeck.local)");
  auto* token_opt = app.add_option(
      "--bootstrap-token-file", cl.bootstrap_token_file,
      "Mesh mode: file holding the one-time token for the first certificate (read once at "
      "start; keep it 0600 in a 0700 directory, never pass the token on the command line)");
  auto* sa_token_opt = app.add_option(
      "--sa-token-file", cl.mesh.sa_token_file,
      "Mesh mode (Kubernetes): the pod's projected service-account token (audience meshdeck), "
      "read before every request that sends it; instead of --bootstrap-token-file");
  sa_token_opt->excludes(token_opt);
  auto* cp_tls_opt =
      app.add_option("--control-plane-tls", cl.mesh.control_plane_tls,
                     "Mesh mode: the control plane's TLS port host:port, used to renew the "
                     "certificate");
  auto* cert_ttl_opt = app.add_option("--cert-ttl", cl.mesh.cert_ttl_seconds,
                                      "Mesh mode: requested certificate lifetime in seconds "
                                      "(default: the CA's, 24 h)");
  auto* control_opt = app.add_option("--control-plane", cl.mesh.control_plane,
                                     "Mesh mode: control plane host:port to take config from");
  app.add_option("--service", cl.mesh.service, "Mesh mode: service this proxy is the sidecar of");
  // --version alone prints the program version; with a value it is the workload's version.
  auto* version_opt =
      app.add_option("--version", cl.mesh.version,
                     "Mesh mode: version label of the workload; alone: print the program version")
          ->expected(0, 1);
  app.add_option("--namespace", cl.mesh.ns, "Mesh mode: namespace of the service")
      ->capture_default_str();
  app.add_option("--proxy-id", cl.mesh.proxy_id,
                 "Mesh mode: unique id (default service-version-pid)");
  app.add_option("--inbound-port", cl.mesh.inbound_port, "Mesh mode: port for mesh traffic in");
  app.add_option("--app-port", cl.mesh.app_port, "Mesh mode: local port of the application");
  auto* app_protocol_opt =
      app.add_option("--app-protocol", cl.mesh.app_protocol,
                     "Mesh mode: what the application speaks: http1, http2 or grpc (announced to "
                     "the control plane, which makes it the protocol towards the application and "
                     "between sidecars unless a DestinationPolicy sets one)")
          ->check(CLI::IsMember({"http1", "http2", "grpc"}));
  app.add_option("--outbound-port", cl.mesh.outbound_port,
                 "Mesh mode: port the application sends its calls to (HTTP proxy)");
  app.add_option("--admin-port", cl.mesh.admin_port, "Mesh mode: admin port on 127.0.0.1");
  auto* depends_opt =
      app.add_option("--depends", cl.mesh.dependencies,
                     "Mesh mode: services the application calls (comma-separated or repeated); "
                     "the control plane then sends this sidecar only theirs. Default: the whole "
                     "mesh")
          ->delimiter(',');
  auto* on_demand_opt =
      app.add_option("--on-demand-timeout", cl.on_demand_timeout_seconds,
                     "Mesh mode with --depends: seconds a request for a service outside the "
                     "scope is held while the control plane is asked for it (then 404 NR)")
          ->check(CLI::Range(0.001, 3600.0))
          ->capture_default_str();
  auto* host_opt = app.add_option("--host-address", cl.mesh.host,
                                  "Mesh mode: IP address other sidecars reach this one at; the "
                                  "inbound listener binds it (a host's or pod's IP beyond one "
                                  "machine)")
                       ->capture_default_str();
  control_opt->excludes(listen_opt)->excludes(config_opt);
  listen_opt->needs(upstream_opt);
  upstream_opt->needs(listen_opt);
  config_opt->excludes(listen_opt);
  for (auto* o : {listen_tls_opt, upstream_tls_opt, upstream_id_opt, upstream_protocol_opt})
    o->needs(listen_opt);
  for (auto* o :
       {token_opt, sa_token_opt, cp_tls_opt, cert_ttl_opt, app_protocol_opt, host_opt, depends_opt})
    o->needs(control_opt);
  on_demand_opt->needs(depends_opt);
  trust_domain_opt->excludes(config_opt);
  upstream_id_opt->needs(upstream_tls_opt);
  app.parse_complete_callback([&cl, version_opt] {
    cl.print_version = version_opt->count() > 0 && cl.mesh.version.empty();
  });
}

namespace {

bool planMesh(const CommandLine& cl, StartupPlan* plan, std::string* error) {
  MeshIdentity mesh = cl.mesh;
  if (mesh.service.empty() || mesh.inbound_port == 0 || mesh.outbound_port == 0 ||
      mesh.app_port == 0) {
    *error = "mesh mode needs --service, --inbound-port, --app-port and --outbound-port";
    return false;
  }
  boost::system::error_code bad_host;
  boost::asio::ip::make_address(mesh.host, bad_host);
  if (bad_host) {
    *error = "--host-address \"" + mesh.host + "\": expected an IPv4 or IPv6 address";
    return false;
  }
  if (mesh.version.empty()) mesh.version = "v1";
  if (mesh.proxy_id.empty())
    mesh.proxy_id = mesh.service + "-" + mesh.version + "-" + std::to_string(::getpid());
  if (!cl.trust_domain.empty()) mesh.trust_domain = cl.trust_domain;
  if (!cl.bootstrap_token_file.empty()) {
    // Read once; the agent forgets the token after its first use.
    std::string why;
    if (!common::readFileLimited(cl.bootstrap_token_file, common::limits::kMaxTokenFileBytes,
                                 &mesh.bootstrap_token, &why)) {
      *error = "--bootstrap-token-file: " + why;
      return false;
    }
    while (!mesh.bootstrap_token.empty() &&
           std::isspace(static_cast<unsigned char>(mesh.bootstrap_token.back())))
      mesh.bootstrap_token.pop_back();
    if (mesh.bootstrap_token.empty()) {
      *error = "--bootstrap-token-file " + cl.bootstrap_token_file + " is empty";
      return false;
    }
  }
  if (!mesh.sa_token_file.empty()) {
    // Read again before each use; here only to fail early on a wrong path.
    std::string token, why;
    if (!common::readFileLimited(mesh.sa_token_file, common::limits::kMaxSaTokenFileBytes, &token,
                                 &why)) {
      *error = "--sa-token-file: " + why;
      return false;
    }
    OPENSSL_cleanse(token.data(), token.size());
  }
  if (mesh.admin_port != 0 && plan->options.admin_address.empty())
    plan->options.admin_address = "127.0.0.1:" + std::to_string(mesh.admin_port);
  // Until the control plane answers, the proxy serves nothing and /ready says so.
  plan->mode = StartupPlan::Mode::kMesh;
  plan->mesh = std::move(mesh);
  return true;
}

bool planStandalone(const CommandLine& cl, StartupPlan* plan, std::string* error) {
  auto& config = plan->config;
  if (!standaloneConfig(cl.listen, cl.upstreams, &config, error)) return false;
  auto* l = config.mutable_listeners(0);
  if (cl.listen_tls_mode == "strict") l->set_tls_mode(v1::MUTUAL_TLS);
  if (cl.listen_tls_mode == "permissive") l->set_tls_mode(v1::PERMISSIVE);
  if (cl.listen_tls_mode == "disable") l->set_tls_mode(v1::PLAINTEXT);
  if (cl.upstream_tls) {
    auto* tls = config.mutable_clusters(0)->mutable_tls();
    tls->set_mode(v1::MUTUAL_TLS);
    for (const auto& id : cl.upstream_identities) tls->add_expected_identities(id);
  }
  if (cl.upstream_protocol == "http2") config.mutable_clusters(0)->set_protocol(v1::Cluster::HTTP2);
  config.mutable_security()->set_trust_domain(cl.trust_domain);
  plan->mode = StartupPlan::Mode::kStandalone;
  plan->options.require_tls_identity = true;
  return true;
}

}  // namespace

bool planStartup(const CommandLine& cl, StartupPlan* plan, std::string* error) {
  *plan = StartupPlan{};
  plan->options = cl.options;
  plan->options.drain_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(cl.drain_seconds * 1000));
  plan->options.on_demand.timeout = std::chrono::milliseconds(
      std::max<int64_t>(1, static_cast<int64_t>(cl.on_demand_timeout_seconds * 1000)));
  plan->tls_files = cl.tls_flags;
  if (!cl.config_file.empty()) {
    TlsFiles from_file;
    std::vector<common::LocatedError> errors;
    if (!loadProxyConfigFile(cl.config_file, &plan->config, &errors, &from_file)) {
      *error = common::toString(errors);
      return false;
    }
    if (plan->tls_files.empty()) plan->tls_files = from_file;
    plan->mode = StartupPlan::Mode::kStaticConfig;
    plan->options.require_tls_identity = true;
    return true;
  }
  if (!cl.mesh.control_plane.empty()) return planMesh(cl, plan, error);
  if (!cl.listen.empty()) return planStandalone(cl, plan, error);
  *error = "give --listen and --upstream, --config, or --control-plane";
  return false;
}

bool loadTlsIdentity(const TlsFiles& files, Proxy& proxy, std::string* error) {
  std::string chain, key, bundle;
  for (const auto& [path, out] :
       {std::pair{&files.cert, &chain}, {&files.key, &key}, {&files.trust_bundle, &bundle}}) {
    if (!common::readFileLimited(*path, common::limits::kMaxPemFileBytes, out, error)) return false;
  }
  if (!proxy.setTlsIdentity(chain, key, bundle, error)) {
    *error = files.cert.string() + ": " + *error;
    return false;
  }
  return true;
}

std::function<void()> makeReloadHook(Proxy& proxy, std::string config_file, TlsFiles tls_flags) {
  return [&proxy, config_file = std::move(config_file), tls_flags = std::move(tls_flags)] {
    v1::ProxyConfig next;
    TlsFiles files = tls_flags;
    std::string why;
    if (!config_file.empty()) {
      TlsFiles from_file;
      std::vector<common::LocatedError> errors;
      if (!loadProxyConfigFile(config_file, &next, &errors, &from_file)) {
        spdlog::error("reload of {} refused, keeping the running config: {}", config_file,
                      common::toString(errors));
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
  };
}

}  // namespace meshdeck::proxy
