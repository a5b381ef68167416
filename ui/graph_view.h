#pragma once

#include <QElapsedTimer>
#include <QGraphicsView>
#include <QHash>
#include <QSet>
#include <QThread>
#include <QTimer>
#include <memory>
#include <optional>

#include "controlplane/api/types.h"
#include "ui/graph_layout.h"
#include "ui/graph_style.h"

namespace meshdeck::ui {

class EdgeItem;
class NodeItem;
class TrafficLayer;
class Minimap;

// Runs computeLayout() on its own thread: Graphviz is not thread-safe, so every layout of the
// process goes through this one thread.
class LayoutWorker : public QObject {
  Q_OBJECT
 public slots:
  void layout(quint64 generation, const meshdeck::ui::LayoutInput& input);
 signals:
  void laidOut(quint64 generation, const meshdeck::ui::LayoutResult& result);
};

// What is selected in the graph.
struct GraphSelection {
  enum class Kind { kNone, kNode, kEdge };
  Kind kind = Kind::kNone;
  QString node;                 // kNode
  QString source, destination;  // kEdge
};

// The live service graph. Call showSnapshot() with each snapshot: metrics update in place, and
// only a topology change (a service or edge appearing or disappearing) starts a new layout on
// the layout thread. Services that stay keep their place; services the user dragged stay
// pinned. Zoom with the wheel, pan by dragging the background.
class GraphView : public QGraphicsView {
  Q_OBJECT

 public:
  explicit GraphView(QWidget* parent = nullptr);
  ~GraphView() override;

  void showSnapshot(std::shared_ptr<const cp::GraphSnapshot> snapshot);
  void setPolicies(const std::vector<cp::PolicyInfo>& policies);

  void setMetric(EdgeMetric metric);
  EdgeMetric metric() const { return metric_; }
  void setThresholds(const HealthThresholds& thresholds);
  const HealthThresholds& thresholds() const { return thresholds_; }

  // Filters.
  void setHideIdle(bool on);
  void setOnlyUnhealthy(bool on);
  void setTierFilter(const QString& tier);  // empty: every tier
  QStringList tiers() const;
  void setAnimateTraffic(bool on);

  // Selects the first service whose name contains `text` (case-insensitive), centres on it and
  // highlights every match. Returns the number of matches.
  int find(const QString& text);
  void selectNode(const QString& name);
  void selectEdge(const QString& source, const QString& destination);
  GraphSelection selection() const;
  // Briefly highlights the edges into the given services (after a policy apply).
  void highlightDestinations(const QStringList& services, int milliseconds);
  // Marks the edges the playing scenario step is about (EdgeItem::setFocused) until the next
  // call; an empty list clears the mark. Edges that appear later are marked when they do.
  void setFocusEdges(const QList<QPair<QString, QString>>& edges);
  // The marked edges that are in the scene now, sorted.
  QList<QPair<QString, QString>> focusedEdges() const;

  void fitGraph();
  void zoomBy(double factor);
  void resetZoom();

  // The graph as shown (visible items, no animation) for export.
  QRectF graphBounds() const;
  void renderGraph(QPainter* painter, const QRectF& target);

  NodeItem* nodeItem(const QString& name) const { return nodes_.value(name); }
  EdgeItem* edgeItem(const QString& source, const QString& destination) const;
  int nodeCount() const { return static_cast<int>(nodes_.size()); }
  int edgeCount() const { return static_cast<int>(edges_.size()); }
  bool layoutPending() const { return layout_in_flight_; }
  double lastLayoutMilliseconds() const { return last_layout_ms_; }
  quint64 layoutsDone() const { return layouts_done_; }

 signals:
  void selectionChanged(const meshdeck::ui::GraphSelection& selection);
  void layoutFinished(double milliseconds);
  void requestLayout(quint64 generation, const meshdeck::ui::LayoutInput& input);

 protected:
  void wheelEvent(QWheelEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  void changeEvent(QEvent* event) override;
  void drawBackground(QPainter* painter, const QRectF& rect) override;

 private:
  void onLaidOut(quint64 generation, const LayoutResult& result);
  void sendLayout();
  void applyFilters();
  void restyle();
  void updateSceneRect();
  void placeMinimap();
  // The overview only earns its corner when part of the graph is out of view.
  void updateMinimapVisibility();
  EdgeBadges badgesFor(const cp::ServiceEdge& edge) const;

  QGraphicsScene* scene_;
  QThread layout_thread_;
  LayoutWorker* worker_;
  Minimap* minimap_;
  TrafficLayer* traffic_;
  QTimer animation_;
  QElapsedTimer frame_clock_;

  std::shared_ptr<const cp::GraphSnapshot> snapshot_;
  QHash<QString, NodeItem*> nodes_;
  QHash<QString, EdgeItem*> edges_;           // key: LayoutResult::edgeKey
  QHash<QString, EdgeBadges> policy_badges_;  // "Kind/name" -> badges
  quint64 generation_ = 0;
  bool layout_in_flight_ = false;
  bool layout_wanted_ = false;
  bool first_layout_done_ = false;
  bool auto_fit_ = true;
  QSet<QString> laid_out_edges_;  // edge keys of the last applied layout
  QSet<QString> anchored_;        // services with at least one edge at the last layout  // refit on
                                  // resize until the user zooms or pans
  double last_layout_ms_ = 0;
  quint64 layouts_done_ = 0;

  EdgeMetric metric_ = EdgeMetric::kP99;
  HealthThresholds thresholds_;
  GraphStyle style_;
  bool hide_idle_ = false, only_unhealthy_ = false, animate_ = true;
  QString tier_;
  QSet<QString> find_matches_;
  QSet<QString> focus_;  // edge keys (LayoutResult::edgeKey)
};

}  // namespace meshdeck::ui

Q_DECLARE_METATYPE(meshdeck::ui::GraphSelection)
