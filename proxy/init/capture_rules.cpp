#include "proxy/init/capture_rules.h"

#include <arpa/inet.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>

namespace meshdeck::proxy {

void declareCaptureOptions(CLI::App& app, CaptureOptions& o) {
  app.add_option("--inbound-port", o.inbound_port, "The sidecar's inbound listener port")
      ->capture_default_str();
  app.add_option("--outbound-port", o.outbound_port, "The sidecar's outbound listener port")
      ->capture_default_str();
  app.add_option("--proxy-uid", o.proxy_uid,
                 "Uid the sidecar runs as; its own connections are not redirected")
      ->capture_default_str();
  app.add_option("--exclude-inbound-ports", o.exclude_inbound_ports,
                 "Inbound destination ports not redirected (comma separated), e.g. the admin "
                 "port")
      ->delimiter(',');
  app.add_option("--exclude-outbound-ports", o.exclude_outbound_ports,
                 "Outbound destination ports not redirected (comma separated)")
      ->delimiter(',');
  app.add_option("--exclude-outbound-cidrs", o.exclude_outbound_cidrs,
                 "Outbound destination networks not redirected (comma separated a.b.c.d/n)")
      ->delimiter(',');
  app.add_flag("!--no-inbound", o.capture_inbound, "Do not redirect inbound TCP");
  app.add_flag("!--no-outbound", o.capture_outbound, "Do not redirect outbound TCP");
  app.add_flag("--dry-run", o.dry_run, "Print the iptables-restore input and apply nothing");
}

namespace {

bool validCidr(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos || slash + 1 >= cidr.size()) return false;
  in_addr addr{};
  if (inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &addr) != 1) return false;
  const std::string bits = cidr.substr(slash + 1);
  if (bits.size() > 2 || bits.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoi(bits) <= 32;
}

}  // namespace

bool validateCaptureOptions(const CaptureOptions& o, std::string* error) {
  if (o.inbound_port == 0 || o.outbound_port == 0) {
    *error = "--inbound-port and --outbound-port must not be 0";
    return false;
  }
  if (o.inbound_port == o.outbound_port) {
    *error = "--inbound-port and --outbound-port must differ";
    return false;
  }
  for (uint16_t port : o.exclude_inbound_ports)
    if (port == 0) {
      *error = "--exclude-inbound-ports: port 0";
      return false;
    }
  for (uint16_t port : o.exclude_outbound_ports)
    if (port == 0) {
      *error = "--exclude-outbound-ports: port 0";
      return false;
    }
  for (const auto& cidr : o.exclude_outbound_cidrs)
    if (!validCidr(cidr)) {
      *error = "--exclude-outbound-cidrs: '" + cidr + "' is not an IPv4 network a.b.c.d/n";
      return false;
    }
  if (!o.capture_inbound && !o.capture_outbound) {
    *error = "--no-inbound and --no-outbound together capture nothing";
    return false;
  }
  return true;
}

std::string captureRuleset(const CaptureOptions& o) {
  std::ostringstream r;
  r << "*nat\n";
  if (o.capture_inbound) r << ":MESHDECK_INBOUND - [0:0]\n:MESHDECK_IN_REDIRECT - [0:0]\n";
  if (o.capture_outbound) r << ":MESHDECK_OUTPUT - [0:0]\n:MESHDECK_REDIRECT - [0:0]\n";
  if (o.capture_inbound) {
    r << "-A MESHDECK_IN_REDIRECT -p tcp -j REDIRECT --to-ports " << o.inbound_port << "\n";
    r << "-A PREROUTING -p tcp -j MESHDECK_INBOUND\n";
    // A connection already addressed to the sidecar's inbound port needs no redirect.
    r << "-A MESHDECK_INBOUND -p tcp --dport " << o.inbound_port << " -j RETURN\n";
    for (uint16_t port : o.exclude_inbound_ports)
      r << "-A MESHDECK_INBOUND -p tcp --dport " << port << " -j RETURN\n";
    r << "-A MESHDECK_INBOUND -p tcp -j MESHDECK_IN_REDIRECT\n";
  }
  if (o.capture_outbound) {
    r << "-A MESHDECK_REDIRECT -p tcp -j REDIRECT --to-ports " << o.outbound_port << "\n";
    r << "-A OUTPUT -p tcp -j MESHDECK_OUTPUT\n";
    // The sidecar's own upstream connections leave as they are: without this rule each of them
    // would be redirected back into the sidecar, a loop.
    r << "-A MESHDECK_OUTPUT -m owner --uid-owner " << o.proxy_uid << " -j RETURN\n";
    // Loopback: the app calling itself or the sidecar's outbound port explicitly (HTTP proxy
    // mode), and the sidecar's inbound hop to the app on 127.0.0.1.
    r << "-A MESHDECK_OUTPUT -o lo -j RETURN\n";
    r << "-A MESHDECK_OUTPUT -d 127.0.0.0/8 -j RETURN\n";
    for (uint16_t port : o.exclude_outbound_ports)
      r << "-A MESHDECK_OUTPUT -p tcp --dport " << port << " -j RETURN\n";
    for (const auto& cidr : o.exclude_outbound_cidrs)
      r << "-A MESHDECK_OUTPUT -d " << cidr << " -j RETURN\n";
    r << "-A MESHDECK_OUTPUT -p tcp -j MESHDECK_REDIRECT\n";
  }
  r << "COMMIT\n";
  return r.str();
}

namespace {

// The exit status of a pclose()d command, as a message when it failed.
bool commandSucceeded(int status, const std::string& command, std::string* error) {
  if (status == -1) {
    *error = command + ": could not be run";
    return false;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = command + " failed (exit status " +
             std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
             "; is it installed, and is this process root or CAP_NET_ADMIN?)";
    return false;
  }
  return true;
}

}  // namespace

bool applyCaptureRuleset(const std::string& ruleset, bool* already_present, std::string* error) {
  *already_present = false;
  const std::string save = "iptables-save -t nat";
  FILE* in = ::popen(save.c_str(), "r");
  if (in == nullptr) {
    *error = save + ": could not be run";
    return false;
  }
  std::string current;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, in)) > 0) current.append(buffer, n);
  if (!commandSucceeded(::pclose(in), save, error)) return false;
  if (current.find(":MESHDECK_") != std::string::npos) {
    *already_present = true;
    return true;
  }
  const std::string restore = "iptables-restore --noflush";
  FILE* out = ::popen(restore.c_str(), "w");
  if (out == nullptr) {
    *error = restore + ": could not be run";
    return false;
  }
  const bool written = std::fwrite(ruleset.data(), 1, ruleset.size(), out) == ruleset.size();
  if (!commandSucceeded(::pclose(out), restore, error)) return false;
  if (!written) {
    *error = restore + ": the ruleset could not be written to it";
    return false;
  }
  return true;
}

}  // namespace meshdeck::proxy
