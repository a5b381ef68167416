#include "controlplane/in_process_control_plane.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <list>
#include <map>
#include <set>
#include <thread>

#include "common/atomic_file.h"
#include "common/bounded_file.h"
#include "common/input_limits.h"
#include "controlplane/fleet/demo_fleet.h"
#include "controlplane/health/health.h"
#include "controlplane/history/history_store.h"
#include "controlplane/identity/bootstrap_tokens.h"
#include "controlplane/identity/certificate_authority.h"
#include "controlplane/identity/server_tls_files.h"
#include "controlplane/kubernetes/kube_api_client.h"
#include "controlplane/kubernetes/kube_registry.h"
#include "controlplane/kubernetes/token_review.h"
#include "controlplane/metrics/metrics_server.h"
#include "controlplane/metrics/prometheus_text.h"
#include "controlplane/policy/policy_store.h"
#include "controlplane/registry/registry.h"
#include "controlplane/runtime_tuning.h"
#include "controlplane/security/management_security.h"
#include "controlplane/security/proxy_auth.h"
#include "controlplane/server/discovery_service.h"
#include "controlplane/server/identity_service.h"
#include "controlplane/server/mesh_service.h"
#include "controlplane/server/server_shard.h"
#include "controlplane/server/telemetry_service.h"
#include "controlplane/snapshot_json.h"
#include "controlplane/telemetry/telemetry_aggregator.h"
#include "meshdeck/version.h"

namespace meshdeck::cp {

namespace {
constexpr const char* kExternal = "(external)";
constexpr const char* kDefaultSecureListen = "127.0.0.1:15012";
constexpr std::chrono::hours kServerCertLifetime{24 * 30};
// gRPC re-reads the TLS port's files every second (FileWatcherCertificateProvider); waiting
// twice that makes sure a new certificate is in use.
constexpr std::chrono::seconds kTlsReloadWait{2};
// A change of the wall clock against the monotonic clock beyond this is reported as a jump.
constexpr std::chrono::seconds kClockJump{5};

int64_t epochSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// An aggregator block as a history bucket.
history::Bucket bucketOf(const EdgeReport& r, int64_t start) {
  history::Bucket b;
  b.start = start;
  b.kind = r.client_side ? history::SeriesKind::kEdge : history::SeriesKind::kService;
  b.source = r.client_side ? r.source_service : "";
  b.destination = r.destination_service;
  common::addEdgeCounters(b.counters, r);
  b.counters.responses_by_class = r.responses_by_class;
  b.counters.grpc_statuses = r.grpc_statuses;
  common::LatencyHistogram dense;
  r.latency.addTo(&dense);
  b.latency = history::SparseLatency::fromDense(dense);
  return b;
}

// A history bucket merged over `seconds` as the metrics of a window.
WindowMetrics metricsOf(const history::Bucket& b, double seconds) {
  WindowMetrics m;
  common::addEdgeCounters(m, b.counters);
  m.responses_by_class = b.counters.responses_by_class;
  m.grpc_statuses = b.counters.grpc_statuses;
  m.requests_per_second = seconds > 0 ? double(b.counters.requests) / seconds : 0;
  uint64_t responses = 0;
  for (auto c : m.responses_by_class) responses += c;
  m.success_rate = responses ? 1.0 - double(m.responses_by_class[4]) / double(responses) : 1.0;
  auto dense = std::make_shared<common::LatencyHistogram>(b.latency.dense());
  m.p50_ms = dense->percentile(50) / 1e6;
  m.p90_ms = dense->percentile(90) / 1e6;
  m.p99_ms = dense->percentile(99) / 1e6;
  m.latency = std::move(dense);
  return m;
}

// The TLS address to use: options.secure_listen, or its documented default.
std::string secureListenOf(const ControlPlaneOptions& o) {
  if (o.secure_listen) return *o.secure_listen;
  const auto colon = o.listen.rfind(':');
  if (colon != std::string::npos && o.listen.substr(colon + 1) == "0")
    return o.listen.substr(0, colon) + ":0";
  return kDefaultSecureListen;
}
}  // namespace

class InProcessControlPlane::Impl {
 public:
  Impl(ControlPlane& self, ControlPlaneOptions options)
      : options_(std::move(options)),
        time_(options_.time_source ? *options_.time_source : common::RealTimeSource::instance()),
        store_(options_.state_dir, time_),
        aggregator_(time_, options_.history_seconds, options_.histogram_seconds),
        discovery_(
            registry_, time_, [this] { return meshState(); }, options_.push_debounce),
        telemetry_(aggregator_, registry_, time_),
        security_(std::make_unique<security::ManagementSecurity>(
            options_.state_dir, options_.trust_domain, options_.listen,
            security::ManagementAccess{options_.plaintext_management,
                                       options_.insecure_management})),
        proxy_auth_(options_.trust_domain, security::ProxyAccess{options_.plaintext_proxies},
                    [this](const std::string& serial) {
                      // ca_ is set by start() before the server accepts a stream.
                      return ca_ ? ca_->issuedTo(serial) : std::string();
                    }),
        mesh_(self, security_.get(),
              MeshService::OperatorAdmin{[this] { return ca_.get(); },
                                         [this] { return secure_listen_address_; }}),
        tokens_(time_),
        latest_(std::make_shared<GraphSnapshot>()) {
    store_.setKnownServices([this] { return registry_.serviceNames(); });
    store_.setInventory([this] { return inventory(); });
    store_.setOnChange([this](auto) { discovery_.markDirty(); });
    discovery_.setEventSink(eventSink());
    discovery_.setTapHub(&taps_);
    telemetry_.setTapHub(&taps_);
    taps_.setChangeListener([this] { discovery_.pushTaps(); });
    discovery_.setProxyAuthenticator(&proxy_auth_);
    telemetry_.setProxyAuthenticator(&proxy_auth_);
  }

  // Reports an event to the history store (nothing without one).
  void recordEvent(const char* kind, std::string subject, std::string detail,
                   std::string author = {}) {
    if (history_)
      history_->recordEvent(history::Event{time_.systemNow(), kind, std::move(subject),
                                           std::move(detail), std::move(author)});
  }
  EventSink eventSink() {
    return [this](const char* kind, std::string subject, std::string detail) {
      recordEvent(kind, std::move(subject), std::move(detail));
    };
  }
  // A policy change that made a revision: its event and the revision with its author.
  void recordChange(const char* kind, const std::string& subject, const ApplyResult& r,
                    const std::string& author, bool dry_run) {
    if (!history_ || !r.ok || dry_run || r.revision == 0) return;
    recordEvent(kind, subject, fmt::format("revision {}: {}", r.revision, r.summary), author);
    history_->recordRevision(r.revision, time_.systemNow(), author, r.summary);
  }

  // Opens <state-dir>/history.db. A store that cannot be opened leaves the control plane
  // running without history (the policies and the CA do not depend on it).
  void openHistory() {
    if (options_.state_dir.empty() || history_) return;
    history::HistoryOptions h;
    h.max_bytes = uint64_t{options_.history_max_mb} << 20;
    std::string error;
    std::error_code ec;
    std::filesystem::create_directories(options_.state_dir, ec);
    history_ = history::HistoryStore::open(std::filesystem::path(options_.state_dir) / "history.db",
                                           h, time_, &error);
    if (!history_) {
      spdlog::error("history: {}; the control plane runs without history", error);
      return;
    }
    next_block_ = epochSeconds(time_.systemNow());
    next_block_ -= next_block_ % TelemetryAggregator::kFineSeconds;
    spdlog::info("history: {} (at most {} MiB)", history_->path().string(),
                 options_.history_max_mb);
  }

  // Hands every closed 10 s block of the aggregator to the history store, once.
  void feedHistory() {
    if (!history_) return;
    constexpr int64_t kBlock = TelemetryAggregator::kFineSeconds;
    // A second of grace for reports of the block's last second still on their way.
    const int64_t now = epochSeconds(time_.systemNow()) - 1;
    // The aggregator holds blocks for histogram_seconds; older ones (the clock jumped, the
    // loop stalled) are gone.
    const int64_t oldest = now - static_cast<int64_t>(options_.histogram_seconds) + kBlock;
    if (next_block_ < oldest) next_block_ = oldest - ((oldest % kBlock) + kBlock) % kBlock + kBlock;
    if (next_block_ > now + kBlock) next_block_ = now - ((now % kBlock) + kBlock) % kBlock;
    while (next_block_ + kBlock <= now) {
      std::vector<history::Bucket> buckets;
      for (const auto& r : aggregator_.block(next_block_))
        buckets.push_back(bucketOf(r, next_block_));
      history_->recordBuckets(std::move(buckets));
      next_block_ += kBlock;
    }
  }

  HistoricalGraph graphBetween(SystemTime from, SystemTime to) {
    HistoricalGraph g;
    g.from = from, g.to = to;
    if (!history_) {
      g.message = options_.state_dir.empty()
                      ? "this control plane keeps no history (it has no state directory)"
                      : "the history store could not be opened (see the control plane's log)";
      return g;
    }
    if (to <= from) {
      g.message = "the range is empty (its end is not after its start)";
      return g;
    }
    g.available = true;
    const int64_t a = epochSeconds(from), b = epochSeconds(to);
    int64_t resolution = 0;
    const auto edges = history_->seriesBetween(a, b, history::SeriesKind::kEdge, &resolution);
    const auto services = history_->seriesBetween(a, b, history::SeriesKind::kService);
    g.resolution_seconds = static_cast<uint32_t>(resolution);
    const double seconds = double(b - a);
    std::map<std::string, ServiceNode> nodes;
    for (const auto& e : edges) {
      ServiceEdge out;
      out.source = e.source;
      out.destination = e.destination;
      out.metrics = metricsOf(e, seconds);
      g.edges.push_back(std::move(out));
      for (const auto* name : {&e.source, &e.destination}) nodes[*name].name = *name;
    }
    for (const auto& s : services) {
      ServiceNode& n = nodes[s.destination];
      n.name = s.destination;
      n.inbound = metricsOf(s, seconds);
    }
    for (auto& [name, n] : nodes) g.services.push_back(std::move(n));
    const auto revision = history_->revisionAt(to);
    g.policy_revision = revision.revision;
    g.revision_author = revision.author;
    // The revision's policies, when the store still keeps it: the edges' policies as
    // buildSnapshot() names them, and the health judged by its HealthPolicies.
    const auto set = store_.at(revision.revision);
    const std::vector<Policy> no_policies;
    const auto& in_force = set ? set->policies : no_policies;
    for (auto& e : g.edges)
      for (const auto& p : in_force)
        if (const std::string target = p.target(); target == e.destination || target == "*")
          e.policies.push_back(p.id());
    GraphSnapshot judged;
    judged.services = std::move(g.services);
    judged.edges = g.edges;
    health::computeHealth(&judged, in_force, {}, to);
    g.services = std::move(judged.services);
    return g;
  }

  EventList events(SystemTime since, SystemTime until, const std::vector<std::string>& kinds,
                   uint32_t limit) {
    EventList l;
    if (!history_) {
      l.message = options_.state_dir.empty()
                      ? "this control plane keeps no history (it has no state directory)"
                      : "the history store could not be opened (see the control plane's log)";
      return l;
    }
    l.available = true;
    for (auto& e : history_->events(since, until, kinds, limit ? limit : 1000))
      l.events.push_back(MeshEvent{e.time, std::move(e.kind), std::move(e.subject),
                                   std::move(e.detail), std::move(e.author)});
    return l;
  }

  ~Impl() { stop(); }

  bool start(std::string* error) {
    if (started_) return true;
    disableMutexDeadlockDetection();
    if (!store_.load(error)) return false;
    openHistory();
    if (!options_.policy_dir.empty() && !applyPolicyDir(error)) return false;
    if (!ca_) {
      // The CA lives next to the policy history (identity/ca.json), or in memory without one.
      // With --ca-import, the imported root + intermediate replace it (validated first).
      const identity::CaImport import{options_.ca_import_dir, options_.ca_import_replace};
      ca_ = identity::CertificateAuthority::openOrCreate(
          options_.state_dir, options_.trust_domain, time_, error,
          options_.ca_import_dir.empty() ? nullptr : &import);
      if (!ca_) return false;
      if (ca_->imported())
        spdlog::info("identity: CA {} (root {}, signing with intermediate {})",
                     options_.ca_import_dir.empty() ? "imported earlier"
                                                    : "imported from " + options_.ca_import_dir,
                     ca_->activeRoot().subject, ca_->activeIssuer());
      identity_ = std::make_unique<IdentityService>(*ca_, tokens_);
      identity_->setEventSink(eventSink());
      if (!startKubernetes(error)) return false;
    }
    const std::string secure = options_.listen.empty() ? "" : secureListenOf(options_);
    if (!options_.listen.empty()) {
      std::shared_ptr<grpc::ServerCredentials> tls_credentials;
      if (!secure.empty()) {
        // Every server listens on both ports: every service is reachable on both; Identity
        // tells them apart by the client certificate, which only the TLS port can carry.
        // The port's key, certificate and roots live in files that gRPC re-reads every
        // second, so renewals and root rotations reach the port without a restart.
        tls_files_ = identity::ServerTlsFiles::open(
            options_.state_dir.empty()
                ? std::filesystem::path()
                : std::filesystem::path(options_.state_dir) / "identity" / "tls",
            error);
        if ((!tls_files_ || !renewServerCertificate(error)) && !options_.state_dir.empty()) {
          // A read-only or full state directory must not keep the control plane down: it
          // serves the policies it has and refuses changes until the directory is writable.
          // The port's files are issued afresh at every start, so a private directory will do.
          spdlog::warn(
              "the state directory {} is not writable ({}): the TLS port's certificate is kept "
              "in a private temporary directory, and policy changes are refused until the state "
              "directory is writable again",
              options_.state_dir, *error);
          tls_files_ = identity::ServerTlsFiles::open({}, error);
          if (tls_files_ && !renewServerCertificate(error)) tls_files_.reset();
        }
        if (!tls_files_) return false;
        auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            tls_files_->keyPath().string(), tls_files_->certPath().string(),
            tls_files_->rootsPath().string(), 1);
        grpc::experimental::TlsServerCredentialsOptions tls(provider);
        tls.watch_root_certs();
        tls.watch_identity_key_cert_pairs();
        tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
        tls_credentials = grpc::experimental::TlsServerCredentials(tls);
      }
      // K servers on the same two ports (ControlPlaneOptions::server_shards): the first binds
      // the addresses asked for (port 0: the kernel picks), the others the ports it got.
      const uint32_t shards =
          std::clamp<uint32_t>(options_.server_shards, 1, ControlPlaneOptions::kMaxServerShards);
      int port = 0, secure_port = 0;
      std::string listen = options_.listen, secure_at = secure;
      for (uint32_t i = 0; i < shards; ++i) {
        auto services = std::make_unique<ServerShardServices>(
            discovery_, telemetry_, mesh_, *identity_,
            std::clamp<uint32_t>(options_.telemetry_queues, 1,
                                 ControlPlaneOptions::kMaxTelemetryQueues));
        grpc::ServerBuilder builder;
        // Our limit, not gRPC's default (4 MiB): a policy text of kMaxPolicyTextBytes and the
        // request around it. The services check their own, smaller limits per message.
        builder.SetMaxReceiveMessageSize(static_cast<int>(common::limits::kMaxReceiveMessageBytes));
        // On by default on Linux; said here because the shards depend on it.
        builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 1);
        // What a stream may hold unread is its HTTP/2 window. gRPC grows the window with its
        // bandwidth probe (to megabytes on loopback), so when the ingest falls behind, 10,000
        // telemetry streams buffered gigabytes of reports (3.8 GB in 25 s, docs/cp-scale.md).
        // A fixed window of 64 KiB per stream bounds that to 640 MiB at 10,000 proxies; a
        // proxy whose report cannot be written then skips it (as the simulator counts). What
        // flows to this server is small (reports, ACKs, policy texts read as they arrive).
        builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
        builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
        int bound = 0, secure_bound = 0;
        builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &bound);
        if (tls_credentials) builder.AddListeningPort(secure_at, tls_credentials, &secure_bound);
        services->registerWith(builder);
        auto server = builder.BuildAndStart();
        if (!server || bound == 0 || (tls_credentials && secure_bound == 0) ||
            (i > 0 && (bound != port || (tls_credentials && secure_bound != secure_port)))) {
          if (server) server->Shutdown(std::chrono::system_clock::now());
          stopServer();
          *error = "cannot listen on " + listen + (secure.empty() ? "" : " and " + secure_at) +
                   (i == 0 ? "" : fmt::format(" (server {} of {})", i + 1, shards)) +
                   " (address in use or invalid)";
          return false;
        }
        if (i == 0) {
          port = bound, secure_port = secure_bound;
          listen =
              options_.listen.substr(0, options_.listen.rfind(':')) + ":" + std::to_string(port);
          if (tls_credentials)
            secure_at = secure.substr(0, secure.rfind(':')) + ":" + std::to_string(secure_port);
        }
        services->start();
        servers_.push_back(std::move(server));
        std::lock_guard lock(shards_mutex_);
        shard_services_.push_back(std::move(services));
      }
      const auto colon = options_.listen.rfind(':');
      listen_address_ = options_.listen.substr(0, colon) + ":" + std::to_string(port);
      security_->setListenAddress(listen_address_);
      if (!secure.empty()) {
        const auto c = secure.rfind(':');
        secure_listen_address_ = secure.substr(0, c) + ":" + std::to_string(secure_port);
        // Like kubeadm's admin.conf: the first start leaves the way in for the first admin. It
        // names the TLS port's address, so it is written once the port is bound, and before
        // the ports are announced: whoever waits for the "listening" lines finds it whole.
        std::string why;
        if (!security_->ensureAdminCredentials(*ca_, secure_listen_address_, &why))
          spdlog::error("cannot write the admin credentials: {}", why);
      }
      spdlog::info("control plane listening on {}", listen_address_);
      if (!secure.empty())
        spdlog::info("control plane TLS listening on {}", secure_listen_address_);
    }
    if (!options_.metrics_listen.empty() && !startMetrics(error)) {
      if (!options_.metrics_listen_optional) {
        stopServer();
        return false;
      }
      spdlog::warn("{}: running without /metrics", *error);
      error->clear();
    }
    discovery_.start();
    recordEvent("controlplane.start", listen_address_, std::string("version ") + kVersion);
    stopping_ = false;
    publisher_ = std::thread([this] { publishLoop(); });
    if (tls_files_) tls_thread_ = std::thread([this] { tlsLoop(); });
    started_ = true;
    return true;
  }

  // The Kubernetes API client, TokenReview for Identity.Sign, and the registry's watches
  // (docs/kubernetes-registry.md); nothing without --registry kubernetes or --kube-api.
  bool startKubernetes(std::string* error) {
    const bool registry = options_.registry == "kubernetes";
    if (!registry && options_.kube_api.empty()) return true;
    auto config = options_.kube_api.empty() ? kubernetes::KubeApiConfig::inCluster(error)
                                            : kubernetes::KubeApiConfig::fromUrl(
                                                  options_.kube_api, options_.kube_token_file,
                                                  options_.kube_ca_file, error);
    if (!config) return false;
    kube_client_ = std::make_unique<kubernetes::KubeApiClient>(*config);
    kube_reviewer_ = std::make_unique<kubernetes::KubeTokenReviewer>(*kube_client_);
    identity_->setTokenReviewer(kube_reviewer_.get());
    spdlog::info(
        "kubernetes: API server {}:{}; Identity.Sign accepts service-account tokens "
        "(audience meshdeck)",
        config->host, config->port);
    if (registry) {
      kubernetes::KubeRegistryOptions ko;
      ko.watch_namespace = options_.kube_namespace;
      kube_registry_ = std::make_unique<kubernetes::KubeRegistry>(
          *kube_client_, ko, [this](const kubernetes::KubeMeshView& view) {
            kubernetes::applyToRegistry(view, registry_);
            discovery_.markDirty();
          });
      kube_registry_->start();
    }
    return true;
  }

  bool startMetrics(std::string* error) {
    auto server = std::make_unique<metrics::MetricsServer>([this] { return metricsText(); });
    if (!server->start(options_.metrics_listen, error)) return false;
    metrics_ = std::move(server);
    spdlog::info("metrics (Prometheus) on http://{}/metrics", metrics_->address());
    return true;
  }

  // One scrape: cumulative totals since start, the proxies now, the CA, the last health.
  std::string metricsText() {
    metrics::MetricsInput in;
    in.edges = aggregator_.totals();
    for (const auto& p : registry_.proxies()) ++in.proxies_by_state[static_cast<size_t>(p.state)];
    if (ca_) in.ca_root_expiry = ca_->activeRoot().not_after;
    if (const auto snap = snapshot())
      for (const auto& n : snap->services)
        if (n.health) in.health.emplace_back(n.name, *n.health);
    in.bad_requests = metrics_ ? metrics_->badRequests() : 0;
    in.refusals.proxy_streams = proxy_auth_.streamsRefused();
    in.refusals.proxy_identity = proxy_auth_.identityRefused();
    if (security_) {
      in.refusals.management_unauthenticated = security_->refusedUnauthenticated();
      in.refusals.management_forbidden = security_->refusedPermission();
    }
    in.refusals.identity_sign = identity_ ? identity_->refused() : 0;
    return metrics::renderPrometheus(in);
  }

  // Stops the gRPC server of a start() that fails after it began listening.
  void stopServer() {
    for (auto& s : shard_services_) s->beginShutdown();
    for (auto& server : servers_) server->Shutdown(std::chrono::system_clock::now());
    for (auto& server : servers_) server->Wait();
    for (auto& s : shard_services_) s->stop();
    servers_.clear();
    std::lock_guard lock(shards_mutex_);
    shard_services_.clear();
  }

  void stop() {
    if (kube_registry_) kube_registry_->stop();
    if (!started_) return;
    started_ = false;
    if (metrics_) metrics_->stop();
    // First, so that management calls waiting for the policy store give up at once.
    shutting_down_ = true;
    stop_phase_ = "stopping the snapshot publisher";
    {
      std::lock_guard lock(publish_mutex_);
      stopping_ = true;
    }
    publish_wake_.notify_all();
    if (publisher_.joinable()) publisher_.join();
    stop_phase_ = "stopping the TLS renewal thread";
    if (tls_thread_.joinable()) tls_thread_.join();
    stop_phase_ = "stopping the push thread";
    discovery_.stop();
    if (!servers_.empty()) {
      // Streams are long-lived: cancel them after a short grace period. Handlers of
      // management calls see shutting_down_ and return; Wait() returns once they have. One
      // deadline for every server: they were all serving during the first one's grace.
      stop_phase_ = "shutting the gRPC servers down";
      const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(200);
      for (auto& s : shard_services_) s->beginShutdown();
      for (auto& server : servers_) server->Shutdown(deadline);
      stop_phase_ = "waiting for gRPC handlers to return";
      for (auto& server : servers_) server->Wait();
      stop_phase_ = "waiting for the telemetry streams to end";
      for (auto& s : shard_services_) s->stop();
      servers_.clear();
      std::lock_guard lock(shards_mutex_);
      shard_services_.clear();
    }
    if (history_) {
      stop_phase_ = "writing the history";
      feedHistory();
      recordEvent("controlplane.stop", listen_address_, "");
      history_->flush();
    }
    stop_phase_ = "stopped";
  }

  std::string stopStatus() const {
    return fmt::format(
        "{}; {} management call(s) in flight, {} discovery stream(s), {} telemetry "
        "stream(s)",
        stop_phase_.load(), mesh_.inFlight(), discovery_.streams(), telemetry_.streams());
  }

  // Issues a new certificate for the TLS port from the active root and writes it with the
  // current trust bundle (the roots client certificates are verified against).
  bool renewServerCertificate(std::string* error) {
    const std::string id =
        pki::formatSpiffeId({options_.trust_domain, "meshdeck-system", "controlplane"});
    const auto kc = ca_->issueServerCertificate(
        id, {"meshdeck-controlplane"},
        std::chrono::duration_cast<std::chrono::seconds>(kServerCertLifetime), error);
    if (!kc) return false;
    if (!writeTlsFiles(kc->key_pem, kc->chain_pem, error)) return false;
    const auto leaf = pki::loadCertPem(kc->chain_pem);
    const auto info = leaf ? pki::certificateInfo(leaf.get()) : std::nullopt;
    std::lock_guard lock(tls_mutex_);
    server_key_pem_ = kc->key_pem;
    server_chain_pem_ = kc->chain_pem;
    // Renewed at half life; a restart always issues a fresh one.
    const auto not_after = info ? info->not_after : time_.systemNow() + kServerCertLifetime;
    server_cert_renew_at_ = time_.systemNow() + (not_after - time_.systemNow()) / 2;
    spdlog::info("control plane TLS certificate {} issued by {}",
                 info ? info->serial_hex : std::string("?"), info ? info->issuer : "?");
    return true;
  }

  // The current server key and chain with the CA's current trust bundle.
  bool writeTlsFiles(const std::string& key_pem, const std::string& chain_pem, std::string* error) {
    std::string roots;
    for (const auto& r : ca_->trustBundlePem()) roots += r;
    std::lock_guard lock(tls_files_mutex_);
    return tls_files_->update(key_pem, chain_pem, roots, error);
  }

  // The current server certificate with the CA's current trust bundle.
  bool rewriteTlsRoots(std::string* error) {
    std::string key, chain;
    {
      std::lock_guard lock(tls_mutex_);
      key = server_key_pem_;
      chain = server_chain_pem_;
    }
    return writeTlsFiles(key, chain, error);
  }

  // Renews the TLS port's certificate at half life.
  void tlsLoop() {
    std::unique_lock lock(publish_mutex_);
    while (!stopping_) {
      publish_wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      bool due = false;
      {
        std::lock_guard tls(tls_mutex_);
        due = time_.systemNow() >= server_cert_renew_at_;
      }
      std::string error;
      if (due && !renewServerCertificate(&error))
        spdlog::error("cannot renew the control plane's TLS certificate: {}", error);
      lock.lock();
    }
  }

  CaStatus caStatus() const {
    CaStatus s;
    s.ok = true;
    s.trust_domain = ca_->trustDomain();
    if (ca_->imported())
      s.message = "imported CA (--ca-import): certificates are issued by the intermediate " +
                  ca_->activeIssuer() + "; the root below is the trust anchor";
    auto convert = [](const identity::RootDescription& d) {
      return CaRootInfo{d.fingerprint_sha256, d.subject, d.not_before, d.not_after};
    };
    s.active_root = convert(ca_->activeRoot());
    for (const auto& r : ca_->retiringRoots()) s.retiring_roots.push_back(convert(r));
    s.rotation_in_progress = !s.retiring_roots.empty();
    // The newest certificate of each proxy: what this CA issued to it, or what the proxy
    // reports having installed (a restarted control plane has no issued records until the
    // proxy renews), whichever is newer.
    std::map<std::string, std::pair<SystemTime, std::string>> newest;
    auto consider = [&newest](const std::string& proxy, SystemTime not_before,
                              const std::string& issuer) {
      auto [it, inserted] = newest.try_emplace(proxy, not_before, issuer);
      if (!inserted && not_before >= it->second.first) it->second = {not_before, issuer};
    };
    for (const auto& c : ca_->issued())
      if (!c.proxy_id.empty()) consider(c.proxy_id, c.not_before, c.issuer);
    for (const auto& c : registry_.reportedCertificates())
      consider(c.proxy_id, c.not_before, c.issuer);
    const std::string active = ca_->activeIssuer();
    // Certificates decide (issued or reported), not the identity a proxy announced on its
    // discovery stream: a sidecar may open that stream before its first certificate arrives
    // (its node then names no SPIFFE id although it holds an old-root leaf a moment later).
    for (const auto& p : registry_.connectedProxies()) {
      const auto it = newest.find(p.proxy_id);
      if (it != newest.end()) {
        if (it->second.second != active) s.proxies_on_retiring_root.push_back(p.proxy_id);
      } else if (!p.spiffe_id.empty()) {
        s.proxies_unknown_issuer.push_back(p.proxy_id);
      }
    }
    return s;
  }

  CaStatus rotateRoot(RootRotationAction action, bool force) {
    if (!ca_) {
      CaStatus s;
      s.message = "the control plane has not started; its CA is not loaded";
      return s;
    }
    std::lock_guard rotation(rotation_mutex_);
    std::string error;
    std::string message;
    if (action == RootRotationAction::kBegin) {
      if (!ca_->beginRootRotation(&error)) {
        CaStatus s = caStatus();
        s.ok = false;
        s.message = "cannot begin a root rotation: " + error;
        return s;
      }
      // The port keeps its certificate from the old root (still trusted by every proxy) and
      // now accepts client certificates of either root.
      if (tls_files_ && !rewriteTlsRoots(&error))
        spdlog::error("root rotation: cannot update the TLS port's roots: {}", error);
      discovery_.markDirty();
      message =
          "root rotation begun: new certificates are signed by the new root; the trust bundle "
          "(old + new) is being pushed and proxies on the old root renew early";
    } else if (action == RootRotationAction::kRetire) {
      CaStatus before = caStatus();
      if (!before.rotation_in_progress) {
        before.ok = false;
        before.message = "no root rotation in progress (run `meshdeckctl ca rotate begin` first)";
        return before;
      }
      spdlog::info(
          "identity: retire requested{}: {} connected prox(ies) on the retiring root, {} with an "
          "unknown issuer",
          force ? " (forced)" : "", before.proxies_on_retiring_root.size(),
          before.proxies_unknown_issuer.size());
      if (!before.proxies_on_retiring_root.empty() && !force) {
        std::string names;
        for (const auto& p : before.proxies_on_retiring_root)
          names += (names.empty() ? "" : ", ") + p;
        before.ok = false;
        before.message = std::to_string(before.proxies_on_retiring_root.size()) +
                         " connected prox" +
                         (before.proxies_on_retiring_root.size() == 1 ? "y" : "ies") +
                         " still hold a certificate from the retiring root (" + names +
                         "); they renew early after BEGIN, so wait and retry, or use --force "
                         "(their mutual TLS and renewals will then fail)";
        return before;
      }
      // The port's certificate must come from the root that stays. It changes first, while
      // every proxy still trusts both roots, and gRPC re-reads the files within a second:
      // by the time a proxy learns that the old root is gone, the port presents the new one.
      if (tls_files_) {
        if (!renewServerCertificate(&error)) {
          before.ok = false;
          before.message = "cannot reissue the TLS port's certificate: " + error;
          return before;
        }
        std::this_thread::sleep_for(kTlsReloadWait);
      }
      if (!ca_->retireOldRoot(&error)) {
        before.ok = false;
        before.message = "cannot retire the old root: " + error;
        return before;
      }
      if (tls_files_ && !rewriteTlsRoots(&error))
        spdlog::error("root rotation: cannot update the TLS port's roots: {}", error);
      discovery_.markDirty();
      message = "old root retired: the trust bundle holds the new root only";
    }
    CaStatus s = caStatus();
    if (!message.empty()) s.message = message;  // else caStatus()'s (imported CA)
    if (!message.empty()) spdlog::info("identity: {}", message);
    return s;
  }

  bool applyPolicyDir(std::string* error) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> paths;
    for (const auto& entry : fs::directory_iterator(options_.policy_dir, ec)) {
      const auto ext = entry.path().extension();
      if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml"))
        paths.push_back(entry.path());
    }
    if (ec) {
      *error = "cannot read policy directory " + options_.policy_dir + ": " + ec.message();
      return false;
    }
    std::sort(paths.begin(), paths.end());
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& p : paths) {
      std::string text;
      if (!common::readFileLimited(p, common::limits::kMaxPolicyFileBytes, &text, error))
        return false;
      files.emplace_back(p.string(), std::move(text));
    }
    if (files.empty()) return true;
    const auto result = store_.applyFiles(files, "policy-dir", false);
    if (!result.ok) {
      *error = "policy directory " + options_.policy_dir + " is invalid:";
      for (const auto& e : result.errors) *error += "\n  " + e.toString();
      return false;
    }
    spdlog::info("applied {} policy file(s) from {}: revision {} ({})", files.size(),
                 options_.policy_dir, result.revision, result.summary);
    recordChange("policy.apply", options_.policy_dir, result, "policy-dir", false);
    return true;
  }

  // Versions ever seen per service with their connected instances, and who calls whom in the
  // latest graph: what the policy warnings are checked against.
  WorkloadInventory inventory() {
    WorkloadInventory inv;
    for (const auto& s : registry_.services())
      for (const auto& v : s.versions) inv.instances[s.name][v] = 0;
    for (const auto& p : registry_.connectedProxies()) ++inv.instances[p.service][p.version];
    for (const auto& e : snapshot()->edges) inv.callers[e.destination].insert(e.source);
    return inv;
  }

  MeshState meshState() const {
    MeshState s;
    s.proxies = registry_.connectedProxies();
    s.services = registry_.serviceNames();
    std::set<std::pair<std::string, uint32_t>> served;
    for (const auto& p : s.proxies) served.insert({p.host, p.inbound_port});
    for (auto& e : registry_.sourceEndpoints())
      if (e.ready && !served.count({e.host, e.port})) s.source_endpoints.push_back(std::move(e));
    s.policies = store_.current();
    s.trust_domain = options_.trust_domain;
    if (ca_) s.trust_bundle_pem = ca_->trustBundlePem();
    return s;
  }

  std::shared_ptr<const GraphSnapshot> buildSnapshot(uint32_t window) {
    auto g = std::make_shared<GraphSnapshot>();
    g->time = time_.systemNow();
    g->window_seconds = window;
    g->listen_address = listen_address_;
    const auto policies = store_.current();
    g->policy_revision = policies->revision;
    g->edges = aggregator_.edges(window);
    const auto nodes = aggregator_.nodes(window);
    auto authorization = aggregator_.authorization(window);
    std::map<std::string, ServiceNode> services;
    for (const auto& s : registry_.services()) {
      ServiceNode& n = services[s.name];
      n.name = s.name;
      n.versions.assign(s.versions.begin(), s.versions.end());
      n.tier = s.tier;
      n.instances = s.instances;
    }
    for (auto& e : g->edges) {
      for (const auto* name : {&e.source, &e.destination}) {
        ServiceNode& n = services[*name];
        n.name = *name;
        if (*name == kExternal) n.tier = "external";
      }
      for (const auto& p : policies->policies) {
        const std::string target = p.target();
        if (target == e.destination || target == "*") e.policies.push_back(p.id());
      }
    }
    // A service's namespace is its proxies' (the one their identities are issued in).
    for (const auto& p : registry_.connectedProxies())
      if (auto it = services.find(p.service); it != services.end() && !p.ns.empty())
        it->second.ns = p.ns;
    std::string signature;
    for (auto& [name, n] : services) {
      if (auto it = nodes.find(name); it != nodes.end()) n.inbound = it->second;
      if (auto it = authorization.find(name); it != authorization.end())
        n.authorization = std::move(it->second);
      signature += name + ",";
      g->services.push_back(std::move(n));
    }
    signature += "|";
    for (const auto& e : g->edges) signature += e.source + ">" + e.destination + ",";
    {
      std::lock_guard lock(publish_mutex_);
      if (signature != topology_signature_) {
        topology_signature_ = signature;
        ++topology_version_;
        recordEvent("topology.change", fmt::format("version {}", topology_version_),
                    fmt::format("{} services, {} edges", g->services.size(), g->edges.size()));
      }
      g->topology_version = topology_version_;
    }
    g->proxies = registry_.proxies();
    std::vector<CertificateInfo> certificates;
    if (ca_)
      for (auto& c : ca_->issued())
        certificates.push_back({std::move(c.proxy_id), std::move(c.spiffe_id), std::move(c.issuer),
                                std::move(c.serial_hex), c.not_before, c.not_after});
    for (auto& c : registry_.reportedCertificates()) certificates.push_back(std::move(c));
    health::computeHealth(g.get(), policies->policies, certificates, g->time);
    return g;
  }

  // A `health.change` event for every service whose health state changed since the last
  // published snapshot (publish thread only). Idle and healthy are one state here: a service
  // between requests would otherwise flap between them; a service first seen degraded or
  // failing counts as a change from healthy.
  void recordHealthChanges(const GraphSnapshot& snap) {
    auto rank = [](HealthState s) { return s == HealthState::kIdle ? HealthState::kHealthy : s; };
    for (const auto& n : snap.services) {
      if (!n.health) continue;
      const HealthState now = n.health->state;
      const auto it = last_health_.find(n.name);
      const HealthState before = it == last_health_.end() ? HealthState::kHealthy : it->second;
      last_health_[n.name] = now;
      if (rank(now) == rank(before)) continue;
      std::string reasons;
      for (const auto& r : n.health->reasons) reasons += (reasons.empty() ? "" : "; ") + r;
      recordEvent("health.change", n.name,
                  fmt::format("{} -> {}{}{}", toString(rank(before)), toString(rank(now)),
                              reasons.empty() ? "" : ": ", reasons));
    }
  }

  void publishLoop() {
    std::unique_lock lock(publish_mutex_);
    auto wall_offset =
        time_.systemNow().time_since_epoch() - time_.monotonicNow().time_since_epoch();
    while (!stopping_) {
      // The wall clock moving against the monotonic one is a jump (an operator, NTP stepping, a
      // resumed VM): say so, since telemetry windows and revision times follow the wall clock.
      const auto offset =
          time_.systemNow().time_since_epoch() - time_.monotonicNow().time_since_epoch();
      if (const auto jump = std::chrono::duration_cast<std::chrono::seconds>(offset - wall_offset);
          jump >= kClockJump || jump <= -kClockJump) {
        spdlog::warn(
            "the wall clock jumped by {:+} s: edge metrics restart from the new time (a window "
            "shows only traffic since the jump), new revisions carry the new time",
            jump.count());
      }
      wall_offset = offset;
      lock.unlock();
      auto snap = buildSnapshot(options_.window_seconds);
      recordHealthChanges(*snap);
      feedHistory();
      lock.lock();
      latest_ = snap;
      std::vector<std::shared_ptr<Subscription>> subs(subscriptions_.begin(), subscriptions_.end());
      lock.unlock();
      for (const auto& sub : subs) {
        std::lock_guard call(sub->mutex);
        if (sub->active) sub->callback(snap);
      }
      lock.lock();
      const auto interval = std::max(options_.snapshot_interval, std::chrono::milliseconds(250));
      publish_wake_.wait_for(lock, interval, [&] { return stopping_; });
    }
  }

  std::shared_ptr<const GraphSnapshot> snapshot() {
    std::lock_guard lock(publish_mutex_);
    return latest_;
  }

  std::shared_ptr<void> subscribe(SnapshotCallback callback) {
    auto sub = std::make_shared<Subscription>();
    sub->callback = std::move(callback);
    {
      std::lock_guard lock(publish_mutex_);
      subscriptions_.push_back(sub);
    }
    // The token's deleter ends the subscription and waits for a running callback (the mutex is
    // recursive so a callback may drop its own token).
    return std::shared_ptr<void>(nullptr, [this, sub](void*) {
      {
        std::lock_guard call(sub->mutex);
        sub->active = false;
      }
      std::lock_guard lock(publish_mutex_);
      subscriptions_.remove(sub);
    });
  }

  std::vector<PolicyInfo> policies() { return infoOf(*store_.current()); }

  std::optional<std::vector<PolicyInfo>> policiesAt(uint64_t revision) {
    const auto set = store_.at(revision);
    if (!set) return std::nullopt;
    return infoOf(*set);
  }

  static std::vector<PolicyInfo> infoOf(const PolicySet& set) {
    std::vector<PolicyInfo> out;
    for (const auto& p : set.policies)
      out.push_back(
          PolicyInfo{toString(p.kind), p.name, p.target(), p.yaml, p.changed_in, p.badges()});
    return out;
  }

  struct Subscription {
    std::recursive_mutex mutex;
    bool active = true;
    SnapshotCallback callback;
  };

  ControlPlaneOptions options_;
  const common::TimeSource& time_;
  std::map<std::string, HealthState> last_health_;  // recordHealthChanges(), publish thread
  Registry registry_;
  PolicyStore store_;
  TelemetryAggregator aggregator_;
  TapHub taps_;  // before the services that point to it (destroyed after them)
  DiscoveryService discovery_;
  TelemetryIngestService telemetry_;
  std::unique_ptr<security::ManagementSecurity> security_;
  security::ProxyAuthenticator proxy_auth_;
  MeshService mesh_;
  identity::BootstrapTokens tokens_;
  std::unique_ptr<identity::CertificateAuthority> ca_;  // created by start()
  std::unique_ptr<IdentityService> identity_;
  std::unique_ptr<kubernetes::KubeApiClient> kube_client_;
  std::unique_ptr<kubernetes::KubeTokenReviewer> kube_reviewer_;
  std::unique_ptr<kubernetes::KubeRegistry> kube_registry_;
  std::unique_ptr<identity::ServerTlsFiles> tls_files_;  // the TLS port's identity (start())
  std::mutex tls_mutex_;        // guards server_*_pem_ and server_cert_renew_at_
  std::mutex tls_files_mutex_;  // serializes writes of tls_files_
  std::mutex rotation_mutex_;   // one rotation action at a time
  std::string server_key_pem_, server_chain_pem_;
  pki::TimePoint server_cert_renew_at_;
  std::thread tls_thread_;

  std::mutex publish_mutex_;
  std::condition_variable publish_wake_;
  bool stopping_ = false;
  std::thread publisher_;
  std::shared_ptr<const GraphSnapshot> latest_;
  std::list<std::shared_ptr<Subscription>> subscriptions_;
  std::string topology_signature_;
  uint64_t topology_version_ = 0;

  std::string listen_address_;
  std::string secure_listen_address_;
  std::unique_ptr<metrics::MetricsServer> metrics_;  // with options_.metrics_listen (start())
  bool started_ = false;
  std::atomic<bool> shutting_down_{false};
  std::atomic<const char*> stop_phase_{"running"};
  // The history store (openHistory()); written by the services' event sinks and the publish
  // loop. Declared before servers_ so that it outlives every handler.
  std::unique_ptr<history::HistoryStore> history_;
  int64_t next_block_ = 0;  // the next aggregator block for the history (publish loop, stop())
  // Last: destroyed first, before the services. The servers before their forwarders.
  mutable std::mutex shards_mutex_;  // guards shard_services_ (the list; counters())
  std::vector<std::unique_ptr<ServerShardServices>> shard_services_;
  std::vector<std::unique_ptr<grpc::Server>> servers_;
};

InProcessControlPlane::InProcessControlPlane(ControlPlaneOptions options)
    : impl_(std::make_unique<Impl>(*this, std::move(options))) {}

InProcessControlPlane::~InProcessControlPlane() { impl_->stop(); }

bool InProcessControlPlane::start(std::string* error) { return impl_->start(error); }
void InProcessControlPlane::stop() { impl_->stop(); }

void InProcessControlPlane::registerService(const std::string& service, const std::string& version,
                                            const std::string& tier) {
  impl_->registry_.registerService(service, version, tier);
  impl_->discovery_.markDirty();
}

InProcessControlPlane::Counters InProcessControlPlane::counters() const {
  Counters c;
  c.pushes = impl_->discovery_.pushesSent();
  c.acks = impl_->discovery_.acks();
  c.nacks = impl_->discovery_.nacks();
  c.bad_discovery_requests = impl_->discovery_.badRequests();
  c.reports = impl_->telemetry_.reports();
  c.telemetry_streams = impl_->telemetry_.streams();
  c.edges_accepted = impl_->telemetry_.edgesAccepted();
  c.edges_rejected = impl_->telemetry_.edgesRejected();
  c.reports_refused = impl_->telemetry_.reportsRefused();
  c.answers_ignored = impl_->discovery_.answersIgnored();
  c.management_refused = impl_->mesh_.refusedRequests();
  c.management_cancelled = impl_->mesh_.cancelledCalls();
  c.management_unauthenticated = impl_->security_->refusedUnauthenticated();
  c.management_forbidden = impl_->security_->refusedPermission();
  c.discovery_bytes = impl_->discovery_.bytesSent();
  c.incremental_fallbacks = impl_->discovery_.incrementalFallbacks();
  c.on_demand_requests = impl_->discovery_.onDemandRequests();
  c.on_demand_unknown = impl_->discovery_.onDemandUnknown();
  c.proxy_streams_refused = impl_->proxy_auth_.streamsRefused();
  c.proxy_identity_refused = impl_->proxy_auth_.identityRefused();
  std::lock_guard lock(impl_->shards_mutex_);
  for (const auto& s : impl_->shard_services_) {
    c.calls_by_server.push_back(s->calls());
    for (auto n : s->telemetryStreamsByQueue()) c.telemetry_streams_by_queue.push_back(n);
  }
  return c;
}

std::shared_ptr<const GraphSnapshot> InProcessControlPlane::snapshot() { return impl_->snapshot(); }

std::shared_ptr<void> InProcessControlPlane::startTap(const TapFilter& filter, TapCallback callback,
                                                      std::string* error) {
  (void)error;
  return impl_->taps_.open(filter, std::move(callback));
}

std::shared_ptr<void> InProcessControlPlane::subscribe(SnapshotCallback callback) {
  return impl_->subscribe(std::move(callback));
}

std::vector<EdgeSample> InProcessControlPlane::edgeHistory(const std::string& source,
                                                           const std::string& destination,
                                                           uint32_t seconds) {
  return impl_->aggregator_.history(source, destination, seconds);
}

std::vector<PolicyInfo> InProcessControlPlane::policies() { return impl_->policies(); }
std::optional<std::vector<PolicyInfo>> InProcessControlPlane::policiesAt(uint64_t revision) {
  return impl_->policiesAt(revision);
}

ApplyResult InProcessControlPlane::applyPolicies(const std::string& yaml, const std::string& file,
                                                 const std::string& author, bool dry_run) {
  return applyPoliciesUntil(yaml, file, author, dry_run, {});
}

ApplyResult InProcessControlPlane::applyPoliciesUntil(const std::string& yaml,
                                                      const std::string& file,
                                                      const std::string& author, bool dry_run,
                                                      const std::function<bool()>& cancelled) {
  auto result = impl_->store_.apply(yaml, file, author, dry_run, [&] {
    return impl_->shutting_down_.load() || (cancelled && cancelled());
  });
  impl_->recordChange("policy.apply", file, result, author, dry_run);
  return result;
}

std::string InProcessControlPlane::stopStatus() const { return impl_->stopStatus(); }

ApplyResult InProcessControlPlane::deletePolicy(const std::string& kind, const std::string& name,
                                                const std::string& author) {
  auto result = impl_->store_.remove(kind, name, author);
  impl_->recordChange("policy.delete", kind + "/" + name, result, author, false);
  return result;
}

std::vector<RevisionInfo> InProcessControlPlane::revisions() { return impl_->store_.revisions(); }

std::string InProcessControlPlane::diffRevisions(uint64_t from, uint64_t to) {
  return impl_->store_.diff(from, to).value_or("");
}

ApplyResult InProcessControlPlane::revertToRevision(uint64_t revision, const std::string& author) {
  auto result = impl_->store_.revert(revision, author);
  impl_->recordChange("policy.revert", "revision " + std::to_string(revision), result, author,
                      false);
  return result;
}

std::shared_ptr<const GraphSnapshot> InProcessControlPlane::snapshotForWindow(
    uint32_t window_seconds) {
  if (window_seconds == 0) return snapshot();
  return impl_->buildSnapshot(window_seconds);
}

std::string InProcessControlPlane::exportSnapshotJson(uint32_t window_seconds) {
  const auto g = impl_->buildSnapshot(window_seconds ? window_seconds : 60);
  // The edges' history and the revision list go along, so a reopened file has working charts
  // and a History (docs/snapshot-format.md).
  return snapshotToJson(*g, policies(), kVersion, snapshotExtras(*this, *g));
}

void InProcessControlPlane::setFleet(fleet::DemoFleet* fleet) {
  std::lock_guard lock(fleet_mu_);
  fleet_ = fleet;
}

std::vector<ProcessInfo> InProcessControlPlane::processes() {
  std::lock_guard lock(fleet_mu_);
  return fleet_ ? fleet_->processes() : std::vector<ProcessInfo>{};
}

std::vector<std::string> InProcessControlPlane::processLogs(const std::string& name,
                                                            uint32_t tail) {
  std::lock_guard lock(fleet_mu_);
  return fleet_ ? fleet_->logs(name, tail) : std::vector<std::string>{};
}

ActionResult InProcessControlPlane::restartProcess(const std::string& name) {
  ActionResult result{false, "this control plane runs no fleet (no process \"" + name + "\")"};
  {
    std::lock_guard lock(fleet_mu_);
    if (fleet_) result = fleet_->restart(name);
  }
  if (result.ok) impl_->recordEvent("fleet.restart", name, result.message);
  return result;
}

ActionResult InProcessControlPlane::scaleService(const std::string& service,
                                                 const std::string& version, uint32_t replicas) {
  ActionResult result{false, "this control plane runs no fleet (cannot scale \"" + service + "\")"};
  {
    std::lock_guard lock(fleet_mu_);
    if (fleet_) result = fleet_->scale(service, version, replicas);
  }
  if (result.ok)
    impl_->recordEvent("fleet.scale", service + " " + version,
                       fmt::format("{} replicas: {}", replicas, result.message));
  return result;
}

std::string InProcessControlPlane::secureListenAddress() { return impl_->secure_listen_address_; }

std::string InProcessControlPlane::metricsListenAddress() {
  return impl_->metrics_ ? impl_->metrics_->address() : std::string();
}

identity::CertificateAuthority* InProcessControlPlane::certificateAuthority() {
  return impl_->ca_.get();
}

std::vector<CertificateInfo> InProcessControlPlane::certificates() {
  std::vector<CertificateInfo> out;
  if (!impl_->ca_) return out;
  std::set<std::string> serials;
  for (auto& c : impl_->ca_->issued()) {
    serials.insert(c.serial_hex);
    out.push_back({std::move(c.proxy_id), std::move(c.spiffe_id), std::move(c.issuer),
                   std::move(c.serial_hex), c.not_before, c.not_after});
  }
  // Certificates that proxies report and this process did not issue (issued before a restart).
  for (auto& c : impl_->registry_.reportedCertificates())
    if (!serials.count(c.serial)) out.push_back(std::move(c));
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.not_before < b.not_before; });
  return out;
}

std::string InProcessControlPlane::issueBootstrapToken(const std::string& proxy_id,
                                                       const std::string& ns,
                                                       const std::string& service) {
  if (!pki::parseSpiffeId(pki::formatSpiffeId({impl_->options_.trust_domain, ns, service})))
    return {};
  return impl_->tokens_.issue(proxy_id, ns, service);
}

CaStatus InProcessControlPlane::rotateRoot(RootRotationAction action, bool force) {
  auto status = impl_->rotateRoot(action, force);
  if (status.ok && action != RootRotationAction::kStatus)
    impl_->recordEvent(
        action == RootRotationAction::kBegin ? "identity.rotate.begin" : "identity.rotate.retire",
        status.active_root.subject, status.message);
  return status;
}

HistoricalGraph InProcessControlPlane::graphBetween(SystemTime from, SystemTime to) {
  return impl_->graphBetween(from, to);
}

EventList InProcessControlPlane::events(SystemTime since, SystemTime until,
                                        const std::vector<std::string>& kinds, uint32_t limit) {
  return impl_->events(since, until, kinds, limit);
}

std::function<void(const std::string&, const std::string&, const std::string&, const std::string&)>
InProcessControlPlane::eventRecorder() {
  return [this](const std::string& kind, const std::string& subject, const std::string& detail,
                const std::string& author) { recordEvent(kind, subject, detail, author); };
}

void InProcessControlPlane::recordEvent(const std::string& kind, const std::string& subject,
                                        const std::string& detail, const std::string& author) {
  impl_->recordEvent(kind.c_str(), subject, detail, author);
}

std::string InProcessControlPlane::listenAddress() {
  return impl_->listen_address_.empty() ? impl_->options_.listen : impl_->listen_address_;
}

}  // namespace meshdeck::cp
