#pragma once

#include <QByteArray>
#include <QString>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/api/control_plane.h"

namespace meshdeck::ui {

// A snapshot file parsed: the graph, policies, revisions, per-edge history and processes as
// they were when it was exported. The one place in the UI that reads the snapshot JSON format
// (docs/snapshot-format.md, written by the control plane's snapshotToJson): snake_case fields
// at the top level, histogram buckets as [index, count] pairs, responses by class as
// {"1xx": n, ...}. It also accepts the protobuf JSON spelling (lowerCamelCase, the graph
// wrapped in "graph", buckets as objects, 64-bit integers as strings). The optional
// "edge_history" (per-edge samples) and "revisions" lists, which the control plane's export
// writes, let the inspector draw charts and History list revisions offline.
struct SnapshotDocument {
  cp::GraphSnapshot graph;
  std::vector<cp::PolicyInfo> policies;
  std::vector<cp::RevisionInfo> revisions;
  std::map<std::pair<std::string, std::string>, std::vector<cp::EdgeSample>> history;
  std::vector<cp::ProcessInfo> processes;
  QByteArray json;  // the file as read, re-exported unchanged
};

// Parses a snapshot. Returns false and a reason naming what is wrong (not JSON, not a snapshot,
// a histogram that does not add up) without throwing.
bool parseSnapshotJson(const QByteArray& json, SnapshotDocument* document, QString* error);

// A ControlPlane over a saved snapshot: the app shows it read-only and offline with the same
// graph and inspectors. Every change (apply, delete, revert, restart, scale) is refused.
class SnapshotControlPlane final : public cp::ControlPlane {
 public:
  explicit SnapshotControlPlane(SnapshotDocument document);
  // Reads and parses `path`; null and `error` filled when it cannot.
  static std::unique_ptr<SnapshotControlPlane> open(const QString& path, QString* error);

  // ControlPlane:
  std::shared_ptr<const cp::GraphSnapshot> snapshot() override { return graph_; }
  std::shared_ptr<void> subscribe(SnapshotCallback callback) override;
  std::vector<cp::EdgeSample> edgeHistory(const std::string& source, const std::string& destination,
                                          uint32_t seconds) override;
  std::vector<cp::PolicyInfo> policies() override { return document_.policies; }
  cp::ApplyResult applyPolicies(const std::string& yaml, const std::string& file,
                                const std::string& author, bool dry_run) override;
  cp::ApplyResult deletePolicy(const std::string& kind, const std::string& name,
                               const std::string& author) override;
  std::vector<cp::RevisionInfo> revisions() override { return document_.revisions; }
  std::string diffRevisions(uint64_t from, uint64_t to) override;
  cp::ApplyResult revertToRevision(uint64_t revision, const std::string& author) override;
  std::string exportSnapshotJson(uint32_t window_seconds) override;
  std::vector<cp::ProcessInfo> processes() override { return document_.processes; }
  std::vector<std::string> processLogs(const std::string& name, uint32_t tail) override;
  cp::ActionResult restartProcess(const std::string& name) override;
  cp::ActionResult scaleService(const std::string& service, const std::string& version,
                                uint32_t replicas) override;
  std::string listenAddress() override { return document_.graph.listen_address; }

 private:
  SnapshotDocument document_;
  std::shared_ptr<const cp::GraphSnapshot> graph_;
};

}  // namespace meshdeck::ui
