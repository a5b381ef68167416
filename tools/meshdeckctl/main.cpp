#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "meshdeck/version.h"
#include "tools/meshdeckctl/inject.h"
#include "tools/meshdeckctl/meshdeckctl.h"
#include "tools/meshdeckctl/security_options.h"

int main(int argc, char** argv) {
  meshdeck::tools::CtlOptions o;
  if (const char* user = std::getenv("USER")) o.author = user;
  CLI::App app{"meshdeckctl: command line client of the Meshdeck control plane"};
  app.set_version_flag("--version", meshdeck::kVersion);
  auto* server = app.add_option("--server", o.server,
                                "Control plane address (with --credentials: overrides the file's)")
                     ->capture_default_str();
  app.add_option("--timeout", o.timeout_ms, "Deadline of each call in milliseconds")
      ->capture_default_str();
  app.require_subcommand(1);
  meshdeck::tools::SecurityCommands security;
  meshdeck::tools::declareSecurityCommands(app, o, security);

  auto* get = app.add_subcommand(
      "get", "List services, edges, proxies, policies, certs or authz decisions");
  get->add_option("what", o.what, "services | edges | proxies | policies | certs | authz")
      ->required()
      ->check(CLI::IsMember({"services", "edges", "proxies", "policies", "certs", "authz"}));
  get->add_option("-o,--output", o.output,
                  "table | wide (edges: a column per counter) | json | yaml")
      ->check(CLI::IsMember({"table", "wide", "json", "yaml"}))
      ->capture_default_str();
  get->add_option("-w,--window", o.window_seconds, "Metrics window in seconds")
      ->capture_default_str();
  get->add_option("--at", o.at,
                  "edges, services: the window ending at this time, from the history (-15m, "
                  "2h, or RFC 3339: 2026-12-06T14:05:00Z)");

  auto* apply = app.add_subcommand("apply", "Validate and apply a policy file (all or nothing)");
  apply->add_option("-f,--filename", o.file, "YAML file with one or many policies")->required();
  apply->add_flag("--dry-run", o.dry_run, "Validate only");
  apply->add_option("--author", o.author, "Author recorded in the revision");

  auto* del = app.add_subcommand("delete", "Delete one policy");
  del->add_option("kind", o.kind, "Policy kind, e.g. TrafficRoute")->required();
  del->add_option("name", o.name, "Policy name")->required();
  del->add_option("--author", o.author, "Author recorded in the revision");

  auto* history = app.add_subcommand("history", "List policy revisions, newest first");
  auto* revert = app.add_subcommand("revert", "Make the policies of an older revision current");
  revert->add_option("revision", o.revision, "Revision to go back to")->required();
  revert->add_option("--author", o.author, "Author recorded in the revision");
  auto* diff = app.add_subcommand("diff", "Unified diff of the policies between revisions");
  diff->add_option("from", o.revision, "Older revision")->required();
  diff->add_option("to", o.revision_to, "Newer revision (default: current)");

  auto* snapshot = app.add_subcommand("snapshot", "Export the whole mesh state as JSON");
  snapshot->add_option("-o,--output", o.file, "File to write (- for stdout)")->required();
  snapshot->add_option("-w,--window", o.window_seconds, "Metrics window in seconds");
  snapshot->add_option("--at", o.at,
                       "The graph of the window ending at this time, from the history (the "
                       "GetGraphAt answer as JSON; -15m or RFC 3339)");

  auto* events = app.add_subcommand("events", "What happened: pushes, NACKs, proxies, policies...");
  events->add_option("--since", o.since, "From this time: 1h (ago), -15m, or RFC 3339")->required();
  events->add_option("--until", o.until, "Up to this time (default: now)");
  events->add_option("--kind", o.kinds, "Only these kinds and those below them (push, proxy...)");
  events->add_option("-o,--output", o.output, "table | json | yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}))
      ->capture_default_str();

  auto* report = app.add_subcommand("report", "Mesh-health report of a range as one HTML file");
  report->add_option("--since", o.since, "From this time: 1h (ago), or RFC 3339")->required();
  report->add_option("--until", o.until, "Up to this time (default: now)");
  report->add_option("-o,--output", o.file, "HTML file to write (- for stdout)")->required();

  auto* top = app.add_subcommand("top", "Live table of edges, refreshed every interval");
  top->add_option("-w,--window", o.window_seconds, "Metrics window in seconds")
      ->capture_default_str();
  top->add_option("--interval", o.interval_ms, "Refresh interval in milliseconds")
      ->capture_default_str();
  top->add_option("--iterations", o.iterations, "Stop after this many refreshes (0: never)")
      ->capture_default_str();
  top->add_flag("--routes", o.top_routes,
                "Per-route table (method, path: count, success, best, worst, last latency) from a "
                "tap of TARGET");

  auto* tap = app.add_subcommand(
      "tap", "Watch live requests of a service, a version or the mesh (operator role)");
  // Filters shared by tap and top --routes.
  for (auto* sub : {tap, top}) {
    sub->add_option("target", o.tap_target, "svc/NAME, svc/NAME/VERSION or mesh");
    sub->add_option("--to", o.tap_to, "Only requests to this service (svc/NAME[/VERSION])");
    sub->add_option("--from", o.tap_from, "Only requests from this service (svc/NAME[/VERSION])");
    sub->add_option("--method", o.tap_method, "Only this HTTP method");
    sub->add_option("--path", o.tap_path, "Only paths starting with this");
    sub->add_option("--authority", o.tap_authority, "Only this authority");
    sub->add_option("--status", o.tap_status, "Only this status class: 1xx .. 5xx");
    sub->add_option("--min-latency", o.tap_min_latency,
                    "Only requests at least this slow (100ms, 2s, 500us)");
    sub->add_option("--rate", o.tap_rate, "Events per second across the mesh (default 100)");
  }
  tap->add_option("--count", o.tap_count, "Stop after this many events (0: never)")
      ->capture_default_str();
  tap->add_flag("--headers", o.tap_headers,
                "Show request and response headers (authorization, cookies and --redact ones "
                "redacted)");
  tap->add_option("--redact", o.tap_redact, "Another header to redact (repeatable)");
  tap->add_option("-o,--output", o.output, "table | wide | json (one object per line)")
      ->check(CLI::IsMember({"table", "wide", "json"}))
      ->capture_default_str();

  auto* fleet = app.add_subcommand("fleet", "Processes of the control plane's fleet (demo meshes)");
  fleet->require_subcommand(1);
  auto* fleet_ls = fleet->add_subcommand("ls", "List processes: state, restarts, CPU, memory");
  auto* fleet_logs = fleet->add_subcommand("logs", "Captured output of one process");
  fleet_logs->add_option("name", o.process, "Process name, e.g. catalog-v1-0/proxy")->required();
  fleet_logs->add_option("--tail", o.tail, "Lines from the end")->capture_default_str();
  auto* fleet_restart = fleet->add_subcommand("restart", "Restart one process now");
  fleet_restart->add_option("name", o.process, "Process name")->required();
  auto* fleet_scale = fleet->add_subcommand("scale", "Set the number of instances of a service");
  fleet_scale->add_option("service", o.service, "Service")->required();
  fleet_scale->add_option("replicas", o.replicas, "Instances wanted (0-16)")->required();
  fleet_scale->add_option("--version", o.version, "Version (default: the first declared)");

  auto* ca = app.add_subcommand("ca", "The mesh certificate authority: roots and root rotation");
  ca->require_subcommand(1);
  auto* ca_status = ca->add_subcommand("status", "Active and retiring roots, rotation progress");
  auto* ca_rotate = ca->add_subcommand("rotate", "Rotate the root: begin, then retire");
  ca_rotate->require_subcommand(1);
  auto* ca_begin = ca_rotate->add_subcommand(
      "begin", "A new root signs from now on; proxies get the new bundle and renew early");
  auto* ca_retire = ca_rotate->add_subcommand(
      "retire", "Drop the old root (refused while a connected proxy still holds its certificate)");
  ca_retire->add_flag("--force", o.force,
                      "Retire even though some proxies still hold a certificate of the old root");
  for (auto* sub : {ca_status, ca_begin, ca_retire})
    sub->add_option("-o,--output", o.output, "table | json | yaml")
        ->check(CLI::IsMember({"table", "json", "yaml"}))
        ->capture_default_str();

  meshdeck::tools::InjectOptions inject_options;
  auto* inject = meshdeck::tools::declareInjectCommand(app, inject_options);

  CLI11_PARSE(app, argc, argv);
  if (*inject) return meshdeck::tools::runInject(inject_options);
  if (const auto done = finishSecurityCommands(security, server->count() > 0, o)) return *done;
  if (*fleet_ls) o.fleet_action = "ls";
  if (*fleet_logs) o.fleet_action = "logs";
  if (*fleet_restart) o.fleet_action = "restart";
  if (*fleet_scale) o.fleet_action = "scale";
  if (*ca_status) o.ca_action = "status";
  if (*ca_begin) o.ca_action = "begin";
  if (*ca_retire) o.ca_action = "retire";
  std::string error, warning;
  auto channel = meshdeck::tools::makeChannel(o, &error, &warning);
  if (!warning.empty()) std::cerr << "meshdeckctl: warning: " << warning << "\n";
  if (!channel) {
    std::cerr << "meshdeckctl: --credentials: " << error << "\n";
    return 1;
  }
  meshdeck::tools::Ctl ctl(o, channel);
  if (*get) return ctl.get();
  if (*apply) return ctl.apply();
  if (*del) return ctl.remove();
  if (*history) return ctl.history();
  if (*revert) return ctl.revert();
  if (*diff) return ctl.diff();
  if (*snapshot) return ctl.snapshot();
  if (*top) return ctl.top();
  if (*events) return ctl.events();
  if (*report) return ctl.report();
  if (*tap) return ctl.tap();
  if (*fleet) return ctl.fleet();
  if (*ca) return ctl.ca();
  if (*security.op) return ctl.operators();
  if (*security.audit) return ctl.audit();
  return 2;
}
