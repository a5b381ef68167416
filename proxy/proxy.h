#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/mesh/on_demand.h"
#include "proxy/stats.h"
#include "proxy/tap/tap_registry.h"
#include "proxy/tls/tls_contexts.h"

namespace meshdeck::v1 {
class ProxyConfig;
}

namespace meshdeck::proxy {

class Worker;
class AdminServer;
struct ListenerShared;

// The proxy process: N workers (one io_context and thread each) sharing SO_REUSEPORT
// listeners, the admin listener, configuration swaps and the drain sequence.
//
// Threading: start(), applyConfig(), drain(), run() and stop() are called from control threads
// (main, the admin thread, the discovery client); applyConfig() is serialised internally. The
// request path never takes the mutex: each worker receives the new config by a posted task
// and swaps its own shared_ptr.
class Proxy {
 public:
  struct Options {
    size_t workers = 0;         // 0: one per core
    std::string admin_address;  // host:port; empty: no admin listener
    std::string port_file;      // written with the bound ports once listening (JSON)
    std::chrono::milliseconds drain_timeout{30000};
    uint32_t default_max_connections = 10000;
    // Workers poll for events without ever sleeping (HAProxy's busy-polling): the wake-up of
    // an idle CPU leaves the latency, and each worker keeps its CPU 100 % busy even when
    // idle. For latency-critical proxies on cores of their own (docs/proxy.md, "Busy polling").
    bool busy_poll = false;
    // Refuse configurations that need TLS (an STRICT/PERMISSIVE listener, a MUTUAL_TLS
    // cluster) while no identity is set. Static and standalone modes set it; in mesh mode the
    // identity arrives after the first configuration.
    bool require_tls_identity = false;
    // On-demand discovery of a scoped sidecar (proxy/mesh/on_demand.h).
    OnDemandOptions on_demand;
  };

  explicit Proxy(Options options);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Starts workers and the admin listener and applies `config` (may be empty, e.g. before the
  // control plane answered). Returns false with a message if that fails.
  bool start(const meshdeck::v1::ProxyConfig& config, std::string* error);

  // Validates and compiles `config`, opens new listeners, then swaps the config on every
  // worker. On any error (validation, a port that cannot be bound) nothing changes.
  bool applyConfig(const meshdeck::v1::ProxyConfig& config, std::string* error);

  // Sets (or rotates) the mesh identity used for mutual TLS: the certificate chain (leaf
  // first), its private key and the trust bundle, all PEM. New connections use it at once;
  // connections already made continue with the identity they were made with. Callable from
  // any control thread (the identity agent, SIGHUP, tests) before or after start(). Returns
  // false with a reason, changing nothing, when the material is unusable.
  bool setTlsIdentity(const std::string& chain_pem, const std::string& key_pem,
                      const std::string& trust_bundle_pem, std::string* error);
  tls::TlsContextsPtr tlsIdentity() const;

  // Stop accepting, let in-flight requests finish (up to the drain timeout), then stop.
  void drain();
  // Blocks until the proxy has stopped (drained or stop()). SIGTERM/SIGINT drain; SIGHUP calls
  // the reload hook.
  int run();
  void stop();
  void setReloadHook(std::function<void()> hook) { reload_hook_ = std::move(hook); }

  bool draining() const { return draining_.load(); }
  bool ready() const { return ready_.load() && !draining_.load(); }
  ConfigPtr config() const;
  // Bound port of each listener by name (after port 0 resolution), and of the admin listener.
  std::map<std::string, uint16_t> listenerPorts() const;
  uint16_t adminPort() const;

  // Statistics of all workers, merged. Each worker copies its own on its thread.
  WorkerStats collectStats();
  // Telemetry deltas since the last call, merged over workers.
  EdgeMap takeEdgeDeltas();
  // The open taps and their events (docs/tap.md); the mesh agent sets and drains it.
  TapRegistry& tap() { return tap_; }
  // Requests held for services outside a scoped sidecar's scope; the mesh agent asks for them.
  OnDemand& onDemand() { return on_demand_; }

 private:
  struct BoundListener {
    ListenerConfig config;
    uint16_t port = 0;
    std::shared_ptr<ListenerShared> shared;
  };
  void writePortFile();
  template <typename Fn>
  void onEachWorker(Fn fn);  // runs fn(worker) on every worker thread and waits

  Options options_;
  // Before workers_: held requests leave it when the workers' coroutine frames are destroyed.
  OnDemand on_demand_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<AdminServer> admin_;
  std::atomic<bool> draining_{false};
  TapRegistry tap_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopped_{false};
  mutable std::mutex mutex_;  // guards config_, listeners_; never taken by workers
  std::mutex apply_mutex_;
  ConfigPtr config_;
  tls::TlsContextsPtr tls_;  // guarded by mutex_
  std::map<std::string, BoundListener> listeners_;
  std::function<void()> reload_hook_;
  struct Control;  // signal handling thread, set up in start() before the port file appears
  std::unique_ptr<Control> control_;
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
};

}  // namespace meshdeck::proxy
