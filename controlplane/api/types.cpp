#include "controlplane/api/types.h"

#include <algorithm>

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

const char* toString(HealthState state) {
  switch (state) {
    case HealthState::kIdle:
      return "idle";
    case HealthState::kHealthy:
      return "healthy";
    case HealthState::kDegraded:
      return "degraded";
    case HealthState::kFailing:
      return "failing";
  }
  return "?";
}

std::optional<HealthState> healthStateFromString(const std::string& text) {
  for (const auto s :
       {HealthState::kIdle, HealthState::kHealthy, HealthState::kDegraded, HealthState::kFailing})
    if (text == toString(s)) return s;
  return std::nullopt;
}

std::string protocolNames(uint8_t bits) {
  std::string out;
  for (const auto& [bit, name] :
       {std::pair{kProtocolHttp1, "http1"}, std::pair{kProtocolHttp2, "http2"},
        std::pair{kProtocolGrpc, "grpc"}}) {
    if (!(bits & bit)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

std::string grpcStatusSummary(const common::GrpcStatusCounts& counts, size_t max) {
  std::vector<uint32_t> codes;
  for (uint32_t i = 0; i < counts.size(); ++i)
    if (counts[i]) codes.push_back(i);
  std::stable_sort(codes.begin(), codes.end(),
                   [&](uint32_t a, uint32_t b) { return counts[a] > counts[b]; });
  std::string out;
  for (size_t i = 0; i < codes.size() && i < max; ++i) {
    if (!out.empty()) out += ',';
    out += common::grpcStatusName(codes[i]);
    out += '=';
    out += std::to_string(counts[codes[i]]);
  }
  return out;
}

}  // namespace meshdeck::cp
