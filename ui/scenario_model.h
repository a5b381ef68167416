#pragma once

#include <QAbstractItemModel>
#include <QDeadlineTimer>
#include <QIcon>
#include <vector>

#include "ui/scenario_runner.h"

namespace meshdeck::ui {

// The steps of one scenario and how far a run got, as a two-level tree: a row per step, under
// it a row per action and one for the checkpoint. Fed with setScenario() and the runner's
// progress events (apply()); the checkpoint that is waiting shows a countdown (call tick() to
// refresh it). Rows never move during a run: only dataChanged is emitted.
class ScenarioStepsModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum class RowKind { kStep, kAction, kCheckpoint };
  enum class State { kPending, kRunning, kPassed, kFailed, kStopped };
  enum Role {
    kStateRole = Qt::UserRole,  // State, as int
    kKindRole,                  // RowKind, as int
  };

  using QAbstractItemModel::QAbstractItemModel;

  void setScenario(const ScenarioInfo& scenario);
  const ScenarioInfo& scenario() const { return scenario_; }
  // Applies one progress event of this scenario (events of another scenario, and steps or
  // actions it does not have, are ignored).
  void apply(const cp::ScenarioEvent& event);
  // Refreshes the countdown of the waiting checkpoint.
  void tick();

  // The step running now; -1 before the start and after the end.
  int currentStep() const { return current_; }
  State stepState(int step) const;
  State checkpointState(int step) const;
  QString checkpointText(int step) const;  // as displayed
  QModelIndex stepIndex(int step) const { return index(step, 0); }
  QModelIndex checkpointIndex(int step) const;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;

  static QIcon stateIcon(State state);

 private:
  struct ActionRow {
    State state = State::kPending;
    QString result;  // what the runner said when it was done
  };
  struct StepRow {
    State state = State::kPending;
    std::vector<ActionRow> actions;
    State checkpoint = State::kPending;
    QString checkpoint_result;  // the value that passed it, or why it failed
    QDeadlineTimer deadline;    // while the checkpoint waits
  };
  int childCount(int step) const;
  void changed(int step, int child = -1);
  void stopRunning(State to);

  ScenarioInfo scenario_;
  std::vector<StepRow> rows_;
  int current_ = -1;
};

}  // namespace meshdeck::ui
