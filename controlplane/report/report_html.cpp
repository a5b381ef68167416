#include "controlplane/report/report_html.h"

#include <cstdio>
#include <ctime>
#include <map>

#include "controlplane/report/svg_chart.h"

namespace meshdeck::cp::report {
namespace {

const char* kStyle = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 10pt; color: #222;
       max-width: 760px; margin: 16px auto; }
h1 { font-size: 18pt; margin-bottom: 2px; }
h2 { font-size: 13pt; margin-top: 18px; border-bottom: 1px solid #ccc; }
h3 { font-size: 11pt; margin-bottom: 2px; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 4px 0; }
th { background-color: #eeeeee; text-align: left; }
td.n { text-align: right; }
.failing { color: #b00020; font-weight: bold; }
.degraded { color: #b36b00; font-weight: bold; }
.healthy { color: #1b7f2a; }
.idle { color: #777; }
.warn { color: #b00020; }
.small { color: #555; font-size: 9pt; }
)";

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pct(double share) { return fmt("%.2f%%", share * 100.0); }
std::string ms(double v) { return fmt("%.1f ms", v); }
std::string rate(double v) { return fmt("%.2f", v); }

// What every proxy does on every start, stop and renewal: counted, not listed or marked on the
// charts (a demo's start alone makes a hundred of them).
bool routine(const std::string& kind) {
  for (const char* k : {"push", "identity.issue", "identity.renew", "proxy.connect",
                        "proxy.disconnect", "topology.change"})
    if (kind == k) return true;
  return false;
}

std::string duration(SystemTime from, SystemTime to) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
  if (s % 3600 == 0 && s >= 3600) return std::to_string(s / 3600) + " h";
  if (s % 60 == 0 && s >= 60) return std::to_string(s / 60) + " min";
  return std::to_string(s) + " s";
}

class Writer {
 public:
  Writer(const MeshReport& r, const HtmlOptions& o) : r_(r), o_(o) {}

  RenderedReport run() {
    out_ += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
    out_ += "<title>Mesh health report " + escapeHtml(formatTime(r_.from)) + "</title>";
    out_ += "<style>" + std::string(kStyle) + "</style></head><body>\n";
    out_ += "<h1>Mesh health report</h1>\n";
    out_ += "<p class=\"meta\">" + escapeHtml(formatTime(r_.from)) + " to " +
            escapeHtml(formatTime(r_.to)) + " (" + duration(r_.from, r_.to) + ")";
    if (!r_.source.empty()) out_ += "<br>Source: " + escapeHtml(r_.source);
    out_ += "<br>Policy revision in force at the end: " + std::to_string(r_.policy_revision);
    if (!r_.revision_author.empty()) out_ += " by " + escapeHtml(r_.revision_author);
    out_ += "<br>Generated " + escapeHtml(formatTime(r_.generated));
    if (r_.resolution_seconds)
      out_ += "; history buckets of " + std::to_string(r_.resolution_seconds) +
              " s, chart steps of " + std::to_string(r_.step_seconds) + " s";
    out_ += "</p>\n";
    if (!r_.available)
      out_ += "<p class=\"warn\">No traffic history: " + escapeHtml(r_.message) + "</p>\n";
    summary();
    checkupSection();
    traffic();
    services();
    worst("Worst edges by errors", r_.worst_by_errors, "No edge answered with a 5xx in the range.");
    worst("Worst edges by p99 latency", r_.worst_by_p99, "No edge carried requests in the range.");
    events();
    out_ += "</body></html>\n";
    return RenderedReport{std::move(out_), std::move(images_)};
  }

 private:
  void heading(const std::string& text, bool page_break) {
    if (page_break && o_.page_breaks) out_ += kPageBreak;
    out_ += "<h2>" + escapeHtml(text) + "</h2>\n";
  }

  void chart(const std::string& svg, int width, int height) {
    if (o_.charts == HtmlOptions::Charts::kInlineSvg) {
      out_ += svg;
      return;
    }
    const std::string name = "chart-" + std::to_string(images_.size() + 1) + ".svg";
    images_.emplace_back(name, svg);
    out_ += "<img src=\"" + name + "\" width=\"" + std::to_string(width) + "\" height=\"" +
            std::to_string(height) + "\">";
  }

  std::vector<SystemTime> eventTimes() const {
    std::vector<SystemTime> t;
    for (const auto& e : r_.events)
      if (!routine(e.kind)) t.push_back(e.time);
    return t;
  }

  void lineChart(const std::string& title, const std::vector<SeriesPoint>& series,
                 double SeriesPoint::*value, double scale, const std::string& unit,
                 const std::string& color, int width, int height) {
    LineChart c;
    c.title = title;
    c.from = r_.from, c.to = r_.to;
    for (const auto& p : series) {
      // A point stands for its step: drawn at the step's middle.
      c.points.emplace_back(p.time + std::chrono::seconds(r_.step_seconds / 2), p.*value * scale);
    }
    c.marks = eventTimes();
    c.color = color;
    c.unit = unit;
    c.width = width, c.height = height;
    chart(renderLineChart(c), width, height);
  }

  void summary() {
    heading("Summary", false);
    size_t unhealthy = 0;
    for (const auto& s : r_.services)
      if (s.health.state == HealthState::kDegraded || s.health.state == HealthState::kFailing)
        ++unhealthy;
    out_ += "<table border=\"1\" cellspacing=\"0\" cellpadding=\"4\" class=\"summary\">";
    auto row = [&](const std::string& k, const std::string& v, const char* id) {
      out_ += "<tr><th>" + escapeHtml(k) + "</th><td class=\"n\" id=\"" + id + "\">" +
              escapeHtml(v) + "</td></tr>";
    };
    row("Requests", std::to_string(r_.requests), "summary-requests");
    row("Requests per second", rate(r_.requests_per_second), "summary-rps");
    row("Errors (5xx)", pct(r_.error_rate), "summary-errors");
    row("p99 latency", ms(r_.p99_ms), "summary-p99");
    row("Services (not healthy)",
        std::to_string(r_.services.size()) + " (" + std::to_string(unhealthy) + ")",
        "summary-services");
    row("Edges with traffic", std::to_string(r_.edges.size()), "summary-edges");
    row("Events", std::to_string(r_.events.size()) + (r_.events_truncated ? "+" : ""),
        "summary-events");
    row("Checkup findings", std::to_string(r_.checkup.size()), "summary-checkup");
    out_ += "</table>\n";
  }

  void checkupSection() {
    heading("Checkup", false);
    if (r_.checkup.empty()) {
      out_ +=
          "<p>Nothing left on: no fault injection, no PERMISSIVE or plaintext traffic, no "
          "certificate close to expiry, every proxy synced, no edge retrying much, no "
          "authorization rule in dry run.</p>\n";
      return;
    }
    out_ +=
        "<table width=\"100%\" border=\"1\" cellspacing=\"0\" cellpadding=\"4\" class=\"checkup\">"
        "<tr><th>Check</th><th>Subject</th><th>Finding</th></tr>";
    for (const auto& c : r_.checkup)
      out_ += "<tr><td>" + escapeHtml(toString(c.kind)) + "</td><td>" + escapeHtml(c.subject) +
              "</td><td>" + escapeHtml(c.detail) + "</td></tr>";
    out_ += "</table>\n";
  }

  void strip(int width) {
    EventStrip s;
    s.from = r_.from, s.to = r_.to, s.width = width;
    for (const auto& e : r_.events) {
      if (e.kind.rfind("push", 0) == 0 && e.kind != "push.nack") continue;
      s.marks.push_back({e.time, e.kind + " " + e.subject, eventColor(e.kind)});
    }
    chart(renderEventStrip(s), width, s.height);
  }

  void traffic() {
    heading("Traffic and events", true);
    out_ +=
        "<p class=\"small\">All edges together (client side). Dashed lines mark the events "
        "listed at the end; the strip below shows every event but pushes.</p>\n";
    const int w = o_.chart_width;
    out_ += "<div>";
    lineChart("requests/s", r_.series, &SeriesPoint::requests_per_second, 1, "", "#1f77b4", w, 140);
    out_ += "</div>\n<div>";
    lineChart("errors (5xx)", r_.series, &SeriesPoint::error_rate, 100, "%", "#d62728", w, 120);
    out_ += "</div>\n<div>";
    lineChart("p99 latency", r_.series, &SeriesPoint::p99_ms, 1, " ms", "#ff7f0e", w, 120);
    out_ += "</div>\n<div>";
    strip(w);
    out_ += "</div>\n";
    std::map<std::string, std::string> legend;
    for (const auto& e : r_.events) {
      if (e.kind.rfind("push", 0) == 0 && e.kind != "push.nack") continue;
      const auto dot = e.kind.find('.');
      legend.emplace(e.kind.substr(0, e.kind == "push.nack" ? e.kind.size() : dot),
                     eventColor(e.kind));
    }
    if (!legend.empty()) {
      out_ += "<p class=\"small\">";
      for (const auto& [family, color] : legend)
        out_ += "<font color=\"" + escapeHtml(color) + "\">&#9632;</font> " + escapeHtml(family) +
                " &nbsp; ";
      out_ += "</p>\n";
    }
  }

  void services() {
    heading("Services", true);
    out_ +=
        "<p class=\"small\">Server side over the range (the callers' view for a service "
        "without an inbound proxy). Health judges the range's traffic with the "
        "HealthPolicies in force, and the proxies and certificates as they are now.</p>\n";
    out_ +=
        "<table width=\"100%\" border=\"1\" cellspacing=\"0\" cellpadding=\"3\" class=\"services\">"
        "<tr><th>Service</th><th>Health</th><th>Requests</th><th>req/s</th><th>5xx</th>"
        "<th>p99</th><th>Why</th></tr>";
    for (const auto& s : r_.services) {
      std::string why;
      for (const auto& reason : s.health.reasons)
        why += (why.empty() ? "" : "; ") + escapeHtml(reason);
      const char* state = toString(s.health.state);
      out_ += "<tr><td>" + escapeHtml(s.name) + "</td><td class=\"" + state + "\">" + state +
              "</td><td class=\"n\">" + std::to_string(s.inbound.requests) +
              "</td><td class=\"n\">" + rate(s.inbound.requests_per_second) +
              "</td><td class=\"n\">" + pct(s.error_rate) + "</td><td class=\"n\">" +
              ms(s.inbound.p99_ms) + "</td><td>" + why + "</td></tr>";
    }
    out_ += "</table>\n";
  }

  void worst(const std::string& title, const std::vector<size_t>& which, const char* none) {
    heading(title, true);
    if (which.empty()) {
      out_ += "<p>" + escapeHtml(none) + "</p>\n";
      return;
    }
    out_ +=
        "<table width=\"100%\" border=\"1\" cellspacing=\"0\" cellpadding=\"3\">"
        "<tr><th>Edge</th><th>Requests</th><th>req/s</th><th>5xx</th><th>p50</th>"
        "<th>p99</th><th>Retries</th></tr>";
    for (size_t i : which) {
      const auto& e = r_.edges[i];
      out_ += "<tr><td>" + escapeHtml(e.source) + " &rarr; " + escapeHtml(e.destination) +
              "</td><td class=\"n\">" + std::to_string(e.metrics.requests) +
              "</td><td class=\"n\">" + rate(e.metrics.requests_per_second) +
              "</td><td class=\"n\">" + pct(e.error_rate) + "</td><td class=\"n\">" +
              ms(e.metrics.p50_ms) + "</td><td class=\"n\">" + ms(e.metrics.p99_ms) +
              "</td><td class=\"n\">" + pct(e.retry_rate) + "</td></tr>";
    }
    out_ += "</table>\n";
    for (size_t i : which) {
      const auto& e = r_.edges[i];
      out_ += "<h3>" + escapeHtml(e.source) + " &rarr; " + escapeHtml(e.destination) + "</h3>\n";
      out_ += "<table cellspacing=\"0\" cellpadding=\"0\"><tr><td>";
      const int w = o_.chart_width / 3;
      lineChart("requests/s", e.series, &SeriesPoint::requests_per_second, 1, "", "#1f77b4", w,
                110);
      out_ += "</td><td>";
      lineChart("5xx", e.series, &SeriesPoint::error_rate, 100, "%", "#d62728", w, 110);
      out_ += "</td><td>";
      lineChart("p99", e.series, &SeriesPoint::p99_ms, 1, " ms", "#ff7f0e", w, 110);
      out_ += "</td></tr></table>\n";
    }
  }

  void events() {
    heading("Events", true);
    if (r_.events.empty()) {
      out_ += "<p>No event recorded in the range.</p>\n";
      return;
    }
    std::map<std::string, size_t> counts;
    for (const auto& e : r_.events) ++counts[e.kind];
    out_ += "<p>";
    bool first = true;
    for (const auto& [kind, n] : counts) {
      out_ += (first ? "" : ", ") + escapeHtml(kind) + " &times; " + std::to_string(n);
      first = false;
    }
    if (r_.events_truncated) out_ += " (the newest only: the range holds more)";
    out_ +=
        "</p>\n<p class=\"small\">Listed below: all but the routine ones (pushes, "
        "certificates issued and renewed, proxies connecting and leaving, topology "
        "versions), which are only counted.</p>\n";
    std::vector<const MeshEvent*> listed;
    for (const auto& e : r_.events)
      if (!routine(e.kind)) listed.push_back(&e);
    if (listed.empty()) return;
    out_ +=
        "<table width=\"100%\" border=\"1\" cellspacing=\"0\" cellpadding=\"3\" class=\"events\">"
        "<tr><th>Time (UTC)</th><th>Kind</th><th>Subject</th><th>Detail</th>"
        "<th>Author</th></tr>";
    // The newest rows when there are too many: the end of a range is usually what is asked about.
    const size_t skip = listed.size() > o_.max_event_rows ? listed.size() - o_.max_event_rows : 0;
    for (size_t i = skip; i < listed.size(); ++i) {
      const auto& e = *listed[i];
      out_ += "<tr><td>" + escapeHtml(axisTime(e.time, false)) + timeSeconds(e.time) + "</td><td>" +
              escapeHtml(e.kind) + "</td><td>" + escapeHtml(e.subject) + "</td><td>" +
              escapeHtml(e.detail) + "</td><td>" + escapeHtml(e.author) + "</td></tr>";
    }
    out_ += "</table>\n";
    if (skip)
      out_ += "<p class=\"small\">" + std::to_string(skip) + " older events not listed.</p>\n";
  }

  static std::string timeSeconds(SystemTime t) {
    const auto s =
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count() % 60;
    char buf[8];
    std::snprintf(buf, sizeof buf, ":%02lld", static_cast<long long>(s));
    return buf;
  }

  const MeshReport& r_;
  const HtmlOptions& o_;
  std::string out_;
  std::vector<std::pair<std::string, std::string>> images_;
};

}  // namespace

std::string formatTime(SystemTime t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

RenderedReport renderHtml(const MeshReport& report, const HtmlOptions& options) {
  return Writer(report, options).run();
}

}  // namespace meshdeck::cp::report
