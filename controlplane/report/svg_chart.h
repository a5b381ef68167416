#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controlplane/api/types.h"

// Small self-contained SVG charts for the report (no script, no external reference): a line
// chart of one value over time, and a strip of event markers on the same time axis. Every text
// drawn is escaped.
namespace meshdeck::cp::report {

// `text` with &, <, >, " and ' replaced by entities: safe in HTML and XML text and attributes.
std::string escapeHtml(std::string_view text);

// "17:52" (UTC) for axis labels of ranges up to a day, "12-06 17:52" beyond.
std::string axisTime(SystemTime t, bool with_date);

struct LineChart {
  std::string title;  // drawn at the top left ("requests/s")
  SystemTime from{}, to{};
  std::vector<std::pair<SystemTime, double>> points;  // oldest first; NaN: a gap
  std::vector<SystemTime> marks;                      // event times: thin vertical lines
  std::string color = "#1f77b4";
  std::string unit;  // appended to the axis labels ("%", " ms")
  int width = 720, height = 150;
};
std::string renderLineChart(const LineChart& chart);

struct EventMark {
  SystemTime time{};
  std::string label;  // the event's kind, shown on hover (<title>) and in the legend
  std::string color;
};
struct EventStrip {
  SystemTime from{}, to{};
  std::vector<EventMark> marks;
  int width = 720, height = 46;
};
std::string renderEventStrip(const EventStrip& strip);

// The colour of an event kind's family in the strip (policy, proxy, push, identity, fleet,
// scenario, health, other).
std::string eventColor(const std::string& kind);

}  // namespace meshdeck::cp::report
