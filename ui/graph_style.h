#pragma once

#include <QColor>
#include <QPalette>
#include <QString>
#include <string>
#include <vector>

#include "controlplane/api/edge_transport.h"
#include "controlplane/api/types.h"

namespace meshdeck::ui {

// What an edge label shows.
enum class EdgeMetric { kP99, kP50, kRequestRate, kSuccessRate };

enum class Health { kIdle, kHealthy, kWarning, kCritical };

// When an edge turns amber or red. Configurable from View > Health Thresholds and saved in
// QSettings.
struct HealthThresholds {
  double success_warning = 0.99;   // below: amber
  double success_critical = 0.95;  // below: red
  double p99_warning_ms = 250;     // above: amber
  double p99_critical_ms = 1000;   // above: red
};

Health metricsHealth(const cp::WindowMetrics& m, const HealthThresholds& t);
// A service's health: the control plane's (cp::ServiceNode::health: degraded is kWarning,
// failing kCritical) when it computed one, else metricsHealth() of its inbound metrics (old
// snapshot files, control planes without the health model).
Health serviceHealth(const cp::ServiceNode& s, const HealthThresholds& t);
QString formatMetric(const cp::WindowMetrics& m, EdgeMetric metric);
// Whether two windows carry the same figures (rates, percentiles, every counter), whatever
// their latency histograms: what the graph draws and says of an edge or a service comes from
// these alone, so an update that leaves them as they were changes nothing on screen.
bool sameFigures(const cp::WindowMetrics& a, const cp::WindowMetrics& b);
// What an edge label says about its protocol (cp::ServiceEdge::protocol, comma-separated):
// "gRPC" when it carried gRPC calls, else "h2" for HTTP/2, else "" (HTTP/1.1, no traffic yet).
QString protocolTag(const std::string& protocol);
QString formatLatency(double ms);
QString formatRate(double rps);
QString formatPercent(double share);
// The label of a health state ("idle", "healthy", "degraded", "failing").
QString displayName(Health h);

// Colours of the graph, derived from the application palette so that the graph follows the
// system's light or dark theme.
struct GraphStyle {
  bool dark = false;
  QColor background, grid, node_fill, node_border, text, muted_text, selection, highlight;
  // The halo of the edges a scenario step is about: a hue no health state uses.
  QColor focus;
  QColor healthy, warning, critical, idle;

  static GraphStyle fromPalette(const QPalette& palette);
  QColor healthColor(Health h) const;
  QColor tierColor(const QString& tier) const;
  bool operator==(const GraphStyle&) const = default;
};

// How an edge's requests of the window travelled (the control plane's rule,
// cp::edgeTransport), as the graph says it: "no traffic", "mTLS", "plaintext", "mixed".
QString displayName(cp::EdgeTransport transport);

// Badges an edge carries: those the control plane computed for the policies that apply to it
// (cp::PolicyBadges) and what its traffic shows (faults injected, rate-limited requests, mTLS
// share).
struct EdgeBadges {
  // A policy asks for mTLS on the edge (cp::PolicyBadges::mtls).
  bool mtls = false;
  bool fault = false, canary = false, rate_limit = false;
  // What the traffic showed: a padlock, closed (all mTLS), half (mixed) or open (plaintext).
  cp::EdgeTransport traffic = cp::EdgeTransport::kNone;
  bool any() const {
    return mtls || fault || canary || rate_limit || traffic != cp::EdgeTransport::kNone;
  }
  bool operator==(const EdgeBadges&) const = default;
};

}  // namespace meshdeck::ui
