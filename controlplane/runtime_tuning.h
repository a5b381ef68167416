#pragma once

namespace meshdeck::cp {

// Turns off Abseil's mutex deadlock detection for the whole process (idempotent).
//
// Debian builds Abseil (and gRPC on it) without NDEBUG, so detection is on by default: every
// absl::Mutex lock, i.e. every lock gRPC takes, looks the mutex up in a process-wide graph under
// one global spin lock (GraphCycles::GetId, 2 % of the control plane's samples at 10,000
// proxies, and a lock every serving thread shares). It finds lock-order cycles in debug builds;
// a release control plane does not abort on them. Called by InProcessControlPlane::start()
// before any server is built; docs/cp-scale.md, "Telemetry on queues of its own".
void disableMutexDeadlockDetection();

}  // namespace meshdeck::cp
