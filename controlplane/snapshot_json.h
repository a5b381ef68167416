#pragma once

#include <string>
#include <vector>

#include "controlplane/api/control_plane.h"
#include "controlplane/api/types.h"

namespace meshdeck::cp {

// The snapshot document (docs/snapshot-format.md): services, edges with metrics and latency
// histograms, proxies with their sync state, and the policies in force, as one JSON object.
constexpr int kSnapshotFormatVersion = 1;

// How far back an export's edge history reaches: the inspector's charts show 5 minutes.
constexpr uint32_t kSnapshotHistorySeconds = 300;

// The per-interval history of one edge (ControlPlane::edgeHistory), oldest sample first.
struct EdgeHistory {
  std::string source, destination;
  std::vector<EdgeSample> samples;
};

// Optional parts of a snapshot (added within version 1; a reader of an older file sees none):
// the edges' history, so a reopened file draws the inspector's charts, and the policy
// revisions (number, author, time, summary; not the policies of each revision). Written only
// when non-empty.
struct SnapshotExtras {
  std::vector<EdgeHistory> edge_history;
  std::vector<RevisionInfo> revisions;
};

// At most this many history samples in one snapshot (about 250 bytes of JSON each): a mesh with
// many edges gets a shorter span per edge rather than a file of hundreds of megabytes.
constexpr size_t kSnapshotHistoryMaxSamples = 150'000;

// What `control_plane` holds of those for `graph`: the last kSnapshotHistorySeconds of every
// edge that has history (each edge cut to its newest max_samples / edges samples when all of
// them would be more than `max_samples`), and every revision. The control plane's export uses
// it.
SnapshotExtras snapshotExtras(ControlPlane& control_plane, const GraphSnapshot& graph,
                              size_t max_samples = kSnapshotHistoryMaxSamples);

std::string snapshotToJson(const GraphSnapshot& graph, const std::vector<PolicyInfo>& policies,
                           const std::string& control_plane_version,
                           const SnapshotExtras& extras = {});

}  // namespace meshdeck::cp
