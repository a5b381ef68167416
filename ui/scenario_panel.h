#pragma once

#include <QPointer>
#include <QTimer>
#include <QWidget>

#include "ui/scenario_runner.h"

class QComboBox;
class QLabel;
class QPushButton;
class QTextBrowser;
class QTreeView;

namespace meshdeck::ui {

class ScenarioStepsModel;

// The scenario player: the scenarios of the running demo, Start/Stop, the narration of the
// current step, its steps with their checkpoints (pending, waiting with a countdown, passed,
// failed with the reason) and the result. Emits the edges the current step is about, for the
// graph to mark, and an empty list when the step ends.
class ScenarioPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ScenarioPanel(QWidget* parent = nullptr);

  // The runner of the demo started beside the window; nullptr when there is none (the panel
  // says how to start one). Not owned.
  void setRunner(ScenarioRunner* runner);
  ScenarioRunner* runner() const { return runner_; }
  // A saved snapshot opened offline: nothing plays here, and the panel says so (instead of how
  // to start a demo).
  void setOffline(bool offline);
  bool playing() const { return !playing_.isEmpty(); }

  ScenarioStepsModel* model() const { return model_; }
  QComboBox* scenarioBox() const { return box_; }
  QPushButton* startButton() const { return start_; }
  QTextBrowser* narration() const { return narration_; }
  QTreeView* stepsView() const { return steps_; }
  QLabel* resultLabel() const { return result_; }

 public slots:
  // Selects the scenario called `name` in the list; false if there is none.
  bool selectScenario(const QString& name);
  // Starts the selected scenario, or stops the one playing.
  void startOrStop();

 signals:
  void focusEdgesChanged(const QList<QPair<QString, QString>>& edges);

 private:
  void reload();
  void onProgress(const cp::ScenarioEvent& event);
  void showOverview();
  void showStep(int step);
  void showResult(const QString& text, const QString& colour);
  void updateControls();
  const ScenarioInfo* selected() const;

  QPointer<ScenarioRunner> runner_;
  QList<ScenarioInfo> scenarios_;
  ScenarioStepsModel* model_;
  QLabel* intro_;
  QComboBox* box_;
  QPushButton* start_;
  QTextBrowser* narration_;
  QTreeView* steps_;
  QLabel* result_;
  QTimer countdown_;
  bool offline_ = false;
  QString playing_;  // the scenario started from this panel, until it finishes
};

}  // namespace meshdeck::ui
