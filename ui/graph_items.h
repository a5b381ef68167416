#pragma once

#include <QGraphicsItem>
#include <QPainterPath>
#include <QPolygonF>
#include <vector>

#include "controlplane/api/types.h"
#include "ui/graph_style.h"

namespace meshdeck::ui {

class EdgeItem;
class MtlsBadgeItem;

// A service: a rounded box with the name, its versions and instance count, a tier stripe and a
// health ring from its server-side (inbound) metrics. Movable; a node the user dragged stays
// pinned where it was dropped across layouts. Painting is cached in device coordinates.
class NodeItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 1 };
  static constexpr double kWidth = 168;
  static constexpr double kHeight = 58;

  explicit NodeItem(const QString& name);

  void setService(const cp::ServiceNode& service, const GraphStyle& style,
                  const HealthThresholds& thresholds);
  const cp::ServiceNode& service() const { return service_; }
  QString name() const { return name_; }
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
  GraphStyle style_;
  Health health_ = Health::kIdle;
  std::vector<EdgeItem*> edges_;
  bool pinned_ = false;
  bool placing_ = false;
  bool placed_ = false;
  bool highlighted_ = false;
};

// A directed call between two services. The curve comes from the layout (Graphviz spline) while
// both ends sit where the layout put them, otherwise from a computed cubic. Colour = health,
// width = traffic, label = the chosen metric, badges from policies; idle edges fade. Geometry,
// label and badges are computed once per update so paint() only draws.
class EdgeItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 2 };

  EdgeItem(NodeItem* source, NodeItem* destination);

  void setEdge(const cp::ServiceEdge& edge, EdgeMetric metric, const EdgeBadges& badges,
               const GraphStyle& style, const HealthThresholds& thresholds);
  const cp::ServiceEdge& edge() const { return edge_; }
  const EdgeBadges& badges() const { return badges_; }
  NodeItem* sourceNode() const { return source_; }
  NodeItem* destinationNode() const { return destination_; }
  Health health() const { return health_; }

  // A route from the layout, valid while both nodes stay at the given centres.
  void setLayoutRoute(const QPainterPath& route, QPointF source_centre, QPointF dest_centre);
  // Recomputes geometry after a node moved.
  void adjust();
  void setHighlighted(bool on);
  bool highlighted() const { return highlighted_; }
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

  int type() const override { return Type; }
  QRectF boundingRect() const override;
  QPainterPath shape() const override;
  void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

 private:
  void rebuildGeometry();
  QString tooltipText() const;

  NodeItem* source_;
  NodeItem* destination_;
  cp::ServiceEdge edge_;
  EdgeMetric metric_ = EdgeMetric::kP99;
  EdgeBadges badges_;
  GraphStyle style_;
  Health health_ = Health::kIdle;
  QColor color_;
  double width_ = 1.5;
  bool highlighted_ = false;
  bool focused_ = false;
  MtlsBadgeItem* mtls_badge_;
  double label_t_ = 0.5;
  QRectF label_box_;

  QPainterPath layout_route_;
  QPointF layout_source_, layout_dest_;

  QPainterPath path_, shape_;
  QPolygonF arrow_;
  QString label_;
  QRectF label_rect_;
  std::vector<std::pair<QRectF, QString>> badge_rects_;
  std::vector<QPointF> samples_;  // the curve sampled evenly, for the traffic dots
  QRectF bounds_;
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

  void setState(const cp::WindowMetrics& metrics, bool required_by_policy, const GraphStyle& style);
  cp::EdgeTransport state() const { return state_; }
  bool requiredByPolicy() const { return required_; }
  // Whether the badge has anything to say (it is hidden otherwise).
  bool shown() const { return state_ != cp::EdgeTransport::kNone || required_; }

  int type() const override { return Type; }
  QRectF boundingRect() const override { return QRectF(0, 0, kSize, kSize); }
  void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

 private:
  cp::EdgeTransport state_ = cp::EdgeTransport::kNone;
  bool required_ = false;
  GraphStyle style_;
};

// Moving dots on every visible, busy edge: direction and rate of traffic at a glance. One item
// draws all dots so that a frame repaints one item, not every edge. Dots are drawn only in the
// main view's viewport (not the minimap, not exports).
class TrafficLayer : public QGraphicsItem {
 public:
  explicit TrafficLayer(QWidget* viewport);
  void setEdges(std::vector<EdgeItem*> edges);
  void advance(double seconds);
  void setBounds(const QRectF& bounds);

  QRectF boundingRect() const override { return bounds_; }
  void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

 private:
  QWidget* viewport_;
  std::vector<EdgeItem*> edges_;
  double clock_ = 0;
  QRectF bounds_;
};

}  // namespace meshdeck::ui
