#include "ui/minimap.h"

#include <QMouseEvent>
#include <QPainter>
#include <QScrollBar>
#include <QTimer>

namespace meshdeck::ui {

Minimap::Minimap(QGraphicsView* main_view, QWidget* parent)
    : QGraphicsView(main_view->scene(), parent), main_view_(main_view) {
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setInteractive(false);
  // A change in the scene (traffic dots 30 times a second, every edge on a metric update) does
  // not repaint the overview: on a big graph that repaint cost more than the main view's. It
  // is repainted when the main view moves (at most 4 times a second), at refit(), and once every
  // two seconds.
  setViewportUpdateMode(QGraphicsView::NoViewportUpdate);
  auto* refresh = new QTimer(this);
  refresh->setInterval(2000);
  connect(refresh, &QTimer::timeout, this, [this] {
    if (isVisible()) viewport()->update();
  });
  refresh->start();
  setRenderHint(QPainter::Antialiasing, false);
  setFrameShape(QFrame::Box);
  setCursor(Qt::PointingHandCursor);
  setToolTip(tr("Overview: click to move the view"));
  // The main view moving repaints the overview (its outline of the view) at most 4 times a
  // second: a pan or zoom moves it on every step, and the overview draws the whole graph.
  auto* moved = new QTimer(this);
  moved->setSingleShot(true);
  moved->setInterval(250);
  connect(moved, &QTimer::timeout, this, [this] { viewport()->update(); });
  auto repaint = [moved] {
    if (!moved->isActive()) moved->start();
  };
  connect(main_view_->horizontalScrollBar(), &QScrollBar::valueChanged, this, repaint);
  connect(main_view_->verticalScrollBar(), &QScrollBar::valueChanged, this, repaint);
}

void Minimap::refit() {
  const QRectF r = scene()->itemsBoundingRect().adjusted(-20, -20, 20, 20);
  if (r.isValid()) fitInView(r, Qt::KeepAspectRatio);
  viewport()->update();
}

void Minimap::drawForeground(QPainter* painter, const QRectF&) {
  const QRectF visible = main_view_->mapToScene(main_view_->viewport()->rect()).boundingRect();
  QColor c = palette().color(QPalette::Highlight);
  painter->setPen(QPen(c, 0));
  c.setAlpha(40);
  painter->setBrush(c);
  painter->drawRect(visible);
}

void Minimap::mousePressEvent(QMouseEvent* event) {
  main_view_->centerOn(mapToScene(event->position().toPoint()));
  viewport()->update();
}

void Minimap::mouseMoveEvent(QMouseEvent* event) {
  if (event->buttons() & Qt::LeftButton) mousePressEvent(event);
}

void Minimap::resizeEvent(QResizeEvent* event) {
  QGraphicsView::resizeEvent(event);
  refit();
}

void Minimap::wheelEvent(QWheelEvent* event) { event->ignore(); }

}  // namespace meshdeck::ui
