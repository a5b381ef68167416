#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/api/tap.h"
#include "controlplane/api/types.h"

namespace meshdeck::cp {

// ControlPlane is everything the desktop UI may ask of a control plane. Two implementations:
// InProcessControlPlane (the embedded one) and GrpcControlPlane (for `meshdeck --connect`).
//
// Threading: every method may block (the remote one does network I/O), so the UI calls them
// off its GUI thread. Every method is thread-safe. Snapshot callbacks run on a control-plane
// thread, never the caller's; a UI forwards them through a queued signal.
class ControlPlane {
 public:
  using SnapshotCallback = std::function<void(std::shared_ptr<const GraphSnapshot>)>;

  virtual ~ControlPlane() = default;

  // The most recent graph snapshot (never null; empty before anything is known).
  virtual std::shared_ptr<const GraphSnapshot> snapshot() = 0;
  // A snapshot computed now over `window_seconds` (rates and percentiles). The default returns
  // the published snapshot, whose window is the control plane's own.
  virtual std::shared_ptr<const GraphSnapshot> snapshotForWindow(uint32_t window_seconds) {
    (void)window_seconds;
    return snapshot();
  }
  // Calls `callback` with each new snapshot, at most 4 times a second, until the returned
  // token is destroyed. Destroying the token waits for a running callback to finish.
  virtual std::shared_ptr<void> subscribe(SnapshotCallback callback) = 0;
  // Per-interval history of one edge over the last `seconds`, oldest first.
  virtual std::vector<EdgeSample> edgeHistory(const std::string& source,
                                              const std::string& destination, uint32_t seconds) = 0;

  // Policies of the current revision.
  virtual std::vector<PolicyInfo> policies() = 0;
  // Validates and applies YAML documents all-or-nothing. `file` names the source in errors.
  virtual ApplyResult applyPolicies(const std::string& yaml, const std::string& file,
                                    const std::string& author, bool dry_run) = 0;
  // The same for a caller that may give up: `cancelled` is polled (from the calling thread)
  // between the steps of the work and while waiting for the policy store; once it returns
  // true the call ends without changing anything (errors name the reason). The default
  // ignores it.
  virtual ApplyResult applyPoliciesUntil(const std::string& yaml, const std::string& file,
                                         const std::string& author, bool dry_run,
                                         const std::function<bool()>& cancelled) {
    (void)cancelled;
    return applyPolicies(yaml, file, author, dry_run);
  }
  virtual ApplyResult deletePolicy(const std::string& kind, const std::string& name,
                                   const std::string& author) = 0;
  virtual std::vector<RevisionInfo> revisions() = 0;
  // The policies of an earlier revision (0: the empty set before the first), for a view of the
  // past (the desktop's timeline). nullopt when the control plane no longer keeps it (or, the
  // default, keeps no revisions).
  virtual std::optional<std::vector<PolicyInfo>> policiesAt(uint64_t revision) {
    (void)revision;
    return std::nullopt;
  }
  // Unified diff of the policies between two revisions (`to` 0 = current).
  virtual std::string diffRevisions(uint64_t from, uint64_t to) = 0;
  virtual ApplyResult revertToRevision(uint64_t revision, const std::string& author) = 0;

  // The whole mesh state in the documented snapshot JSON format (docs/snapshot-format.md).
  virtual std::string exportSnapshotJson(uint32_t window_seconds) = 0;

  // Fleet (processes started by the control plane; empty when it starts none).
  virtual std::vector<ProcessInfo> processes() = 0;
  virtual std::vector<std::string> processLogs(const std::string& name, uint32_t tail) = 0;
  virtual ActionResult restartProcess(const std::string& name) = 0;
  virtual ActionResult scaleService(const std::string& service, const std::string& version,
                                    uint32_t replicas) = 0;

  // Workload certificates issued by the mesh CA that have not expired, oldest first. The
  // default (a control plane without a CA) has none.
  virtual std::vector<CertificateInfo> certificates() { return {}; }
  // A one-time bootstrap token with which proxy `proxy_id` obtains its first certificate, for
  // spiffe://<trust-domain>/ns/<ns>/sa/<service> (docs/security.md, "Bootstrap"). "" when this
  // control plane cannot issue one (no CA, or a remote control plane: tokens are never sent over
  // the management API). Handle the token as a secret: never log it or put it on a command line.
  virtual std::string issueBootstrapToken(const std::string& proxy_id, const std::string& ns,
                                          const std::string& service) {
    (void)proxy_id, (void)ns, (void)service;
    return {};
  }

  // Reports the CA's roots (kStatus) or drives a root rotation (docs/security.md, "Root
  // rotation"): kBegin makes a new root active while the old one stays trusted and pushes the
  // new trust bundle to every proxy; kRetire drops the old root, and is refused while a
  // connected proxy still holds a certificate from it unless `force`. The result is the state
  // after the action, with ok = false and the reason when it was refused. The default (a
  // control plane without a CA) refuses everything.
  virtual CaStatus rotateRoot(RootRotationAction action, bool force) {
    (void)action, (void)force;
    CaStatus s;
    s.message = "this control plane has no certificate authority";
    return s;
  }

  // History (docs/history.md). The mesh's edges and services merged over [from, to), from the
  // history store's 10 s buckets (1 min beyond a day), each edge with the policies of the
  // revision in force at `to` and each service with its health judged on that traffic and that
  // revision's HealthPolicies. The default keeps no history.
  virtual HistoricalGraph graphBetween(SystemTime from, SystemTime to) {
    HistoricalGraph g;
    g.from = from, g.to = to;
    g.message = "this control plane keeps no history";
    return g;
  }
  // Events in [since, until), oldest first; `kinds` empty = every kind, else the kinds named
  // and those below them ("push" takes "push.nack"); at most `limit`, the newest.
  virtual EventList events(SystemTime since, SystemTime until,
                           const std::vector<std::string>& kinds, uint32_t limit) {
    (void)since, (void)until, (void)kinds, (void)limit;
    EventList l;
    l.message = "this control plane keeps no history";
    return l;
  }

  // Where this control plane accepts proxies ("127.0.0.1:15010"), for the status bar.
  virtual std::string listenAddress() = 0;

  // Opens a tap (docs/tap.md): `callback` receives batches of the events of the requests that
  // match `filter`, from a thread of the control plane (never the caller's), until the returned
  // token is released; releasing it waits for a running callback to return, so the callback
  // must not release it itself. nullptr with `error` set when this control plane cannot tap
  // (the default: a snapshot file has no proxies).
  virtual std::shared_ptr<void> startTap(const TapFilter& filter, TapCallback callback,
                                         std::string* error) {
    (void)filter, (void)callback;
    if (error) *error = "a tap needs a live mesh; this view has no proxies";
    return nullptr;
  }
  // Who this client is to the control plane (its identity and role), for the window. The
  // default: the embedding process itself, which may do everything.
  virtual CallerIdentity whoAmI() { return CallerIdentity{"in-process", "admin", false, ""}; }
};

}  // namespace meshdeck::cp
