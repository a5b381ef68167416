#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace meshdeck::common {
class TimeSource;
}

namespace meshdeck::cp {

// Settings of one control plane, embedded (InProcessControlPlane) or headless
// (meshdeck-controlplane). Plain values only, so the UI can fill it without knowing gRPC.
struct ControlPlaneOptions {
  // Address proxies and management clients connect to. Port 0 picks a free port; the chosen
  // address is reported by ControlPlane::listenAddress() after start(). Empty: no gRPC server
  // (tests and an offline UI).
  std::string listen = "127.0.0.1:15010";
  // Address of the TLS port (mutual TLS for proxies that hold a mesh certificate: renewals;
  // the same services as `listen`). Its server certificate is issued by the mesh CA for
  // spiffe://<trust_domain>/ns/meshdeck-system/sa/controlplane with the DNS name
  // "meshdeck-controlplane" (clients use it as the TLS target name). Unset: "127.0.0.1:15012"
  // (istiod's port), except when `listen` asks for port 0, then port 0 on the same host, so
  // that throw-away control planes (tests) never collide. Port 0 picks a free port (reported
  // by InProcessControlPlane::secureListenAddress()); empty: no TLS port.
  std::optional<std::string> secure_listen;
  // Directory of the durable state (policy revisions). Empty: nothing is persisted.
  std::string state_dir;
  // Every *.yaml / *.yml file of this directory is applied at start (author "policy-dir").
  // Empty: none.
  std::string policy_dir;
  // Import the CA from this directory at start (root-cert.pem, ca-cert.pem, ca-key.pem,
  // optional cert-chain.pem; see identity::CaImport and docs/security.md). It is validated
  // completely, then stored in the CA state, so later starts need not repeat it. Empty: keep
  // the stored CA (or create a self-signed root on first use).
  std::string ca_import_dir;
  // Allow the import to replace a stored CA with another root (identity::CaImport::replace).
  bool ca_import_replace = false;
  // Management calls on the plaintext `listen` port (docs/security.md, "Operators and roles"):
  // served to loopback clients only, as the admin; none at all when `plaintext_management` is
  // false (--no-plaintext-management); to any client, also on a non-loopback `listen`, when
  // `insecure_management` is true (--insecure-management). The TLS port always needs an
  // operator certificate and checks its role.
  bool plaintext_management = true;
  bool insecure_management = false;
  // Proxies' discovery and telemetry streams on the plaintext `listen` port (docs/security.md,
  // "Proxies on the streams"): false (--no-plaintext-proxies) refuses them, so that only proxies
  // authenticated by their workload certificate on the TLS port are served. On the TLS port a
  // stream is always bound to its certificate's identity.
  bool plaintext_proxies = true;
  // Address of the Prometheus endpoint GET /metrics (its own HTTP port;
  // docs/health-and-metrics.md). Port 0 picks a free port
  // (InProcessControlPlane::metricsListenAddress()). Empty: none (the desktop's default;
  // meshdeck-controlplane's is 127.0.0.1:15014).
  std::string metrics_listen;
  // When true, failing to bind `metrics_listen` logs a warning and the control plane runs
  // without /metrics (a default address that happens to be busy); when false, start() fails.
  bool metrics_listen_optional = false;
  // Where services, versions and endpoints come from besides the proxies that connect:
  // "proxies" (only them, and the fleet) or "kubernetes" (also Pods, Services and EndpointSlices
  // watched through the API server; docs/kubernetes-registry.md).
  std::string registry = "proxies";
  // The Kubernetes API server: `kube_api` https://HOST[:PORT] with `kube_token_file` and
  // `kube_ca_file`; empty: in-cluster (KUBERNETES_SERVICE_HOST and the mounted service account).
  // Used with registry "kubernetes" or when `kube_api` is given; then Identity.Sign also takes
  // service-account tokens (TokenReview). `kube_namespace`: watch only this one ("" : all).
  std::string kube_api, kube_token_file, kube_ca_file, kube_namespace;
  // SPIFFE trust domain of the mesh (spiffe://<trust_domain>/ns/<ns>/sa/<service>).
  std::string trust_domain = "meshdeck.local";

  // Telemetry history. Per edge and per node the control plane keeps one summary point per
  // second with traffic (idle seconds cost nothing) for `history_seconds`, and the full latency
  // histogram of each second for `histogram_seconds`, which bounds the longest window over
  // which percentiles can be computed. The memory bound is in controlplane/README.md.
  uint32_t history_seconds = 3600;
  uint32_t histogram_seconds = 60;
  // History store (docs/history.md): <state_dir>/history.db (none without a state directory),
  // 10 s buckets for 24 h, 1 min buckets and events for 30 days, at most this many MiB (the
  // oldest data is dropped first).
  uint32_t history_max_mb = 256;
  // Default window of graph snapshots.
  uint32_t window_seconds = 10;
  // How often graph snapshots are published (the ceiling is 4 per second).
  std::chrono::milliseconds snapshot_interval{250};
  // Policy or topology changes arriving within this delay are pushed together.
  std::chrono::milliseconds push_debounce{15};
  // gRPC servers listening on `listen` and the TLS port together (SO_REUSEPORT; the kernel
  // spreads the connections). With Debian's libgrpc (epoll1) the callback methods of every
  // server share one process-wide completion queue, so more servers divide nothing but the
  // telemetry queues below (docs/cp-scale.md, "Telemetry on queues of its own"). 1: one
  // server, as before. At most kMaxServerShards.
  uint32_t server_shards = 1;
  static constexpr uint32_t kMaxServerShards = 64;
  // Completion queues (one thread each) per server serving the telemetry streams: a libgrpc
  // built without NDEBUG (Debian's) scans a queue's list of outstanding operations on every
  // completed one, and each telemetry stream keeps a read pending, so each queue holds
  // 1/telemetry_queues of them. At most kMaxTelemetryQueues.
  uint32_t telemetry_queues = 4;
  static constexpr uint32_t kMaxTelemetryQueues = 64;

  // Clock used for telemetry windows and revision times; null means the real clock. Not owned.
  common::TimeSource* time_source = nullptr;
};

}  // namespace meshdeck::cp
