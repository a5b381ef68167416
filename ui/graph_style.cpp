#include "ui/graph_style.h"

#include <QtGlobal>

namespace meshdeck::ui {

Health metricsHealth(const cp::WindowMetrics& m, const HealthThresholds& t) {
  if (m.requests == 0) return Health::kIdle;
  if (m.success_rate < t.success_critical || m.p99_ms > t.p99_critical_ms) return Health::kCritical;
  if (m.success_rate < t.success_warning || m.p99_ms > t.p99_warning_ms) return Health::kWarning;
  return Health::kHealthy;
}

QString formatLatency(double ms) {
  if (ms <= 0) return QStringLiteral("–");
  if (ms < 1) return QStringLiteral("%1 µs").arg(ms * 1000, 0, 'f', 0);
  if (ms < 10) return QStringLiteral("%1 ms").arg(ms, 0, 'f', 1);
  if (ms < 1000) return QStringLiteral("%1 ms").arg(ms, 0, 'f', 0);
  return QStringLiteral("%1 s").arg(ms / 1000, 0, 'f', 2);
}

QString formatRate(double rps) {
  if (rps < 10) return QStringLiteral("%1 rps").arg(rps, 0, 'f', 1);
  return QStringLiteral("%1 rps").arg(rps, 0, 'f', 0);
}

QString formatPercent(double share) {
  const double pct = share * 100;
  return QStringLiteral("%1 %").arg(pct, 0, 'f', pct >= 99.95 || pct < 10 ? 1 : 2);
}

QString protocolTag(const std::string& protocol) {
  if (protocol.find("grpc") != std::string::npos) return QStringLiteral("gRPC");
  if (protocol.find("http2") != std::string::npos) return QStringLiteral("h2");
  return {};
}

bool sameFigures(const cp::WindowMetrics& a, const cp::WindowMetrics& b) {
#define MESHDECK_SAME_COUNTER(name, ...) &&a.name == b.name
  return a.requests_per_second == b.requests_per_second && a.success_rate == b.success_rate &&
         a.p50_ms == b.p50_ms && a.p90_ms == b.p90_ms &&
         a.p99_ms == b.p99_ms MESHDECK_EDGE_COUNTERS(MESHDECK_SAME_COUNTER) &&
         a.responses_by_class == b.responses_by_class && a.grpc_statuses == b.grpc_statuses;
#undef MESHDECK_SAME_COUNTER
}

QString formatMetric(const cp::WindowMetrics& m, EdgeMetric metric) {
  if (m.requests == 0) return QStringLiteral("idle");
  switch (metric) {
    case EdgeMetric::kP99:
      return QStringLiteral("p99 ") + formatLatency(m.p99_ms);
    case EdgeMetric::kP50:
      return QStringLiteral("p50 ") + formatLatency(m.p50_ms);
    case EdgeMetric::kRequestRate:
      return formatRate(m.requests_per_second);
    case EdgeMetric::kSuccessRate:
      return formatPercent(m.success_rate) + QStringLiteral(" ok");
  }
  return {};
}

Health serviceHealth(const cp::ServiceNode& s, const HealthThresholds& t) {
  if (!s.health) return metricsHealth(s.inbound, t);
  switch (s.health->state) {
    case cp::HealthState::kIdle:
      return Health::kIdle;
    case cp::HealthState::kHealthy:
      return Health::kHealthy;
    case cp::HealthState::kDegraded:
      return Health::kWarning;
    case cp::HealthState::kFailing:
      return Health::kCritical;
  }
  return Health::kIdle;
}

QString displayName(Health h) {
  switch (h) {
    case Health::kIdle:
      return QStringLiteral("idle");
    case Health::kHealthy:
      return QStringLiteral("healthy");
    case Health::kWarning:
      return QStringLiteral("degraded");
    case Health::kCritical:
      return QStringLiteral("failing");
  }
  return {};
}

QString displayName(cp::EdgeTransport transport) {
  switch (transport) {
    case cp::EdgeTransport::kNone:
      return QStringLiteral("no traffic");
    case cp::EdgeTransport::kMtls:
      return QStringLiteral("mTLS");
    case cp::EdgeTransport::kPlaintext:
      return QStringLiteral("plaintext");
    case cp::EdgeTransport::kMixed:
      return QStringLiteral("mixed");
  }
  return {};
}

GraphStyle GraphStyle::fromPalette(const QPalette& palette) {
  GraphStyle s;
  const QColor window = palette.color(QPalette::Window);
  s.dark = window.lightness() < 128;
  s.background = s.dark ? window.darker(125) : palette.color(QPalette::Base);
  s.grid = s.dark ? QColor(255, 255, 255, 14) : QColor(0, 0, 0, 12);
  s.node_fill = s.dark ? QColor(0x2b, 0x30, 0x3b) : QColor(0xff, 0xff, 0xff);
  s.node_border = s.dark ? QColor(0x5a, 0x63, 0x74) : QColor(0xb8, 0xc0, 0xcc);
  s.text = palette.color(QPalette::Text);
  s.muted_text = s.dark ? QColor(0xa0, 0xa8, 0xb8) : QColor(0x5f, 0x67, 0x73);
  s.selection = palette.color(QPalette::Highlight);
  s.highlight = QColor(0xf5, 0xb7, 0x00);
  s.focus = s.dark ? QColor(0xb3, 0x8c, 0xff) : QColor(0x7c, 0x4d, 0xff);
  s.healthy = s.dark ? QColor(0x4c, 0xc3, 0x8a) : QColor(0x1f, 0x9d, 0x55);
  s.warning = s.dark ? QColor(0xf2, 0xb1, 0x34) : QColor(0xd9, 0x8e, 0x04);
  s.critical = s.dark ? QColor(0xff, 0x6b, 0x6b) : QColor(0xd6, 0x33, 0x33);
  s.idle = s.dark ? QColor(0x70, 0x78, 0x88) : QColor(0xa8, 0xb0, 0xbc);
  return s;
}

QColor GraphStyle::healthColor(Health h) const {
  switch (h) {
    case Health::kIdle:
      return idle;
    case Health::kHealthy:
      return healthy;
    case Health::kWarning:
      return warning;
    case Health::kCritical:
      return critical;
  }
  return idle;
}

QColor GraphStyle::tierColor(const QString& tier) const {
  if (tier == QLatin1String("edge")) return QColor(0x3d, 0x8b, 0xfd);
  if (tier == QLatin1String("data")) return QColor(0x9b, 0x6b, 0xdf);
  if (tier.isEmpty()) return node_border;
  // Other tiers get a stable colour from their name.
  return QColor::fromHsv(static_cast<int>(qHash(tier) % 360), 140, 200);
}

}  // namespace meshdeck::ui
