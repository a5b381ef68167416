#include "ui/inspector.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QEvent>
#include <QHeaderView>
#include <QLabel>
#include <QLineSeries>
#include <QScrollArea>
#include <QScrollBar>
#include <QStackedWidget>
#include <QTableWidget>
#include <QTextDocumentFragment>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <cassert>
#include <chrono>
#include <vector>

#include "common/latency_histogram.h"
#include "common/telemetry/grpc_status.h"
#include "controlplane/api/edge_transport.h"
#include "ui/column_fitter.h"
#include "ui/control_plane_client.h"
#include "ui/graph_style.h"
#include "ui/table_models.h"

namespace meshdeck::ui {
namespace {

QChartView* makeChartView(QChart* chart, QWidget* parent, int height) {
  chart->setMargins(QMargins(4, 4, 4, 4));
  chart->legend()->setAlignment(Qt::AlignBottom);
  auto* view = new QChartView(chart, parent);
  view->setRenderHint(QPainter::Antialiasing);
  view->setMinimumHeight(height);
  return view;
}

QString displayName(cp::SyncState s) {
  switch (s) {
    case cp::SyncState::kNeverSent:
      return QStringLiteral("never sent");
    case cp::SyncState::kSynced:
      return QStringLiteral("synced");
    case cp::SyncState::kStale:
      return QStringLiteral("stale");
    case cp::SyncState::kRejected:
      return QStringLiteral("rejected");
    case cp::SyncState::kDisconnected:
      return QStringLiteral("disconnected");
  }
  return {};
}

QString statsHtml(const cp::WindowMetrics& m, uint32_t window) {
  if (m.requests == 0) return QObject::tr("No requests in the last %1 s.").arg(window);
  return QObject::tr(
             "<table cellspacing=4>"
             "<tr><td>Requests</td><td><b>%1</b></td><td>Success</td><td><b>%2</b></td></tr>"
             "<tr><td>p50</td><td><b>%3</b></td><td>p90</td><td><b>%4</b></td></tr>"
             "<tr><td>p99</td><td><b>%5</b></td><td>in window</td><td>%6 req / %7 s</td></tr>"
             "<tr><td>Retries</td><td>%8</td><td>Timeouts</td><td>%9</td></tr>"
             "<tr><td>Breaker rejections</td><td>%10</td><td>Rate limited</td><td>%11</td></tr>"
             "<tr><td>Faults injected</td><td>%12</td><td>Denied</td><td>%13</td></tr>"
             "<tr><td>mTLS</td><td>%14</td><td>Plaintext</td><td>%15</td></tr></table>")
      .arg(formatRate(m.requests_per_second), formatPercent(m.success_rate),
           formatLatency(m.p50_ms), formatLatency(m.p90_ms), formatLatency(m.p99_ms))
      .arg(m.requests)
      .arg(window)
      .arg(m.retries)
      .arg(m.timeouts)
      .arg(m.circuit_breaker_rejections)
      .arg(m.rate_limited)
      .arg(m.faults_injected)
      .arg(m.denied)
      .arg(m.mtls_requests)
      .arg(m.plaintext_requests);
}

QTableWidgetItem* setItem(QTableWidget* table, int row, int column, const QString& text) {
  auto* item = new QTableWidgetItem(text);
  item->setFlags(item->flags() & ~Qt::ItemIsEditable);
  table->setItem(row, column, item);
  return item;
}

// How the requests of a window travelled and how many the callee's authorization refused.
QString securityHtml(const cp::WindowMetrics& m) {
  const cp::EdgeTransport how = cp::edgeTransport(m.mtls_requests, m.plaintext_requests);
  QString transport;
  if (how == cp::EdgeTransport::kNone) {
    transport = QObject::tr("Transport: no requests counted");
  } else {
    const uint64_t transported = m.mtls_requests + m.plaintext_requests;
    assert(transported > 0);  // some request went one way or the other
    const double mtls = double(m.mtls_requests) / double(transported);
    QString kind;
    switch (how) {
      case cp::EdgeTransport::kMtls:
        kind = QObject::tr("<b style='color:#1f9d55'>all mutual TLS</b>");
        break;
      case cp::EdgeTransport::kPlaintext:
        kind = QObject::tr("<b>plain text</b>");
        break;
      case cp::EdgeTransport::kMixed:
        kind = QObject::tr("<b style='color:#d98e04'>mixed</b>");
        break;
      case cp::EdgeTransport::kNone:
        break;
    }
    transport = QObject::tr("Transport: mTLS %1 (%2) · plaintext %3 (%4) · %5")
                    .arg(m.mtls_requests)
                    .arg(formatPercent(mtls))
                    .arg(m.plaintext_requests)
                    .arg(formatPercent(1 - mtls), kind);
  }
  QString denied = QObject::tr("Denied: %1").arg(m.denied);
  if (m.requests > 0 && m.denied > 0) {
    denied = QObject::tr("<b style='color:#d63333'>Denied: %1 (%2 of requests)</b>")
                 .arg(m.denied)
                 .arg(formatPercent(double(m.denied) / double(m.requests)));
  }
  return transport + QStringLiteral("<br>") + denied;
}

// The edge's protocols and, for gRPC calls, their statuses in the window, most frequent first,
// server errors (common::grpcStatusIsServerError) in red. "" for an edge without either.
QString grpcHtml(const cp::ServiceEdge& edge) {
  const auto& counts = edge.metrics.grpc_statuses;
  uint64_t calls = 0;
  for (uint64_t n : counts) calls += n;
  if (edge.protocol.empty() && calls == 0) return {};
  QString html = QObject::tr("Protocol: <b>%1</b>").arg(QString::fromStdString(edge.protocol));
  if (calls == 0) return html;
  std::vector<uint32_t> codes;
  for (uint32_t i = 0; i < counts.size(); ++i)
    if (counts[i]) codes.push_back(i);
  std::stable_sort(codes.begin(), codes.end(),
                   [&](uint32_t a, uint32_t b) { return counts[a] > counts[b]; });
  html += QObject::tr("<br>gRPC statuses (window):<table cellspacing=4>");
  for (const uint32_t code : codes) {
    const QString name = QString::fromLatin1(common::grpcStatusName(code).data(),
                                             qsizetype(common::grpcStatusName(code).size()));
    const QString cell = common::grpcStatusIsServerError(code)
                             ? QStringLiteral("<b style='color:#d63333'>%1</b>").arg(name)
                             : name;
    html += QStringLiteral("<tr><td>%1</td><td>%2</td><td>%3</td></tr>")
                .arg(cell)
                .arg(counts[code])
                .arg(formatPercent(double(counts[code]) / double(calls)));
  }
  return html + QStringLiteral("</table>");
}

QTableWidget* makeTable(const QStringList& headers, QWidget* parent) {
  auto* table = new QTableWidget(0, static_cast<int>(headers.size()), parent);
  table->setHorizontalHeaderLabels(headers);
  table->verticalHeader()->hide();
  table->setSelectionMode(QAbstractItemView::NoSelection);
  table->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  table->setSizeAdjustPolicy(QAbstractScrollArea::AdjustToContents);
  // Columns sized to content, the last ones hidden (header menu) when the dock is narrow, the
  // first one eliding before that: never a scroll bar over the last row.
  QList<int> columns;
  for (int c = 0; c < headers.size(); ++c) columns << c;
  auto* fitter = new ColumnFitter(table, columns);
  fitter->setElastic(0, 90);
  return table;
}

}  // namespace

Inspector::Inspector(ControlPlaneClient* client, QWidget* parent)
    : QWidget(parent), client_(client), stack_(new QStackedWidget(this)) {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(stack_);

  auto* empty =
      new QLabel(tr("Select a service or an edge in the graph to see its details."), this);
  empty->setWordWrap(true);
  empty->setAlignment(Qt::AlignCenter);
  empty->setMargin(16);
  stack_->addWidget(empty);

  // Edge page.
  auto* edge_scroll = new QScrollArea(this);
  edge_scroll->setWidgetResizable(true);
  auto* edge_page = new QWidget(edge_scroll);
  auto* el = new QVBoxLayout(edge_page);
  edge_title_ = new QLabel(edge_page);
  edge_title_->setTextFormat(Qt::RichText);
  edge_stats_ = new QLabel(edge_page);
  edge_stats_->setTextFormat(Qt::RichText);
  edge_policies_ = new QLabel(edge_page);
  edge_policies_->setWordWrap(true);
  edge_security_ = new QLabel(edge_page);
  edge_security_->setObjectName(QStringLiteral("edgeSecurity"));
  edge_security_->setTextFormat(Qt::RichText);
  edge_security_->setWordWrap(true);
  el->addWidget(edge_title_);
  el->addWidget(edge_stats_);
  el->addWidget(edge_security_);
  edge_grpc_ = new QLabel(edge_page);
  edge_grpc_->setObjectName(QStringLiteral("edgeGrpc"));
  edge_grpc_->setTextFormat(Qt::RichText);
  edge_grpc_->setWordWrap(true);
  el->addWidget(edge_grpc_);
  el->addWidget(edge_policies_);

  latency_chart_ = new QChart;
  latency_chart_->setTitle(tr("Latency (ms), last 5 minutes"));
  p50_ = new QLineSeries;
  p50_->setName(QStringLiteral("p50"));
  p90_ = new QLineSeries;
  p90_->setName(QStringLiteral("p90"));
  p99_ = new QLineSeries;
  p99_->setName(QStringLiteral("p99"));
  for (auto* s : {p50_, p90_, p99_}) latency_chart_->addSeries(s);
  rate_chart_ = new QChart;
  rate_chart_->setTitle(tr("Requests/s and success rate"));
  rps_ = new QLineSeries;
  rps_->setName(tr("requests/s"));
  success_ = new QLineSeries;
  success_->setName(tr("success %"));
  rate_chart_->addSeries(rps_);
  rate_chart_->addSeries(success_);
  for (QChart* c : {latency_chart_, rate_chart_}) {
    auto* x = new QDateTimeAxis;
    x->setFormat(QStringLiteral("mm:ss"));
    x->setTickCount(6);
    c->addAxis(x, Qt::AlignBottom);
    auto* y = new QValueAxis;
    y->setLabelFormat(QStringLiteral("%.0f"));
    c->addAxis(y, Qt::AlignLeft);
  }
  for (auto* s : {p50_, p90_, p99_, rps_}) {
    QChart* c = s->chart();
    s->attachAxis(c->axes(Qt::Horizontal).first());
    s->attachAxis(c->axes(Qt::Vertical).first());
  }
  auto* success_axis = new QValueAxis;
  success_axis->setRange(0, 100);
  success_axis->setLabelFormat(QStringLiteral("%.0f%%"));
  rate_chart_->addAxis(success_axis, Qt::AlignRight);
  success_->attachAxis(rate_chart_->axes(Qt::Horizontal).first());
  success_->attachAxis(success_axis);

  classes_chart_ = new QChart;
  classes_chart_->setTitle(tr("Responses by class (window)"));
  classes_chart_->legend()->hide();
  edge_histogram_chart_ = new QChart;
  edge_histogram_chart_->setTitle(tr("Latency histogram (window)"));
  edge_histogram_chart_->legend()->hide();
  history_empty_ = new QLabel(edge_page);
  history_empty_->setObjectName(QStringLiteral("historyEmpty"));
  history_empty_->setWordWrap(true);
  history_empty_->setAlignment(Qt::AlignCenter);
  history_empty_->setMargin(16);
  history_empty_->hide();
  el->addWidget(history_empty_);
  latency_view_ = makeChartView(latency_chart_, edge_page, 200);
  rate_view_ = makeChartView(rate_chart_, edge_page, 210);
  el->addWidget(latency_view_);
  el->addWidget(rate_view_);
  el->addWidget(makeChartView(classes_chart_, edge_page, 160));
  el->addWidget(makeChartView(edge_histogram_chart_, edge_page, 230));
  el->addStretch();
  edge_scroll->setWidget(edge_page);
  stack_->addWidget(edge_scroll);

  // Node page.
  auto* node_scroll = new QScrollArea(this);
  node_scroll->setWidgetResizable(true);
  auto* node_page = new QWidget(node_scroll);
  auto* nl = new QVBoxLayout(node_page);
  node_title_ = new QLabel(node_page);
  node_stats_ = new QLabel(node_page);
  node_stats_->setTextFormat(Qt::RichText);
  node_title_->setTextFormat(Qt::RichText);
  node_title_->setWordWrap(true);
  node_edges_ =
      makeTable({tr("Direction"), tr("Peer"), tr("Req/s"), tr("Success"), tr("p99")}, node_page);
  // The SPIFFE id is the same for every proxy of a service: one line above the table, and in
  // each proxy's tooltip; the table keeps the certificate's expiry, which differs.
  node_proxies_ = makeTable(
      {tr("Proxy"), tr("Version"), tr("State"), tr("Sent/acked"), tr("Cert expires"), tr("NACK")},
      node_page);
  node_identity_ = new QLabel(node_page);
  node_identity_->setObjectName(QStringLiteral("nodeIdentity"));
  node_identity_->setWordWrap(true);
  node_identity_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  node_authz_title_ =
      new QLabel(tr("<b>Authorization</b> (decisions of its inbound proxies)"), node_page);
  node_authz_ = makeTable({tr("Policy"), tr("Rule"), tr("Action"), tr("Allowed"), tr("Denied"),
                           tr("Dry run would deny")},
                          node_page);
  node_authz_->setObjectName(QStringLiteral("nodeAuthorization"));
  node_histogram_chart_ = new QChart;
  node_histogram_chart_->setTitle(tr("Server-side latency histogram (window)"));
  node_histogram_chart_->legend()->hide();
  node_health_ = new QLabel(node_page);
  node_health_->setObjectName(QStringLiteral("nodeHealth"));
  node_health_->setWordWrap(true);
  node_health_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  nl->addWidget(node_title_);
  nl->addWidget(node_health_);
  nl->addWidget(new QLabel(tr("<b>Server side</b> (measured by its inbound proxies)"), node_page));
  nl->addWidget(node_stats_);
  nl->addWidget(new QLabel(tr("<b>Edges</b>"), node_page));
  nl->addWidget(node_edges_);
  nl->addWidget(new QLabel(tr("<b>Instances and their proxies</b>"), node_page));
  nl->addWidget(node_identity_);
  nl->addWidget(node_proxies_);
  nl->addWidget(node_authz_title_);
  nl->addWidget(node_authz_);
  nl->addWidget(makeChartView(node_histogram_chart_, node_page, 230));
  nl->addStretch();
  node_scroll->setWidget(node_page);
  stack_->addWidget(node_scroll);

  charts_ = {latency_chart_, rate_chart_, classes_chart_, edge_histogram_chart_,
             node_histogram_chart_};
  applyChartTheme();
}

void Inspector::applyChartTheme() {
  const bool dark = palette().color(QPalette::Window).lightness() < 128;
  for (QChart* c : charts_) {
    c->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
    c->setBackgroundRoundness(4);
  }
}

void Inspector::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange) applyChartTheme();
  QWidget::changeEvent(event);
}

void Inspector::setSelection(const GraphSelection& selection) {
  selection_ = selection;
  last_history_fetch_ms_ = 0;
  for (auto* s : {p50_, p90_, p99_, rps_, success_}) s->clear();
  refresh();
}

void Inspector::showSnapshot(std::shared_ptr<const cp::GraphSnapshot> snapshot) {
  snapshot_ = std::move(snapshot);
  refresh();
}

void Inspector::refresh() {
  if (!snapshot_ || selection_.kind == GraphSelection::Kind::kNone) {
    stack_->setCurrentIndex(0);
    return;
  }
  if (selection_.kind == GraphSelection::Kind::kEdge) {
    for (const auto& e : snapshot_->edges) {
      if (QString::fromStdString(e.source) == selection_.source &&
          QString::fromStdString(e.destination) == selection_.destination) {
        showEdge(e);
        return;
      }
    }
  } else {
    for (const auto& n : snapshot_->services) {
      if (QString::fromStdString(n.name) == selection_.node) {
        showNode(n);
        return;
      }
    }
  }
  stack_->setCurrentIndex(0);
}

void Inspector::showEdge(const cp::ServiceEdge& edge) {
  stack_->setCurrentIndex(1);
  edge_title_->setText(
      QStringLiteral("<h3>%1 → %2</h3>")
          .arg(QString::fromStdString(edge.source), QString::fromStdString(edge.destination)));
  edge_stats_->setText(statsHtml(edge.metrics, snapshot_->window_seconds));
  // Rich-text labels report a small minimum size; keep the whole table when the page is tall.
  edge_stats_->setMinimumHeight(edge_stats_->sizeHint().height());
  edge_security_->setText(securityHtml(edge.metrics));
  const QString grpc = grpcHtml(edge);
  edge_grpc_->setText(grpc);
  edge_grpc_->setVisible(!grpc.isEmpty());
  QStringList policies;
  for (const auto& p : edge.policies) policies << QString::fromStdString(p);
  edge_policies_->setText(policies.isEmpty()
                              ? tr("No policy applies to this edge.")
                              : tr("<b>Policies:</b> %1").arg(policies.join(QStringLiteral(", "))));

  classes_chart_->removeAllSeries();
  for (auto* axis : classes_chart_->axes()) classes_chart_->removeAxis(axis), delete axis;
  uint64_t responses = 0;
  for (uint64_t c : edge.metrics.responses_by_class) responses += c;
  classes_chart_->setTitle(responses == 0 ? tr("Responses by class: none in the window")
                                          : tr("Responses by class (window)"));
  if (responses > 0) {  // no axes of nothing
    auto* set = new QBarSet(tr("responses"));
    for (uint64_t c : edge.metrics.responses_by_class) *set << double(c);
    auto* series = new QBarSeries;
    series->append(set);
    classes_chart_->addSeries(series);
    auto* categories = new QBarCategoryAxis;
    categories->append({QStringLiteral("1xx"), QStringLiteral("2xx"), QStringLiteral("3xx"),
                        QStringLiteral("4xx"), QStringLiteral("5xx")});
    classes_chart_->addAxis(categories, Qt::AlignBottom);
    series->attachAxis(categories);
    auto* counts = new QValueAxis;
    counts->setLabelFormat(QStringLiteral("%.0f"));
    classes_chart_->addAxis(counts, Qt::AlignLeft);
    series->attachAxis(counts);
  }

  fillHistogram(edge_histogram_chart_, edge.metrics);
  fetchHistory();
}

void Inspector::fillHistogram(QChart* chart, const cp::WindowMetrics& metrics) {
  chart->removeAllSeries();
  for (auto* axis : chart->axes()) chart->removeAxis(axis), delete axis;
  if (!metrics.latency || metrics.latency->count() == 0) {
    chart->setTitle(tr("Latency histogram: no samples in the window"));
    return;
  }
  chart->setTitle(tr("Latency histogram (window, %1 samples)").arg(metrics.latency->count()));
  using common::LatencyHistogram;
  // Half-octave bins: fine enough to see a second mode, coarse enough to read.
  constexpr int kBinSize = LatencyHistogram::kSubBuckets / 2;
  const auto& h = *metrics.latency;
  int first = -1, last = -1;
  std::vector<double> bins(LatencyHistogram::kBucketCount / kBinSize, 0.0);
  for (int i = 0; i < LatencyHistogram::kBucketCount; ++i) {
    if (const uint64_t c = h.bucketCount(i)) {
      bins[static_cast<size_t>(i / kBinSize)] += double(c);
      if (first < 0) first = i / kBinSize;
      last = i / kBinSize;
    }
  }
  auto* set = new QBarSet(tr("requests"));
  QStringList labels;
  for (int b = first; b <= last; ++b) {
    *set << bins[static_cast<size_t>(b)];
    labels << formatLatency(double(LatencyHistogram::bucketLower(b * kBinSize)) / 1e6);
  }
  auto* series = new QBarSeries;
  series->setBarWidth(0.95);
  series->append(set);
  chart->addSeries(series);
  auto* x = new QBarCategoryAxis;
  x->append(labels);
  x->setLabelsAngle(-90);
  QFont small = x->labelsFont();
  small.setPointSizeF(7);
  x->setLabelsFont(small);
  chart->addAxis(x, Qt::AlignBottom);
  series->attachAxis(x);
  auto* y = new QValueAxis;
  y->setLabelFormat(QStringLiteral("%.0f"));
  chart->addAxis(y, Qt::AlignLeft);
  series->attachAxis(y);
}

void Inspector::fetchHistory() {
  const qint64 now = QDateTime::currentMSecsSinceEpoch();
  if (history_in_flight_ || now - last_history_fetch_ms_ < 2000) return;
  history_in_flight_ = true;
  last_history_fetch_ms_ = now;
  const std::string source = selection_.source.toStdString();
  const std::string destination = selection_.destination.toStdString();
  const GraphSelection asked = selection_;
  client_->run<std::vector<cp::EdgeSample>>(
      [source, destination](cp::ControlPlane& cp) {
        return cp.edgeHistory(source, destination, kHistorySeconds);
      },
      this,
      [this, asked](std::vector<cp::EdgeSample> samples) {
        history_in_flight_ = false;
        if (asked.kind == selection_.kind && asked.source == selection_.source &&
            asked.destination == selection_.destination) {
          applyHistory(samples);
        }
      });
}

void Inspector::applyHistory(const std::vector<cp::EdgeSample>& samples) {
  QList<QPointF> p50, p90, p99, rps, success;
  double max_latency = 1, max_rps = 1;
  for (const auto& s : samples) {
    const double t = double(
        std::chrono::duration_cast<std::chrono::milliseconds>(s.time.time_since_epoch()).count());
    p50.append({t, s.p50_ms});
    p90.append({t, s.p90_ms});
    p99.append({t, s.p99_ms});
    rps.append({t, s.requests_per_second});
    success.append({t, s.success_rate * 100});
    max_latency = std::max(max_latency, s.p99_ms);
    max_rps = std::max(max_rps, s.requests_per_second);
  }
  p50_->replace(p50);
  p90_->replace(p90);
  p99_->replace(p99);
  rps_->replace(rps);
  success_->replace(success);
  // Without samples the axes would show their defaults (0..1, one time six times): say why
  // instead.
  history_empty_->setVisible(samples.empty());
  latency_view_->setVisible(!samples.empty());
  rate_view_->setVisible(!samples.empty());
  if (samples.empty()) {
    history_empty_->setText(
        client_->readOnly()
            ? tr("No history of this edge in this snapshot: it was saved without the edges' "
                 "history (older exports have none), so only the window's figures are shown.")
            : tr("No history of this edge yet: the charts start with its first report."));
    return;
  }
  const QDateTime from = QDateTime::fromMSecsSinceEpoch(qint64(p50.first().x()));
  const QDateTime to = QDateTime::fromMSecsSinceEpoch(qint64(p50.last().x()));
  for (QChart* c : {latency_chart_, rate_chart_}) {
    static_cast<QDateTimeAxis*>(c->axes(Qt::Horizontal).first())->setRange(from, to);
  }
  static_cast<QValueAxis*>(latency_chart_->axes(Qt::Vertical).first())
      ->setRange(0, max_latency * 1.15);
  static_cast<QValueAxis*>(rate_chart_->axes(Qt::Vertical, rps_).first())
      ->setRange(0, max_rps * 1.15);
}

void Inspector::showNode(const cp::ServiceNode& node) {
  stack_->setCurrentIndex(2);
  QStringList versions;
  for (const auto& v : node.versions) versions << QString::fromStdString(v);
  const QString name = QString::fromStdString(node.name);
  if (groups_.contains(name)) {
    // A collapsed group: its members, then the figures of all of them together (rates summed,
    // latency from the merged histograms).
    const QStringList members = groups_.value(name);
    constexpr int kListed = 40;
    QString list = members.mid(0, kListed).join(QStringLiteral(", "));
    if (members.size() > kListed) list += tr(" and %1 more").arg(members.size() - kListed);
    node_title_->setText(
        tr("<h3>%1</h3>Group of %2 services · %3 instance(s)<br><b>Members:</b> %4<br>"
           "<i>Figures below: all members together (latency from the merged histograms).</i>")
            .arg(name.toHtmlEscaped())
            .arg(members.size())
            .arg(node.instances)
            .arg(list.toHtmlEscaped()));
  } else {
    node_title_->setText(
        QStringLiteral("<h3>%1</h3>%2 · tier %3 · versions %4 · %5 instance(s)")
            .arg(QString::fromStdString(node.name), QString::fromStdString(node.ns),
                 node.tier.empty() ? tr("none") : QString::fromStdString(node.tier),
                 versions.join(QStringLiteral(", ")))
            .arg(node.instances));
  }
  // The control plane's health (docs/health-and-metrics.md); none in old snapshot files.
  node_health_->setVisible(node.health.has_value() && !groups_.contains(name));
  if (node.health) {
    QString text = tr("<b>Health:</b> %1").arg(QString::fromUtf8(cp::toString(node.health->state)));
    QStringList reasons;
    for (const auto& r : node.health->reasons) reasons << QString::fromStdString(r).toHtmlEscaped();
    if (!reasons.isEmpty()) text += QStringLiteral(" — ") + reasons.join(QStringLiteral("; "));
    node_health_->setText(text);
  }
  node_stats_->setText(statsHtml(node.inbound, snapshot_->window_seconds));
  node_stats_->setMinimumHeight(node_stats_->sizeHint().height());
  node_edges_->setRowCount(0);
  for (const auto& e : snapshot_->edges) {
    const bool out = e.source == node.name, in = e.destination == node.name;
    if (!out && !in) continue;
    const int row = node_edges_->rowCount();
    node_edges_->insertRow(row);
    setItem(node_edges_, row, 0, out ? tr("calls →") : tr("← called by"));
    setItem(node_edges_, row, 1, QString::fromStdString(out ? e.destination : e.source));
    setItem(node_edges_, row, 2, formatRate(e.metrics.requests_per_second));
    setItem(node_edges_, row, 3, formatPercent(e.metrics.success_rate));
    setItem(node_edges_, row, 4, formatLatency(e.metrics.p99_ms));
  }
  node_proxies_->setRowCount(0);
  const auto now = std::chrono::system_clock::now();
  QStringList identities;
  int with_certificate = 0;
  for (const auto& p : snapshot_->proxies) {
    if (p.service != node.name) continue;
    const int row = node_proxies_->rowCount();
    node_proxies_->insertRow(row);
    auto* proxy = setItem(node_proxies_, row, 0, QString::fromStdString(p.proxy_id));
    setItem(node_proxies_, row, 1, QString::fromStdString(p.version));
    setItem(node_proxies_, row, 2, displayName(p.state));
    // Config versions are hashes: 8 characters tell them apart; the tooltip has them whole.
    const QString sent = QString::fromStdString(p.version_sent),
                  acked = QString::fromStdString(p.version_acked);
    auto* versions = setItem(
        node_proxies_, row, 3,
        sent == acked ? sent.left(8) : QStringLiteral("%1 / %2").arg(sent.left(8), acked.left(8)));
    versions->setToolTip(
        tr("sent %1\nacked %2").arg(sent, acked.isEmpty() ? tr("nothing") : acked));
    setItem(node_proxies_, row, 5, QString::fromStdString(p.nack_reason));
    const auto cert = certificates_.find(p.proxy_id);
    if (cert == certificates_.end()) {
      setItem(node_proxies_, row, 4, tr("none"));
      continue;
    }
    ++with_certificate;
    const cp::CertificateInfo& c = cert->second;
    const QString spiffe = QString::fromStdString(c.spiffe_id);
    if (!identities.contains(spiffe)) identities << spiffe;
    const QString details =
        tr("%1\nissued by %2\nserial %3")
            .arg(spiffe, QString::fromStdString(c.issuer), QString::fromStdString(c.serial));
    proxy->setToolTip(details);
    auto* expiry = setItem(node_proxies_, row, 4, formatRemaining(c.not_after, now));
    expiry->setToolTip(details);
    switch (certificateState(c, now)) {
      case CertificateState::kExpired:
        expiry->setBackground(QColor(0xd6, 0x33, 0x33, 80));
        break;
      case CertificateState::kExpiring:
        expiry->setBackground(QColor(0xd9, 0x8e, 0x04, 70));
        break;
      case CertificateState::kValid:
        break;
    }
  }
  node_identity_->setText(identities.isEmpty()
                              ? (client_->readOnly()
                                     ? tr("Identity: certificates are not part of this snapshot")
                                     : tr("Identity: no certificate issued to its proxies"))
                              : tr("Identity: %1 (%2 of %3 proxies hold a certificate)")
                                    .arg(identities.join(QStringLiteral(", ")))
                                    .arg(with_certificate)
                                    .arg(node_proxies_->rowCount()));
  node_authz_->setRowCount(0);
  for (const auto& a : node.authorization) {
    const int row = node_authz_->rowCount();
    node_authz_->insertRow(row);
    setItem(node_authz_, row, 0,
            a.policy.empty() ? tr("(no rule matched)") : QString::fromStdString(a.policy));
    setItem(node_authz_, row, 1, QString::fromStdString(a.rule));
    setItem(node_authz_, row, 2,
            a.dry_run ? tr("%1 (dry run)").arg(QString::fromStdString(a.action))
                      : QString::fromStdString(a.action));
    setItem(node_authz_, row, 3, QString::number(a.allowed));
    auto* denied = setItem(node_authz_, row, 4, QString::number(a.denied));
    if (a.denied) denied->setBackground(QColor(0xd6, 0x33, 0x33, 60));
    auto* dry = setItem(node_authz_, row, 5, QString::number(a.dry_run_denied));
    if (a.dry_run_denied) dry->setBackground(QColor(0xd9, 0x8e, 0x04, 60));
  }
  node_authz_title_->setVisible(!node.authorization.empty());
  node_authz_->setVisible(!node.authorization.empty());
  for (QTableWidget* t : {node_edges_, node_proxies_, node_authz_}) {
    // Show every row without an inner scroll bar: the page itself scrolls.
    int height = t->horizontalHeader()->height() + 2 * t->frameWidth();
    for (int r = 0; r < t->rowCount(); ++r) height += t->rowHeight(r);
    t->setFixedHeight(height);
  }
  fillHistogram(node_histogram_chart_, node.inbound);
  fetchCertificates();
}

void Inspector::fetchCertificates() {
  const qint64 now = QDateTime::currentMSecsSinceEpoch();
  if (certificates_in_flight_ || now - last_certificates_fetch_ms_ < 5000) return;
  certificates_in_flight_ = true;
  last_certificates_fetch_ms_ = now;
  client_->run<std::vector<cp::CertificateInfo>>(
      [](cp::ControlPlane& cp) { return cp.certificates(); }, this,
      [this](std::vector<cp::CertificateInfo> certificates) {
        certificates_in_flight_ = false;
        std::map<std::string, cp::CertificateInfo> newest;
        for (auto& c : certificates) {
          auto it = newest.find(c.proxy_id);
          if (it == newest.end() || it->second.not_after < c.not_after)
            newest[c.proxy_id] = std::move(c);
        }
        const bool changed =
            newest.size() != certificates_.size() ||
            !std::equal(newest.begin(), newest.end(), certificates_.begin(),
                        [](const auto& a, const auto& b) {
                          return a.first == b.first && a.second.serial == b.second.serial;
                        });
        certificates_ = std::move(newest);
        if (changed && selection_.kind == GraphSelection::Kind::kNode) refresh();
      });
}

QString Inspector::title() const {
  switch (stack_->currentIndex()) {
    case 1:
      return edge_title_->text();
    case 2:
      return node_title_->text();
    default:
      return {};
  }
}

int Inspector::historyPoints() const { return static_cast<int>(p99_->count()); }

QString Inspector::historyEmptyText() const {
  return history_empty_->isHidden() ? QString() : history_empty_->text();
}

int Inspector::histogramBars() const {
  QChart* chart = stack_->currentIndex() == 2 ? node_histogram_chart_ : edge_histogram_chart_;
  const auto series = chart->series();
  if (series.isEmpty()) return 0;
  auto* bars = static_cast<QBarSeries*>(series.first());
  return bars->barSets().isEmpty() ? 0 : static_cast<int>(bars->barSets().first()->count());
}

int Inspector::proxyRows() const { return node_proxies_->rowCount(); }

QString Inspector::identityText() const { return node_identity_->text(); }

QString Inspector::securityText() const {
  return QTextDocumentFragment::fromHtml(edge_security_->text()).toPlainText();
}

QString Inspector::grpcText() const {
  return QTextDocumentFragment::fromHtml(edge_grpc_->text()).toPlainText();
}

}  // namespace meshdeck::ui
