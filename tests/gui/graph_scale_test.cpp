// The graph's cost grows linearly with its size (issue 18), checked by counting, not timing:
// a restyle or a metric update of N edges re-routes none of them and announces at most N
// geometry changes to a scene that keeps no index (a BSP index re-files every changed item at
// a cost that grows with the scene: O(N²) per restyle); a layout re-routes each edge once, not
// once per end moved; dragging a service re-routes only its edges; an update restyles only the
// items whose figures changed and formats no tooltip until the pointer rests on an item. And
// the level of detail: far out, labels give way to colour and width.
#include <QHelpEvent>
#include <QToolTip>
#include <QtTest>
#include <memory>
#include <random>
#include <set>

#include "support/fake_control_plane.h"
#include "ui/graph_items.h"
#include "ui/graph_style.h"
#include "ui/graph_view.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

constexpr int kServices = 400;
constexpr int kEdges = 2000;

// Every metric of every service and edge changed, as the next second brings.
std::shared_ptr<const cp::GraphSnapshot> nextSecond(const cp::GraphSnapshot& base, double f) {
  auto s = std::make_shared<cp::GraphSnapshot>(base);
  auto change = [f](cp::WindowMetrics& m) {
    m.requests_per_second = m.requests_per_second * f + 1;
    m.requests = static_cast<uint64_t>(double(m.requests) * f) + 10;
    m.p50_ms = m.p50_ms * f + 1;
    m.p90_ms = m.p90_ms * f + 2;
    m.p99_ms = m.p99_ms * f + 3;
    m.success_rate = std::max(0.0, m.success_rate - 0.001);
    m.mtls_requests = m.requests;
  };
  for (auto& n : s->services) change(n.inbound);
  for (auto& e : s->edges) change(e.metrics);
  return s;
}

// A random call graph: each edge from a service to any later one, so that many edges are long
// and cross the whole graph (as bench/gen_snapshot.py --shape random).
cp::GraphSnapshot denseSnapshot() {
  cp::GraphSnapshot s = FakeControlPlane::syntheticSnapshot(300, 0, 11);
  std::mt19937 rng(11);
  std::set<std::pair<size_t, size_t>> seen;
  while (s.edges.size() < 3000) {
    const size_t a = rng() % (s.services.size() - 1);
    const size_t b = a + 1 + rng() % (s.services.size() - a - 1);
    if (!seen.insert({a, b}).second) continue;
    cp::ServiceEdge e;
    e.source = s.services[a].name;
    e.destination = s.services[b].name;
    e.metrics.requests = 600;
    e.metrics.requests_per_second = 10;
    e.metrics.p50_ms = 2;
    e.metrics.p90_ms = 4;
    e.metrics.p99_ms = 6;
    e.metrics.success_rate = 1.0;
    s.edges.push_back(std::move(e));
  }
  return s;
}

// How many pixels in `rect` of `image` are dark (text in the light palette).
int darkPixels(const QImage& image, const QRect& rect) {
  int dark = 0;
  for (int y = std::max(0, rect.top()); y <= std::min(image.height() - 1, rect.bottom()); ++y) {
    for (int x = std::max(0, rect.left()); x <= std::min(image.width() - 1, rect.right()); ++x) {
      const QColor c = image.pixelColor(x, y);
      if (c.red() < 90 && c.green() < 90 && c.blue() < 90) ++dark;
    }
  }
  return dark;
}

}  // namespace

class GraphScaleTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    view_ = std::make_unique<ui::GraphView>();
    view_->setAnimationDuration(0);
    view_->resize(1000, 700);
    view_->show();
    QVERIFY(QTest::qWaitForWindowExposed(view_.get()));
    base_ = FakeControlPlane::syntheticSnapshot(kServices, kEdges, 7);
    view_->showSnapshot(std::make_shared<const cp::GraphSnapshot>(base_));
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), quint64(1), 20000);
    QCOMPARE(view_->edgeCount(), static_cast<int>(base_.edges.size()));
    QVERIFY(view_->edgeCount() >= kEdges * 9 / 10);
  }
  void cleanup() { view_.reset(); }

  void sceneKeepsNoIndex() { QCOMPARE(view_->scene()->itemIndexMethod(), QGraphicsScene::NoIndex); }

  void restyleNeitherReroutesNorChangesGeometry() {
    // The path of the stack: the policies panel reports, the view restyles every edge.
    ui::EdgeItem::counters() = {};
    view_->setPolicies({});
    QCOMPARE(ui::EdgeItem::counters().route_rebuilds, quint64(0));
    QCOMPARE(ui::EdgeItem::counters().geometry_changes, quint64(0));
    // Another label metric: every label changes, the curves do not.
    view_->setMetric(ui::EdgeMetric::kRequestRate);
    QCOMPARE(ui::EdgeItem::counters().route_rebuilds, quint64(0));
    QVERIFY2(ui::EdgeItem::counters().geometry_changes <= quint64(view_->edgeCount()),
             qPrintable(QString::number(ui::EdgeItem::counters().geometry_changes)));
  }

  void metricUpdatesStayLinear() {
    ui::EdgeItem::counters() = {};
    const quint64 layouts = view_->layoutsDone();
    for (int second = 1; second <= 5; ++second)
      view_->showSnapshot(nextSecond(base_, 1.0 + 0.1 * second));
    QCOMPARE(view_->layoutsDone(), layouts);  // metrics only: no layout
    QCOMPARE(ui::EdgeItem::counters().route_rebuilds, quint64(0));
    // Labels change width; the bounds leave room for that, so most updates change nothing.
    // At most one announcement per edge and update, whatever the size.
    QVERIFY2(ui::EdgeItem::counters().geometry_changes <= quint64(5 * view_->edgeCount()),
             qPrintable(QString::number(ui::EdgeItem::counters().geometry_changes)));
  }

  void layoutReroutesEachEdgeOnce() {
    // A new service and edge while the topology is still growing: a full layout moves every
    // service; each edge must be re-routed once, not once per end moved.
    auto grown = std::make_shared<cp::GraphSnapshot>(base_);
    cp::ServiceNode n;
    n.name = "newcomer";
    grown->services.push_back(n);
    cp::ServiceEdge e;
    e.source = base_.services.front().name;
    e.destination = "newcomer";
    grown->edges.push_back(e);
    ui::EdgeItem::counters() = {};
    const quint64 layouts = view_->layoutsDone();
    view_->showSnapshot(grown);
    QTRY_COMPARE_WITH_TIMEOUT(view_->layoutsDone(), layouts + 1, 20000);
    QVERIFY(!view_->animating());
    const quint64 edges = quint64(view_->edgeCount());
    QVERIFY2(ui::EdgeItem::counters().route_rebuilds <= edges + 1,
             qPrintable(QStringLiteral("%1 re-routes for %2 edges")
                            .arg(ui::EdgeItem::counters().route_rebuilds)
                            .arg(edges)));
  }

  void draggingAServiceReroutesOnlyItsEdges() {
    ui::NodeItem* node = view_->nodeItem(QString::fromStdString(base_.services[10].name));
    QVERIFY(node != nullptr);
    ui::EdgeItem::counters() = {};
    node->setPos(node->pos() + QPointF(40, 30));
    QCOMPARE(ui::EdgeItem::counters().route_rebuilds, quint64(node->edges().size()));
  }

  void anUpdateThatChangesNothingBuildsNothing() {
    // The same figures again in a new snapshot (a quiet second): no item restyled, no text
    // formatted, no geometry announced.
    ui::EdgeItem::counters() = {};
    for (int second = 0; second < 3; ++second)
      view_->showSnapshot(std::make_shared<const cp::GraphSnapshot>(base_));
    QCOMPARE(ui::EdgeItem::counters().restyles, quint64(0));
    QCOMPARE(ui::EdgeItem::counters().texts, quint64(0));
    QCOMPARE(ui::EdgeItem::counters().geometry_changes, quint64(0));
    QCOMPARE(ui::EdgeItem::counters().route_rebuilds, quint64(0));
  }

  void anUpdateOfOneEdgeTouchesOneItem() {
    auto next = std::make_shared<cp::GraphSnapshot>(base_);
    cp::ServiceEdge& changed = next->edges[17];
    QVERIFY(changed.metrics.requests > 0);
    changed.metrics.p99_ms += 123;  // the label changes; the padlock's state does not
    changed.metrics.requests_per_second *= 2;
    // Close enough for labels to show, and painted there: the scene compares a change with the
    // level the view last drew at, so without this paint the count would depend on whether the
    // fitted (far) view had been painted yet.
    view_->resetZoom();
    view_->viewport()->repaint();
    ui::EdgeItem::counters() = {};
    view_->showSnapshot(next);
    QCOMPARE(ui::EdgeItem::counters().restyles, quint64(1));
    // Its label (the tooltip waits until someone asks).
    QCOMPARE(ui::EdgeItem::counters().texts, quint64(1));
    ui::EdgeItem* item = view_->edgeItem(QString::fromStdString(changed.source),
                                         QString::fromStdString(changed.destination));
    QVERIFY(item != nullptr);
    QCOMPARE(item->edge().metrics.p99_ms, changed.metrics.p99_ms);
  }

  void everyFigureChangedFormatsNoTooltip() {
    // Every service and edge changed: each item is restyled once, and the only texts formatted
    // are the edges' labels, never a tooltip.
    ui::EdgeItem::counters() = {};
    view_->showSnapshot(nextSecond(base_, 1.3));
    const quint64 items = quint64(view_->nodeCount() + 2 * view_->edgeCount());
    QVERIFY2(ui::EdgeItem::counters().restyles <= items,
             qPrintable(QString::number(ui::EdgeItem::counters().restyles)));
    QVERIFY(ui::EdgeItem::counters().restyles >= quint64(view_->edgeCount()));
    QVERIFY2(ui::EdgeItem::counters().texts <= quint64(view_->edgeCount()),
             qPrintable(QString::number(ui::EdgeItem::counters().texts)));
  }

  void farOutOnlyWhatShowsIsRepainted() {
    // New rates alone (no new health): far out an edge is its colour and a hairline, so nothing
    // asks for a repaint; at 1:1 the labels show the rates, so every busy edge does.
    auto busierBy = [this](double f) {
      auto s = std::make_shared<cp::GraphSnapshot>(base_);
      for (auto& e : s->edges) e.metrics.requests_per_second *= f;
      for (auto& n : s->services) n.inbound.requests_per_second *= f;
      return s;
    };
    int busy = 0;
    for (const auto& e : base_.edges) busy += e.idle() ? 0 : 1;
    QVERIFY(busy > kEdges / 2);
    view_->resetTransform();
    view_->scale(0.1, 0.1);
    view_->viewport()->repaint();  // the view now draws at a tenth
    ui::EdgeItem::counters() = {};
    view_->showSnapshot(busierBy(1.05));
    QVERIFY(ui::EdgeItem::counters().restyles >= quint64(busy));
    QCOMPARE(ui::EdgeItem::counters().repaints, quint64(0));

    view_->resetZoom();
    view_->viewport()->repaint();
    ui::EdgeItem::counters() = {};
    view_->showSnapshot(busierBy(1.1));
    QVERIFY2(ui::EdgeItem::counters().repaints >= quint64(busy),
             qPrintable(QString::number(ui::EdgeItem::counters().repaints)));
  }

  void farOutEdgesAreDrawnByOneLayer() {
    // Far out no edge item strokes itself: the FarEdgeLayer draws them all in a few calls,
    // however many edges there are.
    view_->resetTransform();
    view_->scale(0.1, 0.1);
    view_->viewport()->repaint();
    ui::EdgeItem::counters() = {};
    view_->viewport()->repaint();
    QCOMPARE(ui::EdgeItem::counters().edge_paints, quint64(0));
    QVERIFY2(ui::EdgeItem::counters().edge_draw_calls >= 1 &&
                 ui::EdgeItem::counters().edge_draw_calls <= 16,
             qPrintable(QString::number(ui::EdgeItem::counters().edge_draw_calls)));
    // And what it draws is the edges in their health colours.
    const QImage far = view_->viewport()->grab().toImage();
    const ui::GraphStyle style = ui::GraphStyle::fromPalette(view_->palette());
    QList<QRect> boxes;  // the services (their health dots share the colour)
    for (const auto& n : base_.services) {
      if (ui::NodeItem* node = view_->nodeItem(QString::fromStdString(n.name)))
        boxes
            << view_->mapFromScene(node->sceneBoundingRect()).boundingRect().adjusted(-1, -1, 1, 1);
    }
    int healthy = 0;
    for (int y = 0; y < far.height(); ++y) {
      for (int x = 0; x < far.width(); ++x) {
        if (far.pixel(x, y) != style.healthy.rgb()) continue;
        healthy += std::none_of(boxes.begin(), boxes.end(),
                                [&](const QRect& r) { return r.contains(x, y); });
      }
    }
    QVERIFY2(healthy > 200, qPrintable(QString::number(healthy)));

    // A selected edge draws its halo (and its stroke over it) itself: one item, not all.
    ui::EdgeItem* edge = view_->edgeItem(QString::fromStdString(base_.edges[3].source),
                                         QString::fromStdString(base_.edges[3].destination));
    QVERIFY(edge != nullptr);
    edge->setSelected(true);
    view_->viewport()->repaint();
    ui::EdgeItem::counters() = {};
    view_->viewport()->repaint();
    QCOMPARE(ui::EdgeItem::counters().edge_paints, quint64(1));

    // Closer in every edge in view strokes itself again (this graph is not dense at 1:1).
    view_->resetZoom();
    view_->viewport()->repaint();
    QVERIFY(!view_->denseView());
    ui::EdgeItem::counters() = {};
    view_->viewport()->repaint();
    QVERIFY(ui::EdgeItem::counters().edge_paints > 1);
  }

  void aDenseViewDrawsItsEdgesInOneLayer() {
    // A random call graph (edges from earlier services to any later one: long edges crossing
    // the whole graph) at 1:1: hundreds of edges cross the view. No edge strokes itself there:
    // the FarEdgeLayer draws them all in a few calls, and the edges draw only the labels in view.
    cp::GraphSnapshot dense = denseSnapshot();
    ui::GraphView view;
    view.setAnimationDuration(0);
    view.resize(1000, 700);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.showSnapshot(std::make_shared<const cp::GraphSnapshot>(dense));
    QTRY_COMPARE_WITH_TIMEOUT(view.layoutsDone(), quint64(1), 20000);
    view.resetZoom();
    view.centerOn(view.graphBounds().center());
    view.viewport()->repaint();
    QVERIFY(view.denseView());
    const int limit =
        (view.viewport()->width() + view.viewport()->height()) / ui::GraphView::kDenseSpacing;
    QVERIFY(view.edgesInView(100000) > limit);
    ui::EdgeItem::counters() = {};
    view.viewport()->repaint();
    QCOMPARE(ui::EdgeItem::counters().edge_paints, quint64(0));
    // One image for the strokes and one filled path of arrowheads per pen (health colour,
    // width in pixels, idle or not): at most 4 × 9 × 2.
    QVERIFY2(ui::EdgeItem::counters().edge_draw_calls >= 1 &&
                 ui::EdgeItem::counters().edge_draw_calls <= 1 + 72,
             qPrintable(QString::number(ui::EdgeItem::counters().edge_draw_calls)));
    // Labels still show where they are in view, and only there.
    const QRectF visible = view.mapToScene(view.viewport()->rect()).boundingRect();
    quint64 labels_in_view = 0;
    for (const auto& e : dense.edges) {
      ui::EdgeItem* edge =
          view.edgeItem(QString::fromStdString(e.source), QString::fromStdString(e.destination));
      if (edge != nullptr && edge->isVisible() && edge->labelBox().intersects(visible))
        ++labels_in_view;
    }
    QVERIFY(labels_in_view > 0);
    QVERIFY2(ui::EdgeItem::counters().edge_labels >= 1 &&
                 ui::EdgeItem::counters().edge_labels <= labels_in_view,
             qPrintable(QStringLiteral("%1 of %2")
                            .arg(ui::EdgeItem::counters().edge_labels)
                            .arg(labels_in_view)));
    // What the layer drew is the edges, in their health colour, outside the services.
    const QImage image = view.viewport()->grab().toImage();
    const ui::GraphStyle style = ui::GraphStyle::fromPalette(view.palette());
    QList<QRect> boxes;
    for (const auto& n : dense.services) {
      if (ui::NodeItem* node = view.nodeItem(QString::fromStdString(n.name)))
        boxes << view.mapFromScene(node->sceneBoundingRect()).boundingRect().adjusted(-1, -1, 1, 1);
    }
    int healthy = 0;
    for (int y = 0; y < image.height(); ++y) {
      for (int x = 0; x < image.width(); ++x) {
        if (image.pixel(x, y) != style.healthy.rgb()) continue;
        healthy += std::none_of(boxes.begin(), boxes.end(),
                                [&](const QRect& r) { return r.contains(x, y); });
      }
    }
    QVERIFY2(healthy > 2000, qPrintable(QString::number(healthy)));

    // A selected edge in view draws itself (its halo, stroke and label) over the layer: one
    // item, not all of them.
    ui::EdgeItem* selected = nullptr;
    for (const auto& e : dense.edges) {
      ui::EdgeItem* edge =
          view.edgeItem(QString::fromStdString(e.source), QString::fromStdString(e.destination));
      if (edge != nullptr && edge->isVisible() && edge->crosses(visible)) {
        selected = edge;
        break;
      }
    }
    QVERIFY(selected != nullptr);
    selected->setSelected(true);
    view.viewport()->repaint();
    ui::EdgeItem::counters() = {};
    view.viewport()->repaint();
    QCOMPARE(ui::EdgeItem::counters().edge_paints, quint64(1));
    selected->setSelected(false);

    // Zoomed in far enough that few edges cross the view, they stroke themselves again.
    view.resetTransform();
    view.scale(4, 4);
    view.centerOn(view.nodeItem(QString::fromStdString(dense.services.back().name))->pos());
    view.viewport()->repaint();
    if (view.edgesInView(100000) <= limit) {
      QVERIFY(!view.denseView());
      ui::EdgeItem::counters() = {};
      view.viewport()->repaint();
      QVERIFY(ui::EdgeItem::counters().edge_paints >= 1);
    }
  }

  void farOutAnUpdateFormatsNoLabel() {
    // Far out labels are not drawn: an update of every figure formats none of them; zooming in
    // formats each stale one once, before it is drawn, and it says the new figure.
    view_->resetTransform();
    view_->scale(0.1, 0.1);
    view_->viewport()->repaint();
    auto next = nextSecond(base_, 1.7);
    ui::EdgeItem::counters() = {};
    view_->showSnapshot(next);
    QVERIFY(ui::EdgeItem::counters().restyles >= quint64(view_->edgeCount()));
    QCOMPARE(ui::EdgeItem::counters().texts, quint64(0));
    const cp::ServiceEdge& changed = next->edges[5];
    ui::EdgeItem* edge = view_->edgeItem(QString::fromStdString(changed.source),
                                         QString::fromStdString(changed.destination));
    QVERIFY(edge != nullptr);
    QVERIFY(edge->labelStale());
    const QString expected = edge->label();  // formatted on demand from the new figures
    QVERIFY2(expected.contains(ui::formatMetric(changed.metrics, view_->metric())),
             qPrintable(expected));

    view_->resetZoom();
    ui::EdgeItem::counters() = {};
    view_->viewport()->repaint();
    QVERIFY(!edge->labelStale());
    QCOMPARE(edge->label(), expected);
    QVERIFY2(ui::EdgeItem::counters().texts <= quint64(view_->edgeCount()),
             qPrintable(QString::number(ui::EdgeItem::counters().texts)));
    for (const auto& e : next->edges) {
      if (ui::EdgeItem* item = view_->edgeItem(QString::fromStdString(e.source),
                                               QString::fromStdString(e.destination)))
        QVERIFY(!item->labelStale());
    }
    // A second repaint formats nothing more.
    ui::EdgeItem::counters() = {};
    view_->viewport()->repaint();
    QCOMPARE(ui::EdgeItem::counters().texts, quint64(0));
  }

  void aPixelOnTheCurveHitsTheEdge() {
    // The view's hit test for the pixel under the pointer (hover, press) measures the distance
    // to the curve; it agrees with contains().
    view_->resetZoom();
    int checked = 0;
    for (size_t i = 0; i < 40; ++i) {
      const cp::ServiceEdge& e = base_.edges[i];
      ui::EdgeItem* edge =
          view_->edgeItem(QString::fromStdString(e.source), QString::fromStdString(e.destination));
      if (edge == nullptr || !edge->isVisible()) continue;
      const QPointF on = edge->pointAt(0.3);
      view_->centerOn(on);
      const QPoint at = view_->mapFromScene(on);
      QVERIFY(view_->items(at).contains(edge));
      // Well away from the curve and the label (nothing of it within 3 units): not this edge.
      const QPointF off = on + QPointF(0, 40);
      bool clear = true;
      for (int dx = -3; dx <= 3; ++dx) {
        for (int dy = -3; dy <= 3; ++dy) clear = clear && !edge->contains(off + QPointF(dx, dy));
      }
      if (clear) QVERIFY(!view_->items(view_->mapFromScene(off)).contains(edge));
      ++checked;
    }
    QVERIFY(checked > 10);
  }

  void tooltipIsBuiltWhenThePointerRests() {
    view_->showSnapshot(nextSecond(base_, 1.1));
    // At 1:1, the label of an edge that nothing covers there.
    view_->resetZoom();
    ui::EdgeItem* item = nullptr;
    QPoint at;
    const cp::ServiceEdge* e = nullptr;
    for (size_t i = 0; i < 100 && item == nullptr; ++i) {
      e = &base_.edges[i];
      ui::EdgeItem* candidate = view_->edgeItem(QString::fromStdString(e->source),
                                                QString::fromStdString(e->destination));
      if (candidate == nullptr || !candidate->isVisible()) continue;
      view_->centerOn(candidate->labelCentre());
      at = view_->mapFromScene(candidate->labelCentre());
      if (view_->itemAt(at) == candidate) item = candidate;
    }
    QVERIFY(item != nullptr);
    // Nothing is stored in the item: QGraphicsItem's own tooltip stays empty.
    QVERIFY(static_cast<QGraphicsItem*>(item)->toolTip().isEmpty());
    ui::EdgeItem::counters() = {};
    QHelpEvent help(QEvent::ToolTip, at, view_->viewport()->mapToGlobal(at));
    QApplication::sendEvent(view_->viewport(), &help);
    QCOMPARE(ui::EdgeItem::counters().texts, quint64(1));
    const QString arrow = QString::fromStdString(e->source + " → " + e->destination);
    QVERIFY2(QToolTip::text().contains(arrow), qPrintable(QToolTip::text()));
    QCOMPARE(QToolTip::text(), item->toolTip());
    QToolTip::hideText();
  }

  void labelsGiveWayToColourFarOut() {
    // One edge alone in a scene, drawn at 1:1 and at a fifth.
    QGraphicsScene scene;
    const ui::GraphStyle style = ui::GraphStyle::fromPalette(QPalette(Qt::white));
    auto* a = new ui::NodeItem("a");
    auto* b = new ui::NodeItem("b");
    scene.addItem(a);
    scene.addItem(b);
    for (ui::NodeItem* n : {a, b}) {
      cp::ServiceNode service;
      service.name = n->name().toStdString();
      service.tier = "frontend";
      n->setService(service, style, ui::HealthThresholds{});
    }
    a->placeAt(QPointF(0, 0));
    b->placeAt(QPointF(600, 0));
    auto* edge = new ui::EdgeItem(a, b);
    scene.addItem(edge);
    cp::ServiceEdge e;
    e.source = "a";
    e.destination = "b";
    e.metrics.requests = 6000;
    e.metrics.requests_per_second = 100;
    e.metrics.p99_ms = 888;
    e.metrics.success_rate = 1.0;
    edge->setEdge(e, ui::EdgeMetric::kP99, ui::EdgeBadges{}, style, ui::HealthThresholds{});
    const QRectF source = scene.itemsBoundingRect();
    auto render = [&](double scale, QRect* label) {
      QImage image((source.size() * scale).toSize() + QSize(2, 2), QImage::Format_ARGB32);
      image.fill(Qt::white);
      QPainter p(&image);
      scene.render(&p, QRectF(QPointF(0, 0), source.size() * scale), source);
      p.end();
      const QRectF r = edge->labelBox().translated(-source.topLeft());
      *label = QRectF(r.topLeft() * scale, r.size() * scale).toAlignedRect();
      return image;
    };
    QRect near_label, far_label;
    const QImage near = render(1.0, &near_label);
    const QImage far = render(0.2, &far_label);
    QVERIFY(0.2 < ui::EdgeItem::kDetailLevel);
    // Near: the label's digits are there. Far: no text, but the edge keeps its colour.
    QVERIFY(darkPixels(near, near_label) > 10);
    QCOMPARE(darkPixels(far, far_label), 0);
    QCOMPARE(darkPixels(far, far.rect()), 0);  // nor the services' names
    // Where the label was, the curve now shows in its health colour (amber: p99 above the
    // warning threshold; antialiased at under a pixel, so the hue, not the exact colour).
    const QColor amber = edge->color();
    QCOMPARE(amber, style.healthColor(ui::Health::kWarning));
    int coloured = 0;
    for (int y = far_label.top(); y <= far_label.bottom(); ++y) {
      for (int x = far_label.left(); x <= far_label.right(); ++x) {
        const QColor c = far.pixelColor(x, y);
        if (c.hsvSaturation() > 30 && std::abs(c.hsvHue() - amber.hsvHue()) < 25) ++coloured;
      }
    }
    QVERIFY2(coloured >= 3, qPrintable(QString::number(coloured)));
  }

 private:
  std::unique_ptr<ui::GraphView> view_;
  cp::GraphSnapshot base_;
};

QTEST_MAIN(GraphScaleTest)
#include "graph_scale_test.moc"
