#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>

#include "common/logging.h"
#include "meshdeck/version.h"

int main(int argc, char** argv) {
  CLI::App app{"meshdeck-controlplane: the Meshdeck control plane without the desktop UI"};
  std::string listen = "127.0.0.1:15010";
  std::string log_level = "info";
  app.add_option("--listen", listen, "Address for proxies and management clients")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  app.set_version_flag("--version", meshdeck::kVersion);
  CLI11_PARSE(app, argc, argv);
  meshdeck::common::setupLogging("controlplane", log_level);

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    spdlog::error("cannot listen on {}", listen);
    return 1;
  }
  spdlog::info("listening on {}", listen);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {}: shutting down", sig);
  server->Shutdown();
  return 0;
}
