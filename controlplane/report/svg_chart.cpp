#include "controlplane/report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace meshdeck::cp::report {
namespace {

// Plot area margins, the same for charts and strips so that their time axes line up.
constexpr int kLeft = 56, kRight = 12, kTop = 20, kBottom = 22;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// 1, 2 or 5 times a power of ten, at or above `v` (1 for nothing).
double niceCeiling(double v) {
  if (!(v > 0) || !std::isfinite(v)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v * 0.999999) return m * p;
  return 10 * p;
}

std::string axisValue(double v, const std::string& unit) {
  char buf[32];
  if (v == 0)
    std::snprintf(buf, sizeof buf, "0");
  else if (std::fabs(v) >= 100)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (std::fabs(v) >= 1)
    std::snprintf(buf, sizeof buf, "%.3g", v);
  else
    std::snprintf(buf, sizeof buf, "%.2g", v);
  return std::string(buf) + unit;
}

struct TimeAxis {
  double a, b, x0, x1;
  double x(SystemTime t) const {
    const double s = std::chrono::duration<double>(t.time_since_epoch()).count();
    return b > a ? x0 + (s - a) / (b - a) * (x1 - x0) : x0;
  }
};

TimeAxis axisOf(SystemTime from, SystemTime to, int width) {
  return TimeAxis{std::chrono::duration<double>(from.time_since_epoch()).count(),
                  std::chrono::duration<double>(to.time_since_epoch()).count(), double(kLeft),
                  double(width - kRight)};
}

// Ticks and labels of the time axis along y = `y`.
std::string timeTicks(const TimeAxis& ax, SystemTime from, SystemTime to, double y) {
  std::string out;
  const bool with_date = to - from > std::chrono::hours(24);
  // Five labels where they fit, three on a narrow chart.
  const int n = ax.x1 - ax.x0 < 320 ? 2 : 4;
  for (int i = 0; i <= n; ++i) {
    const auto t = from + (to - from) * i / n;
    const double x = ax.x(std::chrono::time_point_cast<SystemTime::duration>(t));
    const char* anchor = i == 0 ? "start" : i == n ? "end" : "middle";
    out += "<line x1=\"" + num(x) + "\" y1=\"" + num(y) + "\" x2=\"" + num(x) + "\" y2=\"" +
           num(y + 3) + "\" stroke=\"#888\"/>";
    out += "<text x=\"" + num(x) + "\" y=\"" + num(y + 14) + "\" text-anchor=\"" + anchor + "\">" +
           escapeHtml(axisTime(t, with_date)) + "</text>";
  }
  return out;
}

std::string svgOpen(int width, int height) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
         "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) +
         " " + std::to_string(height) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"10\">"
         "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>";
}

}  // namespace

std::string escapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string axisTime(SystemTime t, bool with_date) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, with_date ? "%m-%d %H:%M" : "%H:%M", &tm);
  return buf;
}

std::string renderLineChart(const LineChart& c) {
  const int w = c.width, h = c.height;
  const TimeAxis ax = axisOf(c.from, c.to, w);
  const double y0 = h - kBottom, y1 = kTop;
  double top = 0;
  for (const auto& [t, v] : c.points)
    if (std::isfinite(v)) top = std::max(top, v);
  top = niceCeiling(top);
  auto y = [&](double v) { return y0 - std::clamp(v / top, 0.0, 1.0) * (y0 - y1); };

  std::string out = svgOpen(w, h);
  out += "<text x=\"" + std::to_string(kLeft) + "\" y=\"13\" font-weight=\"bold\">" +
         escapeHtml(c.title) + "</text>";
  for (int i = 0; i <= 4; ++i) {
    const double v = top * i / 4, yy = y(v);
    out += "<line x1=\"" + num(ax.x0) + "\" y1=\"" + num(yy) + "\" x2=\"" + num(ax.x1) +
           "\" y2=\"" + num(yy) + "\" stroke=\"" + (i ? "#e4e4e4" : "#888") + "\"/>";
    out += "<text x=\"" + num(ax.x0 - 4) + "\" y=\"" + num(yy + 3) + "\" text-anchor=\"end\">" +
           escapeHtml(axisValue(v, c.unit)) + "</text>";
  }
  for (const auto& m : c.marks) {
    if (m < c.from || m > c.to) continue;
    const double x = ax.x(m);
    out += "<line x1=\"" + num(x) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x) + "\" y2=\"" +
           num(y0) + "\" stroke=\"#b0b0b0\" stroke-dasharray=\"2,2\"/>";
  }
  if (std::any_of(c.points.begin(), c.points.end(),
                  [](const auto& p) { return std::isfinite(p.second); })) {
    // A value that is not a number (no requests in its step) breaks the line.
    std::string path;
    bool pen_down = false;
    for (const auto& [t, v] : c.points) {
      if (!std::isfinite(v)) {
        pen_down = false;
        continue;
      }
      path += (path.empty() ? "M" : pen_down ? " L" : " M") + num(ax.x(t)) + "," + num(y(v));
      pen_down = true;
    }
    out += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + escapeHtml(c.color) +
           "\" stroke-width=\"1.6\"/>";
  }
  out += timeTicks(ax, c.from, c.to, y0);
  out += "</svg>";
  return out;
}

std::string renderEventStrip(const EventStrip& s) {
  const int w = s.width, h = s.height;
  const TimeAxis ax = axisOf(s.from, s.to, w);
  const double base = h - kBottom;
  std::string out = svgOpen(w, h);
  out += "<text x=\"" + num(ax.x0 - 4) + "\" y=\"" + num(base - 6) +
         "\" text-anchor=\"end\">events</text>";
  out += "<line x1=\"" + num(ax.x0) + "\" y1=\"" + num(base) + "\" x2=\"" + num(ax.x1) +
         "\" y2=\"" + num(base) + "\" stroke=\"#888\"/>";
  for (const auto& m : s.marks) {
    if (m.time < s.from || m.time > s.to) continue;
    const double x = ax.x(m.time);
    out += "<line x1=\"" + num(x) + "\" y1=\"" + num(base - 18) + "\" x2=\"" + num(x) + "\" y2=\"" +
           num(base) + "\" stroke=\"" + escapeHtml(m.color) + "\" stroke-width=\"2\"><title>" +
           escapeHtml(m.label) + "</title></line>";
  }
  out += timeTicks(ax, s.from, s.to, base);
  out += "</svg>";
  return out;
}

std::string eventColor(const std::string& kind) {
  auto starts = [&](const char* p) { return kind.rfind(p, 0) == 0; };
  if (starts("push.nack")) return "#d62728";
  if (starts("policy")) return "#1f77b4";
  if (starts("scenario")) return "#9467bd";
  if (starts("health")) return "#e377c2";
  if (starts("fleet")) return "#ff7f0e";
  if (starts("identity")) return "#2ca02c";
  if (starts("proxy")) return "#8c564b";
  if (starts("push")) return "#7f7f7f";
  return "#17becf";
}

}  // namespace meshdeck::cp::report
