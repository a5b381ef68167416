// What the demo runner records in the control plane's history (docs/history.md, "Events"):
// scenario progress (start, steps, checkpoints, finish) and the supervisor's own restarts of a
// process that exited, or its giving up; a restart asked for (the management API records that
// one itself) and readiness changes record nothing.
#include <QtTest>
#include <condition_variable>
#include <mutex>

#include "controlplane/fleet/demo_runner.h"
#include "controlplane/fleet/process_supervisor.h"

using namespace std::chrono_literals;
using namespace meshdeck::cp;
using namespace meshdeck::cp::fleet;

namespace {

ScenarioEvent scenarioEvent(ScenarioEvent::Kind kind, size_t step, std::string text) {
  ScenarioEvent e;
  e.kind = kind;
  e.scenario = "canary-goes-bad";
  e.step = step;
  e.text = std::move(text);
  return e;
}

// The history events of a supervisor's status changes, collected from its observer thread.
class Recorder {
 public:
  void observe(const ProcessStatus& s) {
    std::lock_guard lock(mu_);
    ++changes_;
    if (auto e = fleetHistoryEvent(s)) events_.push_back(*e);
    changed_.notify_all();
  }
  // Waits (at most 10 s) for the next status change after `seen` changes; returns the count.
  size_t waitForChange(size_t seen) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, 10s, [&] { return changes_ > seen; });
    return changes_;
  }
  size_t changes() {
    std::lock_guard lock(mu_);
    return changes_;
  }
  // Waits (at most 10 s) until `n` events are in; returns them.
  std::vector<RecordedEvent> waitFor(size_t n) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, 10s, [&] { return events_.size() >= n; });
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<RecordedEvent> events_;
  size_t changes_ = 0;
};

}  // namespace

class HistoryEventsTest : public QObject {
  Q_OBJECT

 private slots:
  void scenarioEventsBecomeHistoryEvents() {
    using K = ScenarioEvent::Kind;
    auto started = scenarioHistoryEvent(scenarioEvent(K::kScenarioStarted, 0, "A canary goes bad"));
    QVERIFY(started);
    QCOMPARE(started->kind, std::string("scenario.start"));
    QCOMPARE(started->subject, std::string("canary-goes-bad"));

    auto step = scenarioHistoryEvent(scenarioEvent(K::kStepStarted, 1, "Roll the canary out"));
    QVERIFY(step);
    QCOMPARE(step->kind, std::string("scenario.step"));
    QCOMPARE(step->subject, std::string("canary-goes-bad step 2"));
    QCOMPARE(step->detail, std::string("Roll the canary out"));

    auto failed_action = scenarioHistoryEvent(scenarioEvent(K::kActionFailed, 0, "apply refused"));
    QVERIFY(failed_action);
    QCOMPARE(failed_action->kind, std::string("scenario.step"));
    QCOMPARE(failed_action->detail, std::string("action failed: apply refused"));

    auto passed =
        scenarioHistoryEvent(scenarioEvent(K::kCheckpointPassed, 2, "p99 < 50 ms (12.0)"));
    QVERIFY(passed);
    QCOMPARE(passed->kind, std::string("scenario.checkpoint"));
    QCOMPARE(passed->detail, std::string("passed: p99 < 50 ms (12.0)"));
    auto failed = scenarioHistoryEvent(scenarioEvent(K::kCheckpointFailed, 2, "timed out"));
    QVERIFY(failed);
    QCOMPARE(failed->detail, std::string("failed: timed out"));

    auto finished = scenarioEvent(K::kScenarioFinished, 0, "all checkpoints passed");
    finished.passed = true;
    finished.steps_completed = 3;
    auto done = scenarioHistoryEvent(finished);
    QVERIFY(done);
    QCOMPARE(done->kind, std::string("scenario.finish"));
    QCOMPARE(done->detail, std::string("passed (3 steps): all checkpoints passed"));
    finished.cancelled = true;
    finished.text = "stopped at step 2";
    QCOMPARE(scenarioHistoryEvent(finished)->detail, std::string("stopped: stopped at step 2"));

    // Not kept: each action done and a checkpoint starting (the step and its outcome are).
    QVERIFY(!scenarioHistoryEvent(scenarioEvent(K::kActionDone, 0, "applied")));
    QVERIFY(!scenarioHistoryEvent(scenarioEvent(K::kCheckpointStarted, 0, "p99 < 50 ms")));
  }

  void supervisorRestartsAndGivingUpAreRecorded() {
    RestartPolicy policy;
    policy.initial_backoff = 10ms;
    policy.max_backoff = 20ms;
    policy.max_restarts = 2;
    Recorder recorder;  // outlives the supervisor, whose observer it is
    ProcessSupervisor supervisor(policy);
    supervisor.setObserver([&recorder](const ProcessStatus& s) { recorder.observe(s); });
    ProcessSpec spec;
    spec.name = "crashy/app";
    spec.argv = {"/bin/sh", "-c", "exit 3"};
    QVERIFY(supervisor.add(spec));
    // Two restarts, then the supervisor gives up: three events, in that order.
    const auto events = recorder.waitFor(3);
    QCOMPARE(events.size(), size_t(3));
    QCOMPARE(events[0].kind, std::string("fleet.restart"));
    QCOMPARE(events[0].subject, std::string("crashy/app"));
    QCOMPARE(events[0].detail,
             std::string("exited (exit code 3); restarted by the supervisor (restart 1)"));
    QCOMPARE(events[1].kind, std::string("fleet.restart"));
    QVERIFY(events[1].detail.find("(restart 2)") != std::string::npos);
    QCOMPARE(events[2].kind, std::string("fleet.fail"));
    QCOMPARE(events[2].detail,
             std::string("exited (exit code 3) too often; the supervisor gave up"));
    supervisor.stopAll(1s);
  }

  void requestedRestartRecordsNothingHere() {
    Recorder recorder;  // outlives the supervisor, whose observer it is
    ProcessSupervisor supervisor;
    supervisor.setObserver([&recorder](const ProcessStatus& s) { recorder.observe(s); });
    ProcessSpec spec;
    spec.name = "steady/app";
    spec.argv = {"/bin/sh", "-c", "exec sleep 30"};
    size_t seen = recorder.changes();
    QVERIFY(supervisor.add(spec));
    // Status changes until it runs (bounded: each wait ends on a change or after 10 s).
    auto running = [&] {
      const auto s = supervisor.status("steady/app");
      return s && s->pid > 0 && s->state == ProcessState::kRunning;
    };
    for (int i = 0; i < 10 && !running(); ++i) seen = recorder.waitForChange(seen);
    QVERIFY(running());
    const pid_t first = supervisor.status("steady/app")->pid;
    QVERIFY(supervisor.restart("steady/app"));
    auto restarted = [&] {
      const auto s = supervisor.status("steady/app");
      return s && s->pid > 0 && s->pid != first && s->state == ProcessState::kRunning;
    };
    for (int i = 0; i < 10 && !restarted(); ++i) seen = recorder.waitForChange(seen);
    QVERIFY(restarted());
    QCOMPARE(supervisor.status("steady/app")->restarts, 1u);
    QVERIFY(recorder.waitFor(0).empty());
    supervisor.stopAll(1s);
  }
};

QTEST_GUILESS_MAIN(HistoryEventsTest)
#include "history_events_test.moc"
