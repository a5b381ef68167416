#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/cli/webhook_command_line.h"
#include "controlplane/fleet/demo_runner.h"
#include "controlplane/in_process_control_plane.h"

namespace CLI {
class App;
}

namespace meshdeck::cp {

// What meshdeck-controlplane's command line says.
struct CommandLine {
  ControlPlaneOptions options;  // state_dir defaults to defaultStateDir()
  std::string log_level = "info";
  std::string secure_listen;  // applied only when --secure-listen was given ("" : none)
  // --metrics-listen: "off" for none; applied by finishParse() (default kDefaultMetricsListen,
  // or port 0 on the --listen host when --listen uses port 0; only an explicit address must bind).
  std::string metrics_listen = "127.0.0.1:15014";
  std::vector<std::string> token_requests;  // PROXY_ID=NAMESPACE/SERVICE
  std::string token_dir;                    // empty: <state-dir>/tokens
  double shutdown_grace_seconds = 5;
  // Demo mode (--demo and the options that need it).
  std::string demo, scenario, duration_text;
  uint64_t seed = 0;
  // --demo-ports FIRST-LAST: the loopback ports of the demo's fleet (finishParse checks it).
  std::string demo_ports_text;
  uint16_t demo_port_first = 21000, demo_port_last = 32000;
  // The sidecar injector's webhook (--webhook-listen and its options).
  WebhookCommandLine webhook;
};

// $XDG_STATE_HOME/meshdeck, else ~/.local/state/meshdeck, else ./.meshdeck-state.
std::string defaultStateDir();

// Declares every option on `app`, bound to `cl`. `cl` must outlive the parse; call
// finishParse() after it.
void declareOptions(CLI::App& app, CommandLine& cl);

// Checks what CLI11 cannot and applies the options given: false with a message for the user.
bool finishParse(CLI::App& app, CommandLine& cl, std::string* error);

// One --bootstrap-token request, PROXY_ID=NAMESPACE/SERVICE.
struct TokenRequest {
  std::string proxy_id, ns, service;
};
std::optional<TokenRequest> parseTokenRequest(const std::string& text);

// Issues one bootstrap token per request into the token directory (0700, files 0600; the
// token itself is never logged). False with the request and the reason in `error`. Called
// before InProcessControlPlane::start(), so that the files exist when the ports are announced.
bool issueBootstrapTokens(InProcessControlPlane& control_plane, const CommandLine& cl,
                          std::string* error);

// "FIRST-LAST" (1024 <= FIRST < LAST <= 65535): a range of loopback ports; nullopt otherwise.
std::optional<std::pair<uint16_t, uint16_t>> parsePortRange(const std::string& text);

// The demo run the command line asks for, wired to `control_plane`; nullopt with a message
// when --duration is not a duration.
std::optional<fleet::DemoRunOptions> demoRunOptions(const CommandLine& cl,
                                                    InProcessControlPlane& control_plane,
                                                    std::string* error);

}  // namespace meshdeck::cp
