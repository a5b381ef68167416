#include "controlplane/api/types.h"

namespace meshdeck::cp {

const char* toString(SyncState state) {
  switch (state) {
    case SyncState::kNeverSent:
      return "never-sent";
    case SyncState::kSynced:
      return "synced";
    case SyncState::kStale:
      return "stale";
    case SyncState::kRejected:
      return "rejected";
    case SyncState::kDisconnected:
      return "disconnected";
  }
  return "?";
}

}  // namespace meshdeck::cp
