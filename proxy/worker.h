#pragma once

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/policy/load_balancer.h"
#include "proxy/policy/outlier_detector.h"
#include "proxy/policy/retry_policy.h"
#include "proxy/policy/token_bucket.h"
#include "proxy/relay_buffer_pool.h"
#include "proxy/stats.h"
#include "proxy/tls/mesh_stream.h"
#include "proxy/tls/tls_contexts.h"

namespace meshdeck::proxy {

class Session;

// Shared by all workers of one listener: the connection limit holds across workers.
struct ListenerShared {
  std::string name;
  std::atomic<uint32_t> connections{0};
};

// Upstream connection counters of one cluster on one worker; connections keep the counters
// alive so a config change that replaces the cluster does not confuse the accounting.
struct ClusterCounters {
  uint32_t connections = 0;
};

// An upstream connection, owned by one request at a time or idle in the pool.
struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::io_context& io) : stream(io) {}
  ~UpstreamConnection() {
    if (counters && counters->connections > 0) --counters->connections;
  }
  tls::MeshStream stream;  // plain TCP, or mutual TLS towards MUTUAL_TLS clusters
  boost::beast::flat_buffer buffer;
  std::string address;
  std::string pool_key;       // address, plus "|tls" for TLS connections
  std::string peer_identity;  // verified SPIFFE id of a TLS peer
  std::shared_ptr<ClusterCounters> counters;
  // When the connection last went back to the pool (stillOpen() trusts a recent one).
  std::chrono::steady_clock::time_point idle_since{};
};

// Runtime state of one cluster on one worker: balancer, outlier detector, circuit breaker
// counters, retry budget. Rebuilt when the cluster's config changes.
struct ClusterRuntime {
  ClusterRuntime(std::shared_ptr<const ClusterConfig> cfg);
  std::shared_ptr<const ClusterConfig> config;
  LoadBalancer lb;
  OutlierDetector outlier;
  RetryBudget retry_budget;
  std::vector<EndpointView> endpoints;
  std::shared_ptr<ClusterCounters> counters = std::make_shared<ClusterCounters>();
  uint32_t active_requests = 0;
  uint32_t pending_requests = 0;
};

// Hooks a worker needs from the proxy that owns it.
struct WorkerContext {
  std::atomic<bool>* draining = nullptr;
  size_t worker_count = 1;
  uint32_t default_max_connections = 10000;
};

// The worker's io_context, with shutdown() public: ~Worker destroys the pending handlers (the
// session coroutines' frames, whose destructors use the worker) while the worker is still whole.
class WorkerIoContext : public boost::asio::io_context {
 public:
  using boost::asio::execution_context::shutdown;
  using boost::asio::io_context::io_context;
};

// One worker thread: its own io_context, acceptors (SO_REUSEPORT), sessions, upstream
// connection pool, cluster runtimes and stats. Everything here is touched only on the worker's
// thread, except io() and the thread control calls.
class Worker {
 public:
  Worker(size_t index, WorkerContext context);
  ~Worker();

  boost::asio::io_context& io() { return io_; }
  size_t index() const { return index_; }
  void start();
  void stop();  // stops the io_context; call join() afterwards
  void join();

  // --- called on the worker thread (post to io() from elsewhere) ---
  void setConfig(ConfigPtr config);
  const ConfigPtr& config() const { return config_; }
  void addListener(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor,
                   std::shared_ptr<ListenerShared> shared);
  void closeListener(const std::string& name);
  void closeAllListeners();
  // Closes connections that sit idle between requests (drain).
  void closeIdleSessions();
  size_t sessionCount() const { return sessions_.size(); }

  std::shared_ptr<ClusterRuntime> cluster(const std::string& name);
  // Idle pooled connection for `pool_key` (UpstreamConnection::pool_key), if any.
  std::unique_ptr<UpstreamConnection> takeIdle(const std::string& pool_key);
  void returnIdle(std::unique_ptr<UpstreamConnection> connection, uint32_t max_idle);
  TokenBucket& bucket(const RateLimitConfig* limit);

  // A relay buffer for one exchange (not zero-filled), and back. The worker keeps as many
  // spare ones as its exchanges recently needed at once (see RelayBufferPool) and trims the
  // reserve every kRelayTrimInterval while it holds more than the minimum.
  RelayBuffer takeRelayBuffer() { return relay_buffers_.take(); }
  void returnRelayBuffer(RelayBuffer buffer);

  // The mesh identity for new TLS connections (nullptr: none yet). Swapped by the proxy on
  // rotation; connections already made keep theirs.
  void setTls(tls::TlsContextsPtr contexts) { tls_ = std::move(contexts); }
  const tls::TlsContextsPtr& tls() const { return tls_; }
  tls::ClientSessionCache& tlsSessions() { return tls_sessions_; }

  WorkerStats& stats() { return stats_; }
  EdgeMap& edges() { return edges_; }
  std::mt19937_64& rng() { return rng_; }
  const WorkerContext& context() const { return context_; }
  bool draining() const { return context_.draining->load(std::memory_order_relaxed); }

  void registerSession(Session* s) { sessions_.insert(s); }
  void unregisterSession(Session* s) { sessions_.erase(s); }
  std::atomic<size_t> active_sessions{0};

 private:
  void armRelayTrim();
  void acceptLoop(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor,
                  std::shared_ptr<ListenerShared> shared);

  size_t index_;
  WorkerContext context_;
  // One thread runs it and every socket and timer on it is used from that thread only, so the
  // reactor's per-descriptor mutex is switched off (UNSAFE_IO); posting from other threads
  // (config swaps, stats, stop) and registering descriptors (acceptors opened by the control
  // thread) stay locked.
  WorkerIoContext io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::unique_ptr<std::thread> thread_;
  ConfigPtr config_;
  std::unordered_map<std::string, std::shared_ptr<ClusterRuntime>> clusters_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
  std::unordered_map<const RateLimitConfig*, TokenBucket> buckets_;
  std::unordered_map<std::string, std::shared_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::unordered_set<Session*> sessions_;
  RelayBufferPool relay_buffers_;
  std::unique_ptr<boost::asio::steady_timer> relay_trim_timer_;  // armed while trimmable
  bool relay_trim_armed_ = false;
  bool shut_down_ = false;  // ~Worker is destroying the pending handlers
  tls::TlsContextsPtr tls_;
  tls::ClientSessionCache tls_sessions_;
  WorkerStats stats_;
  EdgeMap edges_;
  std::mt19937_64 rng_;
};

}  // namespace meshdeck::proxy
