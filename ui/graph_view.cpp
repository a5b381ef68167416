#include "ui/graph_view.h"

#include <QApplication>
#include <QContextMenuEvent>
#include <QEvent>
#include <QGraphicsScene>
#include <QKeyEvent>
#include <QLabel>
#include <QMenu>
#include <QMouseEvent>
#include <QPainter>
#include <QScrollBar>
#include <QStyleOptionGraphicsItem>
#include <QVariantAnimation>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>
#include <memory>

#include "ui/graph_items.h"
#include "ui/minimap.h"

namespace meshdeck::ui {

void LayoutWorker::layout(quint64 generation, const LayoutInput& input) {
  LayoutResult result = computeLayout(input);
  // A graph Graphviz refuses is still drawn, with the built-in layered layout.
  if (!result.ok) result = computeFastLayeredLayout(input);
  emit laidOut(generation, result);
}

GraphView::GraphView(QWidget* parent)
    : QGraphicsView(parent), scene_(new GraphScene(this)), worker_(new LayoutWorker) {
  qRegisterMetaType<LayoutInput>();
  qRegisterMetaType<LayoutResult>();
  qRegisterMetaType<GraphSelection>();
  setScene(scene_);
  // No index: a BSP tree re-files an item on every geometry change, at a cost that grows with
  // the scene (long edges span many of its leaves), so a restyle of every edge cost O(edges²)
  // and a 5,000-edge graph never appeared. Painting culls by bounding rect in one pass over the
  // items, and hit tests are a linear scan: both cheap next to drawing (docs/graph-scale.md).
  scene_->setItemIndexMethod(QGraphicsScene::NoIndex);
  setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing);
  setDragMode(QGraphicsView::ScrollHandDrag);
  setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
  setViewportUpdateMode(QGraphicsView::SmartViewportUpdate);
  setOptimizationFlags(QGraphicsView::DontSavePainterState);
  setFrameShape(QFrame::NoFrame);
  // The scene reaches well beyond the graph (room to drag nodes): scroll bars would show that
  // margin as a large canvas and take room from the fit. Panning is by dragging; the minimap
  // appears when part of the graph is out of view.
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);

  worker_->moveToThread(&layout_thread_);
  connect(&layout_thread_, &QThread::finished, worker_, &QObject::deleteLater);
  connect(this, &GraphView::requestLayout, worker_, &LayoutWorker::layout, Qt::QueuedConnection);
  connect(worker_, &LayoutWorker::laidOut, this, &GraphView::onLaidOut, Qt::QueuedConnection);
  layout_thread_.setObjectName(QStringLiteral("graph-layout"));
  layout_thread_.start();

  move_animation_ = new QVariantAnimation(this);
  move_animation_->setStartValue(0.0);
  move_animation_->setEndValue(1.0);
  move_animation_->setEasingCurve(QEasingCurve::OutCubic);
  connect(move_animation_, &QVariantAnimation::valueChanged, this,
          [this](const QVariant& value) { onMoveStep(value.toDouble()); });
  connect(move_animation_, &QVariantAnimation::finished, this, [this] { onMoveStep(1.0); });

  traffic_ = new TrafficLayer(viewport());
  scene_->addItem(traffic_);
  far_edges_ = new FarEdgeLayer;
  scene_->addItem(far_edges_);
  minimap_ = new Minimap(this, this);
  minimap_->resize(200, 130);
  minimap_->hide();
  // A child of the view, not of the viewport: panning scrolls the viewport's children.
  empty_message_ = new QLabel(this);
  empty_message_->setObjectName(QStringLiteral("graphEmptyMessage"));
  empty_message_->setAlignment(Qt::AlignCenter);
  empty_message_->setWordWrap(true);
  empty_message_->setAttribute(Qt::WA_TransparentForMouseEvents);
  empty_message_->setContentsMargins(24, 24, 24, 24);
  empty_message_->hide();
  connect(horizontalScrollBar(), &QScrollBar::valueChanged, this,
          &GraphView::updateMinimapVisibility);
  connect(verticalScrollBar(), &QScrollBar::valueChanged, this,
          &GraphView::updateMinimapVisibility);

  connect(scene_, &QGraphicsScene::selectionChanged, this,
          [this] { emit selectionChanged(selection()); });
  animation_.setInterval(33);
  connect(&animation_, &QTimer::timeout, this, [this] {
    const double dt = frame_clock_.isValid() ? double(frame_clock_.restart()) / 1000.0 : 0.0;
    // Zoomed out too far for dots, the layer draws nothing: repainting it (and so every edge
    // under it) 30 times a second would only cost time.
    if (transform().m11() >= TrafficLayer::kDotLevel && !inGesture() && !denseView())
      traffic_->advance(std::min(dt, 0.2));
  });
  frame_clock_.start();
  animation_.start();
  gesture_settle_.setSingleShot(true);
  gesture_settle_.setInterval(kGestureSettleMs);
  connect(&gesture_settle_, &QTimer::timeout, this, [this] {
    gesture_frame_ = QPixmap();
    viewport()->update();
  });
  style_ = GraphStyle::fromPalette(palette());
  setBackgroundBrush(style_.background);
}

GraphView::~GraphView() {
  layout_thread_.quit();
  layout_thread_.wait();
}

EdgeItem* GraphView::edgeItem(const QString& source, const QString& destination) const {
  return edges_.value(LayoutResult::edgeKey(source, destination));
}

void GraphView::showSnapshot(std::shared_ptr<const cp::GraphSnapshot> snapshot) {
  if (!snapshot) return;
  source_ = std::move(snapshot);
  // Above kGroupAbove services single services cannot be read at Fit: group them, once, unless
  // the user chose how to group.
  if (auto_group_ && !group_chosen_ && source_->services.size() > size_t(kGroupAbove)) {
    group_chosen_ = true;
    const bool tiers = std::any_of(source_->services.begin(), source_->services.end(),
                                   [](const cp::ServiceNode& s) { return !s.tier.empty(); });
    group_by_ = tiers ? GroupBy::kTier : GroupBy::kNamespace;
    relayoutAll();
    emit groupByChanged(group_by_);
  }
  display();
}

void GraphView::display() {
  if (!source_) return;
  grouped_ = groupSnapshot(source_, group_by_, expanded_);
  updateGroupHealth();
  std::shared_ptr<const cp::GraphSnapshot> shown = grouped_.snapshot;
  if (!focus_centre_.isEmpty()) {
    const bool present = std::any_of(
        shown->services.begin(), shown->services.end(),
        [this](const cp::ServiceNode& s) { return s.name == focus_centre_.toStdString(); });
    if (present) {
      shown = restrictTo(shown, neighbourhood(*shown, focus_centre_, focus_hops_));
    } else {
      // The focused service went away (or into a collapsed group): the whole graph again.
      focus_centre_.clear();
      relayoutAll();
      emit serviceFocusChanged(QString(), focus_hops_);
    }
  }
  showDisplayed(std::move(shown));
}

void GraphView::updateGroupHealth() {
  group_worst_.clear();
  group_tiers_.clear();
  if (group_by_ == GroupBy::kNone || !source_) return;
  for (const auto& s : source_->services) {
    const QString id = grouped_.group_of.value(QString::fromStdString(s.name));
    const Health h = serviceHealth(s, thresholds_);
    auto it = group_worst_.find(id);
    if (it == group_worst_.end()) {
      group_worst_.insert(id, h);
    } else if (h > it.value()) {
      it.value() = h;
    }
    group_tiers_[id].insert(QString::fromStdString(s.tier));
  }
}

void GraphView::relayoutAll() {
  full_wanted_ = true;
  auto_fit_ = true;
  // The topology of the drawing changes completely: a group change is not the mesh growing.
  last_topology_change_.reset();
}

void GraphView::styleNode(NodeItem* node, const cp::ServiceNode& service) {
  node->setService(service, style_, thresholds_);
  const QString name = node->name();
  if (grouped_.collapsed.contains(name)) {
    node->setGroup(grouped_.labels.value(name), toString(group_by_),
                   static_cast<int>(grouped_.members.value(name).size()),
                   group_worst_.value(name, Health::kIdle), grouped_.inner_rate.value(name));
  }
}

void GraphView::setGroupBy(GroupBy by) {
  group_chosen_ = true;
  if (by == group_by_) return;
  group_by_ = by;
  expanded_.clear();
  focus_centre_.clear();
  relayoutAll();
  display();
  emit groupByChanged(by);
  emit serviceFocusChanged(QString(), focus_hops_);
}

void GraphView::setGroupExpanded(const QString& group, bool expanded) {
  if (!grouped_.members.contains(group) || expanded_.contains(group) == expanded) return;
  if (expanded) {
    expanded_.insert(group);
  } else {
    expanded_.remove(group);
  }
  // Focused on a member of a group that collapses: the focus moves to the group.
  if (!expanded && grouped_.group_of.value(focus_centre_) == group) focus_centre_ = group;
  relayoutAll();
  display();
}

void GraphView::focusService(const QString& node, int hops) {
  QString centre = node;
  // A service inside a collapsed group: focus on it, so its group opens.
  const QString group = grouped_.group_of.value(node);
  if (!nodes_.contains(node) && grouped_.collapsed.contains(group)) expanded_.insert(group);
  focus_centre_ = centre;
  focus_hops_ = std::clamp(hops, 1, 5);
  relayoutAll();
  display();
  emit serviceFocusChanged(focus_centre_, focus_hops_);
  select_after_layout_ = focus_centre_;  // hidden items cannot be selected before it
}

void GraphView::setFocusHops(int hops) {
  hops = std::clamp(hops, 1, 5);
  if (hops == focus_hops_) return;
  focus_hops_ = hops;
  if (focus_centre_.isEmpty()) return;
  relayoutAll();
  display();
  emit serviceFocusChanged(focus_centre_, focus_hops_);
}

void GraphView::clearServiceFocus() {
  if (focus_centre_.isEmpty()) return;
  const QString was = std::exchange(focus_centre_, QString());
  relayoutAll();
  display();
  emit serviceFocusChanged(QString(), focus_hops_);
  select_after_layout_ = was;
}

void GraphView::updateFrames() {
  QSet<QString> wanted;
  if (group_by_ != GroupBy::kNone) {
    for (const QString& group : expanded_) {
      if (!grouped_.members.contains(group)) continue;
      QRectF r;
      for (const QString& member : grouped_.members.value(group)) {
        NodeItem* n = nodes_.value(member);
        if (n != nullptr && n->isVisible()) r = r.united(n->sceneBoundingRect());
      }
      if (!r.isValid()) continue;
      wanted.insert(group);
      GroupFrameItem* frame = frames_.value(group);
      if (frame == nullptr) {
        frame = new GroupFrameItem(group, grouped_.labels.value(group));
        scene_->addItem(frame);
        frames_.insert(group, frame);
      }
      frame->setFrame(r.adjusted(-14, -14, 14, 14), style_);
    }
  }
  for (auto it = frames_.begin(); it != frames_.end();) {
    if (!wanted.contains(it.key())) {
      GroupFrameItem* frame = it.value();
      it = frames_.erase(it);
      delete frame;
    } else {
      ++it;
    }
  }
}

bool GraphView::restyleInPlace(const cp::GraphSnapshot& next) {
  // The services and edges of the last snapshot drawn, in the same order: the items are those
  // of the last call, index for index. What a live update nearly always is.
  const cp::GraphSnapshot* last = snapshot_.get();
  if (last == nullptr || next.services.size() != last->services.size() ||
      next.edges.size() != last->edges.size() || node_order_.size() != next.services.size() ||
      edge_order_.size() != next.edges.size())
    return false;
  for (size_t i = 0; i < next.services.size(); ++i) {
    if (next.services[i].name != last->services[i].name) return false;
  }
  for (size_t i = 0; i < next.edges.size(); ++i) {
    if (next.edges[i].source != last->edges[i].source ||
        next.edges[i].destination != last->edges[i].destination)
      return false;
  }
  for (size_t i = 0; i < next.services.size(); ++i) styleNode(node_order_[i], next.services[i]);
  for (size_t i = 0; i < next.edges.size(); ++i) {
    if (EdgeItem* item = edge_order_[i])
      item->setEdge(next.edges[i], metric_, badgesFor(next.edges[i]), style_, thresholds_);
  }
  return true;
}

void GraphView::showDisplayed(std::shared_ptr<const cp::GraphSnapshot> snapshot) {
  auto batch = std::make_unique<EdgeGeometryBatch>();
  if (restyleInPlace(*snapshot)) {
    snapshot_ = std::move(snapshot);
    batch.reset();
    applyFilters();
    if (!animating()) arrangeLabels();
    return;
  }
  snapshot_ = std::move(snapshot);
  bool topology_changed = false;
  node_order_.clear();
  edge_order_.clear();

  QSet<QString> seen_nodes;
  for (const auto& s : snapshot_->services) {
    const QString name = QString::fromStdString(s.name);
    seen_nodes.insert(name);
    NodeItem* node = nodes_.value(name);
    if (node == nullptr) {
      node = new NodeItem(name);
      node->setVisible(false);  // shown once the layout has placed it
      scene_->addItem(node);
      nodes_.insert(name, node);
      topology_changed = true;
    }
    styleNode(node, s);
    node_order_.push_back(node);
  }
  // Edges may name services the snapshot does not list (traffic from outside the mesh).
  for (const auto& e : snapshot_->edges) {
    for (const auto& endpoint : {e.source, e.destination}) {
      const QString name = QString::fromStdString(endpoint.empty() ? "(outside)" : endpoint);
      if (seen_nodes.contains(name)) continue;
      seen_nodes.insert(name);
      if (!nodes_.contains(name)) {
        auto* node = new NodeItem(name);
        node->setVisible(false);
        scene_->addItem(node);
        nodes_.insert(name, node);
        topology_changed = true;
      }
      cp::ServiceNode placeholder;
      placeholder.name = name.toStdString();
      nodes_.value(name)->setService(placeholder, style_, thresholds_);
    }
  }
  QSet<QString> seen_edges;
  for (const auto& e : snapshot_->edges) {
    const QString src = QString::fromStdString(e.source.empty() ? "(outside)" : e.source);
    const QString dst = QString::fromStdString(e.destination.empty() ? "(outside)" : e.destination);
    if (src == dst) {
      edge_order_.push_back(nullptr);
      continue;
    }
    const QString key = LayoutResult::edgeKey(src, dst);
    seen_edges.insert(key);
    EdgeItem* item = edges_.value(key);
    if (item == nullptr) {
      item = new EdgeItem(nodes_.value(src), nodes_.value(dst));
      item->setVisible(false);
      item->setFocused(focus_.contains(key));
      scene_->addItem(item);
      edges_.insert(key, item);
      topology_changed = true;
    }
    item->setEdge(e, metric_, badgesFor(e), style_, thresholds_);
    edge_order_.push_back(item);
  }
  for (auto it = edges_.begin(); it != edges_.end();) {
    if (!seen_edges.contains(it.key())) {
      // Out of the map first, and deselected while whole: deleting a selected item makes the
      // scene report a new selection, and what that triggers (the inspector, a dock resize, a
      // refit) reads the maps.
      EdgeItem* item = it.value();
      it = edges_.erase(it);
      item->sourceNode()->removeEdge(item);
      item->destinationNode()->removeEdge(item);
      item->setSelected(false);
      delete item;
      topology_changed = true;
    } else {
      ++it;
    }
  }
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (!seen_nodes.contains(it.key())) {
      NodeItem* node = it.value();
      it = nodes_.erase(it);
      node->setSelected(false);
      delete node;
      topology_changed = true;
    } else {
      ++it;
    }
  }
  if (topology_changed) {
    // A change soon after the previous one means the mesh is still coming up (or being
    // rebuilt): lay everything out again rather than patch a picture that is still growing.
    const auto now = clock_->monotonicNow();
    if (!first_layout_done_ || !last_topology_change_ ||
        now - *last_topology_change_ < kStableAfter)
      full_wanted_ = true;
    last_topology_change_ = now;
    std::vector<EdgeItem*> all;
    all.reserve(static_cast<size_t>(edges_.size()));
    for (EdgeItem* e : edges_) all.push_back(e);
    far_edges_->setEdges(all);
    traffic_->setEdges(std::move(all));
    layout_wanted_ = true;
    sendLayout();
  }
  batch.reset();
  applyFilters();
  if (!animating()) arrangeLabels();
}

void GraphView::sendLayout() {
  if (layout_in_flight_ || !layout_wanted_) return;
  // Sorted: QHash order changes from run to run, and dot's result depends on the input order.
  // The same mesh must look the same every time, and one more edge must not reshuffle it.
  LayoutInput input;
  QStringList names = nodes_.keys();
  names.sort();
  input.nodes.reserve(static_cast<size_t>(names.size()));
  for (const QString& name : names) {
    // Members of an expanded group are kept together (a cluster in dot).
    const QString group = grouped_.group_of.value(name);
    input.nodes.push_back({name, QSizeF(NodeItem::kWidth, NodeItem::kHeight),
                           expanded_.contains(group) ? group : QString()});
  }
  QStringList keys = edges_.keys();
  keys.sort();
  input.edges.reserve(static_cast<size_t>(keys.size()));
  for (const QString& key : keys) {
    const EdgeItem* e = edges_.value(key);
    input.edges.push_back({e->sourceNode()->name(), e->destinationNode()->name()});
  }
  layout_wanted_ = false;
  request_full_ = full_wanted_;
  full_wanted_ = false;
  layout_in_flight_ = true;
  emit requestLayout(++generation_, input);
}

void GraphView::onLaidOut(quint64 generation, const LayoutResult& result) {
  layout_in_flight_ = false;
  if (generation == generation_ && result.ok) {
    applyLayout(result, request_full_);
  } else {
    full_wanted_ = full_wanted_ || request_full_;
  }
  sendLayout();  // the topology changed again while this layout ran
}

void GraphView::applyLayout(const LayoutResult& result, bool full) {
  ++layouts_done_;
  last_layout_ms_ = result.milliseconds;
  const QSizeF box(NodeItem::kWidth, NodeItem::kHeight);
  constexpr double kGap = 12;  // the least room between two boxes

  // Keeping places only helps when the old picture meant something: services registered
  // before any traffic stand in one rank, so when most edges are new, everything moves.
  int new_edges = 0;
  for (auto it = edges_.cbegin(); it != edges_.cend(); ++it) {
    if (!laid_out_edges_.contains(it.key())) ++new_edges;
  }
  bool keep_places = !full && first_layout_done_ && new_edges * 2 <= edges_.size();
  laid_out_edges_.clear();
  for (auto it = edges_.cbegin(); it != edges_.cend(); ++it) laid_out_edges_.insert(it.key());

  // Where every service shown goes: pinned ones stay, and with kept places so do the ones
  // already placed that had an edge (one without stood wherever an edgeless layout put it).
  QHash<QString, QPointF> centres;
  QSet<QString> fixed;
  QPointF offset;
  if (keep_places) {
    QSet<QString> stays;
    for (auto it = nodes_.cbegin(); it != nodes_.cend(); ++it) {
      NodeItem* node = it.value();
      if (node->pinned() || (node->placed() && anchored_.contains(it.key())))
        stays.insert(it.key());
    }
    // New services go where the layout wants them, shifted like a neighbour already in place
    // (so they land next to their caller or callee), or by the average shift of the kept ones.
    int kept = 0;
    for (const QString& name : stays) {
      const auto pos = result.positions.find(name);
      if (pos == result.positions.end() || nodes_.value(name)->pinned()) continue;
      offset += nodes_.value(name)->pos() - pos.value();
      ++kept;
    }
    if (kept > 0) offset /= kept;
    QSet<QString> placed_now;
    for (auto it = nodes_.cbegin(); it != nodes_.cend(); ++it) {
      NodeItem* node = it.value();
      if (stays.contains(it.key())) {
        if (node->placed()) centres.insert(it.key(), node->pos());
        fixed.insert(it.key());
        continue;
      }
      const auto pos = result.positions.find(it.key());
      if (pos == result.positions.end()) continue;
      QPointF shift = offset;
      for (EdgeItem* e : node->edges()) {
        NodeItem* other = e->sourceNode() == node ? e->destinationNode() : e->sourceNode();
        const auto other_pos = result.positions.find(other->name());
        const bool settled = (stays.contains(other->name()) && !other->pinned()) ||
                             placed_now.contains(other->name());
        if (settled && other_pos != result.positions.end()) {
          shift = centres.value(other->name(), other->pos()) - other_pos.value();
          break;
        }
      }
      centres.insert(it.key(), pos.value() + shift);
      placed_now.insert(it.key());
    }
    // A new service that would land on another one is moved off it below (separateOverlaps,
    // with every kept service fixed): the services the user knows stay where they are.
  }
  // Every edge is re-routed once, after all moves, not once per end moved.
  auto batch = std::make_unique<EdgeGeometryBatch>();
  if (!keep_places) {
    centres.clear();
    fixed.clear();
    // The whole graph keeps its centre where it was, so a full layout does not jump away from
    // a user who zoomed in.
    offset = QPointF();
    int kept = 0;
    for (auto it = nodes_.cbegin(); it != nodes_.cend(); ++it) {
      const auto pos = result.positions.find(it.key());
      if (pos == result.positions.end() || !it.value()->placed() || it.value()->pinned()) continue;
      offset += it.value()->pos() - pos.value();
      ++kept;
    }
    if (kept > 0) offset /= kept;
    for (auto it = nodes_.cbegin(); it != nodes_.cend(); ++it) {
      NodeItem* node = it.value();
      if (node->pinned()) {
        centres.insert(it.key(), node->pos());
        fixed.insert(it.key());
        continue;
      }
      const auto pos = result.positions.find(it.key());
      if (pos != result.positions.end()) centres.insert(it.key(), pos.value() + offset);
    }
    ++full_layouts_done_;
  }
  separateOverlaps(&centres, fixed, box, kGap);

  anchored_.clear();
  for (EdgeItem* e : edges_) {
    anchored_.insert(e->sourceNode()->name());
    anchored_.insert(e->destinationNode()->name());
  }
  // Routes hold while both ends sit where this layout (shifted) put them; an edge whose end
  // was kept, pinned or moved apart draws its own curve (EdgeItem checks).
  for (auto it = edges_.cbegin(); it != edges_.cend(); ++it) {
    EdgeItem* e = it.value();
    const auto route = result.routes.find(it.key());
    const auto sp = result.positions.find(e->sourceNode()->name());
    const auto dp = result.positions.find(e->destinationNode()->name());
    if (route != result.routes.end() && sp != result.positions.end() &&
        dp != result.positions.end()) {
      e->setLayoutRoute(route.value().translated(offset), sp.value() + offset, dp.value() + offset);
    }
  }
  QHash<QString, QPointF> targets;
  for (auto it = centres.cbegin(); it != centres.cend(); ++it) {
    if (!fixed.contains(it.key())) targets.insert(it.key(), it.value());
  }
  const bool first = !first_layout_done_;
  first_layout_done_ = true;
  moveNodes(targets);
  batch.reset();
  // Items placed by this layout become visible here; the fit measures visible items only.
  applyFilters();
  if (!animating()) arrangeLabels();
  // Fit where the services are going, not where they are; the scene must already reach there
  // or the view cannot scroll to it.
  QRectF going;
  for (auto it = centres.cbegin(); it != centres.cend(); ++it) {
    NodeItem* node = nodes_.value(it.key());
    if (node != nullptr && node->isVisible())
      going = going.united(node->boundingRect().translated(it.value()));
  }
  for (GroupFrameItem* f : frames_) going = going.united(f->sceneBoundingRect());
  updateSceneRect(going);
  if (first || auto_fit_) fitRect(going);
  minimap_->refit();
  updateMinimapVisibility();
  if (!select_after_layout_.isEmpty()) selectNode(std::exchange(select_after_layout_, QString()));
  emit layoutFinished(result.milliseconds);
}

void GraphView::moveNodes(const QHash<QString, QPointF>& targets) {
  move_animation_->stop();
  moves_.clear();
  // Gliding hundreds of services (and re-routing thousands of edges each frame) would stall
  // the GUI thread: big graphs jump.
  const bool glide = animation_ms_ > 0 && nodes_.size() <= 150;
  for (auto it = targets.cbegin(); it != targets.cend(); ++it) {
    NodeItem* node = nodes_.value(it.key());
    if (node == nullptr) continue;
    if (glide && node->placed() && QLineF(node->pos(), it.value()).length() > 0.5) {
      moves_.insert(it.key(), {node->pos(), it.value()});
    } else {
      node->placeAt(it.value());
    }
  }
  if (moves_.isEmpty()) return;
  move_animation_->setDuration(animation_ms_);
  move_animation_->start();
}

void GraphView::onMoveStep(double t) {
  auto batch = std::make_unique<EdgeGeometryBatch>();
  for (auto it = moves_.cbegin(); it != moves_.cend(); ++it) {
    NodeItem* node = nodes_.value(it.key());
    // A service the user grabbed while it moved is theirs.
    if (node == nullptr || node->pinned()) continue;
    const auto& [from, to] = it.value();
    node->placeAt(t >= 1.0 ? to : from + (to - from) * t);
  }
  batch.reset();  // the edges follow before labels are arranged
  if (t >= 1.0) {
    moves_.clear();
    updateFrames();
    arrangeLabels();
    updateSceneRect();
    if (auto_fit_) fitGraph();
    minimap_->refit();
    updateMinimapVisibility();
  }
}

void GraphView::arrangeLabels() {
  // Labels meet where edges cross or fan out: each label (in a fixed order) slides along its
  // curve to the first place that covers no other label and no service. Quadratic in the
  // edges: big graphs keep the midpoints.
  if (edges_.size() > 300) return;
  QStringList keys = edges_.keys();
  keys.sort();
  std::vector<QRectF> taken;
  for (NodeItem* n : nodes_) {
    if (n->isVisible()) taken.push_back(n->sceneBoundingRect().adjusted(4, 4, -4, -4));
  }
  static constexpr double kPlaces[] = {0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.2, 0.8};
  for (const QString& key : keys) {
    EdgeItem* e = edges_.value(key);
    if (!e->isVisible()) continue;
    double best = 0.5;
    for (double t : kPlaces) {
      const QRectF box = e->labelBoxAt(t).adjusted(-2, -2, 2, 2);
      if (std::none_of(taken.begin(), taken.end(),
                       [&box](const QRectF& r) { return r.intersects(box); })) {
        best = t;
        break;
      }
    }
    e->setLabelAt(best);
    taken.push_back(e->labelBoxAt(best));
  }
}

bool GraphView::animating() const {
  return move_animation_->state() == QAbstractAnimation::Running;
}

void GraphView::updateSceneRect(const QRectF& extra) {
  QRectF r = extra;
  for (NodeItem* n : nodes_) r = r.united(n->sceneBoundingRect());
  for (EdgeItem* e : edges_) r = r.united(e->sceneBoundingRect());
  traffic_->setBounds(r);
  far_edges_->setBounds(r);
  scene_->setSceneRect(r.adjusted(-400, -300, 400, 300));
}

EdgeBadges GraphView::badgesFor(const cp::ServiceEdge& edge) const {
  EdgeBadges b;
  for (const auto& p : edge.policies) {
    const cp::PolicyBadges pb = policy_badges_.value(QString::fromStdString(p));
    b.mtls |= pb.mtls;
    b.fault |= pb.fault;
    b.canary |= pb.canary;
    b.rate_limit |= pb.rate_limit;
  }
  const auto& m = edge.metrics;
  if (m.faults_injected > 0) b.fault = true;
  if (m.rate_limited > 0) b.rate_limit = true;
  b.traffic = cp::edgeTransport(m.mtls_requests, m.plaintext_requests);
  return b;
}

void GraphView::setPolicies(const std::vector<cp::PolicyInfo>& policies) {
  policy_badges_.clear();
  for (const auto& p : policies) {
    policy_badges_.insert(QString::fromStdString(p.kind + "/" + p.name), p.badges);
  }
  restyle();
}

void GraphView::restyle() {
  if (!snapshot_) return;
  auto batch = std::make_unique<EdgeGeometryBatch>();
  updateGroupHealth();
  for (const auto& s : snapshot_->services) {
    if (NodeItem* n = nodes_.value(QString::fromStdString(s.name))) styleNode(n, s);
  }
  for (const auto& e : snapshot_->edges) {
    if (EdgeItem* item =
            edgeItem(QString::fromStdString(e.source), QString::fromStdString(e.destination))) {
      item->setEdge(e, metric_, badgesFor(e), style_, thresholds_);
    }
  }
  batch.reset();
  applyFilters();
}

void GraphView::setMetric(EdgeMetric metric) {
  metric_ = metric;
  restyle();
}

void GraphView::setThresholds(const HealthThresholds& thresholds) {
  thresholds_ = thresholds;
  restyle();
}

void GraphView::setHideIdle(bool on) {
  hide_idle_ = on;
  applyFilters();
}

void GraphView::setOnlyUnhealthy(bool on) {
  only_unhealthy_ = on;
  applyFilters();
}

void GraphView::setTierFilter(const QString& tier) {
  tier_ = tier;
  applyFilters();
}

void GraphView::setAnimateTraffic(bool on) {
  animate_ = on;
  traffic_->setVisible(on);
  if (on) {
    frame_clock_.restart();
    animation_.start();
  } else {
    animation_.stop();
  }
}

QStringList GraphView::tiers() const {
  QStringList out;
  // The tiers of the services, grouped or not.
  if (source_) {
    for (const auto& s : source_->services) {
      const QString t = QString::fromStdString(s.tier);
      if (!t.isEmpty() && !out.contains(t)) out << t;
    }
  }
  for (NodeItem* n : nodes_) {
    const QString t = QString::fromStdString(n->service().tier);
    if (!t.isEmpty() && !out.contains(t)) out << t;
  }
  out.sort();
  return out;
}

void GraphView::applyFilters() {
  if (!first_layout_done_) return;
  auto unhealthy = [](Health h) { return h == Health::kWarning || h == Health::kCritical; };
  QSet<NodeItem*> touched_by_unhealthy;
  for (EdgeItem* e : edges_) {
    if (unhealthy(e->health())) {
      touched_by_unhealthy.insert(e->sourceNode());
      touched_by_unhealthy.insert(e->destinationNode());
    }
  }
  for (NodeItem* n : nodes_) {
    // A group is in a tier when one of its members is.
    const bool in_tier = tier_.isEmpty() || QString::fromStdString(n->service().tier) == tier_ ||
                         (n->isGroup() && group_tiers_.value(n->name()).contains(tier_));
    bool visible = n->placed() && in_tier;
    if (only_unhealthy_)
      visible = visible && (unhealthy(n->health()) || touched_by_unhealthy.contains(n));
    n->setVisible(visible);
  }
  for (EdgeItem* e : edges_) {
    bool visible = e->sourceNode()->isVisible() && e->destinationNode()->isVisible();
    if (hide_idle_ && e->edge().idle()) visible = false;
    if (only_unhealthy_ && !unhealthy(e->health())) visible = false;
    e->setVisible(visible);
  }
  for (NodeItem* n : nodes_) n->setHighlighted(find_matches_.contains(n->name()));
  updateFrames();
  updateEmptyMessage();
}

QString GraphView::emptyMessage() const {
  return empty_message_->isHidden() ? QString() : empty_message_->text();
}

void GraphView::updateEmptyMessage() {
  int placed = 0, shown = 0, healthy = 0, idle = 0, in_tier = 0;
  for (NodeItem* n : nodes_) {
    if (!n->placed()) continue;
    ++placed;
    if (n->isVisible()) ++shown;
    if (!tier_.isEmpty() && QString::fromStdString(n->service().tier) != tier_) continue;
    ++in_tier;
    if (n->health() == Health::kHealthy) ++healthy;
    if (n->health() == Health::kIdle) ++idle;
  }
  QString text;
  if (placed > 0 && shown == 0) {
    const QString where =
        tier_.isEmpty() ? QString() : tr(" in tier %1").arg(tier_.toHtmlEscaped());
    if (!only_unhealthy_ || in_tier == 0) {
      text = tr("<b>No services%1</b><br>Choose another tier to see the mesh.").arg(where);
    } else if (idle == 0) {
      const QString all = in_tier == 1 ? tr("the one service is healthy")
                                       : tr("all %1 services are healthy").arg(in_tier);
      text = tr("<b>No unhealthy services%1 — %2</b><br>Turn off “Only unhealthy” to see the "
                "whole mesh.")
                 .arg(where, all);
    } else {
      text = tr("<b>No unhealthy services%1</b> — %2 healthy, %3 idle (no requests)<br>Turn "
                "off “Only unhealthy” to see the whole mesh.")
                 .arg(where)
                 .arg(healthy)
                 .arg(idle);
    }
  }
  empty_message_->setText(text);
  empty_message_->setVisible(!text.isEmpty());
  if (!text.isEmpty()) {
    QPalette pal = empty_message_->palette();
    pal.setColor(QPalette::WindowText, style_.text);
    empty_message_->setPalette(pal);
    empty_message_->setGeometry(viewport()->geometry());
  }
}

int GraphView::find(const QString& text) {
  find_matches_.clear();
  NodeItem* first = nullptr;
  int matches = 0;
  if (!text.trimmed().isEmpty()) {
    // The services drawn, and the members of collapsed groups: a match inside a collapsed
    // group highlights (and selects) the group.
    QStringList names;
    for (auto it = nodes_.cbegin(); it != nodes_.cend(); ++it) {
      if (!it.value()->isGroup()) names << it.key();
    }
    for (const QString& group : grouped_.collapsed) {
      if (nodes_.contains(group)) names << grouped_.members.value(group);
    }
    names.sort();
    for (const QString& name : names) {
      if (name.contains(text.trimmed(), Qt::CaseInsensitive)) {
        ++matches;
        const QString shown = nodes_.contains(name) ? name : grouped_.group_of.value(name);
        find_matches_.insert(shown);
        if (first == nullptr) first = nodes_.value(shown);
      }
    }
  }
  applyFilters();
  if (first != nullptr) {
    scene_->clearSelection();
    first->setSelected(true);
    centerOn(first);
  }
  return matches;
}

void GraphView::selectNode(const QString& name) {
  // A service inside a collapsed group: its group.
  NodeItem* n = nodes_.value(name);
  if (n == nullptr) n = nodes_.value(grouped_.group_of.value(name));
  if (n != nullptr) {
    scene_->clearSelection();
    n->setSelected(true);
    // Scroll only when it is out of sight: a fitted graph stays where the user sees it.
    ensureVisible(n, 24, 24);
  }
}

void GraphView::selectEdge(const QString& source, const QString& destination) {
  if (EdgeItem* e = edgeItem(source, destination)) {
    scene_->clearSelection();
    e->setSelected(true);
    ensureVisible(QRectF(e->labelCentre(), QSizeF(1, 1)), 24, 24);
  }
}

GraphSelection GraphView::selection() const {
  GraphSelection s;
  const auto items = scene_->selectedItems();
  if (items.isEmpty()) return s;
  if (auto* n = qgraphicsitem_cast<NodeItem*>(items.first())) {
    s.kind = GraphSelection::Kind::kNode;
    s.node = n->name();
  } else if (auto* e = qgraphicsitem_cast<EdgeItem*>(items.first())) {
    s.kind = GraphSelection::Kind::kEdge;
    s.source = e->sourceNode()->name();
    s.destination = e->destinationNode()->name();
  }
  return s;
}

void GraphView::highlightDestinations(const QStringList& services, int milliseconds) {
  QList<EdgeItem*> lit;
  for (EdgeItem* e : edges_) {
    if (services.contains(e->destinationNode()->name())) {
      e->setHighlighted(true);
      lit << e;
    }
  }
  QTimer::singleShot(milliseconds, this, [this, services] {
    for (EdgeItem* e : edges_) {
      if (services.contains(e->destinationNode()->name()) &&
          !warning_edges_.contains({e->sourceNode()->name(), e->destinationNode()->name()}))
        e->setHighlighted(false);
    }
  });
}

void GraphView::setWarningEdges(const QList<QPair<QString, QString>>& edges) {
  for (const auto& [source, destination] : warning_edges_)
    if (EdgeItem* e = edgeItem(source, destination)) e->setWarned(false);
  warning_edges_ = edges;
  for (const auto& [source, destination] : warning_edges_)
    if (EdgeItem* e = edgeItem(source, destination)) e->setWarned(true);
}

void GraphView::setFocusEdges(const QList<QPair<QString, QString>>& edges) {
  focus_.clear();
  for (const auto& [source, destination] : edges)
    focus_.insert(LayoutResult::edgeKey(source, destination));
  for (auto it = edges_.cbegin(); it != edges_.cend(); ++it)
    it.value()->setFocused(focus_.contains(it.key()));
}

QList<QPair<QString, QString>> GraphView::focusedEdges() const {
  QList<QPair<QString, QString>> out;
  for (EdgeItem* e : edges_) {
    if (e->focused()) out.append({e->sourceNode()->name(), e->destinationNode()->name()});
  }
  std::sort(out.begin(), out.end());
  return out;
}

void GraphView::fitGraph() {
  auto_fit_ = true;
  fitRect(graphBounds());
}

void GraphView::fitRect(const QRectF& r) {
  if (!r.isValid()) return;
  fitInView(r.adjusted(-24, -24, 24, 24), Qt::KeepAspectRatio);
  // Never blow a small mesh up beyond 1.4x: text would look bloated.
  if (transform().m11() > 1.4) {
    resetTransform();
    scale(1.4, 1.4);
    centerOn(r.center());
  }
  updateMinimapVisibility();
}

void GraphView::zoomBy(double factor) {
  auto_fit_ = false;
  gestureStep();
  const double current = transform().m11();
  const double next = std::clamp(current * factor, 0.05, 4.0);
  scale(next / current, next / current);
  updateMinimapVisibility();
}

void GraphView::panBy(int dx, int dy) {
  auto_fit_ = false;
  gestureStep();
  horizontalScrollBar()->setValue(horizontalScrollBar()->value() + dx);
  verticalScrollBar()->setValue(verticalScrollBar()->value() + dy);
}

void GraphView::resetZoom() {
  auto_fit_ = false;
  resetTransform();
}

QRectF GraphView::graphBounds() const {
  QRectF r;
  for (NodeItem* n : nodes_) {
    if (n->isVisible()) r = r.united(n->sceneBoundingRect());
  }
  for (EdgeItem* e : edges_) {
    if (e->isVisible()) r = r.united(e->sceneBoundingRect());
  }
  for (GroupFrameItem* f : frames_) r = r.united(f->sceneBoundingRect());
  return r;
}

void GraphView::renderGraph(QPainter* painter, const QRectF& target) {
  // An export may draw labels the view far out has not formatted.
  refreshLabels();
  const QRectF source = graphBounds().adjusted(-20, -20, 20, 20);
  painter->fillRect(target, style_.background);
  const auto selected = scene_->selectedItems();
  scene_->clearSelection();
  // Find is a way of looking, not part of the mesh: its highlight stays out of the export.
  for (const QString& name : find_matches_) {
    if (NodeItem* n = nodes_.value(name)) n->setHighlighted(false);
  }
  // Cached items would be drawn as bitmaps: an SVG would lose its text and a 2x PNG its
  // sharpness. Paint them directly for the export.
  for (NodeItem* n : nodes_) n->setCacheMode(QGraphicsItem::NoCache);
  scene_->render(painter, target, source, Qt::KeepAspectRatio);
  for (NodeItem* n : nodes_) n->setCacheMode(QGraphicsItem::DeviceCoordinateCache);
  for (auto* item : selected) item->setSelected(true);
  for (const QString& name : find_matches_) {
    if (NodeItem* n = nodes_.value(name)) n->setHighlighted(true);
  }
}

void GraphView::mouseDoubleClickEvent(QMouseEvent* event) {
  QGraphicsItem* item = itemAt(event->position().toPoint());
  if (auto* node = qgraphicsitem_cast<NodeItem*>(item)) {
    if (node->isGroup()) {
      setGroupExpanded(node->name(), true);
      event->accept();
      return;
    }
    const QString group = grouped_.group_of.value(node->name());
    if (expanded_.contains(group)) {
      setGroupExpanded(group, false);
      event->accept();
      return;
    }
  } else if (auto* frame = qgraphicsitem_cast<GroupFrameItem*>(item)) {
    setGroupExpanded(frame->id(), false);
    event->accept();
    return;
  }
  QGraphicsView::mouseDoubleClickEvent(event);
}

void GraphView::contextMenuEvent(QContextMenuEvent* event) {
  QGraphicsItem* item = itemAt(event->pos());
  QMenu menu(this);
  if (auto* node = qgraphicsitem_cast<NodeItem*>(item)) {
    const QString name = node->name();
    const QString group = grouped_.group_of.value(name);
    if (node->isGroup()) {
      menu.addAction(tr("Expand Group"), this, [this, name] { setGroupExpanded(name, true); });
    } else if (expanded_.contains(group)) {
      menu.addAction(tr("Collapse Group %1").arg(group), this,
                     [this, group] { setGroupExpanded(group, false); });
    }
    menu.addAction(node->isGroup() ? tr("Focus on Group") : tr("Focus on Service"), this,
                   [this, name] { focusService(name, focus_hops_); });
    if (!node->isGroup())
      menu.addAction(tr("Tap Service"), this, [this, name] { emit tapRequested(name, {}); });
  } else if (auto* edge = qgraphicsitem_cast<EdgeItem*>(item);
             edge != nullptr && !edge->sourceNode()->isGroup() &&
             !edge->destinationNode()->isGroup()) {
    const QString source = edge->sourceNode()->name();
    const QString destination = edge->destinationNode()->name();
    menu.addAction(tr("Tap Edge %1 → %2").arg(source, destination), this,
                   [this, source, destination] { emit tapRequested(source, destination); });
  } else if (auto* frame = qgraphicsitem_cast<GroupFrameItem*>(item)) {
    const QString group = frame->id();
    menu.addAction(tr("Collapse Group %1").arg(group), this,
                   [this, group] { setGroupExpanded(group, false); });
  }
  if (!focus_centre_.isEmpty())
    menu.addAction(tr("Clear Focus"), this, &GraphView::clearServiceFocus);
  if (menu.isEmpty()) {
    QGraphicsView::contextMenuEvent(event);
    return;
  }
  menu.exec(event->globalPos());
  event->accept();
}

void GraphView::keyPressEvent(QKeyEvent* event) {
  if (event->key() == Qt::Key_Escape && !focus_centre_.isEmpty()) {
    clearServiceFocus();
    event->accept();
    return;
  }
  QGraphicsView::keyPressEvent(event);
}

void GraphView::wheelEvent(QWheelEvent* event) {
  const double steps = event->angleDelta().y() / 120.0;
  if (steps == 0) return;
  zoomBy(std::pow(1.15, steps));
  event->accept();
}

void GraphView::resizeEvent(QResizeEvent* event) {
  QGraphicsView::resizeEvent(event);
  empty_message_->setGeometry(viewport()->geometry());
  placeMinimap();
  if (auto_fit_ && first_layout_done_) fitGraph();
}

void GraphView::mousePressEvent(QMouseEvent* event) {
  // Dragging the background pans: from then on the user owns the viewport. A click that does
  // not move (to clear the selection) leaves the view fitting the graph.
  if (itemAt(event->position().toPoint()) == nullptr) {
    panning_ = event->button() == Qt::LeftButton;
    press_at_ = event->position().toPoint();
  }
  QGraphicsView::mousePressEvent(event);
}

void GraphView::mouseMoveEvent(QMouseEvent* event) {
  if (panning_ && (event->buttons() & Qt::LeftButton)) {
    if ((event->position().toPoint() - press_at_).manhattanLength() >=
        QApplication::startDragDistance())
      auto_fit_ = false;
    gestureStep();
  }
  QGraphicsView::mouseMoveEvent(event);
}

void GraphView::mouseReleaseEvent(QMouseEvent* event) {
  panning_ = false;
  QGraphicsView::mouseReleaseEvent(event);
}

void GraphView::gestureStep() {
  if (!gesture_frame_.isNull()) {
    gesture_settle_.start();
    return;
  }
  // A graph that repaints in a frame's time is simply repainted.
  if (last_full_paint_ms_ < kGestureFrameMs || !viewport()->isVisible()) return;
  const qreal dpr = viewport()->devicePixelRatioF();
  QPixmap frame(viewport()->size() * dpr);
  frame.setDevicePixelRatio(dpr);
  frame.fill(style_.background);
  {
    QPainter painter(&frame);
    render(&painter, QRectF(QPointF(0, 0), QSizeF(viewport()->size())), viewport()->rect());
  }
  gesture_frame_ = frame;
  gesture_from_ = viewportTransform().inverted();
  gesture_settle_.start();
}

void GraphView::scrollContentsBy(int dx, int dy) {
  QGraphicsView::scrollContentsBy(dx, dy);
  // The frame is drawn moved, not scrolled in pieces.
  if (inGesture()) viewport()->update();
}

bool GraphView::refreshLabels() {
  bool any = false;
  for (EdgeItem* e : edges_) any |= e->refreshLabel();
  return any;
}

void GraphView::paintEvent(QPaintEvent* event) {
  // What the items compare a change with (EdgeItem::setEdge): the level this view draws at.
  auto* scene = static_cast<GraphScene*>(scene_);
  const double was = scene->viewLevel();
  scene->setViewLevel(QStyleOptionGraphicsItem::levelOfDetailFromTransform(viewportTransform()));
  // Zoomed in past the level where labels show: the labels updates left out far out are
  // formatted now (once), before they are drawn.
  if (was < EdgeItem::kDetailLevel && scene->viewLevel() >= EdgeItem::kDetailLevel &&
      refreshLabels() && !animating())
    arrangeLabels();
  // A dense view draws its edges through the FarEdgeLayer (kDenseSpacing).
  if (!inGesture()) {
    const double level = scene->viewLevel();
    const int limit = (viewport()->width() + viewport()->height()) / kDenseSpacing;
    const bool dense =
        dense_views_ && level >= EdgeItem::kDetailLevel && edgesInView(limit + 1) > limit;
    if (const double dense_level = dense ? level : 0.0; dense_level != dense_level_) {
      dense_level_ = dense_level;
      far_edges_->setDenseLevel(dense_level);
      traffic_->setDenseLevel(dense_level);
      // What this paint leaves as it was was drawn the other way.
      if (!event->rect().contains(viewport()->rect())) viewport()->update();
    }
  }
  if (inGesture()) {
    QPainter painter(viewport());
    painter.fillRect(viewport()->rect(), style_.background);
    // Old viewport pixels -> scene -> new viewport pixels.
    painter.setTransform(gesture_from_ * viewportTransform());
    painter.setRenderHint(QPainter::SmoothPixmapTransform);
    painter.drawPixmap(QPointF(0, 0), gesture_frame_);
    return;
  }
  QElapsedTimer timer;
  timer.start();
  QGraphicsView::paintEvent(event);
  // Only a repaint of (nearly) the whole viewport says what a zoom step would cost.
  const QRect r = event->rect();
  if (r.width() * r.height() >= viewport()->width() * viewport()->height() * 3 / 4)
    last_full_paint_ms_ = double(timer.nsecsElapsed()) / 1e6;
}

void GraphView::setDenseViews(bool on) {
  dense_views_ = on;
  viewport()->update();
}

int GraphView::edgesInView(int limit) const {
  const QRectF view = mapToScene(viewport()->rect()).boundingRect();
  int count = 0;
  for (EdgeItem* e : edges_) {
    if (count >= limit) break;
    if (e->isVisible() && e->crosses(view)) ++count;
  }
  return count;
}

void GraphView::updateMinimapVisibility() {
  const QRectF visible = mapToScene(viewport()->rect()).boundingRect();
  // Called at every step of a pan (each scroll bar's change): the services and frames alone, not
  // graphBounds()'s pass over every edge too (25,000 at 5,000 services). An edge runs between
  // two services; the margin below absorbs its curve.
  QRectF graph;
  for (NodeItem* n : nodes_) {
    if (n->isVisible()) graph = graph.united(n->sceneBoundingRect());
  }
  for (GroupFrameItem* f : frames_) graph = graph.united(f->sceneBoundingRect());
  minimap_->setVisible(graph.isValid() && !visible.contains(graph.adjusted(10, 10, -10, -10)));
}

void GraphView::placeMinimap() {
  const QSize s(std::min(220, width() / 4), std::min(140, height() / 4));
  minimap_->resize(s);
  minimap_->move(width() - s.width() - 12, height() - s.height() - 12);
  minimap_->refit();
  updateMinimapVisibility();
}

void GraphView::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange) {
    style_ = GraphStyle::fromPalette(palette());
    setBackgroundBrush(style_.background);
    minimap_->setBackgroundBrush(style_.background);
    restyle();
  }
  QGraphicsView::changeEvent(event);
}

void GraphView::drawBackground(QPainter* painter, const QRectF& rect) {
  painter->fillRect(rect, style_.background);
  // A faint dot grid gives a sense of scale while panning.
  constexpr double kStep = 40;
  if (transform().m11() < 0.35) return;
  painter->setPen(QPen(style_.grid, 2.0 / transform().m11()));
  const double left = std::floor(rect.left() / kStep) * kStep;
  const double top = std::floor(rect.top() / kStep) * kStep;
  QVector<QPointF> points;
  for (double x = left; x < rect.right(); x += kStep) {
    for (double y = top; y < rect.bottom(); y += kStep) points.append(QPointF(x, y));
  }
  painter->drawPoints(points.data(), static_cast<int>(points.size()));
}

}  // namespace meshdeck::ui
