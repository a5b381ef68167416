#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/pki/pki.h"
#include "proxy/stats.h"

namespace grpc {
class Channel;
class ClientContext;
template <class W, class R>
class ClientReaderWriter;
}  // namespace grpc
namespace meshdeck::v1 {
class DiscoveryRequest;
class DiscoveryResponse;
class TapSet;
class TelemetryReport;
class WorkloadCertificate;
}  // namespace meshdeck::v1

namespace meshdeck::proxy {

class Proxy;

// Fills one telemetry report from a merged interval of edge deltas: every counter of
// MESHDECK_EDGE_COUNTERS and MESHDECK_EDGE_PROXY_COUNTERS, responses by code, authorization
// decisions and latency per edge.
void fillTelemetryReport(const EdgeMap& edges, const std::string& proxy_id, uint64_t sequence,
                         uint32_t interval_ms, meshdeck::v1::TelemetryReport* report);

// What the proxy says about itself on the discovery stream (meshdeck.v1.Node).
struct MeshIdentity {
  std::string control_plane;  // host:port
  std::string proxy_id, service, version, ns = "default";
  uint32_t inbound_port = 0, app_port = 0, outbound_port = 0, admin_port = 0;
  // What the application speaks: "http1", "http2", "grpc", or "" (not declared); announced in
  // Node.app_protocol.
  std::string app_protocol;
  // The address other sidecars reach this one at, announced in Node.host: the control plane
  // binds this sidecar's inbound listener to it and gives it to the others as this endpoint's
  // address. 127.0.0.1 for a mesh on one machine; the host's or pod's IP beyond one
  // (docs/plain-hosts.md, docs/kubernetes.md).
  std::string host = "127.0.0.1";
  // The services the workload calls (`--depends`), announced in Node.dependencies: the control
  // plane then sends only theirs (docs/cp-scale.md, "Scoping"). Empty: the whole mesh.
  std::vector<std::string> dependencies;
  // Identity (docs/security.md). With a bootstrap token the agent obtains a certificate for
  // spiffe://<trust_domain>/ns/<ns>/sa/<service> before it opens the discovery stream, and
  // renews it over the control plane's TLS port (control_plane_tls, host:port).
  std::string bootstrap_token;  // one-time secret; the agent forgets it after the first use
  // Kubernetes: the pod's projected service-account token (audience "meshdeck"), read again
  // before every Sign that carries it: the first certificate, and renewals when there is no
  // control_plane_tls. Replaces the bootstrap token (docs/kubernetes-registry.md).
  std::string sa_token_file;
  std::string control_plane_tls;
  std::string trust_domain = "meshdeck.local";
  uint32_t cert_ttl_seconds = 0;  // requested lifetime; 0: the CA's default (24 h)
};

// Counters of the agent, for /stats and tests.
struct MeshAgentCounters {
  std::atomic<uint64_t> connects{0}, configs_applied{0}, configs_rejected{0};
  std::atomic<uint64_t> reports_sent{0}, reports_failed{0};
  std::atomic<uint64_t> certificates_issued{0}, certificates_renewed{0}, sign_failures{0};
  // Trust bundles installed from a configuration push; early renewals asked for because the
  // certificate does not chain to the bundle's signing root (a root rotation began).
  std::atomic<uint64_t> bundles_installed{0}, early_renewals{0};
  // Reports sent between intervals with tap events only (docs/tap.md).
  std::atomic<uint64_t> tap_reports_sent{0};
};

// MeshAgent connects a running Proxy to the control plane:
// - ConfigDiscovery.Stream: announces the node, applies every pushed configuration with
//   Proxy::applyConfig and answers ACK (version, nonce) or NACK (error detail). After a NACK
//   the proxy keeps serving with its last good configuration. It announces the feature
//   "incremental_shared_resources": a response then carries the proxy's own part whole and the
//   shared part (outbound virtual hosts, clusters) as changes to the resources it holds
//   (common::SharedResourceSet); the config applied is the own part plus the resources after
//   the change, whose digest must be the one the control plane sent (else NACK). The resources
//   are kept only with a config applied; every answer names their digest.
// - TelemetryIngest.Report: every interval sends the per-edge deltas (Proxy::takeEdgeDeltas).
//   A report also goes out when the installed certificate changed, and at least every
//   kHeartbeatIntervals intervals without traffic; each report names the installed certificate
//   (serial, issuer, validity: no key material), so a restarted control plane learns which root
//   every proxy is on. Deltas of a report that could not be sent are merged into the next one,
//   so nothing is lost while the control plane is away, and memory stays bounded by the number
//   of edges.
// - Identity (when MeshIdentity.bootstrap_token or sa_token_file is set): a P-256 key and a CSR for
// the mesh
//   identity, Identity.Sign on the plaintext address with the token, before the discovery
//   stream opens (at most kFirstSignAttempts tries while the control plane is unreachable; a
//   refusal is final, because the token is burnt by any answer). The certificate is installed
//   with Proxy::setTlsIdentity and its SPIFFE id announced in Node.spiffe_id. A thread renews
//   it at pki::renewalTime (half life ± 10 %) over the TLS port, authenticated by the current
//   certificate (fresh key each time), retrying every few seconds until it succeeds. Without a
//   certificate the proxy runs in plaintext and announces no identity. With a service-account
//   token file instead of a bootstrap token, the token is read from the file for each request
//   that sends it (the kubelet rotates it), and without --control-plane-tls renewals go to the
//   plaintext port with the token.
// - Authenticated streams: once a certificate is installed (and --control-plane-tls given), the
//   discovery and telemetry streams open on the TLS port, authenticated by it; the control
//   plane binds them to its identity (docs/security.md, "Proxies on the streams"). Each
//   reconnection uses the certificate installed then. With a bootstrap token the telemetry
//   stream waits until the first certificate is installed or refused; without one both
//   streams use the plaintext port.
// - Trust bundle (root rotation): a pushed configuration carries the CA's roots
//   (Security.trust_bundle_pem, signing root first). A changed bundle is installed at once with
//   the current certificate (new connections use it, open ones are kept); failing that, the
//   configuration is NACKed. When the certificate does not chain to the signing root, the
//   renewal thread renews early, after a random 1-6 s (so that every proxy has the new bundle
//   before peers present certificates of the new root, and renewals do not arrive at once).
// - Taps (docs/tap.md): a discovery response carrying only `taps` replaces the proxy's tap set
//   (TapRegistry) and is not answered; the set is emptied when the stream ends. While a tap is
//   open, the telemetry thread sends the buffered events every kTapFlushInterval in reports of
//   their own (no edges), and the rest with the interval's report.
// When the control plane disappears, both streams reconnect with jittered exponential backoff
// (100 ms doubling to 5 s, full jitter) and resync; traffic keeps flowing on the last config.
//
// Threading: up to three threads of its own: discovery and telemetry, started by start(), and
// renewal, started by the discovery thread once the first certificate is installed (only with a
// bootstrap token and --control-plane-tls). The telemetry thread also runs a short-lived reader
// of the stream's acks while each stream is open. start() and stop() from one control thread;
// stop() joins them all.
class MeshAgent {
 public:
  MeshAgent(Proxy& proxy, MeshIdentity identity);
  ~MeshAgent();
  MeshAgent(const MeshAgent&) = delete;
  MeshAgent& operator=(const MeshAgent&) = delete;

  void start();
  void stop();
  const MeshAgentCounters& counters() const { return counters_; }
  // SPIFFE id of the installed certificate ("" without one).
  std::string spiffeId() const;

  static constexpr uint32_t kFirstSignAttempts = 6;
  static constexpr uint32_t kHeartbeatIntervals = 5;
  // While a tap is open, its events are sent this often (docs/tap.md).
  static constexpr std::chrono::milliseconds kTapFlushInterval{200};
  // On demand (proxy/mesh/on_demand.h): at most this many services in one ask (the control
  // plane's limit), one ask per interval at most, and at most this many services announced in
  // Node.dependencies (the control plane's scope limit; docs/cp-scale.md, "Limits").
  static constexpr size_t kMaxOnDemandPerAsk = 64;
  static constexpr std::chrono::milliseconds kOnDemandAskInterval{20};
  static constexpr size_t kMaxScopeServices = 4096;

 private:
  void runDiscovery();
  // The asker thread of one discovery stream: writes the services held requests wait for
  // (OnDemand::takeAsks) as on-demand requests until `asking` goes false or a write fails.
  void askOnDemand(grpc::ClientReaderWriter<v1::DiscoveryRequest, v1::DiscoveryResponse>& stream,
                   std::mutex& write_mu, const std::atomic<bool>& asking);
  void runTelemetry();
  void runRenewal();
  // First certificate with the bootstrap token (bounded retries); true when installed.
  bool obtainFirstCertificate();
  // One Sign call (renewal: over TLS with the current certificate) and installation.
  // `retryable` tells whether the failure was transport (the control plane unreachable).
  bool requestCertificate(bool renewal, std::string* error, bool* retryable);
  // Installs a pushed trust bundle (see the class comment); false with a reason when the
  // identity cannot be rebuilt with it.
  bool applyTrustBundle(const std::string& bundle_pem, const std::string& signing_root_pem,
                        std::string* error);
  // A channel to the TLS port authenticated by the installed certificate.
  std::shared_ptr<grpc::Channel> tlsChannel();
  // The channel for a discovery or telemetry stream: tlsChannel() once a certificate is
  // installed and --control-plane-tls given, else the plaintext port; `address` says which.
  std::shared_ptr<grpc::Channel> streamChannel(std::string* address);
  // The first certificate is installed or will not be: the telemetry stream may open.
  void settleIdentity();
  // The installed certificate's facts for a telemetry report (empty without one).
  v1::WorkloadCertificate installedCertificate() const;
  // Replaces the proxy's taps with a pushed tap set (docs/tap.md).
  void applyTaps(const v1::TapSet& set);
  // Moves the buffered tap events and drop counts into `report`; false when there were none.
  bool fillTapEvents(v1::TelemetryReport* report);
  // Sleeps for a jittered backoff; returns false when stopping.
  bool backoff(uint32_t attempt);
  bool sleepFor(std::chrono::milliseconds d);

  Proxy& proxy_;
  const MeshIdentity identity_;
  std::string bootstrap_token_;  // emptied after use
  std::string spiffe_id_;        // guarded by mu_
  // Current identity material, guarded by id_mu_ (the discovery thread installs pushed bundles,
  // the renewal thread certificates).
  std::mutex id_mu_;
  std::string key_pem_, chain_pem_, bundle_pem_;
  std::chrono::system_clock::time_point not_before_, not_after_, installed_at_;
  // Facts of the installed certificate for telemetry reports (WorkloadCertificate), guarded by
  // mu_; none before the first certificate.
  std::optional<pki::CertificateInfo> installed_cert_;
  // When to renew early (max(): not asked); guarded by mu_, wakes cv_.
  std::chrono::system_clock::time_point early_renewal_at_ =
      std::chrono::system_clock::time_point::max();
  MeshAgentCounters counters_;
  bool identity_settled_ = false;  // guarded by mu_, wakes cv_ (settleIdentity)
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> interval_ms_{1000};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<grpc::ClientContext> discovery_ctx_, telemetry_ctx_;
  std::thread discovery_thread_, telemetry_thread_, renewal_thread_;
};

}  // namespace meshdeck::proxy
