// meshdeck-proxy-init: the init container of a meshed pod. Installs the iptables rules that
// redirect the pod's TCP to its sidecar (proxy/init/capture_rules.h), then exits.
#include <CLI/CLI.hpp>
#include <iostream>

#include "proxy/init/capture_rules.h"

int main(int argc, char** argv) {
  using namespace meshdeck::proxy;
  CLI::App app{
      "meshdeck-proxy-init: redirects a pod's inbound and outbound TCP to its meshdeck-proxy "
      "sidecar with iptables (nat table; needs CAP_NET_ADMIN in the pod's network namespace)"};
  CaptureOptions options;
  declareCaptureOptions(app, options);
  CLI11_PARSE(app, argc, argv);
  std::string error;
  if (!validateCaptureOptions(options, &error)) {
    std::cerr << "meshdeck-proxy-init: " << error << "\n";
    return 2;
  }
  const std::string ruleset = captureRuleset(options);
  if (options.dry_run) {
    std::cout << ruleset;
    return 0;
  }
  bool already_present = false;
  if (!applyCaptureRuleset(ruleset, &already_present, &error)) {
    std::cerr << "meshdeck-proxy-init: " << error << "\n";
    return 1;
  }
  std::cout << "meshdeck-proxy-init: "
            << (already_present ? "the MESHDECK_ chains are already present; nothing changed"
                                : "traffic capture installed")
            << "\n";
  return 0;
}
