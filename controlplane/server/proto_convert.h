#pragma once

#include "controlplane/api/types.h"
#include "meshdeck/v1/management.pb.h"

// Conversions between the plain C++ API types and the management protocol, shared by the Mesh
// service and the remote GrpcControlPlane.
namespace meshdeck::cp {

void toProto(const WindowMetrics& in, meshdeck::v1::WindowMetrics* out);
WindowMetrics fromProto(const meshdeck::v1::WindowMetrics& in);
void toProto(const ProxyInfo& in, meshdeck::v1::ProxyStatus* out);
ProxyInfo fromProto(const meshdeck::v1::ProxyStatus& in);
void toProto(const AuthorizationRuleStats& in, meshdeck::v1::AuthorizationCount* out);
AuthorizationRuleStats fromProto(const meshdeck::v1::AuthorizationCount& in);
void toProto(const GraphSnapshot& in, meshdeck::v1::GraphSnapshot* out);
GraphSnapshot fromProto(const meshdeck::v1::GraphSnapshot& in);
void toProto(const ApplyResult& in, meshdeck::v1::ApplyPoliciesResponse* out);
ApplyResult fromProto(const meshdeck::v1::ApplyPoliciesResponse& in);
void toProto(const PolicyInfo& in, meshdeck::v1::Policy* out);
PolicyInfo fromProto(const meshdeck::v1::Policy& in);
void toProto(const HistoricalGraph& in, meshdeck::v1::GetGraphAtResponse* out);
HistoricalGraph fromProto(const meshdeck::v1::GetGraphAtResponse& in);
void toProto(const MeshEvent& in, meshdeck::v1::MeshEvent* out);
MeshEvent fromProto(const meshdeck::v1::MeshEvent& in);

}  // namespace meshdeck::cp
