#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "meshdeck/v1/discovery.pb.h"
#include "proxy/config/yaml_loader.h"
#include "proxy/mesh/mesh_agent.h"
#include "proxy/proxy.h"

namespace CLI {
class App;
}

namespace meshdeck::proxy {

// What meshdeck-proxy's command line says, before it is checked against the mode it picks.
struct CommandLine {
  // Standalone mode.
  std::string listen;
  std::vector<std::string> upstreams;
  std::string listen_tls_mode;  // "strict", "permissive", "disable" or empty
  bool upstream_tls = false;
  std::vector<std::string> upstream_identities;
  std::string upstream_protocol = "http1";  // "http1" or "http2"
  // Static-config mode.
  std::string config_file;
  // Mesh mode.
  MeshIdentity mesh;
  std::string bootstrap_token_file;
  // Every mode.
  std::string trust_domain;
  TlsFiles tls_flags;
  Proxy::Options options;
  std::string log_level = "info";
  double drain_seconds = 30;
  // How long a scoped sidecar holds a request for a service it asks for on demand.
  double on_demand_timeout_seconds = 5;
  bool print_version = false;  // --version without a value
  // --tap-bench RATE (benchmarks only, docs/tap.md): a tap of every request open from the start
  // at RATE events/s, its events drained and discarded as the mesh agent would send them.
  double tap_bench_rate = 0;
};

// Declares every option on `app`, bound to `cl`, with the rules between them (which mode an
// option belongs to, which options need each other). `cl` must outlive the parse.
void declareOptions(CLI::App& app, CommandLine& cl);

// How the proxy starts: the mode the command line picked and everything it resolved to.
struct StartupPlan {
  enum class Mode { kStandalone, kStaticConfig, kMesh };
  Mode mode = Mode::kStandalone;
  v1::ProxyConfig config;  // empty in mesh mode: the control plane sends it
  Proxy::Options options;
  TlsFiles tls_files;  // identity files to load now and on SIGHUP (empty: none)
  std::optional<MeshIdentity> mesh;
};

// Resolves a parsed command line: reads the static config or the bootstrap token file,
// builds the standalone config, fills the defaults of mesh mode. False, with a message for
// the user in `error`, when the command line names no mode or a file cannot be used.
bool planStartup(const CommandLine& cl, StartupPlan* plan, std::string* error);

// Reads the identity files and hands them to the proxy (first start and every SIGHUP).
bool loadTlsIdentity(const TlsFiles& files, Proxy& proxy, std::string* error);

// The SIGHUP handler: identity files first (rotation: new connections use the new certificate,
// existing ones continue), then the config file; anything invalid keeps what runs, logged.
std::function<void()> makeReloadHook(Proxy& proxy, std::string config_file, TlsFiles tls_flags);

}  // namespace meshdeck::proxy
