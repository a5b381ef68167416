#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"

namespace meshdeck::proxy {

// On-demand discovery, the data-path half (docs/cp-scale.md, "Scoping"): what Envoy's on-demand
// CDS/VHDS does for a scoped sidecar (one started with --depends). A request on an outbound
// listener whose host matches no virtual host, and names something that can be a mesh service,
// is held while the mesh agent asks the control plane for that service on its discovery stream
// (DiscoveryRequest.on_demand_services, one ask per service while it is pending). When a
// configuration that routes the service is applied, the held requests are admitted again and
// routed as usual; when the control plane names the service in unknown_services, the timeout
// passes, or a limit is hit, they get the 404 NR they got before, at once. An unscoped proxy holds
// nothing.

struct OnDemandOptions {
  std::chrono::milliseconds timeout{5000};  // how long a request is held at most
  uint32_t max_per_service = 100;           // requests held at once for one service
  uint32_t max_held = 1000;                 // requests held at once in all
  // Services remembered as learned on demand, announced again in Node.dependencies when the
  // discovery stream reconnects (so that their routes do not go away with the stream).
  uint32_t max_learned = 1024;
};

enum class OnDemandResult : uint8_t {
  kFound,     // a configuration with the service was applied: admit the request again
  kUnknown,   // the control plane has no such service
  kTimeout,   // no answer within the timeout (control plane away, or an older one)
  kOverflow,  // over max_per_service or max_held: not held
};
const char* toString(OnDemandResult result);

// The service name an outbound request's authority may stand for: the host without its port, in
// lower case, when it has a DNS name's syntax (letters, digits, '-', '.', 1-253 bytes) and is
// not an IPv4 literal. "" when it cannot name a service (an IP address, other bytes).
std::string onDemandServiceName(std::string_view authority);

// Whether `config` routes `service` on one of its outbound listeners (a virtual host matches).
bool configRoutes(const Config& config, std::string_view service);

// The proxy's held requests and the services asked for. Thread-safe: workers hold and cancel,
// the mesh agent's threads take the asks, apply configurations and report unknown services.
// Completions are called under the table's lock (the proxy's only post to the worker's
// io_context, which never blocks): at most once per ticket, never after cancel() returned true.
class OnDemand {
 public:
  using Clock = std::chrono::steady_clock;
  using Completion = std::function<void(OnDemandResult)>;

  explicit OnDemand(OnDemandOptions options = {});
  OnDemand(const OnDemand&) = delete;
  OnDemand& operator=(const OnDemand&) = delete;

  const OnDemandOptions& options() const { return options_; }
  // Set by the mesh agent of a scoped sidecar before the first request; false: hold nothing.
  void setScoped(bool scoped) { scoped_.store(scoped, std::memory_order_relaxed); }
  bool scoped() const { return scoped_.load(std::memory_order_relaxed); }

  // Holds one request for `service` (from onDemandServiceName()). Returns its ticket; `done`
  // is called once with the outcome: at once with kOverflow over a limit, or with kFound when
  // the last configuration applied already routes it, else when the answer comes. The caller
  // times the request out itself and then calls cancel(ticket): true means `done` was not and
  // will not be called, and the request is counted as a timeout.
  uint64_t hold(const std::string& service, Completion done);
  // The held request `ticket` gives up (timeout, or its connection went away: `timed_out`
  // false). True when it was still held; false when it was already completed.
  bool cancel(uint64_t ticket, bool timed_out = true);

  // --- the mesh agent ---
  // A new discovery stream: every pending service is to be asked again on it.
  void streamOpened();
  // Blocks until some pending service is not yet asked on this stream, or until `wait` passes or
  // interrupt() is called; then moves up to `max` of them into `out` (marked asked). False when
  // there is nothing to ask.
  bool takeAsks(std::vector<std::string>* out, size_t max, std::chrono::milliseconds wait);
  // Wakes takeAsks() (the stream ends).
  void interrupt();
  // A configuration was applied (after the workers were given it): held requests for services it
  // routes complete with kFound.
  void configApplied(ConfigPtr config);
  // The control plane named `service` unknown: its held requests complete with kUnknown.
  void unknownService(const std::string& service);
  // Services found on demand (at most max_learned), for Node.dependencies on reconnection.
  std::vector<std::string> learned() const;

  // Counters: held requests by outcome; asks (services sent in on_demand_services).
  struct Counters {
    std::atomic<uint64_t> found{0}, unknown{0}, timeout{0}, overflow{0}, asked{0};
  };
  const Counters& counters() const { return counters_; }
  size_t held() const;
  // The counters in Prometheus text (meshdeck_on_demand_*), appended to /stats.
  std::string renderPrometheus() const;

 private:
  struct Pending {
    std::map<uint64_t, Completion> waiters;
    bool asked = false;  // on the current stream
  };
  void completeLocked(std::map<std::string, Pending>::iterator it, OnDemandResult result);

  const OnDemandOptions options_;
  std::atomic<bool> scoped_{false};
  mutable std::mutex mu_;
  std::condition_variable asks_cv_;
  bool interrupted_ = false;
  uint64_t next_ticket_ = 1;
  size_t held_ = 0;
  std::map<std::string, Pending> pending_;
  std::map<uint64_t, std::string> tickets_;  // ticket -> service
  std::set<std::string> learned_;
  ConfigPtr last_config_;
  Counters counters_;
};

}  // namespace meshdeck::proxy
