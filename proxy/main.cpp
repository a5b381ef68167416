#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "common/logging.h"
#include "meshdeck/v1/discovery.pb.h"
#include "meshdeck/version.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"
#include "proxy/mesh/mesh_agent.h"
#include "proxy/proxy.h"

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
  MeshIdentity mesh;
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
  CLI11_PARSE(app, argc, argv);
  if (version_opt->count() > 0 && mesh.version.empty()) {
    std::cout << meshdeck::kVersion << "\n";
    return 0;
  }

  meshdeck::common::setupLogging("meshdeck-proxy", log_level);
  options.drain_timeout = std::chrono::milliseconds(static_cast<int64_t>(drain_seconds * 1000));

  meshdeck::v1::ProxyConfig config;
  std::string error;
  if (!config_file.empty()) {
    if (!loadProxyConfigFile(config_file, &config, &error)) {
      std::cerr << "meshdeck-proxy: " << error << "\n";
      return 2;
    }
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
    if (mesh.admin_port != 0 && options.admin_address.empty())
      options.admin_address = "127.0.0.1:" + std::to_string(mesh.admin_port);
    // Until the control plane answers, the proxy serves nothing and /ready says so.
  } else if (!listen.empty()) {
    if (!standaloneConfig(listen, upstreams, &config, &error)) {
      std::cerr << "meshdeck-proxy: " << error << "\n";
      return 2;
    }
  } else {
    std::cerr << "meshdeck-proxy: give --listen and --upstream, --config, or --control-plane\n"
              << app.help();
    return 2;
  }

  Proxy proxy(options);
  if (!config_file.empty()) {
    proxy.setReloadHook([&proxy, config_file] {
      meshdeck::v1::ProxyConfig next;
      std::string why;
      if (!loadProxyConfigFile(config_file, &next, &why) || !proxy.applyConfig(next, &why)) {
        spdlog::error("reload of {} refused, keeping the running config: {}", config_file, why);
        return;
      }
      spdlog::info("reloaded {}", config_file);
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
    agent = std::make_unique<MeshAgent>(proxy, mesh);
    agent->start();
  }
  const int status = proxy.run();
  if (agent) agent->stop();
  return status;
}
