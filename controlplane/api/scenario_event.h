#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

// What a playing scenario just did: the one event type the fleet's scenario engine produces and
// the UI's scenario player consumes (no copy, no converter between them).
namespace meshdeck::cp {

// Every run reports, in this order: kScenarioStarted; per step kStepStarted, one kActionDone per
// action (or kActionFailed, which ends the run), then for a step with a checkpoint
// kCheckpointStarted and kCheckpointPassed or kCheckpointFailed (which ends the run); finally
// kScenarioFinished, also when the run was cancelled or refused.
struct ScenarioEvent {
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
  std::string scenario;  // the scenario's name
  size_t step = 0;       // meaningful when hasStep(): index in the scenario's steps
  size_t action = 0;     // meaningful when hasAction(): index in the step's actions
  // kStepStarted: the title; actions: what was done and the answer; checkpoint started: its
  // condition; passed: the condition and the value; failed: why; finished: a summary.
  std::string text;
  std::optional<double> value;          // checkpoint passed/failed: the last value seen
  std::chrono::milliseconds at{0};      // engine time since kScenarioStarted
  std::chrono::milliseconds within{0};  // kCheckpointStarted: the time the checkpoint has
  bool passed = false;                  // kScenarioFinished
  bool cancelled = false;               // kScenarioFinished: stopped before it ended
  size_t steps_completed = 0;           // kScenarioFinished

  // Every kind but kScenarioStarted and kScenarioFinished is about one step (`step`).
  bool hasStep() const { return kind != Kind::kScenarioStarted && kind != Kind::kScenarioFinished; }
  // kActionDone and kActionFailed are about one action of the step (`action`).
  bool hasAction() const { return kind == Kind::kActionDone || kind == Kind::kActionFailed; }
};

// "scenario started", "step started", ..., "scenario finished".
const char* toString(ScenarioEvent::Kind kind);

}  // namespace meshdeck::cp
