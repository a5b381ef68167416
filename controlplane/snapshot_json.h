#pragma once

#include <string>
#include <vector>

#include "controlplane/api/types.h"

namespace meshdeck::cp {

// The snapshot document (docs/snapshot-format.md): services, edges with metrics and latency
// histograms, proxies with their sync state, and the policies in force, as one JSON object.
constexpr int kSnapshotFormatVersion = 1;

std::string snapshotToJson(const GraphSnapshot& graph, const std::vector<PolicyInfo>& policies,
                           const std::string& control_plane_version);

}  // namespace meshdeck::cp
