#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controlplane/api/control_plane.h"
#include "controlplane/api/types.h"

// The mesh-health report (docs/reports.md): what happened in the mesh over a range, from the
// history store, the policies in force and the proxies' and certificates' state, gathered through
// the ControlPlane interface (in-process or remote) into plain data that a renderer turns into
// HTML (report_html.h) or, in the desktop, a PDF. No Qt, no gRPC.
namespace meshdeck::cp::report {

// One point of a time series: the traffic of [time, time + step).
struct SeriesPoint {
  SystemTime time{};
  uint64_t requests = 0;
  double requests_per_second = 0;
  double error_rate = 0;  // share of 5xx responses, 0..1; NaN without responses (a gap)
  double p99_ms = 0;      // NaN without requests (a gap)
};

struct EdgeSection {
  std::string source, destination;
  WindowMetrics metrics;  // over the whole range
  double error_rate = 0;  // 5xx share of responses
  double retry_rate = 0;  // retries per request
  std::vector<SeriesPoint> series;
};

struct ServiceSection {
  std::string name;
  WindowMetrics inbound;  // server side over the range (callers' view when it has no proxy)
  double error_rate = 0;
  ServiceHealth health;
};

// One finding of the checkup: something left on or about to go wrong.
enum class CheckKind {
  kFaultInjection,       // a TrafficRoute with a fault still in force
  kPermissive,           // a PeerAuthentication in PERMISSIVE (or DISABLE) mode
  kPlaintext,            // an edge that carried requests in plain text over the range
  kCertificateExpiring,  // a proxy's newest certificate in the last 20 % of its life, or expired
  kProxyNotSynced,       // a proxy whose configuration is stale or was rejected
  kHighRetryRate,        // an edge whose retries per request reach the report's threshold
  kAuthorizationDryRun,  // an AuthorizationPolicy in dry run (logs, does not enforce)
};
// "fault injection", "mTLS permissive", "plaintext", "certificate", "proxy", "retries",
// "authorization dry run".
const char* toString(CheckKind kind);

struct CheckItem {
  CheckKind kind = CheckKind::kFaultInjection;
  std::string subject;  // "TrafficRoute/ratings-delay", "frontend -> reviews", a proxy id
  std::string detail;   // one sentence
};

struct MeshReport {
  bool available = false;  // false: no history (`message` says why); the rest may be empty
  std::string message;
  std::string source;  // where the data came from ("control plane 127.0.0.1:15010")
  SystemTime from{}, to{}, generated{};
  uint32_t resolution_seconds = 0;  // of the history's buckets used
  uint32_t step_seconds = 0;        // of the series
  uint64_t policy_revision = 0;     // in force at `to`
  std::string revision_author;

  // The mesh as a whole: every client-side edge added up.
  uint64_t requests = 0;
  double requests_per_second = 0;
  double error_rate = 0;
  double p99_ms = 0;  // of all the edges' requests (histograms merged)
  std::vector<SeriesPoint> series;

  std::vector<ServiceSection> services;  // by name
  std::vector<EdgeSection> edges;        // every edge with traffic, by source then destination
  std::vector<size_t> worst_by_errors;   // indices into edges, worst first (only edges with 5xx)
  std::vector<size_t> worst_by_p99;      // indices into edges, slowest first
  std::vector<MeshEvent> events;         // oldest first
  bool events_truncated = false;         // more events than the limit: the newest are kept
  std::vector<CheckItem> checkup;
};

struct ReportOptions {
  size_t worst_edges = 5;           // per list
  size_t max_points = 60;           // of a series (the step grows for longer ranges)
  double retry_rate_warning = 0.1;  // retries per request from which an edge is listed
  uint64_t retry_min_requests = 10;
  uint32_t max_events = 1000;
  std::string source;  // copied to MeshReport::source
};

// Gathers the report of [from, to) from `cp`: the graph over the range (summary, services, edges),
// a series per edge from the graph of each step of the range (steps of whole history buckets,
// aligned on them), the events, and the checkup from the policies in force, the certificates and
// the proxies at `now`. Health per service judges the range's traffic with the HealthPolicies in
// force and the proxies and certificates as they are at `now`. May block (remote calls): call it
// off a GUI thread.
MeshReport buildReport(ControlPlane& cp, SystemTime from, SystemTime to, SystemTime now,
                       const ReportOptions& options = {});

// The checkup alone, from plain inputs (buildReport's second half; tests call it directly).
std::vector<CheckItem> checkup(const std::vector<PolicyInfo>& policies,
                               const std::vector<EdgeSection>& edges,
                               const std::vector<CertificateInfo>& certificates,
                               const GraphSnapshot& now_snapshot, SystemTime now,
                               const ReportOptions& options);

}  // namespace meshdeck::cp::report
