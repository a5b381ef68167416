#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "meshdeck/v1/management.grpc.pb.h"

namespace meshdeck::tools {

struct CtlOptions {
  std::string server = "127.0.0.1:15010";
  int timeout_ms = 5000;
  std::string what, output = "table", file, kind, name, author = "meshdeckctl";
  bool dry_run = false;
  uint64_t revision = 0, revision_to = 0;
  uint32_t window_seconds = 10;
  int interval_ms = 1000;
  int iterations = 0;
  std::string fleet_action, process, service, version;
  uint32_t tail = 200, replicas = 1;
  std::string ca_action;  // status | begin | retire
  bool force = false;
  // --credentials FILE: mutual TLS to the file's server (or --server when given) with its
  // client certificate, verifying the server against its trust bundle.
  std::string credentials;
  bool server_given = false;
  std::string operator_action;  // add | list | revoke
  std::string operator_role = "viewer";
  std::string since;  // audit --since (a duration, e.g. 1h); events --since (time_arg.h)
  // get --at, snapshot --at, events --until: a time as time_arg.h reads it ("" = now / unset);
  // events --kind.
  std::string at, until;
  std::vector<std::string> kinds;
  // tap TARGET / top --routes TARGET (docs/tap.md): svc/NAME[/VERSION] or "mesh".
  std::string tap_target, tap_to, tap_from, tap_method, tap_path, tap_authority, tap_status,
      tap_min_latency;
  uint64_t tap_count = 0;  // stop after this many events (0: never)
  double tap_rate = 0;     // events per second across the mesh (0: the control plane's default)
  bool tap_headers = false;
  std::vector<std::string> tap_redact;
  bool top_routes = false;  // top: per-route table from a tap instead of the edge table
};

// Parses the tap options of `o` into a TapRequest (target svc/NAME[/VERSION] or mesh, --from and
// --to svc/NAME[/VERSION] or NAME, --status 2xx..5xx, --min-latency 100ms/2s/500us). False with
// the reason in `error`. (tools/meshdeckctl/tap.cpp)
bool tapRequestFromOptions(const CtlOptions& o, meshdeck::v1::TapRequest* out, std::string* error);

// Per-route rows of `top --routes`, aggregated from tap events (like Linkerd's top): method and
// path, count, successes (not 5xx), best, worst and last latency.
struct RouteRow {
  std::string method, path;
  uint64_t count = 0, success = 0;
  uint64_t best_us = 0, worst_us = 0, last_us = 0;
};
class RouteTop {
 public:
  void add(const meshdeck::v1::TapEvent& e);
  // The table, the busiest routes first.
  std::string table() const;
  const std::vector<RouteRow>& rows() const { return rows_; }

 private:
  std::vector<RouteRow> rows_;
};
// One line of `tap`'s table (wide: every field).
std::string tapLine(const meshdeck::v1::TapEvent& e, bool wide);
std::string tapHeader(bool wide);

// The channel to the control plane `o` names: plaintext to o.server, or with o.credentials
// mutual TLS (the file's server unless o.server_given). Null with the reason in `error`;
// `warning` is set when the credentials file is readable by group or others. Fills
// o.server with the address used. (tools/meshdeckctl/credentials.cpp)
std::shared_ptr<grpc::Channel> makeChannel(CtlOptions& o, std::string* error, std::string* warning);

// The edge table of `get edges` and `top`: source, destination, rate, success, percentiles, the
// edge counters (the default table: the few meshdeckctl.cpp chooses; wide: every counter of
// common::kEdgeCounters, headed by its column name), split, transport, policies.
std::vector<std::string> edgeTableColumns(bool wide);
std::string edgeTable(const meshdeck::v1::GraphSnapshot& snapshot, bool wide);

// Ctl runs one meshdeckctl command against the Mesh management API. Each command prints to
// stdout (errors to stderr) and returns the exit code: 0 done, 1 refused (e.g. an invalid
// policy file; nothing changed), 2 the control plane could not be reached.
class Ctl {
 public:
  explicit Ctl(CtlOptions options);
  // Over `channel` (makeChannel()).
  Ctl(CtlOptions options, std::shared_ptr<grpc::Channel> channel);
  int get();
  int apply();
  int remove();
  int history();
  int revert();
  int diff();
  int snapshot();
  int top();
  // events --since T [--until T] [--kind K]...: what the history store recorded.
  int events();
  // tap TARGET [--to/--from/--path/--method/--authority/--status/--min-latency] [--count N]
  // [-o table|wide|json] (tools/meshdeckctl/tap.cpp)
  int tap();
  // fleet ls | logs NAME | restart NAME | scale SERVICE REPLICAS [--version V]
  int fleet();
  // ca status | ca rotate begin | ca rotate retire [--force]
  int ca();
  // operator add NAME --role R -o FILE | operator list | operator revoke NAME
  // (tools/meshdeckctl/operators.cpp)
  int operators();
  // audit [--since D]: the audit log's entries (admin only).
  int audit();
  // report --since T [--until T] -o FILE: the mesh-health report of the range as HTML
  // (tools/meshdeckctl/report.cpp, docs/reports.md).
  int report();

 private:
  int topRoutes();
  int certs();
  int authz();
  // get edges|services --at T: the graph over [T - window, T) from the history store.
  int getAt();
  // Asks GetGraphAt for [at - window, at); a non-zero exit code in `code` when it failed.
  bool graphAt(meshdeck::v1::GetGraphAtResponse* r, int* code);
  std::unique_ptr<grpc::ClientContext> context() const;
  int failed(const grpc::Status& status) const;
  int printApply(const meshdeck::v1::ApplyPoliciesResponse& r) const;

  CtlOptions o_;
  std::unique_ptr<meshdeck::v1::Mesh::Stub> stub_;
};

}  // namespace meshdeck::tools
