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
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proxy/cluster_runtime.h"
#include "proxy/config/config.h"
#include "proxy/policy/token_bucket.h"
#include "proxy/relay_buffer_pool.h"
#include "proxy/session_host.h"
#include "proxy/stats.h"
#include "proxy/tls/tls_contexts.h"
#include "proxy/upstream_pool.h"

namespace meshdeck::proxy {

class Session;

// Shared by all workers of one listener: the connection limit holds across workers.
struct ListenerShared {
  std::string name;
  std::atomic<uint32_t> connections{0};
};

// Hooks a worker needs from the proxy that owns it.
struct WorkerContext {
  std::atomic<bool>* draining = nullptr;
  TapRegistry* tap = nullptr;     // the proxy's taps (docs/tap.md)
  OnDemand* on_demand = nullptr;  // on-demand discovery (proxy/mesh/on_demand.h)
  size_t worker_count = 1;
  uint32_t default_max_connections = 10000;
  bool busy_poll = false;  // Proxy::Options::busy_poll
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
// thread, except io() and the thread control calls. Sessions see it as a SessionHost.
class Worker final : public SessionHost {
 public:
  Worker(size_t index, WorkerContext context);
  ~Worker() override;

  boost::asio::io_context& io() override { return io_; }
  size_t index() const { return index_; }
  void start();
  void stop();  // stops the io_context; call join() afterwards
  void join();

  // --- called on the worker thread (post to io() from elsewhere) ---
  void setConfig(ConfigPtr config);
  const ConfigPtr& config() const override { return config_; }
  void addListener(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor,
                   std::shared_ptr<ListenerShared> shared);
  void closeListener(const std::string& name);
  void closeAllListeners();
  // Closes connections that sit idle between requests (drain).
  void closeIdleSessions();
  size_t sessionCount() const { return sessions_.size(); }

  // The runtime of cluster `name` in the current config, or nullptr.
  std::shared_ptr<ClusterRuntime> cluster(const std::string& name);

  // The mesh identity for new TLS connections (nullptr: none yet). Swapped by the proxy on
  // rotation; connections already made keep theirs.
  void setTls(tls::TlsContextsPtr contexts) { tls_ = std::move(contexts); }

  const WorkerContext& context() const { return context_; }
  std::atomic<size_t> active_sessions{0};

  // SessionHost
  TimePoint now() override { return std::chrono::steady_clock::now(); }
  uint64_t random() override { return rng_(); }
  IdGenerator& idGenerator() override { return rng_; }
  // The limit is shared out between workers: each one refills at 1/N of the rate.
  TokenBucket& bucket(const RateLimitConfig& limit) override;
  WorkerStats& stats() override { return stats_; }
  bool draining() const override { return context_.draining->load(std::memory_order_relaxed); }
  EdgeMap& edges() override { return edges_; }
  TapRegistry* tapRegistry() override { return context_.tap; }
  OnDemand* onDemand() override { return context_.on_demand; }
  std::shared_ptr<ClusterRuntime> cluster(const Config& config, int32_t slot,
                                          const std::string& name) override;
  UpstreamPool& pool() override { return pool_; }
  const tls::TlsContextsPtr& tls() const override { return tls_; }
  tls::ClientSessionCache& tlsSessions() override { return tls_sessions_; }
  // A relay buffer (not zero-filled). The worker keeps as many spare ones as its exchanges
  // recently needed at once (see RelayBufferPool) and trims the reserve every
  // kRelayTrimInterval while it holds more than the minimum.
  RelayBuffer takeRelayBuffer() override { return relay_buffers_.take(); }
  void returnRelayBuffer(RelayBuffer buffer) override;
  void sessionOpened(Session* s) override;
  void sessionClosed(Session* s) override;

 private:
  void armRelayTrim();
  void acceptLoop(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor,
                  std::shared_ptr<ListenerShared> shared);

  size_t index_;
  WorkerContext context_;
  // One thread runs it and every socket and timer on it is used from that thread only, so the
  // reactor's per-descriptor mutex is switched off (UNSAFE_IO); posting from other threads
  // (config swaps, stats, stop) and registering descriptors (acceptors opened by the control
  // thread) stay locked. The deadlines of the worker's plain connections are on its
  // CoarseTimers (proxy/timer_wheel.h), a service of this io_context: one timer wheel and one
  // steady timer per worker.
  WorkerIoContext io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::unique_ptr<std::thread> thread_;
  ConfigPtr config_;
  std::unordered_map<std::string, std::shared_ptr<ClusterRuntime>> clusters_;
  // clusters_ by the slots of config_ (Config::cluster_slots).
  std::vector<std::shared_ptr<ClusterRuntime>> cluster_slots_;
  UpstreamPool pool_;
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
  // Both random() and the ids: uniform 64-bit draws are all either needs
  // (proxy/http/id_generator.h).
  IdGenerator rng_;
};

}  // namespace meshdeck::proxy
