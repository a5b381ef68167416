#pragma once

#include <atomic>

#include "controlplane/api/control_plane.h"
#include "meshdeck/v1/management.grpc.pb.h"

namespace meshdeck::cp {

// MeshService serves the management API (Mesh.*) on top of any ControlPlane: the remote face
// of the embedded control plane, used by meshdeckctl and `meshdeck --connect`.
class MeshService final : public meshdeck::v1::Mesh::CallbackService {
 public:
  explicit MeshService(ControlPlane& control_plane) : cp_(control_plane) {}

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
  grpc::ServerUnaryReactor* ListCertificates(
      grpc::CallbackServerContext* ctx, const meshdeck::v1::ListCertificatesRequest* request,
      meshdeck::v1::ListCertificatesResponse* response) override;
  grpc::ServerUnaryReactor* RotateRoot(grpc::CallbackServerContext* ctx,
                                       const meshdeck::v1::RotateRootRequest* request,
                                       meshdeck::v1::RotateRootResponse* response) override;

  // Requests refused for their size or encoding; applies cancelled (client gone or out of
  // time); management calls being worked on now.
  uint64_t refusedRequests() const { return refused_requests_.load(); }
  uint64_t cancelledCalls() const { return cancelled_calls_.load(); }
  int inFlight() const { return in_flight_.load(); }

 private:
  struct InFlight {
    explicit InFlight(std::atomic<int>& n) : n_(n) { ++n_; }
    ~InFlight() { --n_; }
    std::atomic<int>& n_;
  };
  ControlPlane& cp_;
  std::atomic<uint64_t> refused_requests_{0}, cancelled_calls_{0};
  std::atomic<int> in_flight_{0};
};

}  // namespace meshdeck::cp
