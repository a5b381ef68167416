#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

namespace meshdeck::ui {

class GraphView;

struct ExportResult {
  bool ok = false;
  QStringList files;
  QString error;
};

// Writes a snapshot export next to each other: `<base>.json` (the control plane's snapshot
// document, unchanged), `<base>.png` (the graph as shown, at twice the scene resolution) and
// `<base>.svg`. Each file is written atomically (QSaveFile): a reader sees the old file or the
// whole new one. `json_path` may end in .json or not. GUI thread only (renders the scene).
ExportResult writeSnapshotExport(const QString& json_path, const QByteArray& json, GraphView* view);

}  // namespace meshdeck::ui
