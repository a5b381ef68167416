#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>

#include "controlplane/server/discovery_service.h"
#include "controlplane/server/identity_service.h"
#include "controlplane/server/mesh_service.h"
#include "controlplane/server/telemetry_service.h"

namespace meshdeck::cp {

// The services of one of the control plane's gRPC servers (docs/cp-scale.md, "Server shards").
//
// The control plane runs K grpc::Server instances on the same ports (SO_REUSEPORT, on by default
// in gRPC on Linux); the kernel spreads the connections over them. Each server has its own
// callback completion queue, so each holds the outstanding operations of its own streams only:
// a libgrpc built without NDEBUG (Debian's) scans that list on every completed operation.
//
// gRPC registers a service object with one server only, so each server gets these forwarders
// (and its own TelemetryQueues, which serve TelemetryIngest.Report through the async API):
// every method hands the call to the one shared service object, whose reactors then run on the
// server the call came in on. The state (registry, push thread, aggregator, counters) stays in
// the shared objects. calls() counts the calls and streams this server handed on.
//
// A method added to a service must be forwarded here too (an unforwarded one answers
// UNIMPLEMENTED on every server); controlplane_server_shards_test calls each Mesh method on
// every server.
class ServerShardServices {
 public:
  // `telemetry_queues`: the completion queues (one thread each) of this server's telemetry
  // streams (TelemetryQueues).
  ServerShardServices(DiscoveryService& discovery, TelemetryIngestService& telemetry,
                      MeshService& mesh, IdentityService& identity, size_t telemetry_queues = 1)
      : discovery_(discovery, calls_),
        telemetry_(telemetry, telemetry_queues, calls_),
        mesh_(mesh, calls_),
        identity_(identity, calls_) {}
  ServerShardServices(const ServerShardServices&) = delete;
  ServerShardServices& operator=(const ServerShardServices&) = delete;

  // Registers the three forwarders and the telemetry method with its queues; the builder's
  // server must not outlive this object. Then, once the server is built, start(); before its
  // Shutdown, beginShutdown(); after its Wait, stop().
  void registerWith(grpc::ServerBuilder& builder) {
    builder.RegisterService(&discovery_);
    telemetry_.registerWith(builder);
    builder.RegisterService(&mesh_);
    builder.RegisterService(&identity_);
  }
  void start() { telemetry_.start(); }
  void beginShutdown() { telemetry_.beginShutdown(); }
  void stop() { telemetry_.stop(); }
  uint64_t calls() const { return calls_.load(); }
  // Telemetry streams each of this server's telemetry queues took.
  std::vector<uint64_t> telemetryStreamsByQueue() const { return telemetry_.streamsByQueue(); }

 private:
  class Discovery final : public meshdeck::v1::ConfigDiscovery::WithRawCallbackMethod_Stream<
                              meshdeck::v1::ConfigDiscovery::Service> {
   public:
    Discovery(DiscoveryService& target, std::atomic<uint64_t>& calls)
        : target_(target), calls_(calls) {}
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
        grpc::CallbackServerContext* ctx) override {
      ++calls_;
      return target_.Stream(ctx);
    }

   private:
    DiscoveryService& target_;
    std::atomic<uint64_t>& calls_;
  };

  class Identity final : public meshdeck::v1::Identity::CallbackService {
   public:
    Identity(IdentityService& target, std::atomic<uint64_t>& calls)
        : target_(target), calls_(calls) {}
    grpc::ServerUnaryReactor* Sign(grpc::CallbackServerContext* ctx,
                                   const meshdeck::v1::SignRequest* request,
                                   meshdeck::v1::SignResponse* response) override {
      ++calls_;
      return target_.Sign(ctx, request, response);
    }

   private:
    IdentityService& target_;
    std::atomic<uint64_t>& calls_;
  };

  class Mesh final : public meshdeck::v1::Mesh::CallbackService {
   public:
    Mesh(MeshService& target, std::atomic<uint64_t>& calls) : target_(target), calls_(calls) {}
    grpc::ServerUnaryReactor* GetGraph(grpc::CallbackServerContext* ctx,
                                       const meshdeck::v1::GetGraphRequest* request,
                                       meshdeck::v1::GraphSnapshot* response) override {
      ++calls_;
      return target_.GetGraph(ctx, request, response);
    }
    grpc::ServerWriteReactor<meshdeck::v1::GraphSnapshot>* WatchGraph(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::WatchGraphRequest* request) override {
      ++calls_;
      return target_.WatchGraph(ctx, request);
    }
    grpc::ServerUnaryReactor* ListProxies(grpc::CallbackServerContext* ctx,
                                          const meshdeck::v1::ListProxiesRequest* request,
                                          meshdeck::v1::ListProxiesResponse* response) override {
      ++calls_;
      return target_.ListProxies(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ListPolicies(grpc::CallbackServerContext* ctx,
                                           const meshdeck::v1::ListPoliciesRequest* request,
                                           meshdeck::v1::ListPoliciesResponse* response) override {
      ++calls_;
      return target_.ListPolicies(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ApplyPolicies(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::ApplyPoliciesRequest* request,
        meshdeck::v1::ApplyPoliciesResponse* response) override {
      ++calls_;
      return target_.ApplyPolicies(ctx, request, response);
    }
    grpc::ServerUnaryReactor* DeletePolicy(grpc::CallbackServerContext* ctx,
                                           const meshdeck::v1::DeletePolicyRequest* request,
                                           meshdeck::v1::ApplyPoliciesResponse* response) override {
      ++calls_;
      return target_.DeletePolicy(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ListRevisions(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::ListRevisionsRequest* request,
        meshdeck::v1::ListRevisionsResponse* response) override {
      ++calls_;
      return target_.ListRevisions(ctx, request, response);
    }
    grpc::ServerUnaryReactor* DiffRevisions(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::DiffRevisionsRequest* request,
        meshdeck::v1::DiffRevisionsResponse* response) override {
      ++calls_;
      return target_.DiffRevisions(ctx, request, response);
    }
    grpc::ServerUnaryReactor* RevertToRevision(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::RevertToRevisionRequest* request,
        meshdeck::v1::ApplyPoliciesResponse* response) override {
      ++calls_;
      return target_.RevertToRevision(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ExportSnapshot(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::ExportSnapshotRequest* request,
        meshdeck::v1::ExportSnapshotResponse* response) override {
      ++calls_;
      return target_.ExportSnapshot(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ListProcesses(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::ListProcessesRequest* request,
        meshdeck::v1::ListProcessesResponse* response) override {
      ++calls_;
      return target_.ListProcesses(ctx, request, response);
    }
    grpc::ServerUnaryReactor* GetProcessLogs(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::GetProcessLogsRequest* request,
        meshdeck::v1::GetProcessLogsResponse* response) override {
      ++calls_;
      return target_.GetProcessLogs(ctx, request, response);
    }
    grpc::ServerUnaryReactor* RestartProcess(grpc::CallbackServerContext* ctx,
                                             const meshdeck::v1::RestartProcessRequest* request,
                                             meshdeck::v1::FleetActionResponse* response) override {
      ++calls_;
      return target_.RestartProcess(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ScaleService(grpc::CallbackServerContext* ctx,
                                           const meshdeck::v1::ScaleServiceRequest* request,
                                           meshdeck::v1::FleetActionResponse* response) override {
      ++calls_;
      return target_.ScaleService(ctx, request, response);
    }
    grpc::ServerUnaryReactor* GetEdgeHistory(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::GetEdgeHistoryRequest* request,
        meshdeck::v1::GetEdgeHistoryResponse* response) override {
      ++calls_;
      return target_.GetEdgeHistory(ctx, request, response);
    }
    grpc::ServerUnaryReactor* GetGraphAt(grpc::CallbackServerContext* ctx,
                                         const meshdeck::v1::GetGraphAtRequest* request,
                                         meshdeck::v1::GetGraphAtResponse* response) override {
      ++calls_;
      return target_.GetGraphAt(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ListEvents(grpc::CallbackServerContext* ctx,
                                         const meshdeck::v1::ListEventsRequest* request,
                                         meshdeck::v1::ListEventsResponse* response) override {
      ++calls_;
      return target_.ListEvents(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ListCertificates(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::ListCertificatesRequest* request,
        meshdeck::v1::ListCertificatesResponse* response) override {
      ++calls_;
      return target_.ListCertificates(ctx, request, response);
    }
    grpc::ServerUnaryReactor* RotateRoot(grpc::CallbackServerContext* ctx,
                                         const meshdeck::v1::RotateRootRequest* request,
                                         meshdeck::v1::RotateRootResponse* response) override {
      ++calls_;
      return target_.RotateRoot(ctx, request, response);
    }
    grpc::ServerUnaryReactor* AddOperator(grpc::CallbackServerContext* ctx,
                                          const meshdeck::v1::AddOperatorRequest* request,
                                          meshdeck::v1::AddOperatorResponse* response) override {
      ++calls_;
      return target_.AddOperator(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ListOperators(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::ListOperatorsRequest* request,
        meshdeck::v1::ListOperatorsResponse* response) override {
      ++calls_;
      return target_.ListOperators(ctx, request, response);
    }
    grpc::ServerUnaryReactor* RevokeOperator(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::RevokeOperatorRequest* request,
        meshdeck::v1::RevokeOperatorResponse* response) override {
      ++calls_;
      return target_.RevokeOperator(ctx, request, response);
    }
    grpc::ServerUnaryReactor* ReadAudit(grpc::CallbackServerContext* ctx,
                                        const meshdeck::v1::ReadAuditRequest* request,
                                        meshdeck::v1::ReadAuditResponse* response) override {
      ++calls_;
      return target_.ReadAudit(ctx, request, response);
    }
    grpc::ServerWriteReactor<meshdeck::v1::TapResponse>* Tap(
        grpc::CallbackServerContext* ctx, const meshdeck::v1::TapRequest* request) override {
      ++calls_;
      return target_.Tap(ctx, request);
    }
    grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* ctx,
                                     const meshdeck::v1::WhoAmIRequest* request,
                                     meshdeck::v1::WhoAmIResponse* response) override {
      ++calls_;
      return target_.WhoAmI(ctx, request, response);
    }

   private:
    MeshService& target_;
    std::atomic<uint64_t>& calls_;
  };

  std::atomic<uint64_t> calls_{0};  // before the forwarders that point to it
  Discovery discovery_;
  TelemetryQueues telemetry_;
  Mesh mesh_;
  Identity identity_;
};

}  // namespace meshdeck::cp
