#pragma once

#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "controlplane/api/types.h"

class QAction;
class QComboBox;
class QLabel;
class QPushButton;
class QToolButton;

namespace meshdeck::ui {

class ControlPlaneClient;
class TimelineAxis;

// One moment of the past as the window shows it (TimelinePanel::momentLoaded).
struct TimelineMoment {
  cp::SystemTime time{};         // the moment (the end of the window its metrics cover)
  uint32_t window_seconds = 10;  // the metrics cover [time - window, time)
  bool available = false;        // false: the control plane keeps no history (`message`)
  std::string message;
  // The graph of that moment (historicalSnapshot()); null when !available.
  std::shared_ptr<const cp::GraphSnapshot> snapshot;
  uint64_t policy_revision = 0;  // the revision in force then (0: none recorded)
  std::string revision_author;
  // That revision's policies; nullopt when the control plane no longer keeps it.
  std::optional<std::vector<cp::PolicyInfo>> policies;
};

// The graph of a past window from the control plane's history, drawn like a live snapshot:
// the edges and services of `past` with their metrics, health and policies as the control plane
// gave them; the services and edges of `live` that had no traffic then are kept, idle (so the
// layout does not jump while scrubbing), with today's structure (namespace, tier, versions,
// instances); no proxies (the history keeps none).
std::shared_ptr<const cp::GraphSnapshot> historicalSnapshot(const cp::HistoricalGraph& past,
                                                            const cp::GraphSnapshot& live,
                                                            cp::SystemTime at,
                                                            uint32_t window_seconds);

// The timeline under the graph (issue 22, "Time travel"): a time axis over the stored range
// (the last hour by default; 15 min to 7 days, the wheel zooms), the stored events as markers
// (click one to jump there), a cursor to scrub, Play/Pause at 1×, 10× or 60×, step back and
// forward, and Live. While not live it fetches the moment under the cursor — the graph of the
// window ending there (ControlPlane::graphBetween) and the policies of the revision then in
// force (ControlPlane::policiesAt) — off the GUI thread, one fetch at a time (a newer cursor
// replaces a waiting one), and hands it over with momentLoaded(); the window shows it instead of
// the live snapshots until Live. Works the same against a remote control plane (--connect).
//
// Keys (while the timeline or, for Space and L, the graph has focus): Space play/pause, L live,
// Left/Right step 10 s, Shift+Left/Right step 1 min.
//
// Threading: GUI thread only; control-plane calls go through ControlPlaneClient.
class TimelinePanel : public QWidget {
  Q_OBJECT

 public:
  TimelinePanel(ControlPlaneClient* client, QWidget* parent = nullptr);

  bool isLive() const { return live_; }
  bool isPlaying() const { return playing_; }
  // The moment shown (now while live).
  cp::SystemTime cursor() const { return live_ ? now() : cursor_; }
  // The range the axis shows, [from, to] (to: now unless zoomed into the past; from: the span
  // before it, or where the stored history starts when that is later). For reports and exports
  // of "what is on the timeline".
  std::pair<cp::SystemTime, cp::SystemTime> selectedRange() const;
  // The control plane's now: the time of its last live snapshot (its clock, not ours).
  cp::SystemTime now() const;
  double speed() const { return speed_; }
  // "Live", or "Viewing 14:03:20 — revision 7" once that moment is loaded (the author is in the
  // label's tooltip, the policies panel's banner and the status bar).
  QString momentText() const;
  // The last moment loaded (nullopt while live or before the first arrives).
  const std::optional<TimelineMoment>& moment() const { return moment_; }

  TimelineAxis* axis() const { return axis_; }
  QPushButton* liveButton() const { return live_button_; }
  QToolButton* playButton() const { return play_button_; }
  QComboBox* speedBox() const { return speed_box_; }
  QComboBox* spanBox() const { return span_box_; }
  QLabel* momentLabel() const { return moment_label_; }
  // Space, L, Left, Right, Shift+Left, Shift+Right: added to the panel; the window adds the
  // first two to the graph view too.
  QAction* playAction() const { return play_action_; }
  QAction* liveAction() const { return live_action_; }
  QList<QAction*> stepActions() const { return step_actions_; }

 public slots:
  // Leaves live (if needed) and shows moment `at` (clamped to the stored range: at most 30 days
  // back; at or after now: live).
  void showMoment(meshdeck::cp::SystemTime at);
  // Back to now: stops playing, the window follows the live snapshots again.
  void goLive();
  void togglePlay();
  void setSpeed(double speed);
  void stepBy(std::chrono::seconds delta);
  // Shows the last `span` up to now.
  void setSpan(std::chrono::seconds span);
  // The live snapshot's time and window (MainWindow feeds every live snapshot).
  void setNow(meshdeck::cp::SystemTime now, uint32_t window_seconds);
  // Reloads the events of the range shown (also every 5 s while the panel is visible).
  void refreshEvents();

 signals:
  void liveChanged(bool live);
  // The moment under the cursor has been fetched (never while live).
  void momentLoaded(const meshdeck::ui::TimelineMoment& moment);
  // The range shown changed (zoom, span, time passing while it ends at now: at most every 5 s).
  void selectedRangeChanged(meshdeck::cp::SystemTime from, meshdeck::cp::SystemTime to);
  // The cursor moved (scrub, play, step, a marker, live).
  void cursorMoved(meshdeck::cp::SystemTime at);

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  void fetchMoment();
  void onMarkerClicked(int index);
  void onZoom(double factor, cp::SystemTime around);
  void playTick();
  void updateAxis();
  void updateControls();

  ControlPlaneClient* client_;
  TimelineAxis* axis_;
  QPushButton* live_button_;
  QToolButton* play_button_;
  QComboBox* speed_box_;
  QComboBox* span_box_;
  QLabel* moment_label_;
  QAction* play_action_;
  QAction* live_action_;
  QList<QAction*> step_actions_;

  bool live_ = true;
  bool playing_ = false;
  double speed_ = 1;
  cp::SystemTime cursor_{};
  std::optional<cp::SystemTime> now_;  // from setNow(); system clock before the first
  uint32_t live_window_seconds_ = 10;
  std::chrono::seconds span_{3600};
  // The range's end when zoomed into the past; nullopt: it follows now.
  std::optional<cp::SystemTime> range_end_;
  // Where the stored history starts, when it starts within the span (refreshEvents()).
  std::optional<cp::SystemTime> stored_from_;
  std::optional<TimelineMoment> moment_;
  bool fetching_ = false, fetch_again_ = false;
  bool events_fetching_ = false;
  QTimer play_timer_;
  QElapsedTimer play_clock_;
  QTimer events_timer_;
};

}  // namespace meshdeck::ui
