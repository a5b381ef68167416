#include "proxy/init/capture_rules.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
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
  app.add_option("--app-port", o.app_port,
                 "The application's port, checked not to be a sidecar port (every inbound port "
                 "is captured)");
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
  if (o.app_port != 0 && (o.app_port == o.inbound_port || o.app_port == o.outbound_port)) {
    *error = "--app-port " + std::to_string(o.app_port) + " is one of the sidecar's ports";
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

// Runs `argv` (looked up on PATH, no shell: the proxy image has none) with `input` on its
// standard input, collecting its standard output into `*output`. False, with a message, when it
// cannot be started or does not exit 0.
bool runCommand(const std::vector<std::string>& argv, const std::string& input, std::string* output,
                std::string* error) {
  const std::string command = argv.front();
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
    *error = command + ": pipe: " + std::strerror(errno);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned =
      ::posix_spawnp(&pid, command.c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (spawned != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    *error = command + ": cannot be run: " + std::strerror(spawned) + " (is iptables installed?)";
    return false;
  }
  // The ruleset is a few kilobytes, far below a pipe's buffer: writing it all before reading
  // cannot deadlock, and iptables-save reads nothing.
  bool written = true;
  for (size_t done = 0; done < input.size();) {
    const ssize_t n = ::write(in_pipe[1], input.data() + done, input.size() - done);
    if (n <= 0) {
      written = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  ::close(in_pipe[1]);
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(out_pipe[0], buffer, sizeof buffer)) > 0)
    output->append(buffer, static_cast<size_t>(n));
  ::close(out_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = command + " failed (exit status " +
             std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
             "; is this process root, or does it hold CAP_NET_ADMIN?)";
    return false;
  }
  if (!written) {
    *error = command + ": the ruleset could not be written to it";
    return false;
  }
  return true;
}

}  // namespace

bool applyCaptureRuleset(const std::string& ruleset, bool* already_present, std::string* error) {
  *already_present = false;
  std::string current;
  if (!runCommand({"iptables-save", "-t", "nat"}, "", &current, error)) return false;
  if (current.find(":MESHDECK_") != std::string::npos) {
    *already_present = true;
    return true;
  }
  std::string ignored;
  return runCommand({"iptables-restore", "--noflush"}, ruleset, &ignored, error);
}

}  // namespace meshdeck::proxy
