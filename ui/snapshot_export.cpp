#include "ui/snapshot_export.h"

#include <QBuffer>
#include <QImage>
#include <QPainter>
#include <QSaveFile>
#include <QSvgGenerator>
#include <cmath>

#include "ui/graph_view.h"

namespace meshdeck::ui {
namespace {

bool saveAtomically(const QString& path, const QByteArray& bytes, QString* error) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) {
    *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
    return false;
  }
  if (file.write(bytes) != bytes.size() || !file.commit()) {
    *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
    return false;
  }
  return true;
}

}  // namespace

ExportResult writeSnapshotExport(const QString& json_path, const QByteArray& json,
                                 GraphView* view) {
  ExportResult result;
  QString base = json_path;
  if (base.endsWith(QLatin1String(".json"), Qt::CaseInsensitive)) base.chop(5);
  const QRectF bounds = view->graphBounds().adjusted(-20, -20, 20, 20);
  if (!bounds.isValid()) {
    result.error = QStringLiteral("the graph is empty: nothing to draw");
  }

  if (!saveAtomically(base + QStringLiteral(".json"), json, &result.error)) return result;
  result.files << base + QStringLiteral(".json");
  if (!bounds.isValid()) return result;

  // PNG at 2x so it stays sharp on high-density screens and in documents; capped in size.
  const double scale = std::min(2.0, 8000.0 / std::max(bounds.width(), bounds.height()));
  QImage image(
      QSize(int(std::ceil(bounds.width() * scale)), int(std::ceil(bounds.height() * scale))),
      QImage::Format_ARGB32_Premultiplied);
  image.fill(Qt::transparent);
  {
    QPainter painter(&image);
    painter.setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing);
    view->renderGraph(&painter, QRectF(QPointF(0, 0), image.size()));
  }
  QByteArray png;
  QBuffer png_buffer(&png);
  png_buffer.open(QIODevice::WriteOnly);
  if (!image.save(&png_buffer, "PNG")) {
    result.error = QStringLiteral("PNG encoding failed");
    return result;
  }
  if (!saveAtomically(base + QStringLiteral(".png"), png, &result.error)) return result;
  result.files << base + QStringLiteral(".png");

  QByteArray svg;
  QBuffer svg_buffer(&svg);
  QSvgGenerator generator;
  generator.setOutputDevice(&svg_buffer);
  generator.setSize(bounds.size().toSize());
  generator.setViewBox(QRectF(QPointF(0, 0), bounds.size()));
  generator.setTitle(QStringLiteral("Meshdeck service graph"));
  generator.setDescription(QStringLiteral("Exported by Meshdeck"));
  {
    QPainter painter(&generator);
    view->renderGraph(&painter, QRectF(QPointF(0, 0), bounds.size()));
  }
  if (!saveAtomically(base + QStringLiteral(".svg"), svg, &result.error)) return result;
  result.files << base + QStringLiteral(".svg");
  result.ok = true;
  return result;
}

}  // namespace meshdeck::ui
