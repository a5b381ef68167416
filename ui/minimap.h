#pragma once

#include <QGraphicsView>

namespace meshdeck::ui {

// An overview of the whole scene in a corner of the graph view: the part the main view shows is
// outlined, and clicking or dragging moves the main view there. It is not repainted by changes
// in the scene (see the constructor): after a move of the main view (at most 4 times a second),
// a refit, and every two seconds.
class Minimap : public QGraphicsView {
  Q_OBJECT

 public:
  Minimap(QGraphicsView* main_view, QWidget* parent);

  // Refits the overview after the scene grew or shrank.
  void refit();

 protected:
  void drawForeground(QPainter* painter, const QRectF& rect) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;

 private:
  QGraphicsView* main_view_;
};

}  // namespace meshdeck::ui
