#include "ui/report_export.h"

#include <QAbstractTextDocumentLayout>
#include <QDateTimeEdit>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFile>
#include <QFormLayout>
#include <QImage>
#include <QLabel>
#include <QList>
#include <QPageLayout>
#include <QPageSize>
#include <QPainter>
#include <QPair>
#include <QPdfWriter>
#include <QPushButton>
#include <QRegularExpression>
#include <QSaveFile>
#include <QSvgRenderer>
#include <QTextDocument>
#include <QUrl>

namespace meshdeck::ui {
namespace {

// Charts are drawn at this multiple of their laid-out size, so that a printed page stays sharp.
constexpr int kChartScale = 3;
constexpr int kDpi = 96;

int countPdfPages(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return 0;
  const QString text = QString::fromLatin1(f.readAll());
  // Page objects, not the page tree ("/Type /Pages").
  static const QRegularExpression page(QStringLiteral("/Type\\s*/Page(?![s])"));
  int n = 0;
  for (auto it = page.globalMatch(text); it.hasNext(); it.next()) ++n;
  return n;
}

}  // namespace

ReportFormat reportFormatFor(const QString& path) {
  return path.endsWith(QStringLiteral(".pdf"), Qt::CaseInsensitive) ? ReportFormat::kPdf
                                                                    : ReportFormat::kHtml;
}

int writeReport(const ReportDocument& doc, ReportFormat format, const QString& path,
                QString* error) {
  if (!doc.ok) {
    *error = QString::fromStdString(doc.message);
    return 0;
  }
  if (format == ReportFormat::kHtml) {
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(QByteArray::fromStdString(doc.html)) < 0 ||
        !f.commit()) {
      *error = QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
      return 0;
    }
    return 1;
  }
  QList<QPair<QUrl, QImage>> charts;
  for (const auto& [name, svg] : doc.images) {
    QSvgRenderer renderer(QByteArray::fromStdString(svg));
    if (!renderer.isValid()) {
      *error = QStringLiteral("chart %1 is not valid SVG").arg(QString::fromStdString(name));
      return 0;
    }
    QImage image(renderer.defaultSize() * kChartScale, QImage::Format_ARGB32);
    image.fill(Qt::white);
    QPainter painter(&image);
    renderer.render(&painter);
    painter.end();
    charts.append({QUrl(QString::fromStdString(name)), image});
  }
  // Each part between page breaks is laid out as a document of its own, which starts a page:
  // QTextDocument's own CSS page breaks left a stray page behind.
  const QString html = QString::fromStdString(doc.html);
  QStringList parts = doc.page_break.empty() ? QStringList{html}
                                             : html.split(QString::fromStdString(doc.page_break));
  const QString head = html.left(html.indexOf(QStringLiteral("<body>")) + 6);
  for (int i = 1; i < parts.size(); ++i) parts[i].prepend(head);

  // Painted page by page at 96 dpi, so that the HTML's pixel sizes (the charts' widths) are the
  // page's.
  QPdfWriter writer(path);
  writer.setResolution(kDpi);
  writer.setPageSize(QPageSize(QPageSize::A4));
  writer.setPageMargins(QMarginsF(12, 12, 12, 12), QPageLayout::Millimeter);
  writer.setTitle(QStringLiteral("Mesh health report"));
  writer.setCreator(QStringLiteral("Meshdeck"));
  const QSizeF page(writer.width(), writer.height());
  QPainter painter;
  if (!painter.begin(&writer)) {
    *error = QStringLiteral("cannot write %1").arg(path);
    return 0;
  }
  bool first = true;
  for (const QString& part : parts) {
    QTextDocument text;
    text.documentLayout()->setPaintDevice(&writer);
    text.setDefaultFont(QFont(QStringLiteral("DejaVu Sans"), 9));
    for (const auto& [url, image] : charts)
      text.addResource(QTextDocument::ImageResource, url, image);
    text.setHtml(part);
    text.setPageSize(page);
    for (int i = 0; i < text.pageCount(); ++i) {
      if (!first) writer.newPage();
      first = false;
      painter.save();
      painter.translate(0, -i * page.height());
      text.drawContents(&painter, QRectF(0, i * page.height(), page.width(), page.height()));
      painter.restore();
    }
  }
  painter.end();
  const int pages = countPdfPages(path);
  if (pages == 0) *error = QStringLiteral("cannot write %1").arg(path);
  return pages;
}

bool askReportRange(QWidget* parent, cp::SystemTime* from, cp::SystemTime* to) {
  QDialog dialog(parent);
  dialog.setWindowTitle(QObject::tr("Export Report"));
  auto* form = new QFormLayout(&dialog);
  form->addRow(new QLabel(QObject::tr("The mesh's health over a range, from the history.")));
  const auto ms = [](cp::SystemTime t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  };
  const bool offered = *to > *from && ms(*from) > 0;
  const QDateTime end_at =
      offered ? QDateTime::fromMSecsSinceEpoch(ms(*to)) : QDateTime::currentDateTime();
  const QDateTime start_at =
      offered ? QDateTime::fromMSecsSinceEpoch(ms(*from)) : end_at.addSecs(-3600);
  auto* start = new QDateTimeEdit(start_at, &dialog);
  auto* end = new QDateTimeEdit(end_at, &dialog);
  for (auto* e : {start, end}) {
    e->setDisplayFormat(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
    e->setCalendarPopup(true);
  }
  start->setObjectName(QStringLiteral("reportFrom"));
  end->setObjectName(QStringLiteral("reportTo"));
  form->addRow(QObject::tr("From"), start);
  form->addRow(QObject::tr("To"), end);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  form->addRow(buttons);
  QObject::connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  // A range must end after it starts: OK waits until it does.
  auto check = [start, end, buttons] {
    buttons->button(QDialogButtonBox::Ok)->setEnabled(end->dateTime() > start->dateTime());
  };
  QObject::connect(start, &QDateTimeEdit::dateTimeChanged, &dialog, check);
  QObject::connect(end, &QDateTimeEdit::dateTimeChanged, &dialog, check);
  if (dialog.exec() != QDialog::Accepted || end->dateTime() <= start->dateTime()) return false;
  *from = cp::SystemTime(std::chrono::milliseconds(start->dateTime().toMSecsSinceEpoch()));
  *to = cp::SystemTime(std::chrono::milliseconds(end->dateTime().toMSecsSinceEpoch()));
  return true;
}

}  // namespace meshdeck::ui
