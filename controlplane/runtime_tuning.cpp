#include "controlplane/runtime_tuning.h"

#include <absl/synchronization/mutex.h>

namespace meshdeck::cp {

void disableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace meshdeck::cp
