#include "controlplane/api/scenario_event.h"

#include <cassert>

namespace meshdeck::cp {

const char* toString(ScenarioEvent::Kind kind) {
  switch (kind) {
    case ScenarioEvent::Kind::kScenarioStarted:
      return "scenario started";
    case ScenarioEvent::Kind::kStepStarted:
      return "step started";
    case ScenarioEvent::Kind::kActionDone:
      return "action done";
    case ScenarioEvent::Kind::kActionFailed:
      return "action failed";
    case ScenarioEvent::Kind::kCheckpointStarted:
      return "checkpoint started";
    case ScenarioEvent::Kind::kCheckpointPassed:
      return "checkpoint passed";
    case ScenarioEvent::Kind::kCheckpointFailed:
      return "checkpoint failed";
    case ScenarioEvent::Kind::kScenarioFinished:
      return "scenario finished";
  }
  assert(false && "ScenarioEvent::Kind out of range");
  return "?";
}

}  // namespace meshdeck::cp
