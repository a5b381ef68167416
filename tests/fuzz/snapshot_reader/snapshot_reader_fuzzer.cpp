// snapshot_reader: the snapshot file reader (ui::parseSnapshotJson, what File > Open snapshot
// and `meshdeck --snapshot` use) on arbitrary bytes.
//
// The reader exists only in ui/ (it is written on QJsonDocument); it is compiled here from its
// one source file against Qt Core alone, no widgets. The control plane has the writer only
// (cp::snapshotToJson), which the oracle uses.
// Oracle: no crash, hang or sanitizer report; a snapshot that parses, written again by the
// control plane's writer (with its revisions and edge history), parses again with the same
// services, edges, proxies, revisions and history samples.
#include <spdlog/spdlog.h>

#include <QByteArray>
#include <QString>
#include <cstdint>
#include <cstdio>
#include <string>

#include "controlplane/snapshot_json.h"
#include "ui/snapshot_control_plane.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  const QByteArray json(reinterpret_cast<const char*>(data), static_cast<qsizetype>(size));
  meshdeck::ui::SnapshotDocument doc;
  QString error;
  if (!meshdeck::ui::parseSnapshotJson(json, &doc, &error)) return 0;

  meshdeck::cp::SnapshotExtras extras;
  extras.revisions = doc.revisions;
  size_t samples = 0;
  for (const auto& [edge, history] : doc.history) {
    extras.edge_history.push_back({edge.first, edge.second, history});
    samples += history.size();
  }
  const std::string written = meshdeck::cp::snapshotToJson(doc.graph, doc.policies, "fuzz", extras);
  meshdeck::ui::SnapshotDocument again;
  if (!meshdeck::ui::parseSnapshotJson(QByteArray::fromStdString(written), &again, &error)) {
    std::fprintf(stderr, "snapshot_reader: the writer's output does not read back: %s\n%s\n",
                 error.toStdString().c_str(), written.c_str());
    __builtin_trap();
  }
  if (again.graph.services.size() != doc.graph.services.size() ||
      again.graph.edges.size() != doc.graph.edges.size() ||
      again.graph.proxies.size() != doc.graph.proxies.size() ||
      again.revisions.size() != doc.revisions.size()) {
    std::fprintf(stderr,
                 "snapshot_reader: services/edges/proxies/revisions lost in a round trip\n%s\n",
                 written.c_str());
    __builtin_trap();
  }
  size_t samples_again = 0;
  for (const auto& [edge, history] : again.history) samples_again += history.size();
  if (samples_again != samples) {
    std::fprintf(stderr, "snapshot_reader: %zu of %zu history samples read back\n%s\n",
                 samples_again, samples, written.c_str());
    __builtin_trap();
  }
  return 0;
}
