#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace grpc {
class ClientContext;
}

namespace meshdeck::proxy {

class Proxy;

// What the proxy says about itself on the discovery stream (meshdeck.v1.Node).
struct MeshIdentity {
  std::string control_plane;  // host:port
  std::string proxy_id, service, version, ns = "default";
  uint32_t inbound_port = 0, app_port = 0, outbound_port = 0, admin_port = 0;
};

// Counters of the agent, for /stats and tests.
struct MeshAgentCounters {
  std::atomic<uint64_t> connects{0}, configs_applied{0}, configs_rejected{0};
  std::atomic<uint64_t> reports_sent{0}, reports_failed{0};
};

// MeshAgent connects a running Proxy to the control plane:
// - ConfigDiscovery.Stream: announces the node, applies every pushed configuration with
//   Proxy::applyConfig and answers ACK (version, nonce) or NACK (error detail). After a NACK
//   the proxy keeps serving with its last good configuration.
// - TelemetryIngest.Report: every interval sends the per-edge deltas (Proxy::takeEdgeDeltas).
//   Deltas of a report that could not be sent are merged into the next one, so nothing is lost
//   while the control plane is away, and memory stays bounded by the number of edges.
// When the control plane disappears, both streams reconnect with jittered exponential backoff
// (100 ms doubling to 5 s, full jitter) and resync; traffic keeps flowing on the last config.
//
// Threading: two threads of its own (discovery, telemetry); start() and stop() from one
// control thread.
class MeshAgent {
 public:
  MeshAgent(Proxy& proxy, MeshIdentity identity);
  ~MeshAgent();
  MeshAgent(const MeshAgent&) = delete;
  MeshAgent& operator=(const MeshAgent&) = delete;

  void start();
  void stop();
  const MeshAgentCounters& counters() const { return counters_; }

 private:
  void runDiscovery();
  void runTelemetry();
  // Sleeps for a jittered backoff; returns false when stopping.
  bool backoff(uint32_t attempt);
  bool sleepFor(std::chrono::milliseconds d);

  Proxy& proxy_;
  const MeshIdentity identity_;
  MeshAgentCounters counters_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> interval_ms_{1000};
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<grpc::ClientContext> discovery_ctx_, telemetry_ctx_;
  std::thread discovery_thread_, telemetry_thread_;
};

}  // namespace meshdeck::proxy
