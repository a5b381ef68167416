#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPair>
#include <QString>
#include <QStringList>

#include "controlplane/api/scenario_event.h"

// The player's progress events are the scenario engine's own (plain C++, controlplane/api); a
// runner may emit them from a queued call, so they are a Qt metatype.
Q_DECLARE_METATYPE(meshdeck::cp::ScenarioEvent)

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

// Plays scenarios on a running demo mesh. The UI's only door to the scenario engine (which
// lives in the control plane's fleet and never sees Qt); the app implements it over its demo
// session.
//
// Threading: create, use and destroy on the GUI thread; signals are emitted on the GUI thread.
class ScenarioRunner : public QObject {
  Q_OBJECT

 public:
  explicit ScenarioRunner(QObject* parent = nullptr) : QObject(parent) {
    qRegisterMetaType<meshdeck::cp::ScenarioEvent>();
  }

  // The scenarios written for the running demo, sorted by name. Available before the demo is
  // up, so the user can read them while it starts.
  virtual QList<ScenarioInfo> scenarios() const = 0;
  // The demo is up (its first complete graph is in).
  virtual bool ready() const = 0;
  // Plays scenario `name` (it starts as soon as the demo is up). Returns false with the reason
  // when it cannot (unknown, unreadable, one already playing, no demo running).
  virtual bool start(const QString& name, QString* error) = 0;
  // The policies in force that scenario `name` would collide with ("DestinationPolicy/x"):
  // the player asks before it plays. The default: none.
  virtual QStringList collisions(const QString& name) {
    Q_UNUSED(name);
    return {};
  }
  // start(), with the policies collisions() names set aside before step 1 and restored when
  // the scenario ends (passed, failed or stopped). The default ignores them.
  virtual bool startSettingAside(const QString& name, QString* error) { return start(name, error); }
  // Stops the playing scenario; it reports kScenarioFinished (cancelled). The demo keeps
  // running.
  virtual void stop() = 0;

 signals:
  void readyChanged(bool ready);
  // What the playing scenario just did (see cp::ScenarioEvent for the order); `scenario` is
  // ScenarioInfo::name.
  void progress(const meshdeck::cp::ScenarioEvent& event);
};

}  // namespace meshdeck::ui
