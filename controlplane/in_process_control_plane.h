#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controlplane/api/control_plane.h"
#include "controlplane/control_plane_options.h"

namespace meshdeck::cp {

namespace fleet {
class DemoFleet;
}
namespace identity {
class CertificateAuthority;
}

// InProcessControlPlane is the control plane running inside the calling process: registry,
// policy store, config compiler and push, telemetry aggregation, and the gRPC server proxies
// and management clients connect to. The desktop app embeds it; meshdeck-controlplane runs it
// headless.
//
// Life cycle: construct, start() once, use, stop() (also done by the destructor). Every
// ControlPlane method is thread-safe and may be called before start() (policies then work
// against an empty registry and nothing is pushed).
class InProcessControlPlane final : public ControlPlane {
 public:
  explicit InProcessControlPlane(ControlPlaneOptions options);
  ~InProcessControlPlane() override;
  InProcessControlPlane(const InProcessControlPlane&) = delete;
  InProcessControlPlane& operator=(const InProcessControlPlane&) = delete;

  // Loads the state directory, applies the policy directory and starts listening. Returns
  // false with a readable reason in `error` (corrupted state file, invalid policy file, port in
  // use); nothing keeps running then.
  bool start(std::string* error);
  // Closes every stream and stops the threads. Idempotent. Management calls in flight are
  // cancelled (they end without changing anything); streams get 200 ms, then are cancelled.
  void stop();
  // What stop() is doing and what is still running (for the shutdown watchdog's log).
  // Thread-safe, never blocks.
  std::string stopStatus() const;

  // Declares a service before any of its proxies connects (the fleet does this), so that
  // policies may name it and the graph shows it.
  void registerService(const std::string& service, const std::string& version,
                       const std::string& tier);
  // Attaches the fleet whose processes the fleet methods below act on (nullptr detaches it).
  // The fleet must outlive the attachment.
  void setFleet(fleet::DemoFleet* fleet);

  // The chosen address of the TLS port ("" before start() or without one).
  std::string secureListenAddress();
  // The chosen address of the /metrics port ("" before start(), without one, or when the
  // optional default could not be bound).
  std::string metricsListenAddress();
  // The mesh CA (null before start()); for tests and tools of the embedding process.
  identity::CertificateAuthority* certificateAuthority();

  // Counters of the gRPC edge, for logs and tests.
  struct Counters {
    uint64_t pushes = 0, acks = 0, nacks = 0, bad_discovery_requests = 0;
    uint64_t reports = 0, edges_accepted = 0, edges_rejected = 0;
    // Telemetry reports refused whole (size, edge count, rate, identity); discovery answers
    // with a stale or unknown nonce; management requests refused for size or encoding, and
    // applies cancelled (client gone, out of time, shutdown).
    uint64_t reports_refused = 0, answers_ignored = 0;
    uint64_t management_refused = 0, management_cancelled = 0;
    // Management calls refused by authorization: no or an unknown identity; a role, place or
    // identity kind that may not make the call (docs/security.md).
    uint64_t management_unauthenticated = 0, management_forbidden = 0;
    // Bytes of discovery responses sent; streams that stopped taking incremental shared
    // resources because their proxy's digest contradicted what was sent.
    uint64_t discovery_bytes = 0, incremental_fallbacks = 0;
    // Scoping (docs/cp-scale.md): on-demand discovery requests, and services asked for on demand
    // that the mesh does not have.
    uint64_t on_demand_requests = 0, on_demand_unknown = 0;
    // Proxy streams refused when they opened (the plaintext port with --no-plaintext-proxies, a
    // TLS client without a workload certificate); discovery nodes and telemetry reports refused
    // for speaking for another identity than the stream's (docs/security.md).
    uint64_t proxy_streams_refused = 0, proxy_identity_refused = 0;
    // Per gRPC server (ControlPlaneOptions::server_shards), the calls and streams it took.
    std::vector<uint64_t> calls_by_server;
    // Per telemetry completion queue (ControlPlaneOptions::telemetry_queues, server after
    // server), the telemetry streams it took.
    std::vector<uint64_t> telemetry_streams_by_queue;
    // Telemetry streams open now.
    int telemetry_streams = 0;
  };
  Counters counters() const;

  // ControlPlane
  std::shared_ptr<const GraphSnapshot> snapshot() override;
  std::shared_ptr<const GraphSnapshot> snapshotForWindow(uint32_t window_seconds) override;
  std::shared_ptr<void> subscribe(SnapshotCallback callback) override;
  std::vector<EdgeSample> edgeHistory(const std::string& source, const std::string& destination,
                                      uint32_t seconds) override;
  std::vector<PolicyInfo> policies() override;
  ApplyResult applyPolicies(const std::string& yaml, const std::string& file,
                            const std::string& author, bool dry_run) override;
  ApplyResult applyPoliciesUntil(const std::string& yaml, const std::string& file,
                                 const std::string& author, bool dry_run,
                                 const std::function<bool()>& cancelled) override;
  ApplyResult deletePolicy(const std::string& kind, const std::string& name,
                           const std::string& author) override;
  std::vector<RevisionInfo> revisions() override;
  std::optional<std::vector<PolicyInfo>> policiesAt(uint64_t revision) override;
  std::string diffRevisions(uint64_t from, uint64_t to) override;
  ApplyResult revertToRevision(uint64_t revision, const std::string& author) override;
  std::string exportSnapshotJson(uint32_t window_seconds) override;
  std::vector<ProcessInfo> processes() override;
  std::vector<std::string> processLogs(const std::string& name, uint32_t tail) override;
  ActionResult restartProcess(const std::string& name) override;
  ActionResult scaleService(const std::string& service, const std::string& version,
                            uint32_t replicas) override;
  std::vector<CertificateInfo> certificates() override;
  // "" for an identity that is not a valid SPIFFE id (tokens issued before start() are valid).
  std::string issueBootstrapToken(const std::string& proxy_id, const std::string& ns,
                                  const std::string& service) override;
  CaStatus rotateRoot(RootRotationAction action, bool force) override;
  std::string listenAddress() override;
  HistoricalGraph graphBetween(SystemTime from, SystemTime to) override;
  EventList events(SystemTime since, SystemTime until, const std::vector<std::string>& kinds,
                   uint32_t limit) override;

  // Records an event that happened outside the control plane's own parts (the fleet's restarts,
  // a scenario's steps, health changes) in the history store; nothing without one.
  void recordEvent(const std::string& kind, const std::string& subject, const std::string& detail,
                   const std::string& author = {});
  // recordEvent() as a function (DemoRunOptions::record_event); this control plane must outlive
  // it.
  std::function<void(const std::string&, const std::string&, const std::string&,
                     const std::string&)>
  eventRecorder();
  // Opens a tap on the proxies connected to this control plane (docs/tap.md).
  std::shared_ptr<void> startTap(const TapFilter& filter, TapCallback callback,
                                 std::string* error) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::mutex fleet_mu_;
  fleet::DemoFleet* fleet_ = nullptr;
};

}  // namespace meshdeck::cp
