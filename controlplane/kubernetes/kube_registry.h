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
#include <thread>
#include <vector>

#include "controlplane/kubernetes/kube_api_client.h"
#include "controlplane/registry/registry.h"

namespace meshdeck::cp::kubernetes {

// The three kinds the registry watches.
enum class KubeKind { kPods, kServices, kEndpointSlices };
const char* kubePath(KubeKind kind);  // "/api/v1/pods", ...

struct KubeRegistryOptions {
  std::string watch_namespace;  // "" : every namespace
  // Where the sidecar of a pod takes mesh traffic when the pod has no annotation
  // meshdeck.io/inbound-port (the injected sidecar's --inbound-port).
  uint32_t default_inbound_port = 15006;
  // The version of a pod without an app.kubernetes.io/version or version label.
  std::string default_version = "v1";
  size_t max_line_bytes = KubeApiClient::kDefaultMaxLineBytes;
  uint32_t page_limit = 500;
  // Backoff after a failed list or a broken watch: doubling from min to max, half of it jitter.
  std::chrono::milliseconds backoff_min{200}, backoff_max{10'000};
  // timeoutSeconds asked of each watch; the API server then ends it cleanly and the watch is
  // renewed from the last resource version. A watch silent for twice as long is dropped.
  std::chrono::seconds watch_timeout{300};
};

// What the registry makes of the cluster: the mesh's services with their versions and tier, and
// the endpoints of their ready and not-ready pods (docs/kubernetes-registry.md, "Mapping").
struct KubeMeshView {
  struct Service {
    std::string name, ns, tier;
    std::set<std::string> versions;
    bool operator==(const Service&) const = default;
  };
  std::vector<Service> services;          // sorted by (name, ns)
  std::vector<SourceEndpoint> endpoints;  // sorted by (service, host, port)
  bool operator==(const KubeMeshView&) const = default;
};

// KubeRegistry lists and watches Pods, Services and EndpointSlices through the API server
// (KubeApiClient) and keeps a view of the mesh built from them (KubeMeshView), handed to `sink`
// after every change. Per kind, on a thread of its own:
//  - list (pages of `page_limit` with `continue`), which replaces what was known of the kind and
//    gives the resource version to watch from;
//  - watch from that version (allowWatchBookmarks): ADDED / MODIFIED / DELETED change the
//    objects, BOOKMARK only advances the resource version, ERROR with code 410 (or an HTTP 410
//    answer) means the version is too old: list again. Every event's object carries the
//    resource version the watch resumes from after the stream ends or breaks (with backoff
//    while it keeps failing).
//  - A line that is not a JSON watch event is counted and skipped; a line longer than
//    `max_line_bytes` is counted and skipped without being held. Either may leave one object
//    stale until the next change of it or the next list.
// Thread-safe; `sink` runs on the watch threads, one call at a time.
class KubeRegistry {
 public:
  using Sink = std::function<void(const KubeMeshView&)>;
  KubeRegistry(KubeApiClient& client, KubeRegistryOptions options, Sink sink);
  ~KubeRegistry();
  KubeRegistry(const KubeRegistry&) = delete;
  KubeRegistry& operator=(const KubeRegistry&) = delete;

  void start();
  // Ends the watches (cancels the calls in flight) and joins the threads.
  void stop();

  KubeMeshView view() const;
  // The resource version the watch of `kind` resumes from ("" before the first list).
  std::string resourceVersion(KubeKind kind) const;

  struct Counters {
    uint64_t lists = 0, list_failures = 0, watches = 0, watch_failures = 0;
    uint64_t events = 0, bookmarks = 0, relists_gone = 0, disconnects = 0;
    uint64_t bad_lines = 0, oversize_lines = 0;
  };
  Counters counters() const;

  // Parsing and mapping, without I/O (also for tests): one watch line applied to the state.
  enum class LineOutcome { kApplied, kBookmark, kGone, kError, kBad };
  LineOutcome applyWatchLine(KubeKind kind, std::string_view line);

  // The objects as the registry keeps them (only the fields it uses).
  struct Pod {
    std::string ns, name, ip, version, tier, service_account;
    uint32_t inbound_port = 0;
  };
  struct Service {
    std::string ns, name, tier;
  };
  struct Slice {
    std::string ns, name, service;
    struct Endpoint {
      std::vector<std::string> addresses;
      bool ready = true;
      std::string pod;  // targetRef of kind Pod ("" otherwise)
    };
    std::vector<Endpoint> endpoints;
    std::vector<uint32_t> ports;
  };

 private:
  void run(KubeKind kind);
  // Lists `kind` (all pages) and replaces its objects; false on failure (logged, counted).
  bool list(KubeKind kind);
  // Waits for the backoff of the `failures`-th failure in a row; false when stopping.
  bool backoff(uint32_t failures);
  // Rebuilds the view from the objects; calls the sink when it changed. Needs mu_ not held.
  void publish();
  KubeMeshView buildViewLocked() const;

  KubeApiClient& client_;
  const KubeRegistryOptions options_;
  const Sink sink_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                    // guarded by mu_
  std::map<std::string, Pod> pods_;          // "ns/name"; guarded by mu_
  std::map<std::string, Service> services_;  // guarded by mu_
  std::map<std::string, Slice> slices_;      // guarded by mu_
  std::string rv_[3];                        // per KubeKind; guarded by mu_
  Counters counters_;                        // guarded by mu_
  std::mutex publish_mu_;
  KubeMeshView published_;  // guarded by publish_mu_
  std::vector<std::thread> threads_;
};

// Feeds a view into the control plane's registry: every service with its versions and tier
// (Registry::registerService), and the endpoints (Registry::setSourceEndpoints "kubernetes").
void applyToRegistry(const KubeMeshView& view, Registry& registry);

}  // namespace meshdeck::cp::kubernetes
