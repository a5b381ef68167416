#pragma once

#include <string>
#include <utility>
#include <vector>

#include "controlplane/report/report.h"

// The report as one HTML document (docs/reports.md). In a browser: self-contained, the charts
// inline as SVG, no script, no external resource. For a PDF the desktop lays out the same HTML
// with QTextDocument, which draws no inline SVG: there the charts are <img> references to
// images returned beside the text.
namespace meshdeck::cp::report {

// Where a new page starts, with HtmlOptions::page_breaks: an HTML comment, so the page reads the
// same in a browser.
inline constexpr const char* kPageBreak = "<!--meshdeck:page-->";

struct HtmlOptions {
  enum class Charts {
    kInlineSvg,  // <svg> elements in the page (browsers)
    kImages      // <img src="chart-N.svg">, the SVG texts in RenderedReport::images
  };
  Charts charts = Charts::kInlineSvg;
  // kPageBreak before each main section but the first (the desktop's PDF starts a page there).
  bool page_breaks = false;
  // Width of the full-width charts in pixels (the worst edges' small ones take a third each).
  int chart_width = 720;
  // Rows of the events table; the rest is counted.
  size_t max_event_rows = 300;
};

struct RenderedReport {
  std::string html;
  // Charts::kImages: (name used in <img src>, SVG text), in the order they appear.
  std::vector<std::pair<std::string, std::string>> images;
};

RenderedReport renderHtml(const MeshReport& report, const HtmlOptions& options = {});

// "2026-12-06 17:52:30 UTC".
std::string formatTime(SystemTime t);

}  // namespace meshdeck::cp::report
