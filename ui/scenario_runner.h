#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPair>
#include <QString>
#include <QStringList>
#include <optional>

namespace meshdeck::ui {

// An edge of the graph: source -> destination.
using GraphEdge = QPair<QString, QString>;

// One step of a scenario as the player shows it.
struct ScenarioStepInfo {
  QString title;
  QString narration;
  QStringList actions;     // what the step does, in order ("apply TrafficRoute/x")
  QString checkpoint;      // the condition it waits for; empty: no checkpoint
  qint64 within_ms = 0;    // the time the checkpoint has
  QList<GraphEdge> edges;  // the edges the step is about (highlighted while it runs)
};

// A scenario the player can play on the running demo.
struct ScenarioInfo {
  QString name;  // what start() takes
  QString title;
  QString description;
  QList<ScenarioStepInfo> steps;
};

// What a playing scenario just did. Per run, in order: kScenarioStarted; per step kStepStarted,
// one kActionDone per action (or kActionFailed, which ends the run), for a step with a
// checkpoint kCheckpointStarted then kCheckpointPassed or kCheckpointFailed (which ends the
// run); finally kScenarioFinished, also when the run was stopped or refused.
struct ScenarioProgress {
  enum class Kind {
    kScenarioStarted,
    kStepStarted,
    kActionDone,
    kActionFailed,
    kCheckpointStarted,
    kCheckpointPassed,
    kCheckpointFailed,
    kScenarioFinished
  };
  Kind kind = Kind::kScenarioStarted;
  QString scenario;  // ScenarioInfo::name
  int step = -1;     // step events
  int action = -1;   // action events
  // Step title; what an action did and the answer; a checkpoint's condition, the value that
  // passed it or why it failed; a summary at the end.
  QString text;
  std::optional<double> value;  // checkpoint passed/failed: the last value seen
  qint64 at_ms = 0;             // since the scenario started
  qint64 within_ms = 0;         // kCheckpointStarted: the time the checkpoint has
  bool passed = false;          // kScenarioFinished
  bool cancelled = false;       // kScenarioFinished: stopped or refused before the end
  int steps_completed = 0;      // kScenarioFinished
};

// Plays scenarios on a running demo mesh. The UI's only door to the scenario engine (which
// lives in the control plane's fleet and never sees Qt); the app implements it over its demo
// session.
//
// Threading: create, use and destroy on the GUI thread; signals are emitted on the GUI thread.
class ScenarioRunner : public QObject {
  Q_OBJECT

 public:
  using QObject::QObject;

  // The scenarios written for the running demo, sorted by name. Available before the demo is
  // up, so the user can read them while it starts.
  virtual QList<ScenarioInfo> scenarios() const = 0;
  // The demo is up (its first complete graph is in).
  virtual bool ready() const = 0;
  // Plays scenario `name` (it starts as soon as the demo is up). Returns false with the reason
  // when it cannot (unknown, unreadable, one already playing, no demo running).
  virtual bool start(const QString& name, QString* error) = 0;
  // Stops the playing scenario; it reports kScenarioFinished (cancelled). The demo keeps
  // running.
  virtual void stop() = 0;

 signals:
  void readyChanged(bool ready);
  void progress(const meshdeck::ui::ScenarioProgress& event);
};

}  // namespace meshdeck::ui

Q_DECLARE_METATYPE(meshdeck::ui::ScenarioProgress)
