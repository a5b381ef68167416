#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/logging.h"
#include "meshdeck/v1/discovery.pb.h"
#include "meshdeck/version.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"
#include "proxy/proxy.h"

int main(int argc, char** argv) {
  using namespace meshdeck::proxy;
  CLI::App app{"meshdeck-proxy: the Meshdeck sidecar proxy (HTTP/1.1, Boost.Beast)"};
  app.set_version_flag("--version", meshdeck::kVersion);
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
  listen_opt->needs(upstream_opt);
  upstream_opt->needs(listen_opt);
  config_opt->excludes(listen_opt);
  CLI11_PARSE(app, argc, argv);

  meshdeck::common::setupLogging("meshdeck-proxy", log_level);
  options.drain_timeout = std::chrono::milliseconds(static_cast<int64_t>(drain_seconds * 1000));

  meshdeck::v1::ProxyConfig config;
  std::string error;
  if (!config_file.empty()) {
    if (!loadProxyConfigFile(config_file, &config, &error)) {
      std::cerr << "meshdeck-proxy: " << error << "\n";
      return 2;
    }
  } else if (!listen.empty()) {
    if (!standaloneConfig(listen, upstreams, &config, &error)) {
      std::cerr << "meshdeck-proxy: " << error << "\n";
      return 2;
    }
  } else {
    std::cerr << "meshdeck-proxy: give --listen and --upstream, or --config\n" << app.help();
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
  return proxy.run();
}
