// ScenarioStepsModel under QAbstractItemModelTester, fed with the progress of a run.
#include "ui/scenario_model.h"

#include <QAbstractItemModelTester>
#include <QtTest>

using namespace meshdeck;
using Model = ui::ScenarioStepsModel;
using Kind = cp::ScenarioEvent::Kind;
using std::chrono::milliseconds;

namespace {

ui::ScenarioInfo twoSteps() {
  ui::ScenarioInfo s;
  s.name = "canary";
  s.title = "A canary";
  ui::ScenarioStepInfo one;
  one.title = "Baseline";
  one.actions = {"apply TrafficRoute/r"};
  one.checkpoint = "success rate of a -> b above 0.99 within 30s";
  one.within_ms = 30'000;
  one.edges = {{"a", "b"}};
  ui::ScenarioStepInfo two;
  two.title = "Break it";
  two.actions = {"make b v2 fail", "wait 2s"};
  two.checkpoint = "error rate of a -> b above 0.04 within 20s";
  two.within_ms = 20'000;
  ui::ScenarioStepInfo three;
  three.title = "Narration only";
  s.steps = {one, two, three};
  return s;
}

// The engine's event as the runner forwards it; `step` and `action` count only for the kinds
// that have them (ScenarioEvent::hasStep, hasAction).
cp::ScenarioEvent progress(Kind kind, size_t step = 0, size_t action = 0,
                           const std::string& text = {}) {
  cp::ScenarioEvent e;
  e.kind = kind;
  e.scenario = "canary";
  e.step = step;
  e.action = action;
  e.text = text;
  return e;
}

Model::State state(const QModelIndex& i) {
  return static_cast<Model::State>(i.data(Model::kStateRole).toInt());
}

}  // namespace

class ScenarioModelTest : public QObject {
  Q_OBJECT

 private slots:
  void treeOfStepsActionsAndCheckpoints() {
    Model model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    model.setScenario(twoSteps());
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.rowCount(model.index(0, 0)), 2);  // an action and the checkpoint
    QCOMPARE(model.rowCount(model.index(1, 0)), 3);
    QCOMPARE(model.rowCount(model.index(2, 0)), 0);
    QCOMPARE(model.index(1, 0).data().toString(), QStringLiteral("2. Break it"));
    QCOMPARE(model.index(1, 0, model.index(1, 0)).data().toString(), QStringLiteral("wait 2s"));
    QCOMPARE(model.checkpointText(0),
             QStringLiteral("Checkpoint: success rate of a -> b above 0.99 within 30s"));
    QCOMPARE(model.checkpointIndex(0).data(Model::kKindRole).toInt(),
             int(Model::RowKind::kCheckpoint));
    QVERIFY(!model.checkpointIndex(2).isValid());
    QCOMPARE(model.parent(model.checkpointIndex(1)), model.index(1, 0));
    QCOMPARE(state(model.index(0, 0)), Model::State::kPending);
    QVERIFY(!model.index(0, 0).data(Qt::DecorationRole).value<QIcon>().isNull());
  }

  void followsARun() {
    Model model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setScenario(twoSteps());
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    QSignalSpy changes(&model, &QAbstractItemModel::dataChanged);

    model.apply(progress(Kind::kScenarioStarted));
    model.apply(progress(Kind::kStepStarted, 0, 0, "Baseline"));
    QCOMPARE(model.currentStep(), 0);
    QCOMPARE(state(model.index(0, 0)), Model::State::kRunning);
    QVERIFY(model.index(0, 0).data(Qt::FontRole).value<QFont>().bold());
    model.apply(progress(Kind::kActionDone, 0, 0, "apply TrafficRoute/r: revision 3"));
    QCOMPARE(model.index(0, 0, model.index(0, 0)).data().toString(),
             QStringLiteral("apply TrafficRoute/r: revision 3"));
    QCOMPARE(state(model.index(0, 0, model.index(0, 0))), Model::State::kPassed);

    auto waiting = progress(Kind::kCheckpointStarted, 0, 0, "success rate …");
    waiting.within = milliseconds(30'000);
    model.apply(waiting);
    QCOMPARE(model.checkpointState(0), Model::State::kRunning);
    const QString countdown = model.checkpointText(0);
    QVERIFY2(countdown.startsWith("Waiting, 30 s left") || countdown.startsWith("Waiting, 29 s"),
             qPrintable(countdown));
    const int before = int(changes.count());
    model.tick();
    QCOMPARE(int(changes.count()), before + 1);  // the countdown row only
    QCOMPARE(changes.last().at(0).value<QModelIndex>(), model.checkpointIndex(0));

    auto passed = progress(Kind::kCheckpointPassed, 0, 0,
                           "success rate of a -> b above 0.99 within 30s (observed 1)");
    passed.at = milliseconds(4200);
    passed.value = 1.0;
    model.apply(passed);
    QCOMPARE(model.checkpointState(0), Model::State::kPassed);
    QCOMPARE(model.stepState(0), Model::State::kPassed);
    QCOMPARE(model.checkpointText(0),
             QStringLiteral(
                 "Passed at 4.2 s: success rate of a -> b above 0.99 within 30s (observed 1)"));
    QCOMPARE(model.checkpointIndex(0).data(Qt::ForegroundRole).value<QBrush>().color(),
             QColor(0x1f, 0x9d, 0x55));
    model.tick();  // nothing waits: no change
    const int after_tick = int(changes.count());
    model.tick();
    QCOMPARE(int(changes.count()), after_tick);

    model.apply(progress(Kind::kStepStarted, 1, 0, "Break it"));
    QCOMPARE(model.currentStep(), 1);
    QVERIFY(!model.index(0, 0).data(Qt::FontRole).value<QFont>().bold());
    model.apply(progress(Kind::kActionDone, 1, 0, "made b v2 fail"));
    model.apply(progress(Kind::kActionDone, 1, 1, "wait 2s"));
    model.apply(progress(Kind::kCheckpointStarted, 1));
    auto failed = progress(Kind::kCheckpointFailed, 1, 0,
                           "error rate above 0.04 not reached within 20s (observed 0)");
    failed.value = 0.0;
    model.apply(failed);
    QCOMPARE(model.checkpointState(1), Model::State::kFailed);
    QCOMPARE(model.stepState(1), Model::State::kFailed);
    QCOMPARE(model.checkpointText(1),
             QStringLiteral("Failed: error rate above 0.04 not reached within 20s (observed 0)"));
    QCOMPARE(model.checkpointIndex(1).data(Qt::ForegroundRole).value<QBrush>().color(),
             QColor(0xd6, 0x33, 0x33));
    auto finished = progress(Kind::kScenarioFinished, 0, 0, "step 2: checkpoint failed");
    finished.steps_completed = 1;
    model.apply(finished);
    QCOMPARE(model.currentStep(), -1);
    QCOMPARE(model.stepState(2), Model::State::kPending);  // never reached
    QCOMPARE(resets.count(), 0);                           // rows never moved

    // Events of another scenario change nothing.
    auto other = progress(Kind::kStepStarted, 2);
    other.scenario = "other";
    const int count = int(changes.count());
    model.apply(other);
    QCOMPARE(int(changes.count()), count);
    // Out-of-range steps and actions are ignored, not trusted.
    model.apply(progress(Kind::kActionDone, 7, 0));
    model.apply(progress(Kind::kActionDone, 0, 9));
    QCOMPARE(int(changes.count()), count);

    // A replay starts from pending again.
    model.apply(progress(Kind::kScenarioStarted));
    QCOMPARE(model.stepState(0), Model::State::kPending);
    QCOMPARE(model.checkpointState(1), Model::State::kPending);
    QCOMPARE(model.index(0, 0, model.index(0, 0)).data().toString(),
             QStringLiteral("apply TrafficRoute/r"));
  }

  void stoppedRunMarksWhatWasRunning() {
    Model model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setScenario(twoSteps());
    model.apply(progress(Kind::kScenarioStarted));
    model.apply(progress(Kind::kStepStarted, 0));
    model.apply(progress(Kind::kActionDone, 0, 0));
    model.apply(progress(Kind::kCheckpointStarted, 0));
    auto stopped = progress(Kind::kScenarioFinished, 0, 0, "stopped");
    stopped.cancelled = true;
    model.apply(stopped);
    QCOMPARE(model.stepState(0), Model::State::kStopped);
    QCOMPARE(model.checkpointState(0), Model::State::kStopped);
    QVERIFY(model.checkpointText(0).startsWith("Stopped: "));

    // A step without a checkpoint is done when the next starts, or when the run passes.
    model.apply(progress(Kind::kScenarioStarted));
    model.apply(progress(Kind::kStepStarted, 2));
    // `step` and `action` of a kind that has none are not read (here: out of range).
    auto done = progress(Kind::kScenarioFinished, 99, 99);
    done.passed = true;
    model.apply(done);
    QCOMPARE(model.stepState(2), Model::State::kPassed);
  }
};

QTEST_MAIN(ScenarioModelTest)
#include "scenario_model_test.moc"
