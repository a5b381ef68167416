#pragma once

#include <QGraphicsItem>
#include <QGraphicsScene>
#include <QImage>
#include <QPainterPath>
#include <QPolygonF>
#include <climits>
#include <cmath>
#include <vector>

#include "controlplane/api/types.h"
#include "ui/graph_style.h"

namespace meshdeck::ui {

class EdgeItem;
class FarEdgeLayer;
class MtlsBadgeItem;

// The graph's scene. The tooltips of services, edges and padlocks are built when the pointer
// rests on one (helpEvent() asks the item under it, through toolTipOf()), never on an update:
// a live update of thousands of edges would otherwise format thousands of texts nobody reads.
class GraphScene : public QGraphicsScene {
 public:
  using QGraphicsScene::QGraphicsScene;
  // What the graph shows when the pointer rests on `item`: NodeItem::toolTip(),
  // EdgeItem::toolTip(), MtlsBadgeItem::toolTip(), else QGraphicsItem::toolTip().
  static QString toolTipOf(const QGraphicsItem* item);
  // The level of detail (QStyleOptionGraphicsItem::levelOfDetailFromTransform) the graph's view
  // last painted at; GraphView sets it. Items ask for a repaint only for changes seen there.
  double viewLevel() const { return view_level_; }
  void setViewLevel(double level) { view_level_ = level; }

 protected:
  void helpEvent(QGraphicsSceneHelpEvent* event) override;

 private:
  double view_level_ = 1.0;
};

// A service: a rounded box with the name, its versions and instance count, a tier stripe and a
// health ring from its server-side (inbound) metrics. Movable; a node the user dragged stays
// pinned where it was dropped across layouts. Painting is cached in device coordinates.
// setService() with what the node already shows (figures, tier, versions, style, health)
// neither repaints nor rebuilds anything; the tooltip is built only when asked for. Below the
// level of detail (GraphScene::viewLevel()) only a new health, tier or style is repainted.
class NodeItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 1 };
  static constexpr double kWidth = 168;
  static constexpr double kHeight = 58;

  explicit NodeItem(const QString& name);

  void setService(const cp::ServiceNode& service, const GraphStyle& style,
                  const HealthThresholds& thresholds);
  // The tooltip (name, tier, versions, inbound figures; for a group its members and worst
  // health), built from what the node holds now. Hides QGraphicsItem::toolTip(), which stays
  // empty: GraphScene shows this one.
  QString toolTip() const;
  const cp::ServiceNode& service() const { return service_; }
  QString name() const { return name_; }
  // A collapsed group drawn as one node (docs/graph-scale.md, "Grouping"): its key
  // ("frontend"), what it groups by ("tier"), how many services it holds, the health of its
  // worst member (the colour of its dot) and the requests per second between its members
  // (hidden edges). Call after setService(), which takes the health from the metrics.
  void setGroup(const QString& label, const QString& kind, int members, Health worst,
                double inner_rate);
  bool isGroup() const { return group_members_ > 0; }
  int groupMembers() const { return group_members_; }
  QString groupLabel() const { return group_label_; }
  Health health() const { return health_; }

  void addEdge(EdgeItem* edge) { edges_.push_back(edge); }
  void removeEdge(EdgeItem* edge);
  const std::vector<EdgeItem*>& edges() const { return edges_; }

  // True once a layout (or the user) has put the node somewhere.
  bool placed() const { return placed_; }
  bool pinned() const { return pinned_; }
  void setPinned(bool pinned) { pinned_ = pinned; }
  void setHighlighted(bool on);
  // Moves the node without pinning it (layouts).
  void placeAt(const QPointF& centre);

  int type() const override { return Type; }
  QRectF boundingRect() const override;
  QPainterPath shape() const override;
  void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

 protected:
  QVariant itemChange(GraphicsItemChange change, const QVariant& value) override;
  void mouseReleaseEvent(QGraphicsSceneMouseEvent* event) override;

 private:
  QString name_;
  cp::ServiceNode service_;
  bool has_service_ = false;
  std::string service_tier_;  // as drawn
  GraphStyle style_;
  Health health_ = Health::kIdle;          // as drawn (a group: its worst member's)
  Health service_health_ = Health::kIdle;  // of service_ alone
  std::vector<EdgeItem*> edges_;
  bool pinned_ = false;
  bool placing_ = false;
  bool placed_ = false;
  bool highlighted_ = false;
  QString group_label_, group_kind_;
  int group_members_ = 0;
  double group_inner_rate_ = 0;
};

// The frame around the members of an expanded group: a dashed rounded rectangle with the
// group's name on top. Double-click (or the context menu) collapses the group.
class GroupFrameItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 5 };
  GroupFrameItem(const QString& id, const QString& label);
  QString id() const { return id_; }
  QString label() const { return label_; }
  void setFrame(const QRectF& rect, const GraphStyle& style);
  int type() const override { return Type; }
  QRectF boundingRect() const override { return rect_.adjusted(-2, -24, 2, 2); }
  void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

 private:
  QString id_, label_;
  QRectF rect_;
  GraphStyle style_;
};

// A directed call between two services. The curve comes from the layout (Graphviz spline) while
// both ends sit where the layout put them, otherwise from a computed cubic. Colour = health,
// width = traffic, label = the chosen metric, badges from policies; idle edges fade. Geometry,
// label and badges are computed once per update so paint() only draws.
//
// Cost at scale (docs/graph-scale.md): the curve is flattened and sampled only when an end
// moves or the route changes (adjust()); a metric update (setEdge) that changes nothing drawn
// (same figures, badges, metric, style) only takes the new window's histogram: no text, no
// repaint. One that changes something recomputes colour and width, and the label and badges;
// it calls prepareGeometryChange() only when they reach beyond the bounding rect, which
// otherwise stays as it is. The tooltip is built only when asked for (toolTip()). It asks for a
// repaint only when the change shows at the level of detail the view draws at
// (GraphScene::viewLevel()): far out, a new colour, idleness or width in whole pixels. Hit tests
// measure the distance to the flattened curve (contains()); shape() strokes the curve once, on its
// first call after the curve changed. Inside an EdgeGeometryBatch, adjust() only marks the edge;
// the batch rebuilds each marked edge once when it ends. At low zoom (level of detail below
// kDetailLevel) the label and badges are left out and the colour and width kept: in a
// GraphView the FarEdgeLayer draws the edge then (paint() draws only a halo, if any), and an
// update does not format the label (refreshLabel() does, when the view zooms in).
class EdgeItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 2 };
  // Below this level of detail (QStyleOptionGraphicsItem::levelOfDetailFromTransform) labels,
  // badges and the padlock give way to colour and width alone.
  static constexpr double kDetailLevel = 0.45;
  // Below this one the arrowhead (two or three pixels then) is left out too.
  static constexpr double kArrowLevel = 0.2;

  // Counters for tests and benchmarks (GUI thread only): how many times any edge flattened its
  // curve, and how many times any edge announced a geometry change to the scene.
  // Also (NodeItem, MtlsBadgeItem and EdgeItem alike): how many updates changed what an item
  // holds, how many of those asked for a repaint of a service or an edge, and how many texts
  // (labels, tooltips) were formatted.
  struct Counters {
    quint64 route_rebuilds = 0;
    quint64 geometry_changes = 0;
    quint64 restyles = 0;
    quint64 repaints = 0;
    quint64 texts = 0;
    // Painting: calls of EdgeItem::paint() that drew a stroke, and draw calls (polylines,
    // paths, line batches) of the edges and of the FarEdgeLayer.
    quint64 edge_paints = 0;
    quint64 edge_draw_calls = 0;
    // Edge labels (pill and text) drawn.
    quint64 edge_labels = 0;
  };
  // The pen width, in whole device pixels, an edge is drawn with below kDetailLevel.
  static int lowDetailWidth(double width, double lod);
  static Counters& counters();

  EdgeItem(NodeItem* source, NodeItem* destination);
  ~EdgeItem() override;

  void setEdge(const cp::ServiceEdge& edge, EdgeMetric metric, const EdgeBadges& badges,
               const GraphStyle& style, const HealthThresholds& thresholds);
  const cp::ServiceEdge& edge() const { return edge_; }
  const EdgeBadges& badges() const { return badges_; }
  NodeItem* sourceNode() const { return source_; }
  NodeItem* destinationNode() const { return destination_; }
  Health health() const { return health_; }
  // The text on the edge: the protocol tag (protocolTag) and the chosen metric. Far out (the
  // view below kDetailLevel) an update does not format it (nobody sees it); this formats it
  // then, and refreshLabel() brings the drawn one up to date.
  QString label() const;
  // Formats the label an update left out far out, and moves the label box and badges to fit
  // it (GraphView calls it for every edge when the view zooms in past kDetailLevel, and before
  // an export). False when it was up to date.
  bool refreshLabel();
  bool labelStale() const { return label_stale_; }
  // The tooltip (the call, its health and figures, transport, protocol, policies), built from
  // what the edge holds now. Hides QGraphicsItem::toolTip(), which stays empty: GraphScene shows
  // this one.
  QString toolTip() const;

  // A route from the layout, valid while both nodes stay at the given centres.
  void setLayoutRoute(const QPainterPath& route, QPointF source_centre, QPointF dest_centre);
  // Recomputes geometry after a node moved.
  void adjust();
  void setHighlighted(bool on);
  bool highlighted() const { return highlighted_; }
  // A policy being edited would change this edge in a way that is probably not meant (a policy
  // warning): a wide amber halo until the warning goes, apart from the timed highlight.
  void setWarned(bool on);
  bool warned() const { return warned_; }
  // The edge is what the playing scenario step is about: a wide halo in the focus colour under
  // the health-coloured stroke, so both stay readable.
  void setFocused(bool on);
  bool focused() const { return focused_; }

  // Where along the curve (0..1) the label and badges sit; 0.5 unless another label was there.
  void setLabelAt(double t);
  double labelAt() const { return label_t_; }
  // The label with its badges if it sat at `t`, in scene coordinates.
  QRectF labelBoxAt(double t) const;
  // Where the label and badges are now (with a small margin).
  QRectF labelBox() const { return label_box_; }

  // The padlock of the edge (hidden when neither traffic nor a policy says anything about mTLS).
  MtlsBadgeItem* mtlsBadge() const { return mtls_badge_; }

  // Traffic animation: a point at fraction t (0..1) along the curve, and dots per second.
  QPointF pointAt(double t) const;
  double trafficRate() const { return edge_.metrics.requests_per_second; }
  QColor color() const { return color_; }
  QPointF labelCentre() const { return label_rect_.center(); }
  // Whether the curve passes through `rect` (scene coordinates): what GraphView counts to tell
  // a dense view (FarEdgeLayer::setDenseLevel).
  bool crosses(const QRectF& rect) const;

  int type() const override { return Type; }
  QRectF boundingRect() const override;
  QPainterPath shape() const override;
  bool contains(const QPointF& point) const override;
  // What a view asks for the pixel under the pointer (hover on every mouse move, itemAt on a
  // press): a small rect near the curve or on the label, measured like contains() instead of
  // intersecting the stroked shape (QPathClipper); bigger paths as QGraphicsItem does.
  bool collidesWithPath(const QPainterPath& path,
                        Qt::ItemSelectionMode mode = Qt::IntersectsItemShape) const override;
  void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

 private:
  friend class EdgeGeometryBatch;
  // Whether the curve passes within `r` of `point` (scene coordinates).
  bool nearCurve(const QPointF& point, double r) const;
  // How wide the curve is for clicks and hover.
  static constexpr double kHitWidth = 12;
  // Samples along the curve (samples_ holds one more), and how long a drawn segment of them is
  // on screen below kDetailLevel.
  static constexpr int kSamples = 48;
  static constexpr double kFarTolerancePx = 0.5;
  friend class FarEdgeLayer;
  // The halo (if any), the stroke and the arrowhead, as the item draws them itself.
  void paintStroke(QPainter* painter, const QStyleOptionGraphicsItem* option, double lod,
                   bool selected);
  // The curve from the ends (or the layout's route): path, samples, end tangent.
  void rebuildRoute();
  // Arrow, label, badges and padlock along the curve; the bounding rect when they outgrow it
  // (or, after a new curve, whenever it differs). `lazy_label`: keep the label's text and
  // width as they are and mark it stale (far out, where it is not drawn).
  void rebuildDecorations(bool route_changed, bool lazy_label = false);
  QString formatLabel() const;
  // Far out: the curve as straight segments, its samples simplified (Douglas-Peucker) to
  // within kFarTolerancePx device pixels at `lod` (in quarter-octave steps of the level, so
  // that it is computed again only when the zoom changes that much or the curve moves).
  const std::vector<QPointF>& farPolyline(double lod);
  // Drawn by itself far out (not only by the FarEdgeLayer): a halo is on it.
  bool marked(bool selected) const { return selected || highlighted_ || warned_ || focused_; }

  NodeItem* source_;
  NodeItem* destination_;
  cp::ServiceEdge edge_;
  bool has_edge_ = false;
  EdgeMetric metric_ = EdgeMetric::kP99;
  EdgeBadges badges_;
  GraphStyle style_;
  Health health_ = Health::kIdle;
  QColor color_;
  double width_ = 1.5;
  bool warned_ = false;
  bool highlighted_ = false;
  bool focused_ = false;
  MtlsBadgeItem* mtls_badge_;
  double label_t_ = 0.5;
  QRectF label_box_;

  QPainterPath layout_route_;
  QPointF layout_source_, layout_dest_;

  QPainterPath path_;
  mutable QPainterPath stroke_;  // the curve stroked kHitWidth wide, on demand; empty: not yet
  QRectF route_bounds_;          // the curve's control points
  double length_ = 0;            // of the flattened curve
  double end_angle_ = 0;         // radians, the curve's direction at its end
  QPolygonF arrow_;
  QString label_;
  QRectF label_rect_;
  std::vector<std::pair<QRectF, QString>> badge_rects_;
  std::vector<QPointF> samples_;  // the curve sampled evenly by length: pointAt, traffic dots
  QPolygonF flat_;                // the curve flattened: drawn in parts when zoomed in
  QRectF bounds_;
  bool route_dirty_ = true;            // adjust() inside a batch: rebuild when the batch ends
  bool batched_ = false;               // queued in the current batch
  bool label_stale_ = false;           // label_ is not what the figures say (an update far out)
  std::vector<QPointF> far_points_;    // farPolyline() for the level step far_step_
  int far_step_ = INT_MIN;             // INT_MIN: to be computed
  FarEdgeLayer* far_layer_ = nullptr;  // draws this edge far out, when set
};

// While one exists (GUI thread), EdgeItem::adjust() only marks an edge: moving many services
// (a layout) re-routes each edge once, when the outermost batch ends, instead of once per end
// moved. Nestable.
class EdgeGeometryBatch {
 public:
  EdgeGeometryBatch();
  ~EdgeGeometryBatch();
  EdgeGeometryBatch(const EdgeGeometryBatch&) = delete;
  EdgeGeometryBatch& operator=(const EdgeGeometryBatch&) = delete;
  // An edge being deleted leaves the pending list.
  static void forget(EdgeItem* edge);
  static bool active();
  static void add(EdgeItem* edge);
};

// The padlock on an edge: closed and green when every request of the window used mutual TLS,
// half and amber when some went in plaintext, open and red when all did; hollow and grey when
// only a policy asks for mTLS and no request has shown it yet. A child of its edge, so that
// hovering it gives the counts while clicks still select the edge.
class MtlsBadgeItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 4 };
  static constexpr double kSize = 14;

  explicit MtlsBadgeItem(QGraphicsItem* edge);

  // Repaints only when the state, the policy or the style changed (the counts are only in the
  // tooltip).
  void setState(const cp::WindowMetrics& metrics, bool required_by_policy, const GraphStyle& style);
  cp::EdgeTransport state() const { return state_; }
  // The counts behind the state, built when asked for. Hides QGraphicsItem::toolTip(), which
  // stays empty: GraphScene shows this one.
  QString toolTip() const;
  bool requiredByPolicy() const { return required_; }
  // Whether the badge has anything to say (it is hidden otherwise).
  bool shown() const { return state_ != cp::EdgeTransport::kNone || required_; }

  int type() const override { return Type; }
  QRectF boundingRect() const override { return QRectF(0, 0, kSize, kSize); }
  void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

 private:
  cp::EdgeTransport state_ = cp::EdgeTransport::kNone;
  bool required_ = false;
  bool has_state_ = false;
  uint64_t mtls_ = 0, plaintext_ = 0;
  GraphStyle style_;
};

// Moving dots on every visible, busy edge: direction and rate of traffic at a glance. One item
// draws all dots so that a frame repaints one item, not every edge. Dots are drawn only in the
// main view's viewport (not the minimap, not exports).
class TrafficLayer : public QGraphicsItem {
 public:
  // Below this level of detail no dots are drawn (the view then stops animating them).
  static constexpr double kDotLevel = 0.3;
  explicit TrafficLayer(QWidget* viewport);
  void setEdges(std::vector<EdgeItem*> edges);
  void advance(double seconds);
  void setBounds(const QRectF& bounds);
  // A dense view at this level (FarEdgeLayer::setDenseLevel) gets no dots: thousands of edges
  // cross it, and the view stops animating them. 0: none.
  void setDenseLevel(double level) { dense_level_ = level; }

  QRectF boundingRect() const override { return bounds_; }
  // Never hit: the layer covers the whole graph, and a press on it is a press on the background
  // (which pans).
  QPainterPath shape() const override { return {}; }
  bool contains(const QPointF&) const override { return false; }
  void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

 private:
  QWidget* viewport_;
  std::vector<EdgeItem*> edges_;
  double clock_ = 0;
  double dense_level_ = 0;
  QRectF bounds_;
};

// Far out (level of detail below EdgeItem::kDetailLevel), and zoomed in on a view so dense
// with edges that their detail cannot be read (setDenseLevel()), every visible edge is drawn by
// this one item, in a few draw calls: its segments go into one bucket per pen (health colour, width
// in whole device pixels, idle or not), and each bucket is one QPainter::drawLines() of
// non-antialiased cosmetic lines; arrowheads (from EdgeItem::kArrowLevel) are one filled path
// per bucket. The EdgeItems themselves then paint nothing far out unless a halo is on them
// (selected, find/apply highlight, warning, scenario focus), which they draw over it. This
// replaces 5,000 items each setting up a pen and stroking a polyline in every frame (the
// stroke was the same; the per-item work was not). A change that shows far out repaints this
// item's whole area, once per update (EdgeItem::setEdge). Closer in it draws nothing. It draws
// in every view of the scene (the minimap) and in exports.
class FarEdgeLayer : public QGraphicsItem {
 public:
  FarEdgeLayer();
  // The edges it draws (each edge then leaves its far stroke to the layer). As with
  // TrafficLayer, the view gives the new list whenever edges come or go.
  void setEdges(std::vector<EdgeItem*> edges);
  const std::vector<EdgeItem*>& edges() const { return edges_; }
  void setBounds(const QRectF& bounds);
  // Grows the bounds to hold `rect` (an edge's new curve).
  void include(const QRectF& rect);
  // A change of what the layer draws: one repaint of its area, however many edges ask.
  void changed();
  // The view draws at `level` (at or above EdgeItem::kDetailLevel) and so many edges cross it
  // that it is a dense view (GraphView::kDenseSpacing): at that level the layer draws the edges'
  // strokes and arrowheads, in whole device pixels, and each EdgeItem only its label and badges
  // (and, with a halo on it, everything, over the layer). 0: no dense view. Other levels (the
  // minimap, an export) draw as before.
  void setDenseLevel(double level) { dense_level_ = level; }
  bool denseAt(double lod) const {
    return dense_level_ > 0 && std::abs(lod - dense_level_) <= 1e-6 * dense_level_;
  }

  QRectF boundingRect() const override { return bounds_; }
  QPainterPath shape() const override { return {}; }
  bool contains(const QPointF&) const override { return false; }
  void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

 private:
  struct Bucket {
    QRgb colour;
    int width;
    bool idle;
    int rank;  // drawing order: idle, healthy, warning, critical (problems on top)
    std::vector<QLineF> lines;
    QPainterPath arrows;
    bool used = false;
  };
  // Lines `width` pixels wide (item coordinates, mapped by `to_image`) into `image`
  // (premultiplied ARGB) in one colour, clipped to it, without antialiasing.
  static void drawLines(QImage* image, const QTransform& to_image, const std::vector<QLineF>& lines,
                        QRgb premultiplied, int width);

  std::vector<EdgeItem*> edges_;
  double dense_level_ = 0;
  std::vector<Bucket> buckets_;  // kept between paints: no allocation per frame
  QImage image_;                 // the hairlines of the last paint (kept for its memory)
  QRectF bounds_;
};

}  // namespace meshdeck::ui
