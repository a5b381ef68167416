#include "ui/graph_view.h"

#include <QEvent>
#include <QGraphicsScene>
#include <QMouseEvent>
#include <QPainter>
#include <QScrollBar>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

#include "ui/graph_items.h"
#include "ui/minimap.h"

namespace meshdeck::ui {

void LayoutWorker::layout(quint64 generation, const LayoutInput& input) {
  emit laidOut(generation, computeLayout(input));
}

GraphView::GraphView(QWidget* parent)
    : QGraphicsView(parent), scene_(new QGraphicsScene(this)), worker_(new LayoutWorker) {
  qRegisterMetaType<LayoutInput>();
  qRegisterMetaType<LayoutResult>();
  qRegisterMetaType<GraphSelection>();
  setScene(scene_);
  // BSP indexing pays off for hit tests on big graphs; items move rarely.
  scene_->setItemIndexMethod(QGraphicsScene::BspTreeIndex);
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

  traffic_ = new TrafficLayer(viewport());
  scene_->addItem(traffic_);
  minimap_ = new Minimap(this, this);
  minimap_->resize(200, 130);
  minimap_->hide();
  connect(horizontalScrollBar(), &QScrollBar::valueChanged, this,
          &GraphView::updateMinimapVisibility);
  connect(verticalScrollBar(), &QScrollBar::valueChanged, this,
          &GraphView::updateMinimapVisibility);

  connect(scene_, &QGraphicsScene::selectionChanged, this,
          [this] { emit selectionChanged(selection()); });
  animation_.setInterval(33);
  connect(&animation_, &QTimer::timeout, this, [this] {
    const double dt = frame_clock_.isValid() ? double(frame_clock_.restart()) / 1000.0 : 0.0;
    traffic_->advance(std::min(dt, 0.2));
  });
  frame_clock_.start();
  animation_.start();
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
  snapshot_ = std::move(snapshot);
  bool topology_changed = false;

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
    node->setService(s, style_, thresholds_);
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
    if (src == dst) continue;
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
  }
  for (auto it = edges_.begin(); it != edges_.end();) {
    if (!seen_edges.contains(it.key())) {
      EdgeItem* item = it.value();
      item->sourceNode()->removeEdge(item);
      item->destinationNode()->removeEdge(item);
      delete item;
      it = edges_.erase(it);
      topology_changed = true;
    } else {
      ++it;
    }
  }
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (!seen_nodes.contains(it.key())) {
      delete it.value();
      it = nodes_.erase(it);
      topology_changed = true;
    } else {
      ++it;
    }
  }
  if (topology_changed) {
    std::vector<EdgeItem*> all;
    all.reserve(static_cast<size_t>(edges_.size()));
    for (EdgeItem* e : edges_) all.push_back(e);
    traffic_->setEdges(std::move(all));
    layout_wanted_ = true;
    sendLayout();
  }
  applyFilters();
}

void GraphView::sendLayout() {
  if (layout_in_flight_ || !layout_wanted_) return;
  LayoutInput input;
  input.nodes.reserve(static_cast<size_t>(nodes_.size()));
  for (auto it = nodes_.cbegin(); it != nodes_.cend(); ++it) {
    input.nodes.push_back({it.key(), QSizeF(NodeItem::kWidth, NodeItem::kHeight)});
  }
  for (EdgeItem* e : edges_) {
    input.edges.push_back({e->sourceNode()->name(), e->destinationNode()->name()});
  }
  layout_wanted_ = false;
  layout_in_flight_ = true;
  emit requestLayout(++generation_, input);
}

void GraphView::onLaidOut(quint64 generation, const LayoutResult& result) {
  layout_in_flight_ = false;
  if (generation == generation_ && result.ok) {
    ++layouts_done_;
    last_layout_ms_ = result.milliseconds;
    // Keeping places only helps when the old picture meant something: services registered
    // before any traffic stand in one column, so when most edges are new, every service that
    // the user did not pin moves to the new layout.
    int new_edges = 0;
    for (auto it = edges_.cbegin(); it != edges_.cend(); ++it) {
      if (!laid_out_edges_.contains(it.key())) ++new_edges;
    }
    const bool keep_places = first_layout_done_ && new_edges * 2 <= edges_.size();
    laid_out_edges_.clear();
    for (auto it = edges_.cbegin(); it != edges_.cend(); ++it) laid_out_edges_.insert(it.key());
    // Services already on screen keep their place: new ones are put where the layout wants
    // them, shifted by how far the kept ones sit from their new layout positions on average.
    // A service that had no edge at the last layout (registered, no traffic yet) stood
    // wherever an edgeless layout put it, so it moves like a new one. Pinned ones never move.
    QSet<QString> stays;
    for (auto it = nodes_.cbegin(); it != nodes_.cend(); ++it) {
      NodeItem* node = it.value();
      if (node->pinned() || (node->placed() && keep_places && anchored_.contains(it.key()))) {
        stays.insert(it.key());
      }
    }
    QPointF offset;
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
      const auto pos = result.positions.find(it.key());
      if (pos == result.positions.end() || stays.contains(it.key())) continue;
      // A moving service goes where the layout puts it relative to a neighbour already in
      // place, so it lands next to its caller or callee even when the rest shifted.
      QPointF shift = offset;
      if (kept > 0) {
        for (EdgeItem* e : node->edges()) {
          NodeItem* other = e->sourceNode() == node ? e->destinationNode() : e->sourceNode();
          const auto other_pos = result.positions.find(other->name());
          const bool settled = (stays.contains(other->name()) && !other->pinned()) ||
                               placed_now.contains(other->name());
          if (settled && other_pos != result.positions.end()) {
            shift = other->pos() - other_pos.value();
            break;
          }
        }
      }
      node->placeAt(pos.value() + shift);
      placed_now.insert(it.key());
    }
    anchored_.clear();
    for (EdgeItem* e : edges_) {
      anchored_.insert(e->sourceNode()->name());
      anchored_.insert(e->destinationNode()->name());
    }
    for (auto it = edges_.cbegin(); it != edges_.cend(); ++it) {
      EdgeItem* e = it.value();
      const auto route = result.routes.find(it.key());
      const auto sp = result.positions.find(e->sourceNode()->name());
      const auto dp = result.positions.find(e->destinationNode()->name());
      if (route != result.routes.end() && sp != result.positions.end() &&
          dp != result.positions.end()) {
        e->setLayoutRoute(route.value().translated(offset), sp.value() + offset,
                          dp.value() + offset);
      } else {
        e->adjust();
      }
    }
    updateSceneRect();
    const bool first = !first_layout_done_;
    first_layout_done_ = true;
    // Items placed by this layout become visible here; the fit measures visible items only.
    applyFilters();
    if (first || auto_fit_) fitGraph();
    minimap_->refit();
    updateMinimapVisibility();
    emit layoutFinished(result.milliseconds);
  }
  sendLayout();  // the topology changed again while this layout ran
}

void GraphView::updateSceneRect() {
  QRectF r;
  for (NodeItem* n : nodes_) r = r.united(n->sceneBoundingRect());
  for (EdgeItem* e : edges_) r = r.united(e->sceneBoundingRect());
  traffic_->setBounds(r);
  scene_->setSceneRect(r.adjusted(-400, -300, 400, 300));
}

EdgeBadges GraphView::badgesFor(const cp::ServiceEdge& edge) const {
  EdgeBadges b;
  for (const auto& p : edge.policies) {
    const EdgeBadges pb = policy_badges_.value(QString::fromStdString(p));
    b.mtls |= pb.mtls;
    b.fault |= pb.fault;
    b.canary |= pb.canary;
    b.rate_limit |= pb.rate_limit;
  }
  const auto& m = edge.metrics;
  if (m.faults_injected > 0) b.fault = true;
  if (m.rate_limited > 0) b.rate_limit = true;
  if (m.mtls_requests > 0 && m.plaintext_requests == 0) b.mtls = true;
  return b;
}

void GraphView::setPolicies(const std::vector<cp::PolicyInfo>& policies) {
  policy_badges_.clear();
  for (const auto& p : policies) {
    policy_badges_.insert(QString::fromStdString(p.kind + "/" + p.name), badgesForPolicy(p));
  }
  restyle();
}

void GraphView::restyle() {
  if (!snapshot_) return;
  for (const auto& s : snapshot_->services) {
    if (NodeItem* n = nodes_.value(QString::fromStdString(s.name))) {
      n->setService(s, style_, thresholds_);
    }
  }
  for (const auto& e : snapshot_->edges) {
    if (EdgeItem* item =
            edgeItem(QString::fromStdString(e.source), QString::fromStdString(e.destination))) {
      item->setEdge(e, metric_, badgesFor(e), style_, thresholds_);
    }
  }
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
    bool visible =
        n->placed() && (tier_.isEmpty() || QString::fromStdString(n->service().tier) == tier_);
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
}

int GraphView::find(const QString& text) {
  find_matches_.clear();
  NodeItem* first = nullptr;
  if (!text.trimmed().isEmpty()) {
    QStringList names = nodes_.keys();
    names.sort();
    for (const QString& name : names) {
      if (name.contains(text.trimmed(), Qt::CaseInsensitive)) {
        find_matches_.insert(name);
        if (first == nullptr) first = nodes_.value(name);
      }
    }
  }
  applyFilters();
  if (first != nullptr) {
    scene_->clearSelection();
    first->setSelected(true);
    centerOn(first);
  }
  return static_cast<int>(find_matches_.size());
}

void GraphView::selectNode(const QString& name) {
  if (NodeItem* n = nodes_.value(name)) {
    scene_->clearSelection();
    n->setSelected(true);
    centerOn(n);
  }
}

void GraphView::selectEdge(const QString& source, const QString& destination) {
  if (EdgeItem* e = edgeItem(source, destination)) {
    scene_->clearSelection();
    e->setSelected(true);
    centerOn(e->labelCentre());
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
      if (services.contains(e->destinationNode()->name())) e->setHighlighted(false);
    }
  });
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
  const QRectF r = graphBounds();
  if (!r.isValid()) return;
  fitInView(r.adjusted(-30, -30, 30, 30), Qt::KeepAspectRatio);
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
  const double current = transform().m11();
  const double next = std::clamp(current * factor, 0.05, 4.0);
  scale(next / current, next / current);
  updateMinimapVisibility();
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
  return r;
}

void GraphView::renderGraph(QPainter* painter, const QRectF& target) {
  const QRectF source = graphBounds().adjusted(-20, -20, 20, 20);
  painter->fillRect(target, style_.background);
  const auto selected = scene_->selectedItems();
  scene_->clearSelection();
  // Cached items would be drawn as bitmaps: an SVG would lose its text and a 2x PNG its
  // sharpness. Paint them directly for the export.
  for (NodeItem* n : nodes_) n->setCacheMode(QGraphicsItem::NoCache);
  scene_->render(painter, target, source, Qt::KeepAspectRatio);
  for (NodeItem* n : nodes_) n->setCacheMode(QGraphicsItem::DeviceCoordinateCache);
  for (auto* item : selected) item->setSelected(true);
}

void GraphView::wheelEvent(QWheelEvent* event) {
  const double steps = event->angleDelta().y() / 120.0;
  if (steps == 0) return;
  zoomBy(std::pow(1.15, steps));
  event->accept();
}

void GraphView::resizeEvent(QResizeEvent* event) {
  QGraphicsView::resizeEvent(event);
  placeMinimap();
  if (auto_fit_ && first_layout_done_) fitGraph();
}

void GraphView::mousePressEvent(QMouseEvent* event) {
  // Dragging the background pans: from then on the user owns the viewport.
  if (itemAt(event->position().toPoint()) == nullptr) auto_fit_ = false;
  QGraphicsView::mousePressEvent(event);
}

void GraphView::updateMinimapVisibility() {
  const QRectF visible = mapToScene(viewport()->rect()).boundingRect();
  const QRectF graph = graphBounds();
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
