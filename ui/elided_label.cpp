#include "ui/elided_label.h"

#include <QEvent>
#include <QPainter>
#include <algorithm>

namespace meshdeck::ui {

ElidedLabel::ElidedLabel(const QString& text, QWidget* parent) : QFrame(parent), text_(text) {
  setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
  updateToolTip();
}

void ElidedLabel::setText(const QString& text) {
  if (text == text_) return;
  text_ = text;
  updateGeometry();
  updateToolTip();
  update();
}

bool ElidedLabel::isElided() const {
  return fontMetrics().horizontalAdvance(text_) > contentsRect().width();
}

QSize ElidedLabel::sizeHint() const {
  const QMargins m = contentsMargins();
  return {fontMetrics().horizontalAdvance(text_) + m.left() + m.right() + 2,
          fontMetrics().height() + m.top() + m.bottom()};
}

QSize ElidedLabel::minimumSizeHint() const {
  const QMargins m = contentsMargins();
  const int few = fontMetrics().horizontalAdvance(QStringLiteral("Mmmm…"));
  return {std::min(sizeHint().width(), few + m.left() + m.right()),
          fontMetrics().height() + m.top() + m.bottom()};
}

void ElidedLabel::paintEvent(QPaintEvent* event) {
  QFrame::paintEvent(event);
  QPainter painter(this);
  const QRect r = contentsRect();
  painter.setPen(palette().color(foregroundRole()));
  painter.drawText(r, Qt::AlignLeft | Qt::AlignVCenter,
                   fontMetrics().elidedText(text_, Qt::ElideRight, r.width()));
}

void ElidedLabel::resizeEvent(QResizeEvent* event) {
  QFrame::resizeEvent(event);
  updateToolTip();
}

void ElidedLabel::changeEvent(QEvent* event) {
  QFrame::changeEvent(event);
  if (event->type() == QEvent::FontChange) {
    updateGeometry();
    updateToolTip();
  }
}

void ElidedLabel::updateToolTip() { setToolTip(isElided() ? text_ : QString()); }

}  // namespace meshdeck::ui
