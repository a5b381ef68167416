#pragma once

#include <QString>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/api/control_plane.h"

class QWidget;

// The desktop's side of the mesh-health report (docs/reports.md): the report itself is made
// by controlplane/report, which the UI may not link; the composition root hands the window a
// ReportMaker, and this file writes what it makes as HTML or as PDF.
namespace meshdeck::ui {

enum class ReportFormat { kHtml, kPdf };

// A report ready to write: for kHtml one self-contained page (charts inline as SVG); for kPdf
// the same page with its charts as <img src="NAME"> and the SVG text of each in `images`.
struct ReportDocument {
  bool ok = false;
  std::string message;  // why not, when !ok
  std::string html;
  std::vector<std::pair<std::string, std::string>> images;  // (name, SVG text)
  // kPdf: the text in `html` before which a new page starts ("" : none).
  std::string page_break;
};

// Makes the report of [from, to) from `cp` in `format`. Blocks (it asks the control plane):
// called off the GUI thread.
using ReportMaker = std::function<ReportDocument(cp::ControlPlane& cp, cp::SystemTime from,
                                                 cp::SystemTime to, ReportFormat format)>;

// kPdf for a path ending in ".pdf" (any case), else kHtml.
ReportFormat reportFormatFor(const QString& path);

// Writes `doc` at `path`: HTML as it is; PDF laid out on A4 by QTextDocument, each chart drawn
// from its SVG. The number of pages written (1 for HTML), or 0 with `error`.
int writeReport(const ReportDocument& doc, ReportFormat format, const QString& path,
                QString* error);

// Asks for the range of a report, offering [*from, *to] (the range on the timeline) or, when
// that is empty, the last hour ending now. False when cancelled.
bool askReportRange(QWidget* parent, cp::SystemTime* from, cp::SystemTime* to);

}  // namespace meshdeck::ui
