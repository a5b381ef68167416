#pragma once

#include <QElapsedTimer>
#include <QGraphicsView>
#include <QHash>
#include <QPixmap>
#include <QSet>
#include <QThread>
#include <QTimer>
#include <QVariantAnimation>
#include <chrono>
#include <memory>
#include <optional>

#include "common/clock.h"
#include "controlplane/api/types.h"
#include "ui/graph_grouping.h"
#include "ui/graph_layout.h"
#include "ui/graph_style.h"

class QLabel;

namespace meshdeck::ui {

class EdgeItem;
class FarEdgeLayer;
class GroupFrameItem;
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
// the layout thread.
//
// Which layout is applied: while the topology is still growing (a change less than
// kStableAfter after the previous one, as when a demo comes up and its edges appear one by
// one) every layout is a full one: every service the user did not pin moves (animated) to
// where `dot` puts it. Once the topology has been stable, a change keeps the places of the
// services already shown and puts new ones next to their neighbours, unless most edges are new
// or a new service would land on another; then it is a full layout again. In every case no two
// services overlap afterwards (a service that would is moved below). Services the user dragged
// stay pinned. The view refits after each layout until the user zooms or pans (Fit restores
// that). Zoom with the wheel, pan by dragging the background.
class GraphView : public QGraphicsView {
  Q_OBJECT

 public:
  // How long the topology must stay unchanged before a change keeps places.
  static constexpr std::chrono::milliseconds kStableAfter{10000};

  explicit GraphView(QWidget* parent = nullptr);
  ~GraphView() override;

  // The clock that tells a growing topology from a stable one (tests: a simulated one). Not
  // owned; must outlive the view.
  void setTimeSource(const common::TimeSource* clock) { clock_ = clock; }
  // How long services take to glide to their new places (0: jump).
  void setAnimationDuration(int milliseconds) { animation_ms_ = milliseconds; }
  bool animating() const;
  // True until the user zooms or pans; fitGraph() sets it again.
  bool autoFit() const { return auto_fit_; }

  void showSnapshot(std::shared_ptr<const cp::GraphSnapshot> snapshot);
  // The snapshot as drawn: grouped (collapsed groups are services named by their node id, their
  // edges aggregated) and restricted to the focus, if any. The last one given when neither.
  std::shared_ptr<const cp::GraphSnapshot> shownSnapshot() const { return snapshot_; }

  // Grouping (docs/graph-scale.md, "Grouping"). Every group starts collapsed: one node with its
  // member count and the health of its worst member, whose edges aggregate its members'
  // traffic (GroupedGraph). Double-click or the context menu expands a group (its members in
  // a labelled frame, kept together by the layout) or collapses it again.
  static constexpr int kGroupAbove = 60;
  // The user's choice: from now on the size default no longer applies.
  void setGroupBy(GroupBy by);
  GroupBy groupBy() const { return group_by_; }
  // While on and the user has made no choice, the first snapshot with more than kGroupAbove
  // services groups the graph by tier (by namespace when no service has a tier). Off by
  // default; the main window turns it on.
  void setAutoGroup(bool on) { auto_group_ = on; }
  bool autoGroup() const { return auto_group_; }
  void setGroupExpanded(const QString& group, bool expanded);
  bool groupExpanded(const QString& group) const { return expanded_.contains(group); }
  // The node id of the group `service` belongs to; empty when not grouped.
  QString groupOf(const QString& service) const { return grouped_.group_of.value(service); }
  const GroupedGraph& grouped() const { return grouped_; }
  GroupFrameItem* groupFrame(const QString& group) const { return frames_.value(group); }
  int frameCount() const { return static_cast<int>(frames_.size()); }

  // Focus: only the services within `hops` calls of `node` (as drawn: a group node focuses on
  // the group) are shown, laid out on their own, until clearServiceFocus() (or Escape).
  void focusService(const QString& node, int hops = 1);
  void setFocusHops(int hops);
  void clearServiceFocus();
  QString serviceFocus() const { return focus_centre_; }
  int focusHops() const { return focus_hops_; }
  // The policies in force: their badges (PolicyInfo::badges, computed by the control plane) go
  // on the edges whose `policies` name them.
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
  // Why the canvas is empty when the filters leave no service ("No unhealthy services — all
  // 12 services are healthy"); empty while something is shown. Drawn over the viewport, never
  // exported.
  QString emptyMessage() const;

  // Selects the first service whose name contains `text` (case-insensitive), centres on it and
  // highlights every match. Returns the number of matches.
  int find(const QString& text);
  // The services the last find() highlights (0 when Find is empty).
  int findMatches() const { return static_cast<int>(find_matches_.size()); }
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
  // Highlights the edges a policy warning concerns (PolicyPanel::warningEdgesChanged) until the
  // next call; an empty list clears them. Edges that appear later are not marked.
  void setWarningEdges(const QList<QPair<QString, QString>>& edges);
  QList<QPair<QString, QString>> warningEdges() const { return warning_edges_; }

  void fitGraph();
  void zoomBy(double factor);
  // Moves the view by this many pixels, as dragging the background does.
  void panBy(int dx, int dy);
  void resetZoom();
  // While the user zooms or drag-pans a graph whose full repaint is slow (over kGestureFrameMs),
  // the view shows the frame it had when the gesture began, moved and scaled, and repaints in
  // full kGestureSettleMs after the last step (as map viewers and Cytoscape's
  // textureOnViewport do). True while it does.
  static constexpr double kGestureFrameMs = 20;
  static constexpr int kGestureSettleMs = 150;
  bool inGesture() const { return !gesture_frame_.isNull(); }
  // How long the last full repaint of the viewport took.
  double lastFullPaintMilliseconds() const { return last_full_paint_ms_; }
  // A dense view (docs/graph-scale.md, "Dense views"): zoomed in at or above
  // EdgeItem::kDetailLevel, so many edges cross the viewport that they lie on average closer
  // than kDenseSpacing pixels along its border (more than (width + height) / kDenseSpacing
  // edges). Their detail cannot be read there: the FarEdgeLayer draws their strokes and
  // arrowheads, the edges only their labels (and everything when a halo is on them), and no
  // traffic dots move. Decided at each paint of the viewport.
  static constexpr int kDenseSpacing = 8;
  bool denseView() const { return dense_level_ > 0; }
  // Off: every edge in view is drawn in full detail however many there are (benchmarks and
  // screenshots compare both). On by default.
  void setDenseViews(bool on);
  // How many visible edges cross the viewport, counted up to `limit`.
  int edgesInView(int limit) const;

  // The graph as shown (visible items, no animation, no selection or Find highlight) for
  // export.
  QRectF graphBounds() const;
  void renderGraph(QPainter* painter, const QRectF& target);

  NodeItem* nodeItem(const QString& name) const { return nodes_.value(name); }
  EdgeItem* edgeItem(const QString& source, const QString& destination) const;
  int nodeCount() const { return static_cast<int>(nodes_.size()); }
  int edgeCount() const { return static_cast<int>(edges_.size()); }
  bool layoutPending() const { return layout_in_flight_; }
  double lastLayoutMilliseconds() const { return last_layout_ms_; }
  quint64 layoutsDone() const { return layouts_done_; }
  // How many of them moved every unpinned service (the rest kept places).
  quint64 fullLayoutsDone() const { return full_layouts_done_; }

 signals:
  void selectionChanged(const meshdeck::ui::GraphSelection& selection);
  void layoutFinished(double milliseconds);
  void requestLayout(quint64 generation, const meshdeck::ui::LayoutInput& input);
  void groupByChanged(meshdeck::ui::GroupBy by);
  // Empty `centre`: the focus was cleared.
  void serviceFocusChanged(const QString& centre, int hops);
  // "Tap Service" (`destination` empty) or "Tap Edge" (`service` calling `destination`) was
  // chosen in the context menu.
  void tapRequested(const QString& service, const QString& destination);

 protected:
  void wheelEvent(QWheelEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void contextMenuEvent(QContextMenuEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void scrollContentsBy(int dx, int dy) override;
  void paintEvent(QPaintEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  void changeEvent(QEvent* event) override;
  void drawBackground(QPainter* painter, const QRectF& rect) override;

 private:
  // Groups and focuses the last snapshot given and shows the result.
  void display();
  void showDisplayed(std::shared_ptr<const cp::GraphSnapshot> snapshot);
  // When `next` has the services and edges of the snapshot drawn, in the same order: restyles
  // the items in place (no lookups, no topology check) and returns true.
  bool restyleInPlace(const cp::GraphSnapshot& next);
  // A group change or focus: the next layout moves everything, and the view fits again.
  void relayoutAll();
  // The worst health and the tiers of every group's members.
  void updateGroupHealth();
  void styleNode(NodeItem* node, const cp::ServiceNode& service);
  void updateFrames();
  void onLaidOut(quint64 generation, const LayoutResult& result);
  void applyLayout(const LayoutResult& result, bool full);
  void moveNodes(const QHash<QString, QPointF>& targets);
  void onMoveStep(double t);
  void fitRect(const QRectF& rect);
  void arrangeLabels();
  void sendLayout();
  void applyFilters();
  void restyle();
  // The scene covers the graph (and `extra`) with room around it to drag services.
  void updateSceneRect(const QRectF& extra = QRectF());
  void placeMinimap();
  // The overview only earns its corner when part of the graph is out of view.
  void updateMinimapVisibility();
  EdgeBadges badgesFor(const cp::ServiceEdge& edge) const;
  void updateEmptyMessage();
  // A zoom or pan step: keeps (or starts) the gesture frame.
  void gestureStep();
  // Formats the labels updates left out while the view was far out (EdgeItem::refreshLabel);
  // true when there were any.
  bool refreshLabels();

  QGraphicsScene* scene_;
  const common::TimeSource* clock_ = &common::RealTimeSource::instance();
  QThread layout_thread_;
  LayoutWorker* worker_;
  Minimap* minimap_;
  QLabel* empty_message_;
  TrafficLayer* traffic_;
  FarEdgeLayer* far_edges_;  // every edge far out, in a few draw calls
  QTimer animation_;
  QElapsedTimer frame_clock_;
  QPixmap gesture_frame_;    // the view when the gesture began
  QTransform gesture_from_;  // viewport -> scene when it was taken
  QTimer gesture_settle_;
  double last_full_paint_ms_ = 0;
  double dense_level_ = 0;  // the level of the dense view, 0: not dense
  bool dense_views_ = true;
  bool panning_ = false;  // the background is being dragged
  QPoint press_at_;       // where the background was pressed

  std::shared_ptr<const cp::GraphSnapshot> source_;    // as given to showSnapshot()
  std::shared_ptr<const cp::GraphSnapshot> snapshot_;  // as drawn
  GroupBy group_by_ = GroupBy::kNone;
  bool auto_group_ = false;
  bool group_chosen_ = false;  // by the user, or by the size default once
  QSet<QString> expanded_;
  GroupedGraph grouped_;
  QHash<QString, Health> group_worst_;         // group node id -> worst member's health
  QHash<QString, QSet<QString>> group_tiers_;  // group node id -> its members' tiers
  QHash<QString, GroupFrameItem*> frames_;     // expanded group node id -> its frame
  QString focus_centre_;
  int focus_hops_ = 1;
  QString select_after_layout_;  // the focused (or unfocused) service, once it is placed
  QHash<QString, NodeItem*> nodes_;
  QHash<QString, EdgeItem*> edges_;  // key: LayoutResult::edgeKey
  // The items of snapshot_->services and snapshot_->edges, index for index (nullptr for an
  // edge from a service to itself, which is not drawn).
  std::vector<NodeItem*> node_order_;
  std::vector<EdgeItem*> edge_order_;
  QHash<QString, cp::PolicyBadges> policy_badges_;  // "Kind/name" -> what the control plane said
  quint64 generation_ = 0;
  bool layout_in_flight_ = false;
  bool layout_wanted_ = false;
  bool first_layout_done_ = false;
  bool auto_fit_ = true;
  // A topology change came soon after the previous one (or before the first layout): the next
  // layout is a full one. `request_full_` is what the layout in flight was asked for.
  bool full_wanted_ = true;
  bool request_full_ = true;
  std::optional<std::chrono::steady_clock::time_point> last_topology_change_;
  // Services gliding to their new places: name -> (from, to).
  QHash<QString, QPair<QPointF, QPointF>> moves_;
  QVariantAnimation* move_animation_;
  int animation_ms_ = 450;
  quint64 full_layouts_done_ = 0;
  QSet<QString> laid_out_edges_;  // edge keys of the last applied layout
  QSet<QString> anchored_;        // services with at least one edge at the last layout
  double last_layout_ms_ = 0;
  quint64 layouts_done_ = 0;

  EdgeMetric metric_ = EdgeMetric::kP99;
  HealthThresholds thresholds_;
  GraphStyle style_;
  bool hide_idle_ = false, only_unhealthy_ = false, animate_ = true;
  QString tier_;
  QSet<QString> find_matches_;
  QSet<QString> focus_;                           // edge keys (LayoutResult::edgeKey)
  QList<QPair<QString, QString>> warning_edges_;  // as given to setWarningEdges
};

}  // namespace meshdeck::ui

Q_DECLARE_METATYPE(meshdeck::ui::GraphSelection)
