#include "ui/timeline_axis.h"

#include <QDateTime>
#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QToolTip>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

namespace meshdeck::ui {

namespace {

constexpr double kMargin = 8;      // left and right, so the ends' markers show whole
constexpr double kMarkerSlop = 4;  // pixels either side of a marker that still hit it
constexpr int kTooltipEvents = 8;  // events named in one tooltip

double secondsSinceEpoch(cp::SystemTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

QDateTime toDateTime(cp::SystemTime t) {
  return QDateTime::fromMSecsSinceEpoch(
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TimelineAxis::TimelineAxis(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("timelineAxis"));
  setMouseTracking(true);
  setFocusPolicy(Qt::StrongFocus);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  setMinimumHeight(40);
}

void TimelineAxis::setRange(cp::SystemTime from, cp::SystemTime to) {
  if (to <= from) to = from + std::chrono::seconds(1);
  if (from == from_ && to == to_) return;
  from_ = from;
  to_ = to;
  update();
}

void TimelineAxis::setMoment(cp::SystemTime at, bool live, std::chrono::seconds window) {
  cursor_ = at;
  live_ = live;
  window_ = window;
  update();
}

void TimelineAxis::setEvents(std::vector<cp::MeshEvent> events) {
  events_ = std::move(events);
  update();
}

QRectF TimelineAxis::track() const {
  return QRectF(kMargin, 4, std::max(1.0, width() - 2 * kMargin), height() - 22);
}

double TimelineAxis::xOf(cp::SystemTime t) const {
  const QRectF r = track();
  const double a = secondsSinceEpoch(from_), b = secondsSinceEpoch(to_);
  return r.left() + (secondsSinceEpoch(t) - a) / std::max(1e-9, b - a) * r.width();
}

cp::SystemTime TimelineAxis::timeAt(double x) const {
  const QRectF r = track();
  const double share = std::clamp((x - r.left()) / r.width(), 0.0, 1.0);
  const auto span = to_ - from_;
  return from_ + std::chrono::duration_cast<cp::SystemTime::duration>(span * share);
}

int TimelineAxis::markerAt(double x) const {
  int best = -1;
  double best_distance = kMarkerSlop + 0.5;
  for (size_t i = 0; i < events_.size(); ++i) {
    if (events_[i].time < from_ || events_[i].time > to_) continue;
    const double d = std::abs(xOf(events_[i].time) - x);
    // Ties go to the newer event: it is drawn on top.
    if (d <= best_distance) {
      best_distance = d;
      best = static_cast<int>(i);
    }
  }
  return best;
}

QColor TimelineAxis::colourOf(const std::string& kind) {
  if (startsWith(kind, "push.nack")) return QColor(0xd6, 0x33, 0x33);
  if (startsWith(kind, "policy")) return QColor(0x8e, 0x44, 0xd6);
  if (startsWith(kind, "scenario")) return QColor(0x16, 0x9e, 0x9e);
  if (startsWith(kind, "health")) return QColor(0xd9, 0x8e, 0x04);
  if (startsWith(kind, "fleet")) return QColor(0xe0, 0x6c, 0x1a);
  if (startsWith(kind, "proxy")) return QColor(0x3a, 0x9a, 0x4a);
  if (startsWith(kind, "identity")) return QColor(0x2f, 0x6f, 0xd0);
  return QColor(0x88, 0x88, 0x88);
}

void TimelineAxis::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  const QPalette& pal = palette();
  const QRectF r = track();
  p.fillRect(rect(), pal.window());
  p.setPen(Qt::NoPen);
  p.setBrush(pal.base());
  p.drawRoundedRect(r, 3, 3);

  // Ticks: the smallest step that leaves ~90 px between labels.
  const double span = secondsSinceEpoch(to_) - secondsSinceEpoch(from_);
  static constexpr int kSteps[] = {1,   5,    10,   15,   30,    60,    120,   300,  600,
                                   900, 1800, 3600, 7200, 10800, 21600, 43200, 86400};
  int step = kSteps[std::size(kSteps) - 1];
  for (int s : kSteps) {
    if (span / s * 90 <= r.width()) {
      step = s;
      break;
    }
  }
  const QString format = step < 60 ? QStringLiteral("HH:mm:ss") : QStringLiteral("HH:mm");
  QFont small = font();
  small.setPointSizeF(std::max(6.0, small.pointSizeF() * 0.85));
  p.setFont(small);
  const QColor text = pal.color(QPalette::WindowText);
  QColor faint = text;
  faint.setAlphaF(0.25);
  // Local time: align the ticks to the local clock's minutes and hours.
  const qint64 offset = toDateTime(from_).offsetFromUtc();
  const double first = std::ceil((secondsSinceEpoch(from_) + offset) / step) * step - offset;
  for (double t = first; t <= secondsSinceEpoch(to_); t += step) {
    const auto at = cp::SystemTime(
        std::chrono::duration_cast<cp::SystemTime::duration>(std::chrono::duration<double>(t)));
    const double x = xOf(at);
    p.setPen(faint);
    p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()));
    p.setPen(text);
    const QString label = toDateTime(at).toString(format);
    const double w = p.fontMetrics().horizontalAdvance(label);
    p.drawText(QPointF(std::clamp(x - w / 2, 0.0, width() - w), height() - 4), label);
  }

  // The window the graph's metrics cover, behind the markers.
  if (!live_ && window_.count() > 0) {
    QColor band = pal.color(QPalette::Highlight);
    band.setAlphaF(0.25);
    const double a = xOf(cursor_ - window_), b = xOf(cursor_);
    p.fillRect(QRectF(std::min(a, b - 3), r.top(), std::max(3.0, b - a), r.height()), band);
  }

  // Markers, oldest first so that the newest is on top.
  for (const auto& e : events_) {
    if (e.time < from_ || e.time > to_) continue;
    const double x = xOf(e.time);
    const QColor c = colourOf(e.kind);
    p.setPen(QPen(c, 2));
    p.drawLine(QPointF(x, r.top() + 8), QPointF(x, r.bottom() - 2));
    p.setPen(Qt::NoPen);
    p.setBrush(c);
    p.drawEllipse(QPointF(x, r.top() + 5), 3.5, 3.5);
  }

  // The cursor: the moment shown; live, a green "now" at the right end.
  const QColor accent = live_ ? QColor(0x2e, 0xa0, 0x43) : pal.color(QPalette::Highlight);
  const double cx = live_ ? r.right() : xOf(cursor_);
  p.setPen(QPen(accent, 2));
  p.drawLine(QPointF(cx, r.top()), QPointF(cx, r.bottom()));
  QPainterPath handle;
  handle.moveTo(cx - 6, r.top());
  handle.lineTo(cx + 6, r.top());
  handle.lineTo(cx, r.top() + 7);
  handle.closeSubpath();
  p.setPen(Qt::NoPen);
  p.setBrush(accent);
  p.drawPath(handle);
  if (hasFocus()) {
    p.setBrush(Qt::NoBrush);
    p.setPen(QPen(pal.color(QPalette::Highlight), 1, Qt::DotLine));
    p.drawRoundedRect(r.adjusted(0.5, 0.5, -0.5, -0.5), 3, 3);
  }
}

void TimelineAxis::mousePressEvent(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) return QWidget::mousePressEvent(event);
  const double x = event->position().x();
  if (const int marker = markerAt(x); marker >= 0) {
    emit markerClicked(marker);
    return;
  }
  dragging_ = true;
  emit scrubbed(timeAt(x));
}

void TimelineAxis::mouseMoveEvent(QMouseEvent* event) {
  const double x = event->position().x();
  if (dragging_) {
    emit scrubbed(timeAt(x));
    return;
  }
  QWidget::setCursor(markerAt(x) >= 0 ? Qt::PointingHandCursor : Qt::IBeamCursor);
}

void TimelineAxis::mouseReleaseEvent(QMouseEvent* event) {
  if (dragging_ && event->button() == Qt::LeftButton) {
    dragging_ = false;
    emit scrubbed(timeAt(event->position().x()));
    return;
  }
  QWidget::mouseReleaseEvent(event);
}

void TimelineAxis::wheelEvent(QWheelEvent* event) {
  const int delta = event->angleDelta().y();
  if (delta == 0) return QWidget::wheelEvent(event);
  emit zoomRequested(delta > 0 ? 0.5 : 2.0, timeAt(event->position().x()));
  event->accept();
}

bool TimelineAxis::event(QEvent* event) {
  if (event->type() != QEvent::ToolTip) return QWidget::event(event);
  auto* help = static_cast<QHelpEvent*>(event);
  const double x = help->pos().x();
  QStringList lines;
  if (markerAt(x) >= 0) {
    for (const auto& e : events_) {
      if (e.time < from_ || e.time > to_ || std::abs(xOf(e.time) - x) > kMarkerSlop + 0.5) continue;
      if (lines.size() == kTooltipEvents) {
        lines << tr("… and more (zoom in with the wheel)");
        break;
      }
      QString line =
          QStringLiteral("<b>%1</b> <span style='color:%2'>%3</span> %4")
              .arg(toDateTime(e.time).toString(QStringLiteral("HH:mm:ss")), colourOf(e.kind).name(),
                   QString::fromStdString(e.kind).toHtmlEscaped(),
                   QString::fromStdString(e.subject).toHtmlEscaped());
      if (!e.detail.empty())
        line += QStringLiteral(" — ") + QString::fromStdString(e.detail).toHtmlEscaped();
      if (!e.author.empty())
        line += tr(" (by %1)").arg(QString::fromStdString(e.author).toHtmlEscaped());
      lines << line;
    }
    lines << tr("<i>Click to show that moment</i>");
  } else {
    lines << toDateTime(timeAt(x)).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
  }
  QToolTip::showText(help->globalPos(), lines.join(QStringLiteral("<br>")), this);
  return true;
}

}  // namespace meshdeck::ui
