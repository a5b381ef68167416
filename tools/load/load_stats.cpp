#include "load_stats.h"

namespace meshdeck::tools {

std::string_view toString(TransportError e) {
  switch (e) {
    case TransportError::kConnect:
      return "connect";
    case TransportError::kTimeout:
      return "timeout";
    case TransportError::kReset:
      return "reset";
    case TransportError::kProtocol:
      return "protocol";
  }
  return "unknown";
}

void LoadStats::recordResponse(unsigned status, uint64_t latency_ns) {
  ++completed;
  const unsigned cls = status / 100;
  ++status_classes[cls >= 1 && cls <= 5 ? cls : 0];
  latency.record(latency_ns);
}

uint64_t LoadStats::errorTotal() const {
  uint64_t total = status_classes[5];
  for (const auto n : transport_errors) total += n;
  return total;
}

void LoadStats::merge(const LoadStats& other) {
  scheduled += other.scheduled;
  sent += other.sent;
  completed += other.completed;
  unfinished += other.unfinished;
  for (size_t i = 0; i < status_classes.size(); ++i) status_classes[i] += other.status_classes[i];
  for (size_t i = 0; i < transport_errors.size(); ++i)
    transport_errors[i] += other.transport_errors[i];
  latency.merge(other.latency);
}

}  // namespace meshdeck::tools
