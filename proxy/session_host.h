#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "proxy/cluster_runtime.h"
#include "proxy/config/config.h"
#include "proxy/http/id_generator.h"
#include "proxy/policy/token_bucket.h"
#include "proxy/relay_buffer_pool.h"
#include "proxy/stats.h"
#include "proxy/tap/tap_registry.h"
#include "proxy/tls/tls_contexts.h"
#include "proxy/upstream_pool.h"

namespace meshdeck::proxy {

class Session;
class OnDemand;

// What admission (proxy/admission.h) needs from the worker it runs on. Implemented by Worker;
// tests implement it with a simulated clock, scripted random values and their own buckets.
// Every call is made on the worker's thread.
class AdmissionServices {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~AdmissionServices() = default;

  // The current time: std::chrono::steady_clock in the proxy, simulated in tests.
  virtual TimePoint now() = 0;
  // A uniformly distributed 64-bit value: fault and mirror percentages, destination weights,
  // balancer picks, retry jitter.
  virtual uint64_t random() = 0;
  // The generator of request ids and trace ids (values nobody decides on).
  virtual IdGenerator& idGenerator() = 0;
  // The token bucket of rate limit `limit` (an address inside the current config) on this
  // worker, made full on first use.
  virtual TokenBucket& bucket(const RateLimitConfig& limit) = 0;
  // The worker's counters; the only writer is the worker's thread.
  virtual WorkerStats& stats() = 0;
};

// Everything a session and its upstream attempts use of the worker they run on: I/O context,
// config, counters, clusters, upstream pool, TLS identity, relay buffers. Implemented by
// Worker. A handful of virtual calls per request; none allocates.
class SessionHost : public AdmissionServices {
 public:
  virtual boost::asio::io_context& io() = 0;
  // The worker's current config (nullptr before the first one).
  virtual const ConfigPtr& config() const = 0;
  // The proxy is shutting down: responses say Connection: close.
  virtual bool draining() const = 0;
  // Telemetry edges since the last report.
  virtual EdgeMap& edges() = 0;
  // The proxy's taps (docs/tap.md); nullptr: none (hosts of tests). Asked once per connection.
  virtual TapRegistry* tapRegistry() { return nullptr; }
  // The proxy's on-demand discovery (proxy/mesh/on_demand.h); nullptr: none (hosts of tests).
  virtual OnDemand* onDemand() { return nullptr; }

  // The runtime of the cluster a destination or mirror of `config` names: by its slot
  // (Config::cluster_slots) when `config` is the worker's current config, else by `name` (a
  // request that began before a push, or a config without slots). nullptr: no such cluster.
  virtual std::shared_ptr<ClusterRuntime> cluster(const Config& config, int32_t slot,
                                                  const std::string& name) = 0;
  virtual UpstreamPool& pool() = 0;

  // The mesh identity for new TLS connections (nullptr: none yet) and the client session
  // cache used to resume TLS sessions with endpoints.
  virtual const tls::TlsContextsPtr& tls() const = 0;
  virtual tls::ClientSessionCache& tlsSessions() = 0;

  // A relay buffer for one exchange, and back (see RelayBufferPool).
  virtual RelayBuffer takeRelayBuffer() = 0;
  virtual void returnRelayBuffer(RelayBuffer buffer) = 0;

  // A session began / ended (drain closes the idle ones; the count is reported).
  virtual void sessionOpened(Session* session) = 0;
  virtual void sessionClosed(Session* session) = 0;
};

// The trust domain peers must be in: the configured one, else that of our own certificate.
inline const std::string& trustDomain(const SessionHost& host, const tls::TlsContexts& contexts) {
  const auto& config = host.config();
  if (config && !config->security.trust_domain.empty()) return config->security.trust_domain;
  return contexts.trustDomain();
}

}  // namespace meshdeck::proxy
