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
};

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
  int get();
  int apply();
  int remove();
  int history();
  int revert();
  int diff();
  int snapshot();
  int top();
  // fleet ls | logs NAME | restart NAME | scale SERVICE REPLICAS [--version V]
  int fleet();
  // ca status | ca rotate begin | ca rotate retire [--force]
  int ca();

 private:
  int certs();
  int authz();
  std::unique_ptr<grpc::ClientContext> context() const;
  int failed(const grpc::Status& status) const;
  int printApply(const meshdeck::v1::ApplyPoliciesResponse& r) const;

  CtlOptions o_;
  std::unique_ptr<meshdeck::v1::Mesh::Stub> stub_;
};

}  // namespace meshdeck::tools
