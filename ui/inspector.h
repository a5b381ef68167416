#pragma once

#include <QHash>
#include <QWidget>
#include <map>
#include <memory>

#include "controlplane/api/types.h"
#include "ui/graph_view.h"

class QBarCategoryAxis;
class QBarSeries;
class QChart;
class QChartView;
class QDateTimeAxis;
class QLabel;
class QLineSeries;
class QStackedWidget;
class QTableWidget;
class QValueAxis;

namespace meshdeck::ui {

class ControlPlaneClient;

// The selection's details. An edge shows live charts over the last five minutes (p50/p90/p99
// latency, requests/s, success rate) from ControlPlane::edgeHistory, the responses by class and
// the latency histogram of the current window, the policies that apply and the resilience
// counters, with the transport (mutual TLS vs plain text requests) and the denied requests
// spelled out. A service shows its inbound and outbound edges, its proxies (sync state, config
// version, SPIFFE id and certificate expiry when the mesh CA issued one) and its own server-side
// latency.
class Inspector : public QWidget {
  Q_OBJECT

 public:
  static constexpr uint32_t kHistorySeconds = 300;

  Inspector(ControlPlaneClient* client, QWidget* parent = nullptr);

  void setSelection(const GraphSelection& selection);
  void showSnapshot(std::shared_ptr<const cp::GraphSnapshot> snapshot);
  // The groups of the graph (GroupedGraph::members): a selected group node shows its members
  // above its aggregate figures. Call before showSnapshot().
  void setGroups(const QHash<QString, QStringList>& members) { groups_ = members; }

  // For tests and the status of the panel.
  QString title() const;
  int historyPoints() const;
  // What the edge page says in place of its history charts when there is no history ("" while
  // the charts are shown).
  QString historyEmptyText() const;
  QChart* latencyChart() const { return latency_chart_; }
  QChart* rateChart() const { return rate_chart_; }
  int histogramBars() const;
  int proxyRows() const;
  // The edge's transport and denied line ("mTLS 950 (95.0 %) · plaintext 50 (5.0 %) · mixed").
  QString securityText() const;
  // The edge's protocol and gRPC status breakdown ("" when hidden: no protocol, no gRPC call).
  QString grpcText() const;
  // The service's SPIFFE id(s) and how many of its proxies hold a certificate.
  QString identityText() const;
  QTableWidget* proxiesTable() const { return node_proxies_; }
  // The service's authorization rules with their decisions over the window.
  QTableWidget* authorizationTable() const { return node_authz_; }

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void refresh();
  void showEdge(const cp::ServiceEdge& edge);
  void showNode(const cp::ServiceNode& node);
  void fetchHistory();
  void fetchCertificates();
  void applyHistory(const std::vector<cp::EdgeSample>& samples);
  void fillHistogram(QChart* chart, const cp::WindowMetrics& metrics);
  void applyChartTheme();

  ControlPlaneClient* client_;
  GraphSelection selection_;
  std::shared_ptr<const cp::GraphSnapshot> snapshot_;
  QHash<QString, QStringList> groups_;
  qint64 last_history_fetch_ms_ = 0;
  bool history_in_flight_ = false;
  // The newest certificate of each proxy, refreshed at most every few seconds while a service
  // is shown.
  std::map<std::string, cp::CertificateInfo> certificates_;
  qint64 last_certificates_fetch_ms_ = 0;
  bool certificates_in_flight_ = false;

  QStackedWidget* stack_;
  // Edge page.
  QLabel* edge_title_;
  QLabel* edge_stats_;
  QLabel* edge_security_;
  QLabel* edge_grpc_;  // protocol and gRPC status breakdown; hidden for an edge without gRPC
  QLabel* edge_policies_;
  QChart* latency_chart_;
  QLineSeries* p50_;
  QLineSeries* p90_;
  QLineSeries* p99_;
  QChart* rate_chart_;
  QLineSeries* rps_;
  QLineSeries* success_;
  QChart* classes_chart_;
  QChart* edge_histogram_chart_;
  // Shown instead of the two history charts while the edge has no history (no axes of nothing).
  QLabel* history_empty_;
  QWidget* latency_view_;
  QWidget* rate_view_;
  // Node page.
  QLabel* node_title_;
  QLabel* node_stats_;
  QLabel* node_health_;  // the control plane's health and its reasons (hidden without one)
  QTableWidget* node_edges_;
  QTableWidget* node_proxies_;
  QLabel* node_identity_;
  QLabel* node_authz_title_;
  QTableWidget* node_authz_;
  QChart* node_histogram_chart_;
  QList<QChart*> charts_;
};

}  // namespace meshdeck::ui
