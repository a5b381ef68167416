#pragma once

#include <QColor>
#include <QWidget>
#include <chrono>
#include <vector>

#include "controlplane/api/types.h"

namespace meshdeck::ui {

// The time axis of the timeline (ui/timeline_panel.h): the range shown, its ticks, the stored
// events as markers coloured by kind, the cursor (the moment the window shows) and "now" at the
// right end. A press or drag on the axis moves the cursor (scrubbing); a click on a marker jumps
// to its event; hovering a marker names its events in a tooltip; the wheel zooms the range
// around the pointer. It draws and reports; TimelinePanel decides.
//
// Threading: GUI thread only.
class TimelineAxis : public QWidget {
  Q_OBJECT

 public:
  explicit TimelineAxis(QWidget* parent = nullptr);

  // The range drawn, [from, to]; `to` is usually now.
  void setRange(cp::SystemTime from, cp::SystemTime to);
  cp::SystemTime rangeFrom() const { return from_; }
  cp::SystemTime rangeTo() const { return to_; }
  // The moment shown and the window of metrics that ends there (drawn as a band behind the
  // cursor); live: the cursor sits at the right end, drawn as "now".
  void setMoment(cp::SystemTime at, bool live, std::chrono::seconds window = {});
  // Events to mark, oldest first.
  void setEvents(std::vector<cp::MeshEvent> events);
  const std::vector<cp::MeshEvent>& events() const { return events_; }

  // Where a time is drawn (x in widget coordinates) and the time at an x.
  double xOf(cp::SystemTime t) const;
  cp::SystemTime timeAt(double x) const;
  // The index of the event whose marker is under `x` (within a few pixels; the nearest), or -1.
  int markerAt(double x) const;
  // The colour of an event kind's markers: NACKs red, policy changes violet, scenario steps
  // teal, health changes amber, fleet restarts orange, proxies green, identity blue, the rest
  // grey.
  static QColor colourOf(const std::string& kind);

  QSize sizeHint() const override { return {600, 44}; }
  QSize minimumSizeHint() const override { return {200, 40}; }

 signals:
  // The user pressed or dragged on the axis (not on a marker): show this moment.
  void scrubbed(meshdeck::cp::SystemTime at);
  // The user clicked the marker of events()[index].
  void markerClicked(int index);
  // The wheel asks for a range `factor` times as long (< 1: zoom in), centred near `at`.
  void zoomRequested(double factor, meshdeck::cp::SystemTime at);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  bool event(QEvent* event) override;

 private:
  QRectF track() const;  // the band markers and the cursor live in

  cp::SystemTime from_{}, to_{};
  cp::SystemTime cursor_{};
  std::chrono::seconds window_{};
  bool live_ = true;
  bool dragging_ = false;
  std::vector<cp::MeshEvent> events_;
};

}  // namespace meshdeck::ui
