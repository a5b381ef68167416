#pragma once

#include <atomic>
#include <functional>
#include <string_view>

#include "controlplane/api/control_plane.h"
#include "controlplane/security/management_security.h"
#include "meshdeck/v1/management.grpc.pb.h"

namespace meshdeck::cp {

// MeshService serves the management API (Mesh.*) on top of any ControlPlane: the remote face
// of the embedded control plane, used by meshdeckctl and `meshdeck --connect`. Every call is
// first decided by `security` (security/roles.h's table, from the call's transport and client
// certificate); mutating calls are written to its audit log, and the policy revisions they
// make name the operator as author. Without `security` every call is allowed (in-process
// tests).
class MeshService final : public meshdeck::v1::Mesh::CallbackService {
 public:
  // Operator management needs the CA and the TLS address the credentials point to; both are
  // known only once the control plane has started.
  struct OperatorAdmin {
    std::function<identity::CertificateAuthority*()> ca;
    std::function<std::string()> tls_address;
  };
  explicit MeshService(ControlPlane& control_plane,
                       security::ManagementSecurity* security = nullptr, OperatorAdmin admin = {})
      : cp_(control_plane), security_(security), admin_(std::move(admin)) {}

  grpc::ServerUnaryReactor* GetGraph(grpc::CallbackServerContext* ctx,
                                     const meshdeck::v1::GetGraphRequest* request,
                                     meshdeck::v1::GraphSnapshot* response) override;
  grpc::ServerWriteReactor<meshdeck::v1::GraphSnapshot>* WatchGraph(
      grpc::CallbackServerContext* ctx, const meshdeck::v1::WatchGraphRequest* request) override;
  grpc::ServerUnaryReactor* ListProxies(grpc::CallbackServerContext* ctx,
                                        const meshdeck::v1::ListProxiesRequest* request,
                                        meshdeck::v1::ListProxiesResponse* response) override;
  grpc::ServerUnaryReactor* ListPolicies(grpc::CallbackServerContext* ctx,
                                         const meshdeck::v1::ListPoliciesRequest* request,
                                         meshdeck::v1::ListPoliciesResponse* response) override;
  grpc::ServerUnaryReactor* ApplyPolicies(grpc::CallbackServerContext* ctx,
                                          const meshdeck::v1::ApplyPoliciesRequest* request,
                                          meshdeck::v1::ApplyPoliciesResponse* response) override;
  grpc::ServerUnaryReactor* DeletePolicy(grpc::CallbackServerContext* ctx,
                                         const meshdeck::v1::DeletePolicyRequest* request,
                                         meshdeck::v1::ApplyPoliciesResponse* response) override;
  grpc::ServerUnaryReactor* ListRevisions(grpc::CallbackServerContext* ctx,
                                          const meshdeck::v1::ListRevisionsRequest* request,
                                          meshdeck::v1::ListRevisionsResponse* response) override;
  grpc::ServerUnaryReactor* DiffRevisions(grpc::CallbackServerContext* ctx,
                                          const meshdeck::v1::DiffRevisionsRequest* request,
                                          meshdeck::v1::DiffRevisionsResponse* response) override;
  grpc::ServerUnaryReactor* RevertToRevision(
      grpc::CallbackServerContext* ctx, const meshdeck::v1::RevertToRevisionRequest* request,
      meshdeck::v1::ApplyPoliciesResponse* response) override;
  grpc::ServerUnaryReactor* ExportSnapshot(grpc::CallbackServerContext* ctx,
                                           const meshdeck::v1::ExportSnapshotRequest* request,
                                           meshdeck::v1::ExportSnapshotResponse* response) override;
  grpc::ServerUnaryReactor* ListProcesses(grpc::CallbackServerContext* ctx,
                                          const meshdeck::v1::ListProcessesRequest* request,
                                          meshdeck::v1::ListProcessesResponse* response) override;
  grpc::ServerUnaryReactor* GetProcessLogs(grpc::CallbackServerContext* ctx,
                                           const meshdeck::v1::GetProcessLogsRequest* request,
                                           meshdeck::v1::GetProcessLogsResponse* response) override;
  grpc::ServerUnaryReactor* RestartProcess(grpc::CallbackServerContext* ctx,
                                           const meshdeck::v1::RestartProcessRequest* request,
                                           meshdeck::v1::FleetActionResponse* response) override;
  grpc::ServerUnaryReactor* ScaleService(grpc::CallbackServerContext* ctx,
                                         const meshdeck::v1::ScaleServiceRequest* request,
                                         meshdeck::v1::FleetActionResponse* response) override;
  grpc::ServerUnaryReactor* GetEdgeHistory(grpc::CallbackServerContext* ctx,
                                           const meshdeck::v1::GetEdgeHistoryRequest* request,
                                           meshdeck::v1::GetEdgeHistoryResponse* response) override;
  grpc::ServerUnaryReactor* GetGraphAt(grpc::CallbackServerContext* ctx,
                                       const meshdeck::v1::GetGraphAtRequest* request,
                                       meshdeck::v1::GetGraphAtResponse* response) override;
  grpc::ServerUnaryReactor* ListEvents(grpc::CallbackServerContext* ctx,
                                       const meshdeck::v1::ListEventsRequest* request,
                                       meshdeck::v1::ListEventsResponse* response) override;
  grpc::ServerUnaryReactor* ListCertificates(
      grpc::CallbackServerContext* ctx, const meshdeck::v1::ListCertificatesRequest* request,
      meshdeck::v1::ListCertificatesResponse* response) override;
  grpc::ServerUnaryReactor* RotateRoot(grpc::CallbackServerContext* ctx,
                                       const meshdeck::v1::RotateRootRequest* request,
                                       meshdeck::v1::RotateRootResponse* response) override;
  grpc::ServerUnaryReactor* AddOperator(grpc::CallbackServerContext* ctx,
                                        const meshdeck::v1::AddOperatorRequest* request,
                                        meshdeck::v1::AddOperatorResponse* response) override;
  grpc::ServerUnaryReactor* ListOperators(grpc::CallbackServerContext* ctx,
                                          const meshdeck::v1::ListOperatorsRequest* request,
                                          meshdeck::v1::ListOperatorsResponse* response) override;
  grpc::ServerUnaryReactor* RevokeOperator(grpc::CallbackServerContext* ctx,
                                           const meshdeck::v1::RevokeOperatorRequest* request,
                                           meshdeck::v1::RevokeOperatorResponse* response) override;
  grpc::ServerUnaryReactor* ReadAudit(grpc::CallbackServerContext* ctx,
                                      const meshdeck::v1::ReadAuditRequest* request,
                                      meshdeck::v1::ReadAuditResponse* response) override;
  // Opens a tap through ControlPlane::startTap (docs/tap.md); audited when it opens and when it
  // ends (events delivered, dropped).
  grpc::ServerWriteReactor<meshdeck::v1::TapResponse>* Tap(
      grpc::CallbackServerContext* ctx, const meshdeck::v1::TapRequest* request) override;
  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* ctx,
                                   const meshdeck::v1::WhoAmIRequest* request,
                                   meshdeck::v1::WhoAmIResponse* response) override;

  // Requests refused for their size or encoding; applies cancelled (client gone or out of
  // time); management calls being worked on now.
  uint64_t refusedRequests() const { return refused_requests_.load(); }
  uint64_t cancelledCalls() const { return cancelled_calls_.load(); }
  int inFlight() const { return in_flight_.load(); }

 private:
  class TapReactor;
  // Decides `call` for the caller of `ctx`; a refused mutating call is audited.
  security::Decision authorize(grpc::CallbackServerContext* ctx, std::string_view call);
  // Audits an allowed mutating call with its outcome.
  void audit(const security::Decision& d, std::string_view call, const ApplyResult& result,
             std::string_view detail);
  void audit(const security::Decision& d, std::string_view call, bool ok, std::string_view detail);
  // The author a revision records: the operator on the TLS port, else what the client says.
  static std::string authorOf(const security::Decision& d, const std::string& claimed);

  struct InFlight {
    explicit InFlight(std::atomic<int>& n) : n_(n) { ++n_; }
    ~InFlight() { --n_; }
    std::atomic<int>& n_;
  };
  ControlPlane& cp_;
  security::ManagementSecurity* security_;
  OperatorAdmin admin_;
  std::atomic<uint64_t> refused_requests_{0}, cancelled_calls_{0};
  std::atomic<int> in_flight_{0};
};

}  // namespace meshdeck::cp
