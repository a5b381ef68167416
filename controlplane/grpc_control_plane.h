#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "controlplane/api/control_plane.h"

namespace meshdeck::cp {

// GrpcControlPlane is the ControlPlane of a remote control plane, reached through its Mesh
// management API (`meshdeck --connect HOST:PORT`). Every call is one RPC with a deadline;
// failures read as empty results or an ApplyResult/ActionResult carrying the error.
// Subscriptions share one WatchGraph stream, reopened with backoff when it breaks.
class GrpcControlPlane final : public ControlPlane {
 public:
  // An operator's way in to the TLS port (pki::Credentials' PEM material): mutual TLS with this
  // client certificate, the server's certificate checked against `trust_bundle_pem` under the
  // name "meshdeck-controlplane" (docs/security.md).
  struct ClientTls {
    std::string certificate_pem, key_pem, trust_bundle_pem;
  };

  // `address` is "host:port". Nothing connects until the first call.
  explicit GrpcControlPlane(std::string address,
                            std::chrono::milliseconds deadline = std::chrono::seconds(5));
  // With `tls`, over mutual TLS (the control plane's TLS port); without, plaintext.
  GrpcControlPlane(std::string address, std::optional<ClientTls> tls,
                   std::chrono::milliseconds deadline = std::chrono::seconds(5));
  ~GrpcControlPlane() override;

  // Checks that the control plane answers; fills `error` when not.
  bool ping(std::string* error);

  // ControlPlane
  std::shared_ptr<const GraphSnapshot> snapshot() override;
  std::shared_ptr<void> subscribe(SnapshotCallback callback) override;
  std::vector<EdgeSample> edgeHistory(const std::string& source, const std::string& destination,
                                      uint32_t seconds) override;
  std::vector<PolicyInfo> policies() override;
  std::optional<std::vector<PolicyInfo>> policiesAt(uint64_t revision) override;
  ApplyResult applyPolicies(const std::string& yaml, const std::string& file,
                            const std::string& author, bool dry_run) override;
  ApplyResult deletePolicy(const std::string& kind, const std::string& name,
                           const std::string& author) override;
  std::vector<RevisionInfo> revisions() override;
  std::string diffRevisions(uint64_t from, uint64_t to) override;
  ApplyResult revertToRevision(uint64_t revision, const std::string& author) override;
  std::string exportSnapshotJson(uint32_t window_seconds) override;
  std::vector<CertificateInfo> certificates() override;
  std::vector<ProcessInfo> processes() override;
  std::vector<std::string> processLogs(const std::string& name, uint32_t tail) override;
  ActionResult restartProcess(const std::string& name) override;
  ActionResult scaleService(const std::string& service, const std::string& version,
                            uint32_t replicas) override;
  CaStatus rotateRoot(RootRotationAction action, bool force) override;
  std::string listenAddress() override;
  HistoricalGraph graphBetween(SystemTime from, SystemTime to) override;
  EventList events(SystemTime since, SystemTime until, const std::vector<std::string>& kinds,
                   uint32_t limit) override;
  // A Mesh.Tap stream read by a thread of its own; releasing the token cancels it and joins.
  std::shared_ptr<void> startTap(const TapFilter& filter, TapCallback callback,
                                 std::string* error) override;
  // Mesh.WhoAmI; `error` set when the call failed.
  CallerIdentity whoAmI() override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshdeck::cp
