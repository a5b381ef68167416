#include "ui/graph_items.h"

#include <QFontMetricsF>
#include <QGraphicsScene>
#include <QGraphicsSceneHelpEvent>
#include <QGraphicsSceneMouseEvent>
#include <QGraphicsView>
#include <QHash>
#include <QPaintEngine>
#include <QPainter>
#include <QStyleOptionGraphicsItem>
#include <QToolTip>
#include <QtMath>
#include <algorithm>
#include <cassert>
#include <cmath>
#include <functional>

namespace meshdeck::ui {
namespace {

// Built once (on the GUI thread, after the application): thousands of edges use them on every
// update and paint.
const QFont& labelFont() {
  static const QFont font = [] {
    QFont f;
    f.setPointSizeF(8.5);
    return f;
  }();
  return font;
}

const QFont& badgeFont() {
  static const QFont font = [] {
    QFont f;
    f.setPointSizeF(7);
    f.setBold(true);
    return f;
  }();
  return font;
}

QString versionsText(const cp::ServiceNode& s) {
  QStringList versions;
  for (const auto& v : s.versions) versions << QString::fromStdString(v);
  QString text = versions.join(QStringLiteral(" · "));
  if (text.isEmpty()) text = QStringLiteral("no version");
  return QStringLiteral("%1  ·  %2 inst").arg(text).arg(s.instances);
}

// The level of detail the graph's view last painted `item`'s scene at (1 outside a GraphScene).
double viewLevelOf(const QGraphicsItem* item) {
  const auto* scene = dynamic_cast<const GraphScene*>(item->scene());
  return scene != nullptr ? scene->viewLevel() : 1.0;
}

}  // namespace

// -------------------------------------------------------------------------------- GraphScene

QString GraphScene::toolTipOf(const QGraphicsItem* item) {
  switch (item->type()) {
    case NodeItem::Type:
      return static_cast<const NodeItem*>(item)->toolTip();
    case EdgeItem::Type:
      return static_cast<const EdgeItem*>(item)->toolTip();
    case MtlsBadgeItem::Type:
      return static_cast<const MtlsBadgeItem*>(item)->toolTip();
    default:
      return item->toolTip();
  }
}

void GraphScene::helpEvent(QGraphicsSceneHelpEvent* event) {
  // As QGraphicsScene::helpEvent finds the item under the pointer (the topmost whose shape holds
  // the point), but its text comes from toolTipOf(), built now.
  const auto* view = event->widget()
                         ? qobject_cast<const QGraphicsView*>(event->widget()->parentWidget())
                         : nullptr;
  const QList<QGraphicsItem*> under =
      items(event->scenePos(), Qt::IntersectsItemShape, Qt::DescendingOrder,
            view != nullptr ? view->viewportTransform() : QTransform());
  QString text;
  for (const QGraphicsItem* item : under) {
    text = toolTipOf(item);
    if (!text.isEmpty()) break;
  }
  QToolTip::showText(text.isEmpty() ? QPoint() : event->screenPos(), text, event->widget());
  event->setAccepted(!text.isEmpty());
}

// ---------------------------------------------------------------------------------- NodeItem

NodeItem::NodeItem(const QString& name) : name_(name) {
  setFlags(ItemIsMovable | ItemIsSelectable | ItemSendsGeometryChanges);
  setCacheMode(DeviceCoordinateCache);
  setAcceptHoverEvents(true);
  setZValue(2);
}

void NodeItem::setService(const cp::ServiceNode& service, const GraphStyle& style,
                          const HealthThresholds& thresholds) {
  const Health health = serviceHealth(service, thresholds);
  // What the box and its tooltip show: unchanged, nothing to redraw.
  const bool same = has_service_ && health == service_health_ && style == style_ &&
                    service.tier == service_.tier && service.versions == service_.versions &&
                    service.instances == service_.instances &&
                    sameFigures(service.inbound, service_.inbound);
  service_ = service;
  has_service_ = true;
  if (same) return;
  ++EdgeItem::counters().restyles;
  // Below the level of detail only the box, the tier stripe and the health dot are drawn: new
  // figures alone change nothing there (the next paint at a closer zoom draws them).
  const bool seen = !(style == style_) || health != health_ || service.tier != service_tier_ ||
                    viewLevelOf(this) >= EdgeItem::kDetailLevel;
  service_tier_ = service.tier;
  style_ = style;
  service_health_ = health;
  health_ = health;
  if (seen) {
    ++EdgeItem::counters().repaints;
    update();
  }
}

QString NodeItem::toolTip() const {
  ++EdgeItem::counters().texts;
  const auto& m = service_.inbound;
  if (isGroup()) {
    return QStringLiteral(
               "<b>%1</b> (%2 group, %3 services)<br>worst member: %4<br>inbound: "
               "%5 · %6 ok<br>p50 %7 · p90 %8 · p99 %9<br>inside: %10<br>"
               "Double-click to expand")
        .arg(group_label_, group_kind_)
        .arg(group_members_)
        .arg(displayName(health_), formatRate(m.requests_per_second), formatPercent(m.success_rate),
             formatLatency(m.p50_ms), formatLatency(m.p90_ms), formatLatency(m.p99_ms),
             formatRate(group_inner_rate_));
  }
  return QStringLiteral("<b>%1</b> (%2)<br>%3<br>inbound: %4 · %5 ok<br>p50 %6 · p90 %7 · p99 %8")
      .arg(name_, QString::fromStdString(service_.tier.empty() ? "no tier" : service_.tier),
           versionsText(service_), formatRate(m.requests_per_second), formatPercent(m.success_rate),
           formatLatency(m.p50_ms), formatLatency(m.p90_ms), formatLatency(m.p99_ms));
}

void NodeItem::setGroup(const QString& label, const QString& kind, int members, Health worst,
                        double inner_rate) {
  if (label == group_label_ && kind == group_kind_ && members == group_members_ &&
      worst == health_ && inner_rate == group_inner_rate_)
    return;
  ++EdgeItem::counters().restyles;
  group_label_ = label;
  group_kind_ = kind;
  group_members_ = members;
  group_inner_rate_ = inner_rate;
  health_ = worst;
  update();
}

void NodeItem::removeEdge(EdgeItem* edge) { std::erase(edges_, edge); }

void NodeItem::setHighlighted(bool on) {
  if (highlighted_ == on) return;
  highlighted_ = on;
  update();
}

void NodeItem::placeAt(const QPointF& centre) {
  placing_ = true;
  setPos(centre);
  placing_ = false;
  placed_ = true;
}

QRectF NodeItem::boundingRect() const {
  return QRectF(-kWidth / 2 - 4, -kHeight / 2 - 4, kWidth + 8, kHeight + 8);
}

QPainterPath NodeItem::shape() const {
  QPainterPath p;
  p.addRoundedRect(QRectF(-kWidth / 2, -kHeight / 2, kWidth, kHeight), 9, 9);
  return p;
}

void NodeItem::paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget*) {
  const QRectF box(-kWidth / 2, -kHeight / 2, kWidth, kHeight);
  painter->setRenderHint(QPainter::Antialiasing);
  const bool selected = option->state & QStyle::State_Selected;
  QColor border = selected ? style_.selection : style_.node_border;
  if (highlighted_) border = style_.highlight;
  painter->setPen(QPen(border, selected || highlighted_ ? 2.5 : 1.2));
  painter->setBrush(style_.node_fill);
  const double lod = option->levelOfDetailFromTransform(painter->worldTransform());
  if (lod < EdgeItem::kDetailLevel) {
    // Too small to read: the box, its tier stripe and a health dot large enough to see.
    painter->drawRect(box);
    painter->setPen(Qt::NoPen);
    painter->fillRect(QRectF(box.left(), box.top(), 12, box.height()),
                      style_.tierColor(QString::fromStdString(service_.tier)));
    painter->setBrush(style_.healthColor(health_));
    painter->drawEllipse(QRectF(box.right() - 40, box.top() + 12, 32, 32));
    return;
  }
  if (isGroup()) {
    // A stack of cards: a second box peeks out behind the first.
    painter->drawRoundedRect(box.translated(3, -3), 9, 9);
    painter->setPen(QPen(border, selected || highlighted_ ? 2.5 : 1.6));
  }
  painter->drawRoundedRect(box, 9, 9);

  // Tier stripe on the left edge.
  painter->save();
  painter->setClipPath(shape());
  painter->fillRect(QRectF(box.left(), box.top(), 5, box.height()),
                    style_.tierColor(QString::fromStdString(service_.tier)));
  painter->restore();

  // Health dot (server-side view of the service).
  const QRectF dot(box.right() - 16, box.top() + 9, 9, 9);
  painter->setPen(Qt::NoPen);
  painter->setBrush(style_.healthColor(health_));
  painter->drawEllipse(dot);

  QFont title;
  title.setPointSizeF(10);
  title.setBold(true);
  painter->setFont(title);
  painter->setPen(style_.text);
  const QRectF title_rect(box.left() + 13, box.top() + 6, box.width() - 34, 20);
  const QString title_text = isGroup() ? group_label_ : name_;
  painter->drawText(
      title_rect, Qt::AlignLeft | Qt::AlignVCenter,
      QFontMetricsF(title).elidedText(title_text, Qt::ElideRight, title_rect.width()));
  QFont small;
  small.setPointSizeF(8);
  painter->setFont(small);
  painter->setPen(style_.muted_text);
  const QString second =
      isGroup() ? (group_inner_rate_ > 0
                       ? QStringLiteral("%1 · %2 services · %3 inside")
                             .arg(group_kind_)
                             .arg(group_members_)
                             .arg(formatRate(group_inner_rate_))
                       : QStringLiteral("%1 · %2 services").arg(group_kind_).arg(group_members_))
                : versionsText(service_);
  painter->drawText(QRectF(box.left() + 13, box.top() + 26, box.width() - 20, 14),
                    Qt::AlignLeft | Qt::AlignVCenter, second);
  const auto& m = service_.inbound;
  const QString line = m.requests == 0
                           ? QStringLiteral("no traffic")
                           : QStringLiteral("%1 · p99 %2")
                                 .arg(formatRate(m.requests_per_second), formatLatency(m.p99_ms));
  painter->drawText(QRectF(box.left() + 13, box.top() + 40, box.width() - 20, 14),
                    Qt::AlignLeft | Qt::AlignVCenter, line);
}

QVariant NodeItem::itemChange(GraphicsItemChange change, const QVariant& value) {
  if (change == ItemPositionHasChanged) {
    for (EdgeItem* e : edges_) e->adjust();
  }
  return QGraphicsItem::itemChange(change, value);
}

void NodeItem::mouseReleaseEvent(QGraphicsSceneMouseEvent* event) {
  // A node the user moved stays where it was dropped, whatever later layouts say.
  if (event->button() == Qt::LeftButton &&
      event->buttonDownScenePos(Qt::LeftButton) != event->scenePos()) {
    pinned_ = true;
  }
  QGraphicsItem::mouseReleaseEvent(event);
}

// ---------------------------------------------------------------------------- GroupFrameItem

GroupFrameItem::GroupFrameItem(const QString& id, const QString& label) : id_(id), label_(label) {
  setZValue(-1);
  setToolTip(QStringLiteral("<b>%1</b><br>Double-click the frame to collapse").arg(id));
}

void GroupFrameItem::setFrame(const QRectF& rect, const GraphStyle& style) {
  if (rect != rect_) prepareGeometryChange();
  rect_ = rect;
  style_ = style;
  update();
}

void GroupFrameItem::paint(QPainter* painter, const QStyleOptionGraphicsItem*, QWidget*) {
  painter->setRenderHint(QPainter::Antialiasing);
  QColor fill = style_.node_border;
  fill.setAlpha(24);
  painter->setBrush(fill);
  painter->setPen(QPen(style_.muted_text, 1.2, Qt::DashLine));
  painter->drawRoundedRect(rect_, 14, 14);
  QFont font;
  font.setPointSizeF(11);
  font.setBold(true);
  painter->setFont(font);
  painter->setPen(style_.text);
  painter->drawText(QRectF(rect_.left() + 10, rect_.top() - 22, rect_.width() - 20, 20),
                    Qt::AlignLeft | Qt::AlignBottom, id_);
}

// ---------------------------------------------------------------------------------- EdgeItem

EdgeItem::Counters& EdgeItem::counters() {
  static Counters c;
  return c;
}

namespace {
std::vector<EdgeItem*> g_batch_pending;
int g_batch_depth = 0;
}  // namespace

EdgeGeometryBatch::EdgeGeometryBatch() { ++g_batch_depth; }

EdgeGeometryBatch::~EdgeGeometryBatch() {
  if (--g_batch_depth > 0) return;
  // Rebuilding may not add edges (no batch is active now), so the list is stable.
  std::vector<EdgeItem*> pending;
  pending.swap(g_batch_pending);
  for (EdgeItem* e : pending) {
    e->batched_ = false;
    e->adjust();
  }
}

bool EdgeGeometryBatch::active() { return g_batch_depth > 0; }

void EdgeGeometryBatch::add(EdgeItem* edge) {
  if (edge->batched_) return;
  edge->batched_ = true;
  g_batch_pending.push_back(edge);
}

void EdgeGeometryBatch::forget(EdgeItem* edge) {
  if (edge->batched_) std::erase(g_batch_pending, edge);
}

EdgeItem::EdgeItem(NodeItem* source, NodeItem* destination)
    : source_(source), destination_(destination), mtls_badge_(new MtlsBadgeItem(this)) {
  // The exposed rect lets paint() stroke only the part of a long curve that is in view.
  setFlags(ItemIsSelectable | ItemUsesExtendedStyleOption);
  setAcceptHoverEvents(true);
  setZValue(1);
  source_->addEdge(this);
  destination_->addEdge(this);
}

EdgeItem::~EdgeItem() { EdgeGeometryBatch::forget(this); }

void EdgeItem::setEdge(const cp::ServiceEdge& edge, EdgeMetric metric, const EdgeBadges& badges,
                       const GraphStyle& style, const HealthThresholds& thresholds) {
  const Health health = metricsHealth(edge.metrics, thresholds);
  // Nothing drawn or said changes (a quiet edge, a second without news): keep the new window's
  // histogram, build no text, ask for no repaint.
  if (has_edge_ && health == health_ && metric == metric_ && badges == badges_ && style == style_ &&
      sameFigures(edge.metrics, edge_.metrics) && edge.protocol == edge_.protocol &&
      edge.policies == edge_.policies &&
      edge.requests_by_destination_version == edge_.requests_by_destination_version &&
      edge.source == edge_.source && edge.destination == edge_.destination) {
    edge_.metrics.latency = edge.metrics.latency;
    return;
  }
  ++counters().restyles;
  const bool first = !has_edge_;
  const bool was_idle = edge_.idle();
  const QColor old_colour = color_;
  const double old_width = width_;
  const bool restyled = !(style == style_) || !(badges == badges_);
  has_edge_ = true;
  edge_ = edge;
  metric_ = metric;
  badges_ = badges;
  style_ = style;
  health_ = health;
  color_ = style.healthColor(health_);
  const double rps = edge.metrics.requests_per_second;
  width_ = edge.idle() ? 1.2 : std::clamp(1.4 + 1.6 * std::log10(1.0 + rps), 1.4, 9.0);
  if (const double o = edge.idle() ? 0.45 : 1.0; o != opacity()) setOpacity(o);
  mtls_badge_->setState(edge.metrics, badges.mtls, style);
  // Whether the view shows the change at the level of detail it draws at: far out an edge is
  // its colour, its width in whole pixels and whether it is idle; the label, the padlock and the
  // exact width (the arrowhead's size) only closer in. What is not seen now is drawn by the
  // next paint at a closer zoom, which repaints everything.
  const double lod = viewLevelOf(this);
  const bool far = lod < kDetailLevel;
  bool seen = first || restyled || was_idle != edge.idle() || old_colour != color_;
  if (!seen) {
    seen = !far                 ? true
           : lod >= kArrowLevel ? old_width != width_
                                : lowDetailWidth(old_width, lod) != lowDetailWidth(width_, lod);
  }
  // The curve stays; only what sits on it changes. An edge whose ends moved is rebuilt whole
  // (now, or when the batch it waits in ends). Far out the label is not drawn: its text waits
  // until the view comes closer (refreshLabel()), unless there is none yet.
  if (route_dirty_) {
    if (!batched_) adjust();
  } else {
    rebuildDecorations(false, far);
    if (seen) {
      ++counters().repaints;
      // Far out the layer draws this edge (and the halo, if any, is drawn over it by the edge):
      // one repaint of the layer for the whole update, not one region per edge.
      if (far && far_layer_ != nullptr) {
        far_layer_->changed();
        if (marked(isSelected())) update();
      } else {
        update();
      }
    }
  }
}

QString EdgeItem::formatLabel() const {
  ++counters().texts;
  QString label = formatMetric(edge_.metrics, metric_);
  if (const QString tag = protocolTag(edge_.protocol); !tag.isEmpty())
    label = tag + QStringLiteral(" · ") + label;
  return label;
}

QString EdgeItem::label() const { return label_stale_ ? formatLabel() : label_; }

bool EdgeItem::refreshLabel() {
  if (!label_stale_) return false;
  if (route_dirty_) {
    if (!batched_) adjust();
  } else {
    rebuildDecorations(false);
  }
  return true;
}

int EdgeItem::lowDetailWidth(double width, double lod) {
  return std::max(1, static_cast<int>(std::lround(width * lod)));
}

QString EdgeItem::toolTip() const {
  ++counters().texts;
  const auto& m = edge_.metrics;
  QString text = QStringLiteral("<b>%1 → %2</b> (%3)")
                     .arg(QString::fromStdString(edge_.source),
                          QString::fromStdString(edge_.destination), displayName(health_));
  if (m.requests > 0) {
    text += QStringLiteral("<br>%1 · %2 ok<br>p50 %3 · p90 %4 · p99 %5")
                .arg(formatRate(m.requests_per_second), formatPercent(m.success_rate),
                     formatLatency(m.p50_ms), formatLatency(m.p90_ms), formatLatency(m.p99_ms));
    text += QStringLiteral("<br>retries %1 · timeouts %2 · breaker %3")
                .arg(m.retries)
                .arg(m.timeouts)
                .arg(m.circuit_breaker_rejections);
    const cp::EdgeTransport transport = cp::edgeTransport(m.mtls_requests, m.plaintext_requests);
    if (transport != cp::EdgeTransport::kNone) {
      text += QStringLiteral("<br>%1: %2 over mTLS · %3 plaintext")
                  .arg(displayName(transport))
                  .arg(m.mtls_requests)
                  .arg(m.plaintext_requests);
    }
  } else {
    text += QStringLiteral("<br>no requests in the window");
  }
  if (!edge_.protocol.empty())
    text += QStringLiteral("<br>protocol: ") + QString::fromStdString(edge_.protocol);
  if (!edge_.policies.empty()) {
    QStringList names;
    for (const auto& p : edge_.policies) names << QString::fromStdString(p);
    text += QStringLiteral("<br>policies: ") + names.join(QStringLiteral(", "));
  }
  return text;
}

void EdgeItem::setLayoutRoute(const QPainterPath& route, QPointF source_centre,
                              QPointF dest_centre) {
  layout_route_ = route;
  layout_source_ = source_centre;
  layout_dest_ = dest_centre;
  adjust();
}

void EdgeItem::setHighlighted(bool on) {
  if (highlighted_ == on) return;
  highlighted_ = on;
  update();
}

void EdgeItem::setWarned(bool on) {
  if (warned_ == on) return;
  warned_ = on;
  update();
}

void EdgeItem::setFocused(bool on) {
  if (focused_ == on) return;
  focused_ = on;
  // Above the other edges, so that crossing edges do not hide the halo.
  setZValue(on ? 1.2 : 1);
  update();
}

void EdgeItem::adjust() {
  route_dirty_ = true;
  if (EdgeGeometryBatch::active()) {
    EdgeGeometryBatch::add(this);
    return;
  }
  rebuildRoute();
  rebuildDecorations(true, viewLevelOf(this) < kDetailLevel);
  update();
}

void EdgeItem::rebuildRoute() {
  ++counters().route_rebuilds;
  route_dirty_ = false;
  const QPointF s = source_->pos(), d = destination_->pos();
  const bool route_valid = !layout_route_.isEmpty() && QLineF(s, layout_source_).length() < 0.5 &&
                           QLineF(d, layout_dest_).length() < 0.5;
  if (route_valid) {
    path_ = layout_route_;
  } else {
    // Leave the source on its right side, enter the destination on its left side; a call that
    // runs backwards loops around the boxes.
    const double half = NodeItem::kWidth / 2;
    QPointF a(s.x() + half, s.y()), b(d.x() - half, d.y());
    const double dx = std::max(60.0, std::abs(b.x() - a.x()) / 2);
    path_ = QPainterPath(a);
    path_.cubicTo(a + QPointF(dx, 0), b - QPointF(dx, 0), b);
  }
  route_bounds_ = path_.controlPointRect();
  stroke_ = QPainterPath();

  // The curve flattened once, then sampled evenly by length (what pointAtPercent would give,
  // without measuring the whole path again for every point).
  QPolygonF line;
  for (const QPolygonF& part : path_.toSubpathPolygons()) line += part;
  if (line.size() < 2) line = QPolygonF({path_.currentPosition(), path_.currentPosition()});
  flat_ = line;
  std::vector<double> along(static_cast<size_t>(line.size()), 0.0);
  for (qsizetype i = 1; i < line.size(); ++i)
    along[static_cast<size_t>(i)] =
        along[static_cast<size_t>(i - 1)] + QLineF(line[i - 1], line[i]).length();
  const double total = along.back();
  length_ = total;
  samples_.clear();
  samples_.reserve(kSamples + 1);
  size_t seg = 1;
  for (int i = 0; i <= kSamples; ++i) {
    const double want = total * double(i) / kSamples;
    while (seg + 1 < along.size() && along[seg] < want) ++seg;
    const double len = along[seg] - along[seg - 1];
    const double f = len > 0 ? std::clamp((want - along[seg - 1]) / len, 0.0, 1.0) : 1.0;
    samples_.push_back(line[qsizetype(seg - 1)] * (1 - f) + line[qsizetype(seg)] * f);
  }
  far_step_ = INT_MIN;
  // The direction at the end, as angleAtPercent(0.98) would give it.
  const QPointF v = samples_[kSamples] - samples_[kSamples - 1];
  end_angle_ = (v.x() == 0 && v.y() == 0) ? 0.0 : std::atan2(-v.y(), v.x());
}

void EdgeItem::rebuildDecorations(bool route_changed, bool lazy_label) {
  // Arrowhead along the final tangent.
  const QPointF tip = samples_.empty() ? path_.currentPosition() : samples_.back();
  const double size = 7 + width_;
  const QPointF back(std::cos(end_angle_) * size, -std::sin(end_angle_) * size);
  const QPointF side(-std::sin(end_angle_) * size * 0.45, -std::cos(end_angle_) * size * 0.45);
  arrow_ = QPolygonF({tip, tip - back + side, tip - back - side});

  static const QFontMetricsF fm(labelFont());
  double text_width = label_rect_.width() - 12;
  if (lazy_label && !label_rect_.isNull()) {
    // Far out: the old text's width holds the place until the label is drawn again.
    label_stale_ = true;
  } else {
    label_stale_ = false;
    label_ = formatLabel();
    // Measuring text shapes it (HarfBuzz); labels repeat ("12.3 ms"), so widths are remembered.
    static QHash<QString, double> widths;
    auto width = widths.constFind(label_);
    if (width == widths.constEnd()) {
      if (widths.size() > 20000) widths.clear();
      width = widths.insert(label_, fm.horizontalAdvance(label_));
    }
    text_width = width.value();
  }
  const QPointF mid = pointAt(label_t_);
  const double lw = text_width + 12, lh = fm.height() + 4;
  label_rect_ = QRectF(mid.x() - lw / 2, mid.y() - lh / 2, lw, lh);

  badge_rects_.clear();
  static const QFontMetricsF bm(badgeFont());
  double x = label_rect_.right() + 3;
  // mTLS is common enough that a word on every edge would be noise: it gets a padlock (a child
  // item with its own tooltip).
  mtls_badge_->setVisible(mtls_badge_->shown());
  if (mtls_badge_->shown()) {
    mtls_badge_->setPos(x, mid.y() - MtlsBadgeItem::kSize / 2);
    x += MtlsBadgeItem::kSize + 2;
  }
  auto addBadge = [&](bool on, const char* text) {
    if (!on) return;
    const QString t = QString::fromLatin1(text);
    const double w = bm.horizontalAdvance(t) + 8;
    badge_rects_.emplace_back(QRectF(x, mid.y() - 7, w, 14), t);
    x += w + 2;
  };
  addBadge(badges_.fault, "fault");
  addBadge(badges_.canary, "canary");
  addBadge(badges_.rate_limit, "limit");

  // The bounds hold the curve with the widest stroke (9), its focus halo (width + 16) and the
  // arrowhead (at most 16 from the tip), plus the label and badges with room to change width:
  // a new value in the label rarely changes the bounds, so the scene rarely hears of it.
  constexpr double kCurveMargin = 16 + 8;
  QRectF needed = route_bounds_.adjusted(-kCurveMargin, -kCurveMargin, kCurveMargin, kCurveMargin);
  QRectF decor = label_rect_;
  for (const auto& b : badge_rects_) decor = decor.united(b.first.adjusted(-1, -1, 1, 1));
  if (mtls_badge_->shown())
    decor = decor.united(mtls_badge_->mapRectToParent(mtls_badge_->boundingRect()));
  label_box_ = decor.adjusted(-3, -3, 3, 3);
  needed = needed.united(decor.adjusted(-16, -2, 16, 2));
  if (route_changed ? needed != bounds_ : !bounds_.contains(needed)) {
    ++counters().geometry_changes;
    prepareGeometryChange();
    bounds_ = route_changed ? needed : bounds_.united(needed);
    if (far_layer_ != nullptr) far_layer_->include(bounds_);
  }
}

void EdgeItem::setLabelAt(double t) {
  if (t == label_t_) return;
  label_t_ = t;
  if (route_dirty_) {
    if (!batched_) adjust();
  } else {
    rebuildDecorations(false, label_stale_);
    update();
  }
}

QRectF EdgeItem::labelBoxAt(double t) const {
  // The label pill and the badges after it, as rebuildDecorations() lays them out.
  const QPointF shift = pointAt(t) - pointAt(label_t_);
  QRectF box = label_rect_;
  for (const auto& b : badge_rects_) box = box.united(b.first);
  if (mtls_badge_->shown())
    box = box.united(mtls_badge_->mapRectToParent(mtls_badge_->boundingRect()));
  return box.translated(shift);
}

QPointF EdgeItem::pointAt(double t) const {
  if (samples_.size() < 2) return samples_.empty() ? QPointF() : samples_.front();
  const double x = std::clamp(t, 0.0, 1.0) * double(samples_.size() - 1);
  const size_t i = std::min(static_cast<size_t>(x), samples_.size() - 2);
  const double f = x - double(i);
  return samples_[i] * (1 - f) + samples_[i + 1] * f;
}

QRectF EdgeItem::boundingRect() const { return bounds_; }

QPainterPath EdgeItem::shape() const {
  // Stroked once per curve (a long curve takes a millisecond): the hit width is that of a
  // middling edge, and the label is added as it is now.
  if (stroke_.isEmpty()) {
    QPainterPathStroker stroker;
    stroker.setWidth(kHitWidth);
    stroke_ = stroker.createStroke(path_);
  }
  QPainterPath shape = stroke_;
  shape.addRect(label_rect_);
  return shape;
}

bool EdgeItem::contains(const QPointF& point) const {
  // What shape().contains() answers, without stroking: hit tests (clicks, hover) run over
  // every edge whose bounds hold the point, and on a big graph that is hundreds.
  return label_rect_.contains(point) || nearCurve(point, kHitWidth / 2);
}

bool EdgeItem::collidesWithPath(const QPainterPath& path, Qt::ItemSelectionMode mode) const {
  const QRectF r = path.controlPointRect();
  if (mode != Qt::IntersectsItemShape || r.width() > 4 * kHitWidth || r.height() > 4 * kHitWidth)
    return QGraphicsItem::collidesWithPath(path, mode);
  // A pixel (or a few) at any zoom: the shape (the curve kHitWidth wide, and the label) meets
  // the rect when the curve passes within half the hit width of it.
  const double half_diagonal = std::hypot(r.width(), r.height()) / 2;
  return label_rect_.intersects(r) || nearCurve(r.center(), kHitWidth / 2 + half_diagonal);
}

bool EdgeItem::crosses(const QRectF& rect) const {
  if (!bounds_.intersects(rect)) return false;
  for (qsizetype i = 1; i < flat_.size(); ++i) {
    const QPointF a = flat_[i - 1], b = flat_[i];
    // Separating axes: the rect's two, then the segment's normal (all four corners on one side).
    if (std::max(a.x(), b.x()) < rect.left() || std::min(a.x(), b.x()) > rect.right() ||
        std::max(a.y(), b.y()) < rect.top() || std::min(a.y(), b.y()) > rect.bottom())
      continue;
    const QPointF d = b - a;
    auto side = [&](QPointF c) {
      const double cross = d.x() * (c.y() - a.y()) - d.y() * (c.x() - a.x());
      return cross > 0 ? 1 : cross < 0 ? -1 : 0;
    };
    const int s = side(rect.topLeft()) + side(rect.topRight()) + side(rect.bottomLeft()) +
                  side(rect.bottomRight());
    if (std::abs(s) < 4) return true;
  }
  return false;
}

bool EdgeItem::nearCurve(const QPointF& point, double r) const {
  if (!route_bounds_.adjusted(-r, -r, r, r).contains(point)) return false;
  for (qsizetype i = 1; i < flat_.size(); ++i) {
    const QPointF a = flat_[i - 1], ab = flat_[i] - a;
    const double len2 = QPointF::dotProduct(ab, ab);
    const double t =
        len2 > 0 ? std::clamp(QPointF::dotProduct(point - a, ab) / len2, 0.0, 1.0) : 0.0;
    const QPointF d = point - (a + ab * t);
    if (QPointF::dotProduct(d, d) <= r * r) return true;
  }
  return false;
}

const std::vector<QPointF>& EdgeItem::farPolyline(double lod) {
  // Quarter-octave steps of the level: the tolerance in scene units is that of the step's
  // lower level, so it stays within kFarTolerancePx device pixels at every level of the step.
  const int step = static_cast<int>(std::floor(std::log2(std::max(lod, 1e-6)) * 4));
  if (step == far_step_) return far_points_;
  far_step_ = step;
  far_points_.clear();
  const size_t n = samples_.size();
  if (n < 2) return far_points_;
  const double tolerance = kFarTolerancePx / std::exp2(double(step) / 4);
  const double tol2 = tolerance * tolerance;
  // Douglas-Peucker over the samples: keep the sample farthest from the chord while it is
  // farther than the tolerance.
  std::vector<char> keep(n, 0);
  keep[0] = keep[n - 1] = 1;
  std::vector<std::pair<size_t, size_t>> todo{{0, n - 1}};
  while (!todo.empty()) {
    const auto [a, b] = todo.back();
    todo.pop_back();
    if (b <= a + 1) continue;
    const QPointF p = samples_[a], d = samples_[b] - p;
    const double len2 = QPointF::dotProduct(d, d);
    double worst = -1;
    size_t at = a;
    for (size_t i = a + 1; i < b; ++i) {
      const QPointF v = samples_[i] - p;
      double dist2;
      if (len2 > 0) {
        const double cross = d.x() * v.y() - d.y() * v.x();
        dist2 = cross * cross / len2;
      } else {
        dist2 = QPointF::dotProduct(v, v);
      }
      if (dist2 > worst) {
        worst = dist2;
        at = i;
      }
    }
    if (worst > tol2) {
      keep[at] = 1;
      todo.emplace_back(a, at);
      todo.emplace_back(at, b);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (keep[i]) far_points_.push_back(samples_[i]);
  }
  return far_points_;
}

void EdgeItem::paintStroke(QPainter* painter, const QStyleOptionGraphicsItem* option, double lod,
                           bool selected) {
  const bool detail = lod >= kDetailLevel;
  const QRectF exposed = option->exposedRect;
  ++counters().edge_paints;
  if (focused_) {
    QColor halo = style_.focus;
    halo.setAlpha(80);
    painter->setPen(QPen(halo, width_ + 16, Qt::SolidLine, Qt::RoundCap));
    painter->setBrush(Qt::NoBrush);
    painter->drawPath(path_);
    halo.setAlpha(170);
    painter->setPen(QPen(halo, width_ + 7, Qt::SolidLine, Qt::RoundCap));
    painter->drawPath(path_);
  }
  if (warned_) {
    QColor amber = style_.highlight;
    amber.setAlpha(150);
    painter->setPen(QPen(amber, width_ + 12, Qt::SolidLine, Qt::RoundCap));
    painter->setBrush(Qt::NoBrush);
    painter->drawPath(path_);
  }
  if (selected || highlighted_) {
    QColor glow = selected ? style_.selection : style_.highlight;
    glow.setAlpha(110);
    painter->setPen(QPen(glow, width_ + 8, Qt::SolidLine, Qt::RoundCap));
    painter->setBrush(Qt::NoBrush);
    painter->drawPath(path_);
  }
  // Far out, the curve is drawn as its samples (the same curve to a fraction of a pixel) and an
  // idle edge is thin and faded rather than dashed: stroking dashes costs more than the rest.
  const bool dashed = edge_.idle() && detail;
  QPen pen(color_, width_, dashed ? Qt::DashLine : Qt::SolidLine, Qt::RoundCap);
  if (!detail) {
    // Whole device pixels (a hairline for most edges): what setEdge() compares to decide
    // whether a new width is seen at all.
    pen.setWidth(lowDetailWidth(width_, lod));
    pen.setCosmetic(true);
  }
  painter->setPen(pen);
  painter->setBrush(Qt::NoBrush);
  if (!detail && samples_.size() >= 2) {
    const std::vector<QPointF>& points = farPolyline(lod);
    ++counters().edge_draw_calls;
    painter->drawPolyline(points.data(), static_cast<int>(points.size()));
  } else {
    // Zoomed in, a long curve crosses the view: stroking all of it (and filling that outline)
    // costs in proportion to its whole length. Only the runs of the flattened curve near the
    // exposed rect are drawn.
    const double m = width_ + 4;
    const QRectF view = option->exposedRect.adjusted(-m, -m, m, m);
    if (view.contains(route_bounds_) || flat_.size() < 2) {
      ++counters().edge_draw_calls;
      painter->drawPath(path_);
    } else {
      QPolygonF run;
      auto flush = [&] {
        if (run.size() >= 2) {
          ++counters().edge_draw_calls;
          painter->drawPolyline(run);
        }
        run.clear();
      };
      for (qsizetype i = 1; i < flat_.size(); ++i) {
        const QPointF a = flat_[i - 1], b = flat_[i];
        const bool near =
            std::max(a.x(), b.x()) >= view.left() && std::min(a.x(), b.x()) <= view.right() &&
            std::max(a.y(), b.y()) >= view.top() && std::min(a.y(), b.y()) <= view.bottom();
        if (near) {
          if (run.isEmpty()) run << a;
          run << b;
        } else {
          flush();
        }
      }
      flush();
    }
  }
  // The arrowhead is 7 to 16 units long: below a fifth it would be a speck.
  // Zoomed in, a long edge is painted because its bounds meet the view, while its arrowhead and
  // label are far outside it: drawing them anyway (text is shaped even when clipped away) cost
  // more than the part in view.
  if (lod >= kArrowLevel && exposed.intersects(arrow_.boundingRect())) {
    painter->setPen(Qt::NoPen);
    painter->setBrush(color_);
    painter->drawPolygon(arrow_);
  }
}

void EdgeItem::paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget*) {
  const double lod = option->levelOfDetailFromTransform(painter->worldTransform());
  const bool detail = lod >= kDetailLevel;
  const bool selected = option->state & QStyle::State_Selected;
  // Far out, and in a dense view, the FarEdgeLayer draws the stroke and arrowhead of every edge
  // in a few calls; the edge adds only a halo (and its stroke again over it), and in a dense
  // view its label.
  const bool layered =
      far_layer_ != nullptr && !marked(selected) && (!detail || far_layer_->denseAt(lod));
  if (layered && !detail) return;
  // Far out, thousands of edges cross the view: antialiasing them triples the pixels blended
  // for lines a pixel or two wide. (The view does not save the painter's state per item: each
  // item sets what it uses.)
  painter->setRenderHint(QPainter::Antialiasing, detail);
  const QRectF exposed = option->exposedRect;
  if (!layered) paintStroke(painter, option, lod, selected);
  // Labels and badges give way to colour and width when they could not be read.
  if (!detail || !exposed.intersects(label_box_)) return;
  ++counters().edge_labels;

  // Label pill.
  painter->setFont(labelFont());
  QColor pill = style_.node_fill;
  pill.setAlpha(235);
  if (focused_)
    painter->setPen(QPen(style_.focus, 2.2));
  else
    painter->setPen(QPen(color_, selected ? 1.8 : 1));
  painter->setBrush(pill);
  painter->drawRoundedRect(label_rect_, label_rect_.height() / 2, label_rect_.height() / 2);
  painter->setPen(style_.text);
  painter->drawText(label_rect_, Qt::AlignCenter, label_);

  painter->setFont(badgeFont());
  for (const auto& [rect, text] : badge_rects_) {
    QColor fill = text == QLatin1String("fault")    ? style_.critical
                  : text == QLatin1String("canary") ? style_.warning
                                                    : style_.selection;
    painter->setPen(Qt::NoPen);
    painter->setBrush(fill);
    painter->drawRoundedRect(rect, 4, 4);
    painter->setPen(Qt::white);
    painter->drawText(rect, Qt::AlignCenter, text);
  }
}

// ----------------------------------------------------------------------------- MtlsBadgeItem

MtlsBadgeItem::MtlsBadgeItem(QGraphicsItem* edge) : QGraphicsItem(edge) {
  // Clicks go through to the edge (selection); hovering shows this item's tooltip.
  setAcceptedMouseButtons(Qt::NoButton);
  setAcceptHoverEvents(true);
  setVisible(false);
}

void MtlsBadgeItem::setState(const cp::WindowMetrics& m, bool required_by_policy,
                             const GraphStyle& style) {
  const cp::EdgeTransport state = cp::edgeTransport(m.mtls_requests, m.plaintext_requests);
  mtls_ = m.mtls_requests;
  plaintext_ = m.plaintext_requests;
  // The counts are only in the tooltip (built when asked for): the padlock looks the same.
  if (has_state_ && state == state_ && required_by_policy == required_ && style == style_) return;
  ++EdgeItem::counters().restyles;
  has_state_ = true;
  state_ = state;
  required_ = required_by_policy;
  style_ = style;
  update();
}

QString MtlsBadgeItem::toolTip() const {
  ++EdgeItem::counters().texts;
  const uint64_t total = mtls_ + plaintext_;
  QString tip;
  switch (state_) {
    case cp::EdgeTransport::kMtls:
      tip = QStringLiteral("<b>mTLS</b>: all %1 requests of the window used mutual TLS").arg(mtls_);
      break;
    case cp::EdgeTransport::kPlaintext:
      tip = QStringLiteral("<b>Plaintext</b>: %1 requests of the window, none over mTLS")
                .arg(plaintext_);
      break;
    case cp::EdgeTransport::kMixed:
      assert(total > 0);  // mixed: some of each
      tip = QStringLiteral("<b>Mixed</b>: %1 over mTLS, %2 in plaintext (%3 mTLS)")
                .arg(mtls_)
                .arg(plaintext_)
                .arg(formatPercent(double(mtls_) / double(total)));
      break;
    case cp::EdgeTransport::kNone:
      tip = QStringLiteral("<b>mTLS</b> required by policy; no request in the window yet");
      break;
  }
  if (required_ && state_ != cp::EdgeTransport::kNone)
    tip += QStringLiteral("<br>A policy asks for mTLS on this edge.");
  return tip;
}

void MtlsBadgeItem::paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget*) {
  // Gives way with the label it sits next to.
  if (option->levelOfDetailFromTransform(painter->worldTransform()) < EdgeItem::kDetailLevel)
    return;
  painter->setRenderHint(QPainter::Antialiasing);
  const QColor colour = state_ == cp::EdgeTransport::kMtls        ? style_.healthy
                        : state_ == cp::EdgeTransport::kMixed     ? style_.warning
                        : state_ == cp::EdgeTransport::kPlaintext ? style_.critical
                                                                  : style_.muted_text;
  // A disc in the node colour keeps the padlock readable over the edge stroke.
  QColor disc = style_.node_fill;
  disc.setAlpha(235);
  painter->setPen(QPen(colour, 1));
  painter->setBrush(disc);
  painter->drawEllipse(boundingRect().adjusted(0.5, 0.5, -0.5, -0.5));

  const QRectF body(3.5, 6.5, 7, 5);
  painter->setBrush(Qt::NoBrush);
  painter->setPen(QPen(colour, 1.4, Qt::SolidLine, Qt::FlatCap));
  // The shackle: closed over the body, or lifted and swung open for plaintext.
  QPainterPath shackle;
  if (state_ == cp::EdgeTransport::kPlaintext) {
    shackle.moveTo(body.left() + 1.2, body.top() - 1.5);
    shackle.arcTo(QRectF(body.left() + 1.2, body.top() - 6, 4.6, 6), 180, -180);
    shackle.lineTo(body.left() + 5.8, body.top() - 1);
    painter->drawPath(shackle.translated(2.2, -1.2));
  } else {
    shackle.moveTo(body.left() + 1.2, body.top());
    shackle.lineTo(body.left() + 1.2, body.top() - 2);
    shackle.arcTo(QRectF(body.left() + 1.2, body.top() - 5, 4.6, 6), 180, -180);
    shackle.lineTo(body.left() + 5.8, body.top());
    painter->drawPath(shackle);
  }
  painter->setPen(Qt::NoPen);
  if (state_ == cp::EdgeTransport::kNone) {
    painter->setPen(QPen(colour, 1.2));
    painter->drawRoundedRect(body, 1, 1);
  } else if (state_ == cp::EdgeTransport::kMixed) {
    // Half filled: half of the requests (roughly) were protected.
    painter->setPen(QPen(colour, 1.2));
    painter->drawRoundedRect(body, 1, 1);
    painter->setPen(Qt::NoPen);
    painter->setBrush(colour);
    painter->drawRect(QRectF(body.left(), body.top(), body.width() / 2, body.height()));
  } else {
    painter->setBrush(colour);
    painter->drawRoundedRect(body, 1, 1);
  }
}

// ------------------------------------------------------------------------------ FarEdgeLayer

namespace {

// x * a / 255 for the four channels of a premultiplied pixel (as Qt's BYTE_MUL).
inline quint32 byteMul(quint32 x, quint32 a) {
  quint32 t = (x & 0xff00ff) * a;
  t = (t + ((t >> 8) & 0xff00ff) + 0x800080) >> 8;
  t &= 0xff00ff;
  x = ((x >> 8) & 0xff00ff) * a;
  x = (x + ((x >> 8) & 0xff00ff) + 0x800080);
  x &= 0xff00ff00;
  return x | t;
}

}  // namespace

void FarEdgeLayer::drawLines(QImage* image, const QTransform& to_image,
                             const std::vector<QLineF>& lines, QRgb premultiplied, int width) {
  auto* bits = reinterpret_cast<quint32*>(image->bits());
  const qsizetype stride = image->bytesPerLine() / 4;
  const double w = image->width(), h = image->height();
  const int iw = image->width(), ih = image->height();
  const bool opaque = qAlpha(premultiplied) == 255;
  const quint32 inverse = 255 - qAlpha(premultiplied);
  auto plot = [&](int px, int py) {
    quint32& d = bits[py * stride + px];
    d = opaque ? premultiplied : premultiplied + byteMul(d, inverse);
  };
  // A wide line keeps the parts of its width that reach into the image.
  const double margin = (width - 1) / 2.0 + 1;
  for (const QLineF& l : lines) {
    QPointF a = to_image.map(l.p1()), b = to_image.map(l.p2());
    // Liang-Barsky: the part of the segment inside the image (with the margin).
    double t0 = 0, t1 = 1;
    const double dx = b.x() - a.x(), dy = b.y() - a.y();
    bool inside = true;
    auto clip = [&](double p, double q) {
      if (p == 0) {
        if (q < 0) inside = false;
        return;
      }
      const double r = q / p;
      if (p < 0) {
        if (r > t1)
          inside = false;
        else if (r > t0)
          t0 = r;
      } else {
        if (r < t0)
          inside = false;
        else if (r < t1)
          t1 = r;
      }
    };
    const double m = width == 1 ? 0 : margin;
    clip(-dx, a.x() + m);
    clip(dx, w - 0.001 + m - a.x());
    clip(-dy, a.y() + m);
    clip(dy, h - 0.001 + m - a.y());
    if (!inside) continue;
    const QPointF p = a + QPointF(dx, dy) * t0, q = a + QPointF(dx, dy) * t1;
    const double ex = q.x() - p.x(), ey = q.y() - p.y();
    const int steps =
        std::max(1, static_cast<int>(std::ceil(std::max(std::abs(ex), std::abs(ey)))));
    const double sx = ex / steps, sy = ey / steps;
    double x = p.x(), y = p.y();
    if (width == 1) {
      for (int i = 0; i <= steps; ++i, x += sx, y += sy) {
        plot(std::clamp(static_cast<int>(x), 0, iw - 1),
             std::clamp(static_cast<int>(y), 0, ih - 1));
      }
      continue;
    }
    // Wider: a span across the minor axis at each step, as long as the line is wide measured
    // along that axis (width / cos of the slope).
    const bool x_major = std::abs(ex) >= std::abs(ey);
    const double slope = x_major ? (ex != 0 ? ey / ex : 0) : (ey != 0 ? ex / ey : 0);
    const int span =
        std::max(1, static_cast<int>(std::lround(width * std::sqrt(1 + slope * slope))));
    const double half = span / 2.0;
    for (int i = 0; i <= steps; ++i, x += sx, y += sy) {
      if (x_major) {
        const int px = static_cast<int>(std::floor(x));
        if (px < 0 || px >= iw) continue;
        const int from = std::max(0, static_cast<int>(std::floor(y - half + 0.5)));
        const int to = std::min(ih, static_cast<int>(std::floor(y - half + 0.5)) + span);
        for (int py = from; py < to; ++py) plot(px, py);
      } else {
        const int py = static_cast<int>(std::floor(y));
        if (py < 0 || py >= ih) continue;
        const int from = std::max(0, static_cast<int>(std::floor(x - half + 0.5)));
        const int to = std::min(iw, static_cast<int>(std::floor(x - half + 0.5)) + span);
        for (int px = from; px < to; ++px) plot(px, py);
      }
    }
  }
}

FarEdgeLayer::FarEdgeLayer() {
  // Under the edges, which draw their halos (and their strokes again) over it.
  setZValue(0.95);
  setAcceptedMouseButtons(Qt::NoButton);
  setAcceptHoverEvents(false);
  setFlag(ItemUsesExtendedStyleOption);
}

void FarEdgeLayer::setEdges(std::vector<EdgeItem*> edges) {
  edges_ = std::move(edges);
  QRectF r = bounds_;
  for (EdgeItem* e : edges_) {
    e->far_layer_ = this;
    r = r.united(e->boundingRect());
  }
  if (r != bounds_) setBounds(r);
  update();
}

void FarEdgeLayer::setBounds(const QRectF& bounds) {
  if (bounds == bounds_) return;
  prepareGeometryChange();
  bounds_ = bounds;
}

void FarEdgeLayer::include(const QRectF& rect) {
  if (!bounds_.contains(rect)) setBounds(bounds_.united(rect));
}

void FarEdgeLayer::changed() { update(); }

void FarEdgeLayer::paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget*) {
  const double lod = option->levelOfDetailFromTransform(painter->worldTransform());
  // Closer in it draws only a dense view, at that view's level.
  const bool dense = lod >= EdgeItem::kDetailLevel;
  if (dense && !denseAt(lod)) return;
  const bool arrows = lod >= EdgeItem::kArrowLevel;
  const QRectF exposed = option->exposedRect;
  for (Bucket& b : buckets_) {
    b.lines.clear();
    b.arrows.clear();
    // Arrowheads all turn the same way round: overlapping ones add up instead of cancelling.
    b.arrows.setFillRule(Qt::WindingFill);
    b.used = false;
  }
  for (EdgeItem* e : edges_) {
    if (!e->isVisible() || !exposed.intersects(e->bounds_)) continue;
    const QRgb colour = e->color_.rgba();
    const int width = EdgeItem::lowDetailWidth(e->width_, lod);
    const bool idle = e->edge_.idle();
    auto bucket = std::find_if(buckets_.begin(), buckets_.end(), [&](const Bucket& b) {
      return b.colour == colour && b.width == width && b.idle == idle;
    });
    if (bucket == buckets_.end()) {
      buckets_.push_back(
          Bucket{colour, width, idle, idle ? -1 : static_cast<int>(e->health_), {}, {}});
      bucket = buckets_.end() - 1;
      bucket->arrows.setFillRule(Qt::WindingFill);
    }
    bucket->used = true;
    if (dense) {
      // Zoomed in, the 48 samples of a long curve would be visibly off it: the flattened curve
      // (as the edge strokes it), only its segments near the exposed rect.
      const double m = e->width_ + 2;
      const QRectF near = exposed.adjusted(-m, -m, m, m);
      const QPolygonF& flat = e->flat_;
      for (qsizetype i = 1; i < flat.size(); ++i) {
        const QPointF a = flat[i - 1], b = flat[i];
        if (std::max(a.x(), b.x()) >= near.left() && std::min(a.x(), b.x()) <= near.right() &&
            std::max(a.y(), b.y()) >= near.top() && std::min(a.y(), b.y()) <= near.bottom())
          bucket->lines.emplace_back(a, b);
      }
    } else {
      const std::vector<QPointF>& points = e->farPolyline(lod);
      for (size_t i = 1; i < points.size(); ++i)
        bucket->lines.emplace_back(points[i - 1], points[i]);
    }
    if (arrows && exposed.intersects(e->arrow_.boundingRect()))
      bucket->arrows.addPolygon(e->arrow_);
  }
  // Unhealthy edges over healthy ones, busier (wider) over thinner, whatever order the edges
  // came in.
  std::stable_sort(buckets_.begin(), buckets_.end(), [](const Bucket& a, const Bucket& b) {
    return a.rank != b.rank ? a.rank < b.rank : a.width < b.width;
  });
  const double opacity = painter->opacity();
  // Onto a raster device (the view, the minimap, a PNG export) without rotation: every line
  // drawn into one image by a plain DDA (a span across the line per step for wider pens) and
  // composed in one drawImage(). The raster engine's cosmetic stroker cost about 15 ns a pixel
  // (a span and a blend call per pixel), and far out a dense graph covers the view about twice
  // over: most of a frame; zoomed in on a dense view, stroking thousands of wide curves cost
  // half a second.
  QPaintEngine* engine = painter->paintEngine();
  const QTransform world = painter->worldTransform();
  QPaintDevice* device = painter->device();
  const bool raster = engine != nullptr && engine->type() == QPaintEngine::Raster &&
                      device != nullptr && world.type() <= QTransform::TxScale;
  bool drawn_lines = false;
  if (raster) {
    const QRectF area = world.mapRect(exposed).adjusted(-1, -1, 1, 1) &
                        QRectF(0, 0, device->width(), device->height());
    const double dpr = device->devicePixelRatioF();
    const QSize size = (area.size() * dpr).toSize() + QSize(1, 1);
    if (!area.isEmpty() && size.width() * qint64(size.height()) <= 64 * 1024 * 1024) {
      if (image_.size() != size) image_ = QImage(size, QImage::Format_ARGB32_Premultiplied);
      image_.setDevicePixelRatio(1);
      image_.fill(Qt::transparent);
      const QTransform to_image = world * QTransform::fromTranslate(-area.left(), -area.top()) *
                                  QTransform::fromScale(dpr, dpr);
      for (const Bucket& b : buckets_) {
        if (!b.used) continue;
        const QColor c = QColor::fromRgba(b.colour);
        const int alpha = std::clamp(
            static_cast<int>(std::lround(c.alpha() * opacity * (b.idle ? 0.45 : 1.0))), 0, 255);
        drawLines(&image_, to_image, b.lines,
                  qPremultiply(qRgba(c.red(), c.green(), c.blue(), alpha)),
                  std::max(1, static_cast<int>(std::lround(b.width * dpr))));
      }
      image_.setDevicePixelRatio(dpr);
      painter->save();
      painter->setOpacity(1);
      painter->resetTransform();
      ++EdgeItem::counters().edge_draw_calls;
      painter->drawImage(area.topLeft(), image_);
      painter->restore();
      drawn_lines = true;
    }
  }
  // Other devices (SVG, print): whole device pixels without antialiasing, one drawLines() per
  // pen (square caps: the raster engine's fast path for lines). Arrowheads one filled path per
  // pen, smooth when zoomed in.
  for (const Bucket& b : buckets_) {
    if (!b.used) continue;
    // Idle edges are faded (EdgeItem's opacity).
    painter->setOpacity(b.idle ? opacity * 0.45 : opacity);
    if (!drawn_lines) {
      painter->setRenderHint(QPainter::Antialiasing, false);
      QPen pen(QColor::fromRgba(b.colour), b.width, Qt::SolidLine, Qt::SquareCap);
      pen.setCosmetic(true);
      painter->setPen(pen);
      painter->setBrush(Qt::NoBrush);
      ++EdgeItem::counters().edge_draw_calls;
      painter->drawLines(b.lines.data(), static_cast<int>(b.lines.size()));
    }
    if (!b.arrows.isEmpty()) {
      painter->setRenderHint(QPainter::Antialiasing, dense);
      ++EdgeItem::counters().edge_draw_calls;
      painter->fillPath(b.arrows, QColor::fromRgba(b.colour));
    }
  }
  painter->setOpacity(opacity);
  // A graph restyled into new colours must not keep growing the list.
  if (buckets_.size() > 64) buckets_.clear();
}

// ------------------------------------------------------------------------------ TrafficLayer

TrafficLayer::TrafficLayer(QWidget* viewport) : viewport_(viewport) {
  setZValue(1.5);
  setAcceptedMouseButtons(Qt::NoButton);
  setFlag(ItemHasNoContents, false);
  // Without it the exposed rect is the whole layer (the whole graph): every busy edge of the
  // graph had its dots drawn (and clipped away) in every frame zoomed in.
  setFlag(ItemUsesExtendedStyleOption);
}

void TrafficLayer::setEdges(std::vector<EdgeItem*> edges) { edges_ = std::move(edges); }

void TrafficLayer::setBounds(const QRectF& bounds) {
  prepareGeometryChange();
  bounds_ = bounds;
}

void TrafficLayer::advance(double seconds) {
  clock_ += seconds;
  update();
}

void TrafficLayer::paint(QPainter* painter, const QStyleOptionGraphicsItem* option,
                         QWidget* widget) {
  if (widget != viewport_) return;
  // Far out the dots would be specks over thousands of edges: colour and width say it.
  const double lod = option->levelOfDetailFromTransform(painter->worldTransform());
  if (lod < kDotLevel) return;
  // A dense view: thousands of edges cross it, and dots on all of them say nothing more.
  if (dense_level_ > 0 && std::abs(lod - dense_level_) <= 1e-6 * dense_level_) return;
  painter->setRenderHint(QPainter::Antialiasing);
  painter->setPen(Qt::NoPen);
  const QRectF exposed = option->exposedRect;
  const QRectF in_view = exposed.adjusted(-3, -3, 3, 3);
  for (EdgeItem* e : edges_) {
    if (!e->isVisible() || e->edge().idle()) continue;
    if (!exposed.intersects(e->boundingRect())) continue;
    const double rps = e->trafficRate();
    // Speed and density grow with the request rate on a log scale: 1 rps crawls, 1000 races.
    const double speed = 0.18 + 0.14 * std::log10(1.0 + rps);
    const int dots = std::clamp(1 + static_cast<int>(std::log2(1.0 + rps / 4)), 1, 6);
    QColor c = e->color().lighter(125);
    painter->setBrush(c);
    const double seed = double(std::hash<std::string>{}(e->edge().source) % 97) / 97.0;
    for (int i = 0; i < dots; ++i) {
      const double t = std::fmod(clock_ * speed + seed + double(i) / dots, 1.0);
      const QPointF p = e->pointAt(t);
      // A dot passing under the label would blot out its digits; one out of view is not drawn.
      if (e->labelBox().contains(p) || !in_view.contains(p)) continue;
      painter->drawEllipse(p, 2.6, 2.6);
    }
  }
}

}  // namespace meshdeck::ui
