#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace meshdeck::proxy {

// What meshdeck-proxy-init redirects to the sidecar in a pod's network namespace: inbound TCP to
// the sidecar's inbound listener, outbound TCP to its outbound listener (docs/kubernetes.md,
// "Traffic capture"). Only TCP; UDP (DNS) is left alone.
struct CaptureOptions {
  uint16_t inbound_port = 15006;   // the sidecar's inbound listener (0.0.0.0)
  uint16_t outbound_port = 15001;  // the sidecar's outbound listener (127.0.0.1 or 0.0.0.0)
  uint32_t proxy_uid = 65532;      // the sidecar's uid: its own connections are never redirected
  // The application's port (0: not given). Every inbound port is captured whatever it is; it is
  // only checked not to be one of the sidecar's ports, which the app could then not serve.
  uint16_t app_port = 0;
  bool capture_inbound = true;
  bool capture_outbound = true;
  std::vector<uint16_t> exclude_inbound_ports;      // e.g. the sidecar's admin port
  std::vector<uint16_t> exclude_outbound_ports;     // destination ports passed through
  std::vector<std::string> exclude_outbound_cidrs;  // destination networks passed through
  bool dry_run = false;                             // print the ruleset, apply nothing
};

// Declares meshdeck-proxy-init's options on `app`, bound to `options`.
void declareCaptureOptions(CLI::App& app, CaptureOptions& options);

// False, with a message, when the options cannot make a working ruleset (a zero port, the two
// listeners on one port, the app on a sidecar port, a CIDR that is not IPv4 a.b.c.d/n).
bool validateCaptureOptions(const CaptureOptions& options, std::string* error);

// The rules as `iptables-restore --noflush` input for the nat table. Chains:
//   MESHDECK_INBOUND (from PREROUTING): excluded ports and the sidecar's own inbound port
//     RETURN, every other TCP destination port jumps to MESHDECK_IN_REDIRECT (REDIRECT to the
//     inbound port);
//   MESHDECK_OUTPUT (from OUTPUT): the sidecar's uid, loopback, excluded ports and CIDRs
//     RETURN, every other TCP connection jumps to MESHDECK_REDIRECT (REDIRECT to the outbound
//     port).
// Declaring the chains empties them, so the text is the whole state of the MESHDECK_* chains.
std::string captureRuleset(const CaptureOptions& options);

// Applies `ruleset` in the calling process's network namespace: unless `iptables-save -t nat`
// already shows a MESHDECK_ chain (then nothing is done and `*already_present` is true), pipes
// it into `iptables-restore --noflush`. Both are looked up on PATH and run without a shell.
// False, with a message, when either cannot be run or fails.
bool applyCaptureRuleset(const std::string& ruleset, bool* already_present, std::string* error);

}  // namespace meshdeck::proxy
