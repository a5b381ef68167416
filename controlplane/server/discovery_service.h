#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "controlplane/compiler/config_compiler.h"
#include "controlplane/compiler/shared_resources.h"
#include "controlplane/history/event_sink.h"
#include "controlplane/registry/registry.h"
#include "controlplane/tap/tap_hub.h"
#include "meshdeck/v1/discovery.grpc.pb.h"

namespace meshdeck::cp {

namespace security {
class ProxyAuthenticator;
}

// DiscoveryService serves ConfigDiscovery.Stream (gRPC callback API) and pushes configuration.
//
// A proxy's first request names its node; the proxy is registered and a push is scheduled.
// Changes (policy revisions, proxies coming and going) only mark the mesh dirty; a push thread
// pushes at most once per `debounce` (a change after a quiet period at once, the rest of a
// burst coalesced into the next push), compiles every connected
// proxy's config with one ConfigCompiler and sends each proxy whose config changed a response
// with a content-hash version and a fresh nonce. Each stream has at most one write in flight;
// a newer config replaces one still waiting. ACKs and NACKs (matched by nonce) update the
// proxy's sync state in the registry; a NACKing proxy shows as rejected with its reason.
//
// Proxies coming and going change only endpoints, and in a fleet that starts they come by the
// hundred: pushing every configured proxy its whole config again per arrival costs N pushes
// per arrival, O(N^2) parses on the proxies' side while they all boot. So a newly connected
// proxy gets its first config at the debounce rate, but the proxies already configured get
// membership changes at most once per membershipInterval() (5 ms per connected proxy, between
// `debounce` and 2 s): a fleet of 200 starting gets each proxy a few configs instead of dozens.
// Policy changes (markDirty) are pushed to everyone at once, as before.
//
// Resync after a control-plane restart: a proxy whose first request announces a version it
// already runs (`version_info`) was configured by an earlier incarnation and keeps serving with
// it. For `resync_grace` after start() such a proxy is recorded as synced at that version and
// is not pushed to until the grace ends or a policy changes: the other proxies are still
// reconnecting, and a config compiled from a half-known mesh (their endpoints missing) would
// drop traffic that the announced config still routes. Once everyone is back, the compiled
// config equals the announced one and nothing needs to be sent at all. A proxy that announces
// nothing gets its config at once.
//
// Incremental shared resources (docs/cp-scale.md): a proxy whose node lists
// "incremental_shared_resources" gets the shared part (outbound virtual hosts, clusters) as
// named, versioned resources, and after its first response only those that changed. Each such
// stream keeps a view of what its proxy holds, built only from what was sent and which nonce
// was ACKed, never from what the proxy says it holds: the resources it ACKed last (unknown
// before its first ACK, and the next response is then complete) and the targets of the
// responses sent since (a proxy may have applied any of them, and a NACK keeps the previous
// one). A response carries every resource that differs in any of those states and removes every
// name any of them has that the target lacks, so whichever one the proxy holds, it ends at the
// target. Beyond 8 unanswered responses the view is dropped (the next one is complete). The
// proxy's digest in its answers serves only to distrust: an ACK naming another digest than the
// one sent, or a NACK one of no possible state, drops the view and the stream gets whole
// configs from then on, one at once. Streams with the same view share one encoded delta.
//
// Scoping (docs/cp-scale.md, "Scoping"): a proxy that takes increments and names its
// dependencies (Node.dependencies) gets only the shared resources of those services, of the
// clusters their routes name, and of the services it asked for on demand
// (DiscoveryRequest.on_demand_services; each that exists joins its scope for the stream's life,
// the others are named back in DiscoveryResponse.unknown_services at once). Its config version
// hashes its own part with the digest of its scoped set, so a change outside its scope leaves
// the version alone and nothing is sent to it. A proxy naming no dependencies, or taking whole
// configs, gets the whole mesh as before.
//
// The stream is a raw (ByteBuffer) callback method: each response is assembled from a small
// per-proxy part and the shared part (whole, or a delta), serialized once per push and
// referenced by every stream without copying. On the wire it is an ordinary DiscoveryResponse.
class DiscoveryService final : public meshdeck::v1::ConfigDiscovery::WithRawCallbackMethod_Stream<
                                   meshdeck::v1::ConfigDiscovery::Service> {
 public:
  using StateProvider = std::function<MeshState()>;

  DiscoveryService(Registry& registry, const common::TimeSource& time, StateProvider state,
                   std::chrono::milliseconds debounce);
  ~DiscoveryService() override;

  void start();
  // Stops pushing (the gRPC server's shutdown ends the streams).
  void stop();
  // Schedules a push of every proxy's config.
  void markDirty();
  // How long after start() reconnecting proxies keep their announced config (default 10 s,
  // longer than the proxies' longest reconnect backoff of 5 s). Call before start().
  void setResyncGrace(std::chrono::milliseconds grace) { resync_grace_ = grace; }
  // Reports proxies connecting ("proxy.connect") and leaving ("proxy.disconnect"), pushes
  // ("push", one per round that sent something) and NACKs ("push.nack"). Call before start().
  void setEventSink(EventSink sink) { events_ = std::move(sink); }
  // Binds every stream to its peer's identity (docs/security.md, "Proxies on the streams"):
  // a stream the authenticator does not admit, or whose node is of another identity than its
  // client certificate, ends PERMISSION_DENIED before the proxy is registered. Null (the
  // default): every stream is served. Not owned; call before start().
  void setProxyAuthenticator(security::ProxyAuthenticator* auth) { auth_ = auth; }

  uint64_t pushesSent() const { return pushes_sent_.load(); }
  uint64_t acks() const { return acks_.load(); }
  uint64_t nacks() const { return nacks_.load(); }
  // Requests refused (malformed, over a limit: size, rate, name lengths); each ends its stream.
  uint64_t badRequests() const { return bad_requests_.load(); }
  // ACKs/NACKs naming a nonce other than the last one sent on their stream.
  uint64_t answersIgnored() const { return answers_ignored_.load(); }
  // Open streams.
  int streams() const { return streams_.load(); }
  // Bytes of discovery responses handed to gRPC since start.
  uint64_t bytesSent() const { return bytes_sent_.load(); }
  // Streams that stopped taking increments because the proxy's digest contradicted what was
  // sent (see the class comment).
  uint64_t incrementalFallbacks() const { return incremental_fallbacks_.load(); }
  // Scoping (see the class comment): on-demand requests received, and services asked for that
  // the mesh does not have (answered in unknown_services).
  uint64_t onDemandRequests() const { return on_demand_requests_.load(); }
  uint64_t onDemandUnknown() const { return on_demand_unknown_.load(); }

  // Taps (docs/tap.md): `hub` says which connected proxies each open tap needs. pushTaps()
  // sends every connected proxy whose tap set changed a response carrying only `taps` (no
  // version, nonce or config; not answered), after any config response waiting on its stream.
  // Called by the hub when a tap opens or closes, and here when a proxy comes or goes. Call
  // setTapHub() before the server starts.
  void setTapHub(TapHub* hub) { tap_hub_ = hub; }
  void pushTaps();
  uint64_t tapSetsSent() const { return tap_sets_sent_.load(); }

  // ConfigDiscovery
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
      grpc::CallbackServerContext* context) override;

 private:
  class Session;
  struct PushContext;
  friend class Session;
  void addSession(Session* s);
  // Wakes the push thread for streams that wait for a whole config.
  void requestResend();
  void removeSession(Session* s);
  void pushLoop();
  // Pushes every session whose config changed, or with `only_new` those never sent one.
  void pushAll(bool only_new);
  // How long membership changes wait for the proxies already configured (see the class comment).
  std::chrono::milliseconds membershipIntervalLocked() const;
  // True while reconnected proxies keep their announced config (see the class comment).
  bool holdingLocked(const PolicySet* policies);
  bool inResyncGrace();

  Registry& registry_;
  const common::TimeSource& time_;
  StateProvider state_;
  EventSink events_;
  security::ProxyAuthenticator* auth_ = nullptr;
  const std::chrono::milliseconds debounce_;
  std::chrono::steady_clock::time_point last_push_{};       // pushLoop() only
  std::chrono::steady_clock::time_point last_full_push_{};  // pushLoop() only

  std::mutex mutex_;
  std::condition_variable wake_;
  std::set<Session*> sessions_;
  // dirty_: push everyone (policies changed); new_sessions_: proxies waiting for a first config;
  // members_dirty_: proxies came or went since the last full push.
  bool dirty_ = false, new_sessions_ = false, members_dirty_ = false, stopping_ = false;
  std::chrono::milliseconds resync_grace_{10'000};
  std::chrono::steady_clock::time_point started_{};
  const PolicySet* policies_at_start_ = nullptr;
  bool hold_released_ = false;
  std::thread pusher_;
  std::atomic<uint64_t> nonce_{0};
  std::atomic<uint64_t> pushes_sent_{0}, acks_{0}, nacks_{0}, bad_requests_{0}, answers_ignored_{0};
  std::atomic<uint64_t> bytes_sent_{0}, incremental_fallbacks_{0};
  std::atomic<uint64_t> on_demand_requests_{0}, on_demand_unknown_{0};
  std::atomic<int> streams_{0};
  TapHub* tap_hub_ = nullptr;
  std::atomic<uint64_t> tap_sets_sent_{0};
};

}  // namespace meshdeck::cp
