#include "ui/timeline_panel.h"

#include <QAction>
#include <QComboBox>
#include <QDateTime>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QToolButton>
#include <algorithm>
#include <map>

#include "ui/control_plane_client.h"
#include "ui/timeline_axis.h"

namespace meshdeck::ui {

namespace {

using std::chrono::seconds;

// The history keeps 1 min buckets for 30 days (docs/history.md, "Bounds"); beyond a day only
// those.
constexpr seconds kOldest{30 * 24 * 3600};
constexpr seconds kFineFor{24 * 3600};
constexpr seconds kMinSpan{120};
constexpr seconds kStoredMargin{10};
constexpr int kPlayTickMs = 250;
constexpr int kEventsEveryMs = 5000;
constexpr uint32_t kEventLimit = 2000;

QDateTime toDateTime(cp::SystemTime t) {
  return QDateTime::fromMSecsSinceEpoch(
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

}  // namespace

std::shared_ptr<const cp::GraphSnapshot> historicalSnapshot(const cp::HistoricalGraph& past,
                                                            const cp::GraphSnapshot& live,
                                                            cp::SystemTime at,
                                                            uint32_t window_seconds) {
  auto g = std::make_shared<cp::GraphSnapshot>();
  g->time = at;
  g->window_seconds = window_seconds;
  g->policy_revision = past.policy_revision;
  g->topology_version = live.topology_version;
  g->listen_address = live.listen_address;
  std::map<std::string, cp::ServiceNode> services;
  for (const auto& s : live.services) {
    cp::ServiceNode n;
    n.name = s.name;
    n.ns = s.ns;
    n.versions = s.versions;
    n.tier = s.tier;
    n.instances = s.instances;
    services.emplace(s.name, std::move(n));
  }
  for (const auto& s : past.services) {
    auto [it, inserted] = services.try_emplace(s.name, s);
    if (!inserted) {
      it->second.inbound = s.inbound;
      it->second.authorization = s.authorization;
      it->second.health = s.health;
    }
  }
  std::map<cp::EdgeRef, cp::ServiceEdge> edges;
  for (const auto& e : past.edges) edges.emplace(cp::EdgeRef{e.source, e.destination}, e);
  for (const auto& e : live.edges) {
    cp::ServiceEdge idle;
    idle.source = e.source;
    idle.destination = e.destination;
    edges.try_emplace(cp::EdgeRef{e.source, e.destination}, std::move(idle));
  }
  for (auto& [ref, e] : edges) {
    for (const auto* name : {&e.source, &e.destination})
      if (services.find(*name) == services.end()) services[*name].name = *name;
    g->edges.push_back(std::move(e));
  }
  for (auto& [name, n] : services) g->services.push_back(std::move(n));
  return g;
}

TimelinePanel::TimelinePanel(ControlPlaneClient* client, QWidget* parent)
    : QWidget(parent), client_(client) {
  setObjectName(QStringLiteral("timelinePanel"));
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(4, 2, 4, 2);
  layout->setSpacing(4);

  play_button_ = new QToolButton(this);
  play_button_->setObjectName(QStringLiteral("timelinePlay"));
  play_button_->setToolTip(tr("Play the history from the cursor (Space)"));
  live_button_ = new QPushButton(tr("Live"), this);
  live_button_->setObjectName(QStringLiteral("timelineLive"));
  live_button_->setCheckable(true);
  live_button_->setChecked(true);
  live_button_->setToolTip(tr("Back to now: the graph follows the mesh again (L)"));
  speed_box_ = new QComboBox(this);
  speed_box_->setObjectName(QStringLiteral("timelineSpeed"));
  for (double s : {1.0, 10.0, 60.0}) speed_box_->addItem(QStringLiteral("%1×").arg(s), s);
  speed_box_->setToolTip(tr("Replay speed"));
  span_box_ = new QComboBox(this);
  span_box_->setObjectName(QStringLiteral("timelineSpan"));
  const std::pair<QString, int> spans[] = {{tr("15 min"), 900},
                                           {tr("1 h"), 3600},
                                           {tr("6 h"), 6 * 3600},
                                           {tr("24 h"), 24 * 3600},
                                           {tr("7 d"), 7 * 24 * 3600}};
  for (const auto& [label, s] : spans) span_box_->addItem(label, s);
  span_box_->setCurrentIndex(1);
  span_box_->setToolTip(tr("How much of the stored history the timeline shows (the wheel zooms)"));
  axis_ = new TimelineAxis(this);
  moment_label_ = new QLabel(this);
  moment_label_->setObjectName(QStringLiteral("timelineMoment"));
  moment_label_->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Preferred);

  layout->addWidget(live_button_);
  layout->addWidget(play_button_);
  layout->addWidget(speed_box_);
  layout->addWidget(span_box_);
  layout->addWidget(axis_, 1);
  layout->addWidget(moment_label_);

  connect(live_button_, &QPushButton::clicked, this, [this] {
    if (live_)
      live_button_->setChecked(true);  // Live is where we are: a click changes nothing
    else
      goLive();
  });
  connect(play_button_, &QToolButton::clicked, this, &TimelinePanel::togglePlay);
  connect(speed_box_, &QComboBox::currentIndexChanged, this,
          [this](int i) { speed_ = speed_box_->itemData(i).toDouble(); });
  connect(span_box_, &QComboBox::currentIndexChanged, this,
          [this](int i) { setSpan(seconds(span_box_->itemData(i).toInt())); });
  connect(axis_, &TimelineAxis::scrubbed, this, [this](cp::SystemTime at) {
    if (playing_) togglePlay();
    showMoment(at);
  });
  connect(axis_, &TimelineAxis::markerClicked, this, &TimelinePanel::onMarkerClicked);
  connect(axis_, &TimelineAxis::zoomRequested, this, &TimelinePanel::onZoom);

  auto action = [this](const QString& text, const QKeySequence& key, auto slot) {
    auto* a = new QAction(text, this);
    a->setShortcut(key);
    a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(a, &QAction::triggered, this, slot);
    addAction(a);
    return a;
  };
  play_action_ =
      action(tr("Timeline: Play / Pause"), QKeySequence(Qt::Key_Space), [this] { togglePlay(); });
  live_action_ = action(tr("Timeline: Live"), QKeySequence(Qt::Key_L), [this] { goLive(); });
  step_actions_ = {action(tr("Timeline: Back 10 s"), QKeySequence(Qt::Key_Left),
                          [this] { stepBy(seconds(-10)); }),
                   action(tr("Timeline: Forward 10 s"), QKeySequence(Qt::Key_Right),
                          [this] { stepBy(seconds(10)); }),
                   action(tr("Timeline: Back 1 min"), QKeySequence(Qt::SHIFT | Qt::Key_Left),
                          [this] { stepBy(seconds(-60)); }),
                   action(tr("Timeline: Forward 1 min"), QKeySequence(Qt::SHIFT | Qt::Key_Right),
                          [this] { stepBy(seconds(60)); })};

  play_timer_.setInterval(kPlayTickMs);
  connect(&play_timer_, &QTimer::timeout, this, &TimelinePanel::playTick);
  events_timer_.setInterval(kEventsEveryMs);
  connect(&events_timer_, &QTimer::timeout, this, [this] {
    if (!isVisible()) return;
    if (!range_end_) emit selectedRangeChanged(selectedRange().first, selectedRange().second);
    refreshEvents();
  });
  events_timer_.start();
  updateAxis();
  updateControls();
}

cp::SystemTime TimelinePanel::now() const {
  return now_ ? *now_ : std::chrono::system_clock::now();
}

std::pair<cp::SystemTime, cp::SystemTime> TimelinePanel::selectedRange() const {
  const cp::SystemTime end = range_end_ ? std::min(*range_end_, now()) : now();
  cp::SystemTime from = end - span_;
  // Following now with a history that starts within the span: the axis starts with it (a young
  // history would otherwise be a sliver at the right end).
  if (stored_from_ && !range_end_)
    from = std::max(from, std::min(*stored_from_ - kStoredMargin, end - kMinSpan));
  return {from, end};
}

QString TimelinePanel::momentText() const {
  if (live_) return tr("Live");
  const QString when = toDateTime(cursor_).toString(now() - cursor_ > seconds(20 * 3600)
                                                        ? QStringLiteral("yyyy-MM-dd HH:mm:ss")
                                                        : QStringLiteral("HH:mm:ss"));
  if (!moment_) return tr("Viewing %1 …").arg(when);
  if (!moment_->available) return tr("Viewing %1 — no history").arg(when);
  return moment_->policy_revision == 0
             ? tr("Viewing %1 — no policy revision").arg(when)
             : tr("Viewing %1 — revision %2").arg(when).arg(moment_->policy_revision);
}

void TimelinePanel::setNow(cp::SystemTime now, uint32_t window_seconds) {
  const bool first = !now_;
  now_ = now;
  live_window_seconds_ = std::max<uint32_t>(10, window_seconds);
  updateAxis();
  // Until now the range was our clock's; the control plane's may be far from it.
  if (first && isVisible()) refreshEvents();
}

void TimelinePanel::showMoment(cp::SystemTime at) {
  const auto n = now();
  if (at >= n) {
    goLive();
    return;
  }
  at = std::max(at, n - kOldest);
  const bool was_live = live_;
  live_ = false;
  cursor_ = at;
  // Keep the cursor on the axis: a zoomed range moves to hold it.
  const auto [from, to] = selectedRange();
  if (at < from || at > to) range_end_ = std::min(n, at + span_ / 2);
  updateAxis();
  updateControls();
  if (was_live) emit liveChanged(false);
  emit cursorMoved(at);
  fetchMoment();
}

void TimelinePanel::goLive() {
  play_timer_.stop();
  playing_ = false;
  const bool was_live = live_;
  live_ = true;
  moment_.reset();
  updateAxis();
  updateControls();
  if (!was_live) emit liveChanged(true);
  emit cursorMoved(now());
}

void TimelinePanel::togglePlay() {
  if (playing_) {
    playing_ = false;
    play_timer_.stop();
  } else {
    // From live, play starts a span back: there is nothing to replay after now.
    if (live_) showMoment(now() - std::min<seconds>(span_, seconds(600)));
    playing_ = true;
    play_clock_.start();
    play_timer_.start();
  }
  updateControls();
}

void TimelinePanel::setSpeed(double speed) {
  const int i = speed_box_->findData(speed);
  if (i >= 0) speed_box_->setCurrentIndex(i);
  speed_ = speed;
}

void TimelinePanel::stepBy(seconds delta) { showMoment((live_ ? now() : cursor_) + delta); }

void TimelinePanel::setSpan(seconds span) {
  span_ = std::clamp(span, kMinSpan, kOldest);
  range_end_.reset();
  if (!live_) {
    const auto [from, to] = selectedRange();
    if (cursor_ < from) range_end_ = std::min(now(), cursor_ + span_ / 2);
  }
  updateAxis();
  const auto [from, to] = selectedRange();
  emit selectedRangeChanged(from, to);
  refreshEvents();
}

void TimelinePanel::onZoom(double factor, cp::SystemTime around) {
  const auto [from, to] = selectedRange();
  const double share =
      std::chrono::duration<double>(around - from) / std::chrono::duration<double>(to - from);
  span_ = std::clamp(std::chrono::duration_cast<seconds>(span_ * factor), kMinSpan, kOldest);
  // The time under the pointer stays under it.
  const auto end = around + std::chrono::duration_cast<seconds>(span_ * (1 - share));
  if (end >= now())
    range_end_.reset();
  else
    range_end_ = end;
  updateAxis();
  const auto [f, t] = selectedRange();
  emit selectedRangeChanged(f, t);
  refreshEvents();
}

void TimelinePanel::onMarkerClicked(int index) {
  const auto& events = axis_->events();
  if (index < 0 || index >= static_cast<int>(events.size())) return;
  if (playing_) togglePlay();
  // A second after the event, so that what it changed (a revision, a NACK) is in force.
  showMoment(events[static_cast<size_t>(index)].time + seconds(1));
}

void TimelinePanel::playTick() {
  if (!playing_ || live_) return;
  const double elapsed = play_clock_.restart() / 1000.0;
  const auto step = std::chrono::duration_cast<cp::SystemTime::duration>(
      std::chrono::duration<double>(std::max(0.0, elapsed) * speed_));
  showMoment(cursor_ + step);
}

void TimelinePanel::refreshEvents() {
  if (events_fetching_) return;
  events_fetching_ = true;
  // The whole span, not the part the axis shows: the history may have started earlier.
  const cp::SystemTime to = range_end_ ? std::min(*range_end_, now()) : now();
  const cp::SystemTime from = to - span_;
  client_->run<cp::EventList>(
      [from = from, to = to](cp::ControlPlane& cp) {
        return cp.events(from, to + seconds(1), {}, kEventLimit);
      },
      this,
      [this, from](cp::EventList list) {
        events_fetching_ = false;
        // All the span's events came (fewer than the limit): the first is where the stored
        // history starts (the control plane records its start) unless the span starts later.
        if (!range_end_ && list.available && list.events.size() < kEventLimit &&
            !list.events.empty() && list.events.front().time > from)
          stored_from_ = list.events.front().time;
        else if (!range_end_)
          stored_from_.reset();
        axis_->setEvents(std::move(list.events));
        updateAxis();
      });
}

void TimelinePanel::fetchMoment() {
  if (fetching_) {
    fetch_again_ = true;
    return;
  }
  fetching_ = true;
  fetch_again_ = false;
  const cp::SystemTime at = cursor_;
  const uint32_t window = now() - at > kFineFor ? 60 : live_window_seconds_;
  const auto live = client_->latest();
  client_->run<TimelineMoment>(
      [at, window, live](cp::ControlPlane& cp) {
        TimelineMoment m;
        m.time = at;
        m.window_seconds = window;
        const auto past = cp.graphBetween(at - seconds(window), at);
        m.available = past.available;
        m.message = past.message;
        if (!past.available) return m;
        m.snapshot = historicalSnapshot(past, *live, at, window);
        m.policy_revision = past.policy_revision;
        m.revision_author = past.revision_author;
        m.policies = cp.policiesAt(past.policy_revision);
        return m;
      },
      this,
      [this](TimelineMoment m) {
        fetching_ = false;
        // Live again meanwhile: the window shows now, not this.
        if (live_) return;
        moment_ = std::move(m);
        updateControls();
        emit momentLoaded(*moment_);
        if (fetch_again_ || moment_->time != cursor_) {
          fetch_again_ = false;
          fetchMoment();
        }
      });
}

void TimelinePanel::updateAxis() {
  const auto [from, to] = selectedRange();
  axis_->setRange(from, to);
  const uint32_t window = now() - cursor_ > kFineFor ? 60 : live_window_seconds_;
  axis_->setMoment(live_ ? now() : cursor_, live_, seconds(live_ ? 0 : window));
}

void TimelinePanel::updateControls() {
  live_button_->setChecked(live_);
  play_button_->setText(playing_ ? QStringLiteral("⏸") : QStringLiteral("▶"));
  play_button_->setToolTip(playing_ ? tr("Pause (Space)")
                                    : tr("Play the history from the cursor (Space)"));
  moment_label_->setText(momentText());
  moment_label_->setToolTip(
      moment_ && !moment_->revision_author.empty()
          ? tr("Revision %1 by %2; the graph shows the %3 s before this moment")
                .arg(moment_->policy_revision)
                .arg(QString::fromStdString(moment_->revision_author))
                .arg(moment_->window_seconds)
          : QString());
  QFont f = moment_label_->font();
  f.setBold(!live_);
  moment_label_->setFont(f);
  moment_label_->setStyleSheet(live_ ? QStringLiteral("color: #2ea043")
                                     : QStringLiteral("color: palette(highlight)"));
}

void TimelinePanel::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  refreshEvents();
}

}  // namespace meshdeck::ui
