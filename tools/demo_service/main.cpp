// meshdeck-demo-service: a configurable HTTP workload for demo meshes. Hosts one service
// from flags, or several from --config.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>

#include "common/atomic_file.h"
#include "common/duration.h"
#include "common/logging.h"
#include "meshdeck/version.h"
#include "tools/demo_service/demo_config.h"
#include "tools/demo_service/demo_service.h"

namespace {

using meshdeck::tools::FieldValue;

// Builds the one service described by flags; throws CLI::ValidationError on bad values.
meshdeck::tools::ServiceConfig serviceFromFlags(
    const std::string& name, const std::string& version, const std::string& listen,
    const std::string& port_file, const std::string& proxy, const std::string& protocol,
    const std::vector<std::pair<std::string, FieldValue>>& fields) {
  meshdeck::tools::ServiceConfig svc;
  std::string error;
  svc.name = name;
  svc.version = version;
  auto hp = meshdeck::tools::parseHostPort(listen, &error);
  if (!hp) throw CLI::ValidationError("--listen", error);
  svc.listen = *hp;
  svc.port_file = port_file;
  svc.protocol = protocol;
  if (!proxy.empty()) {
    auto url = meshdeck::tools::parseHttpUrl(proxy, &error);
    if (!url) throw CLI::ValidationError("--outbound-proxy", error);
    svc.outbound_proxy = *url;
  }
  for (const auto& [field, value] : fields) {
    if (!meshdeck::tools::setBehaviourField(svc.behaviour, field, value, &error)) {
      std::string flag = "--" + field;
      std::replace(flag.begin(), flag.end(), '_', '-');
      throw CLI::ValidationError(flag, error);
    }
  }
  if (auto problem = meshdeck::tools::validateBehaviour(svc.behaviour); !problem.empty())
    throw CLI::ValidationError(problem);
  return svc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "meshdeck-demo-service: a configurable HTTP workload for demo meshes. Admin interface on "
      "the same port: GET|PUT /_demo/behaviour, GET /_demo/stats, GET /_demo/health."};
  // --version VALUE names the service's version (as the fleet passes it); a bare --version
  // prints the program's version, as every Meshdeck binary does.
  std::string name, version, listen = "127.0.0.1:8080", port_file, proxy, config_file;
  std::string latency_p50 = "0", latency_p99 = "0", call_mode = "sequential", call_timeout = "5s";
  std::string log_level = "info", protocol = "http1";
  std::vector<std::string> calls;
  double error_rate = 0;
  unsigned error_status = 503;
  size_t response_size = 0;
  uint64_t seed = 1;
  auto* version_opt =
      app.add_option("--version", version,
                     "Service version (default v1); alone, print the program version")
          ->expected(0, 1);
  app.add_option("--name", name, "Service name");
  app.add_option("--listen", listen, "Listen address host:port (port 0 picks one)")
      ->capture_default_str();
  app.add_option("--port-file", port_file, "Write the bound port to this file");
  app.add_option("--protocol", protocol,
                 "http1, or grpc: also serve meshdeck.demo.v1.Demo/Call on the same port (HTTP/2 "
                 "connections go to the gRPC server)")
      ->check(CLI::IsMember({"http1", "grpc"}))
      ->capture_default_str();
  app.add_option("--call", calls,
                 "Downstream call made per request, e.g. http://catalog/items or grpc://payments "
                 "(meshdeck.demo.v1.Demo/Call)")
      ->take_all();
  app.add_option("--call-mode", call_mode, "sequential or parallel")->capture_default_str();
  app.add_option("--call-timeout", call_timeout, "Budget of each downstream call")
      ->capture_default_str();
  app.add_option("--outbound-proxy", proxy,
                 "Send downstream calls through this HTTP proxy (the outbound sidecar)");
  app.add_option("--latency-p50", latency_p50, "Median processing time")->capture_default_str();
  app.add_option("--latency-p99", latency_p99, "99th percentile processing time (log-normal)")
      ->capture_default_str();
  app.add_option("--error-rate", error_rate, "Share of requests answered with --error-status")
      ->capture_default_str();
  app.add_option("--error-status", error_status, "Status of injected errors")
      ->capture_default_str();
  app.add_option("--response-size", response_size, "Pad JSON responses to this many bytes")
      ->capture_default_str();
  app.add_option("--seed", seed, "Seed of the latency and error draws")->capture_default_str();
  app.add_option("--config", config_file,
                 "YAML file listing several services to host in this process");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (version_opt->count() > 0 && version.empty()) {
    std::cout << meshdeck::kVersion << "\n";
    return 0;
  }
  if (version.empty()) version = "v1";

  meshdeck::tools::DemoConfig config;
  try {
    if (!config_file.empty()) {
      if (!name.empty() || !calls.empty())
        throw CLI::ValidationError("--config", "describe services either by flags or by --config");
      meshdeck::common::LocatedError error;
      if (!meshdeck::tools::loadDemoConfigFile(config_file, &config, &error))
        throw CLI::ValidationError("--config", error.toString());
    } else {
      if (name.empty()) throw CLI::ValidationError("--name", "is required without --config");
      config.seed = seed;
      config.services.push_back(serviceFromFlags(name, version, listen, port_file, proxy, protocol,
                                                 {{"latency_p50", latency_p50},
                                                  {"latency_p99", latency_p99},
                                                  {"error_rate", error_rate},
                                                  {"error_status", double(error_status)},
                                                  {"response_size", double(response_size)},
                                                  {"calls", calls},
                                                  {"call_mode", call_mode},
                                                  {"call_timeout", call_timeout}}));
    }
  } catch (const CLI::Error& e) {
    return app.exit(e);
  }
  if (!meshdeck::common::setupLogging("meshdeck-demo-service", log_level)) {
    std::cerr << "meshdeck-demo-service: unknown --log-level '" << log_level << "'\n";
    return 2;
  }

  boost::asio::io_context ioc{1};
  std::vector<std::shared_ptr<meshdeck::tools::DemoService>> services;
  for (auto& svc_config : config.services) {
    auto service = meshdeck::tools::DemoService::create(ioc, svc_config,
                                                        svc_config.seed.value_or(config.seed));
    std::string error;
    if (!service->listen(&error)) {
      spdlog::error("{}: {}", svc_config.name, error);
      return 1;
    }
    if (!svc_config.port_file.empty() &&
        !meshdeck::common::writeFileAtomically(svc_config.port_file,
                                               std::to_string(service->port()) + "\n", &error)) {
      spdlog::error("{}: cannot write port file: {}", svc_config.name, error);
      return 1;
    }
    service->start();
    // A fixed, parseable line on stdout for whoever started us with port 0.
    std::cout << "listening name=" << svc_config.name << " version=" << svc_config.version
              << " address=" << svc_config.listen.host << ":" << service->port()
              << " port=" << service->port() << std::endl;
    services.push_back(std::move(service));
  }
  spdlog::info("serving {} service(s)", services.size());

  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping", signal);
    for (auto& s : services) s->stop();
    ioc.stop();
  });
  ioc.run();
  return 0;
}
