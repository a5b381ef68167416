#include "proxy/mesh/mesh_agent.h"

#include <fmt/chrono.h>
#include <fmt/ranges.h>
#include <grpcpp/grpcpp.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <random>

#include "common/bounded_file.h"
#include "common/histogram_proto.h"
#include "common/input_limits.h"
#include "common/pki/pki.h"
#include "common/shared_resources.h"
#include "common/telemetry/counter_fields.h"
#include "meshdeck/v1/discovery.grpc.pb.h"
#include "meshdeck/v1/identity.grpc.pb.h"
#include "meshdeck/v1/telemetry.grpc.pb.h"
#include "meshdeck/version.h"
#include "proxy/proxy.h"

namespace meshdeck::proxy {

namespace v1 = meshdeck::v1;

MeshAgent::MeshAgent(Proxy& proxy, MeshIdentity identity)
    : proxy_(proxy),
      identity_([&identity] {
        MeshIdentity copy = identity;
        copy.bootstrap_token.clear();
        return copy;
      }()),
      bootstrap_token_(std::move(identity.bootstrap_token)) {
  // A scoped sidecar holds requests for services outside its scope and asks for them.
  proxy_.onDemand().setScoped(!identity_.dependencies.empty());
  if (!identity.bootstrap_token.empty())
    OPENSSL_cleanse(identity.bootstrap_token.data(), identity.bootstrap_token.size());
}

MeshAgent::~MeshAgent() {
  stop();
  if (!bootstrap_token_.empty()) OPENSSL_cleanse(bootstrap_token_.data(), bootstrap_token_.size());
}

std::string MeshAgent::spiffeId() const {
  std::lock_guard lock(mu_);
  return spiffe_id_;
}

void MeshAgent::start() {
  discovery_thread_ = std::thread([this] { runDiscovery(); });
  telemetry_thread_ = std::thread([this] { runTelemetry(); });
}

void MeshAgent::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_.exchange(true)) return;
    if (discovery_ctx_) discovery_ctx_->TryCancel();
    if (telemetry_ctx_) telemetry_ctx_->TryCancel();
  }
  cv_.notify_all();
  if (discovery_thread_.joinable()) discovery_thread_.join();
  if (telemetry_thread_.joinable()) telemetry_thread_.join();
  // Started by the discovery thread, which has ended.
  if (renewal_thread_.joinable()) renewal_thread_.join();
}

bool MeshAgent::requestCertificate(bool renewal, std::string* error, bool* retryable) {
  *retryable = false;
  const std::string spiffe =
      pki::formatSpiffeId({identity_.trust_domain, identity_.ns, identity_.service});
  const auto key = pki::generateKey(pki::KeyType::kP256);
  const std::string csr = key ? pki::csrPem(key, spiffe) : std::string();
  if (csr.empty()) {
    *error = "cannot build a certificate request for " + spiffe +
             " (check --trust-domain, "
             "--namespace and --service): " +
             pki::opensslErrors();
    return false;
  }
  // Renewals use the current certificate on the TLS port; without one, a service-account token
  // on the plaintext port (a bootstrap token is good for one use only).
  const bool over_tls = renewal && !identity_.control_plane_tls.empty();
  v1::SignRequest request;
  if (!over_tls && !identity_.sa_token_file.empty()) {
    std::string token, why;
    if (!common::readFileLimited(identity_.sa_token_file, common::limits::kMaxSaTokenFileBytes,
                                 &token, &why)) {
      *error = "--sa-token-file: " + why;
      *retryable = true;  // the kubelet may be writing it
      return false;
    }
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
      token.pop_back();
    request.set_service_account_token(token);
    OPENSSL_cleanse(token.data(), token.size());
  } else if (!renewal) {
    request.set_bootstrap_token(bootstrap_token_);
  }
  auto stub = v1::Identity::NewStub(
      over_tls ? tlsChannel()
               : grpc::CreateChannel(identity_.control_plane, grpc::InsecureChannelCredentials()));
  request.set_proxy_id(identity_.proxy_id);
  request.set_csr_pem(csr);
  request.set_requested_ttl_seconds(identity_.cert_ttl_seconds);
  v1::SignResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      *error = "stopping";
      return false;
    }
  }
  const grpc::Status status = stub->Sign(&ctx, request, &response);
  if (!status.ok()) {
    *retryable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                 status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    *error = fmt::format("Identity.Sign via {} refused ({}): {}",
                         over_tls ? identity_.control_plane_tls : identity_.control_plane,
                         static_cast<int>(status.error_code()), status.error_message());
    return false;
  }
  std::string bundle;
  for (const auto& b : response.trust_bundle_pem()) bundle += b;
  const std::string key_pem = pki::privateKeyPem(key.get());
  const auto leaf = pki::loadCertPem(response.certificate_chain_pem());
  const auto info = leaf ? pki::certificateInfo(leaf.get()) : std::nullopt;
  if (!info) {
    *error = "the control plane returned an unreadable certificate";
    return false;
  }
  std::string why;
  std::lock_guard id_lock(id_mu_);
  if (!proxy_.setTlsIdentity(response.certificate_chain_pem(), key_pem, bundle, &why)) {
    *error = "the issued certificate cannot be installed: " + why;
    return false;
  }
  if (!key_pem_.empty()) OPENSSL_cleanse(key_pem_.data(), key_pem_.size());
  key_pem_ = key_pem;
  chain_pem_ = response.certificate_chain_pem();
  bundle_pem_ = bundle;
  not_before_ = info->not_before;
  not_after_ = info->not_after;
  installed_at_ = std::chrono::system_clock::now();
  {
    std::lock_guard lock(mu_);
    spiffe_id_ = info->spiffe_id.value_or(response.spiffe_id());
    installed_cert_ = *info;
  }
  spdlog::info("identity: {} {} (serial {}, valid until {:%Y-%m-%dT%H:%M:%SZ})",
               renewal ? "renewed" : "installed", response.spiffe_id(), info->serial_hex,
               fmt::gmtime(std::chrono::system_clock::to_time_t(info->not_after)));
  return true;
}

std::shared_ptr<grpc::Channel> MeshAgent::tlsChannel() {
  grpc::SslCredentialsOptions tls;
  {
    // The bundle accepts the TLS port's certificate of either root during a rotation.
    std::lock_guard lock(id_mu_);
    tls.pem_root_certs = bundle_pem_;
    tls.pem_private_key = key_pem_;
    tls.pem_cert_chain = chain_pem_;
  }
  grpc::ChannelArguments args;
  // The TLS port's certificate names this host (docs/security.md).
  args.SetSslTargetNameOverride("meshdeck-controlplane");
  return grpc::CreateCustomChannel(identity_.control_plane_tls, grpc::SslCredentials(tls), args);
}

std::shared_ptr<grpc::Channel> MeshAgent::streamChannel(std::string* address) {
  bool identified = false;
  {
    std::lock_guard lock(id_mu_);
    identified = !chain_pem_.empty();
  }
  if (identified && !identity_.control_plane_tls.empty()) {
    *address = identity_.control_plane_tls;
    return tlsChannel();
  }
  *address = identity_.control_plane;
  return grpc::CreateChannel(identity_.control_plane, grpc::InsecureChannelCredentials());
}

void MeshAgent::settleIdentity() {
  {
    std::lock_guard lock(mu_);
    identity_settled_ = true;
  }
  cv_.notify_all();
}

bool MeshAgent::applyTrustBundle(const std::string& bundle_pem, const std::string& signing_root_pem,
                                 std::string* error) {
  bool renew_early = false;
  {
    std::lock_guard lock(id_mu_);
    if (chain_pem_.empty() || bundle_pem == bundle_pem_) return true;
    if (!proxy_.setTlsIdentity(chain_pem_, key_pem_, bundle_pem, error)) return false;
    bundle_pem_ = bundle_pem;
    ++counters_.bundles_installed;
    const auto chain = pki::loadCertChainPem(chain_pem_);
    const auto root = pki::loadCertPem(signing_root_pem);
    std::vector<X509*> intermediates;
    for (size_t i = 1; i < chain.size(); ++i) intermediates.push_back(chain[i].get());
    std::string why;
    renew_early = !chain.empty() && root &&
                  !pki::verifyCertificate(chain.front().get(), intermediates, {root.get()},
                                          std::chrono::system_clock::now(), &why);
  }
  spdlog::info("identity: trust bundle updated from the control plane{}",
               renew_early ? "; the certificate is from an older root, renewing early" : "");
  if (renew_early && (!identity_.control_plane_tls.empty() || !identity_.sa_token_file.empty())) {
    thread_local std::mt19937_64 rng(std::random_device{}());
    const auto at = std::chrono::system_clock::now() + std::chrono::seconds(1) +
                    std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, 5000)(rng));
    {
      std::lock_guard lock(mu_);
      if (at < early_renewal_at_) early_renewal_at_ = at;
    }
    ++counters_.early_renewals;
    cv_.notify_all();
  }
  return true;
}

bool MeshAgent::obtainFirstCertificate() {
  for (uint32_t attempt = 1; attempt <= kFirstSignAttempts && !stopping_; ++attempt) {
    std::string error;
    bool retryable = false;
    if (requestCertificate(false, &error, &retryable)) {
      OPENSSL_cleanse(bootstrap_token_.data(), bootstrap_token_.size());
      bootstrap_token_.clear();
      ++counters_.certificates_issued;
      return true;
    }
    ++counters_.sign_failures;
    if (!retryable) {
      spdlog::error(
          "identity: no certificate for proxy {}: {}; continuing in PLAINTEXT without a mesh "
          "identity (peers requiring mutual TLS will refuse it)",
          identity_.proxy_id, error);
      break;
    }
    spdlog::warn("identity: attempt {}/{}: {}", attempt, kFirstSignAttempts, error);
    if (attempt == kFirstSignAttempts) {
      spdlog::error(
          "identity: control plane unreachable after {} attempts; continuing in PLAINTEXT "
          "without a mesh identity",
          kFirstSignAttempts);
      break;
    }
    if (!backoff(attempt + 2)) break;
  }
  OPENSSL_cleanse(bootstrap_token_.data(), bootstrap_token_.size());
  bootstrap_token_.clear();
  return false;
}

void MeshAgent::runRenewal() {
  std::mt19937_64 rng(std::random_device{}());
  while (!stopping_) {
    // Half of the lifetime as received: the CA backdates notBefore by a minute for clock skew,
    // which would put half life of a short-lived certificate in the past. At least a second
    // between renewals, whatever the certificate says.
    std::chrono::system_clock::time_point at, not_after;
    {
      std::lock_guard lock(id_mu_);
      at = pki::renewalTime(std::max(not_before_, installed_at_), not_after_, 0.1, rng());
      not_after = not_after_;
    }
    const auto wait = std::max<std::chrono::milliseconds>(
        std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::milliseconds>(
                                     at - std::chrono::system_clock::now()));
    spdlog::info("identity: renewal in {:.1f} s", double(wait.count()) / 1000);
    {
      // Until the renewal time, or an early renewal asked for by a new trust bundle.
      const auto regular = std::chrono::system_clock::now() + wait;
      std::unique_lock lock(mu_);
      while (!stopping_) {
        const auto until = std::min(regular, early_renewal_at_);
        if (std::chrono::system_clock::now() >= until) break;
        cv_.wait_until(lock, until);
      }
      if (stopping_) return;
      early_renewal_at_ = std::chrono::system_clock::time_point::max();
    }
    for (uint32_t attempt = 0; !stopping_; ++attempt) {
      std::string error;
      bool retryable = false;
      if (requestCertificate(true, &error, &retryable)) {
        ++counters_.certificates_renewed;
        break;
      }
      if (stopping_) return;
      ++counters_.sign_failures;
      const bool expired = std::chrono::system_clock::now() >= not_after;
      spdlog::log(expired ? spdlog::level::err : spdlog::level::warn,
                  "identity: renewal of {} failed{}: {}", spiffeId(),
                  expired ? " and the certificate has EXPIRED" : "", error);
      if (!sleepFor(
              std::chrono::milliseconds(std::min<int64_t>(10'000, 500LL << std::min(attempt, 5u)))))
        return;
    }
  }
}

bool MeshAgent::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

bool MeshAgent::backoff(uint32_t attempt) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const int64_t cap = std::min<int64_t>(5000, int64_t{100} << std::min<uint32_t>(attempt, 6));
  const auto wait =
      std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng));
  return sleepFor(wait);
}

void MeshAgent::runDiscovery() {
  // The identity comes first, so the first Node already announces it and the first config
  // can use mutual TLS.
  if ((!bootstrap_token_.empty() || !identity_.sa_token_file.empty()) && obtainFirstCertificate()) {
    if (identity_.control_plane_tls.empty() && identity_.sa_token_file.empty())
      spdlog::warn(
          "identity: no --control-plane-tls given; {} will not be renewed, and the discovery "
          "and telemetry streams stay on the plaintext port {}",
          spiffeId(), identity_.control_plane);
    else
      renewal_thread_ = std::thread([this] { runRenewal(); });
  }
  settleIdentity();
  std::string applied_version;  // last version applied successfully, announced on reconnect
  // The shared resources of the applied config, when it came in increments.
  common::SharedResourceSet shared;
  uint32_t attempt = 0;
  while (!stopping_) {
    auto ctx = std::make_shared<grpc::ClientContext>();
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      discovery_ctx_ = ctx;
    }
    // A new channel at every (re)connection: with a certificate, the TLS port authenticated by
    // the certificate installed now (renewals replace it).
    std::string address;
    auto stub = v1::ConfigDiscovery::NewStub(streamChannel(&address));
    auto stream = stub->Stream(ctx.get());
    v1::DiscoveryRequest hello;
    auto* node = hello.mutable_node();
    node->set_proxy_id(identity_.proxy_id);
    node->set_service(identity_.service);
    node->set_version(identity_.version);
    node->set_namespace_(identity_.ns);
    node->set_inbound_port(identity_.inbound_port);
    node->set_app_port(identity_.app_port);
    node->set_outbound_port(identity_.outbound_port);
    node->set_admin_port(identity_.admin_port);
    node->set_build_version(meshdeck::kVersion);
    node->set_host(identity_.host);
    node->set_spiffe_id(spiffeId());
    if (identity_.app_protocol == "http1") node->set_app_protocol(v1::Cluster::HTTP1);
    if (identity_.app_protocol == "http2") node->set_app_protocol(v1::Cluster::HTTP2);
    if (identity_.app_protocol == "grpc") node->set_app_protocol(v1::Cluster::GRPC);
    node->add_client_features(common::kIncrementalSharedResources);
    for (const auto& d : identity_.dependencies) node->add_dependencies(d);
    // And the services found on demand on earlier streams, within the control plane's limit.
    auto& on_demand = proxy_.onDemand();
    for (const auto& s : on_demand.learned()) {
      if (node->dependencies_size() >= static_cast<int>(kMaxScopeServices)) break;
      if (std::find(identity_.dependencies.begin(), identity_.dependencies.end(), s) ==
          identity_.dependencies.end())
        node->add_dependencies(s);
    }
    hello.set_version_info(applied_version);
    bool got_response = false;
    // One Write at a time on the stream: the answers below, and the on-demand asks, which the
    // asker thread writes while this thread waits in Read (gRPC allows one of each at once).
    std::mutex write_mu;
    std::atomic<bool> asking{false};
    std::thread asker;
    if (stream->Write(hello)) {
      ++counters_.connects;
      if (on_demand.scoped()) {
        on_demand.streamOpened();
        asking = true;
        asker = std::thread([&] { askOnDemand(*stream, write_mu, asking); });
      }
      v1::DiscoveryResponse response;
      while (stream->Read(&response)) {
        got_response = true;
        attempt = 0;
        if (response.has_taps()) {
          // Tap subscriptions only (docs/tap.md): not a configuration, not answered.
          applyTaps(response.taps());
          continue;
        }
        if (response.unknown_services_size() > 0) {
          // Services asked for on demand that the mesh does not have: not a configuration, not
          // answered (docs/cp-scale.md, "Scoping").
          for (const auto& name : response.unknown_services()) {
            spdlog::warn("the control plane knows no service \"{}\"", name);
            on_demand.unknownService(name);
          }
          continue;
        }
        v1::DiscoveryRequest answer;
        answer.set_response_nonce(response.nonce());
        std::string error;
        // With increments, the config is the own part plus the shared resources held after
        // applying the delta; both are kept only when the whole config is applied.
        const bool incremental = response.has_shared();
        common::SharedResourceSet next_shared;
        v1::ProxyConfig assembled;
        bool shared_ok = true;
        if (incremental) {
          shared_ok = shared.apply(response.shared(), &next_shared, &error);
          if (shared_ok) {
            assembled = response.config();
            next_shared.appendTo(&assembled);
          } else {
            error = "shared resources: " + error;
          }
        }
        const v1::ProxyConfig& config = incremental ? assembled : response.config();
        const auto& security = config.security();
        std::string bundle;
        for (const auto& pem : security.trust_bundle_pem()) bundle += pem;
        const bool bundle_ok = !shared_ok || bundle.empty() ||
                               applyTrustBundle(bundle, security.trust_bundle_pem(0), &error);
        if (!bundle_ok) error = "trust bundle: " + error;
        if (shared_ok && bundle_ok && proxy_.applyConfig(config, &error)) {
          applied_version = response.version_info();
          if (incremental)
            shared = std::move(next_shared);
          else
            shared.clear();
          ++counters_.configs_applied;
          if (config.telemetry().has_interval()) {
            const auto& d = config.telemetry().interval();
            const int64_t ms = d.seconds() * 1000 + d.nanos() / 1'000'000;
            if (ms >= 100 && ms <= 60'000) interval_ms_ = static_cast<uint32_t>(ms);
          }
          spdlog::info("config {} applied{}", applied_version,
                       incremental ? fmt::format(" ({} shared resources changed, {} removed)",
                                                 response.shared().resources_size(),
                                                 response.shared().removed_size())
                                   : std::string());
        } else {
          ++counters_.configs_rejected;
          answer.mutable_error_detail()->set_code(shared_ok ? "invalid_config"
                                                            : "invalid_shared_resources");
          answer.mutable_error_detail()->set_message(error);
          spdlog::warn("config {} rejected, keeping {}: {}", response.version_info(),
                       applied_version.empty() ? "none" : applied_version, error);
        }
        if (incremental) answer.set_shared_digest(shared.digest());
        answer.set_version_info(applied_version);
        std::lock_guard write_lock(write_mu);
        if (!stream->Write(answer)) break;
      }
    }
    if (asker.joinable()) {
      asking = false;
      on_demand.interrupt();
      asker.join();
    }
    const grpc::Status status = stream->Finish();
    {
      std::lock_guard lock(mu_);
      discovery_ctx_.reset();
    }
    // Nobody listens to the taps of a control plane that is gone; a new stream brings them back.
    if (proxy_.tap().active()) proxy_.tap().set({});
    if (stopping_) break;
    if (!got_response) ++attempt;
    spdlog::warn("control plane {} unreachable or stream closed ({}); keeping config {}, retrying",
                 address, status.error_message().empty() ? "closed" : status.error_message(),
                 applied_version.empty() ? "none" : applied_version);
    if (!backoff(attempt)) break;
  }
}

void MeshAgent::askOnDemand(
    grpc::ClientReaderWriter<v1::DiscoveryRequest, v1::DiscoveryResponse>& stream,
    std::mutex& write_mu, const std::atomic<bool>& asking) {
  auto& on_demand = proxy_.onDemand();
  std::vector<std::string> names;
  while (asking && !stopping_) {
    names.clear();
    if (!on_demand.takeAsks(&names, kMaxOnDemandPerAsk, std::chrono::seconds(1))) continue;
    v1::DiscoveryRequest ask;
    for (const auto& name : names) ask.add_on_demand_services(name);
    {
      std::lock_guard lock(write_mu);
      if (!asking || !stream.Write(ask)) return;
    }
    spdlog::info("asked the control plane for {} service(s) on demand: {}", names.size(),
                 fmt::join(names, ", "));
    // Paced, so that asks stay well under the stream's request rate limit whatever the traffic;
    // the services that come up meanwhile go together in the next one.
    sleepFor(kOnDemandAskInterval);
  }
}

void fillTelemetryReport(const EdgeMap& edges, const std::string& proxy_id, uint64_t sequence,
                         uint32_t interval_ms, v1::TelemetryReport* report) {
  report->set_proxy_id(proxy_id);
  report->set_sequence(sequence);
  report->set_interval_ms(interval_ms);
  const auto now = std::chrono::system_clock::now() - std::chrono::milliseconds(interval_ms);
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  report->mutable_interval_start()->set_seconds(ns / 1'000'000'000);
  report->mutable_interval_start()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
  for (const auto& [id, d] : edges) {
    auto* e = report->add_edges();
    auto* k = e->mutable_key();
    k->set_source_service(id.source_service);
    k->set_source_version(id.source_version);
    k->set_destination_service(id.destination_service);
    k->set_destination_version(id.destination_version);
    k->set_route(id.route);
    k->set_protocol(id.protocol == 2 ? "grpc" : id.protocol == 1 ? "h2" : "http/1.1");
    e->set_side(id.client_side ? v1::CLIENT : v1::SERVER);
#define MESHDECK_SET_(member, ...) e->set_##member(d.member);
    MESHDECK_EDGE_COUNTERS(MESHDECK_SET_)
    MESHDECK_EDGE_PROXY_COUNTERS(MESHDECK_SET_)
#undef MESHDECK_SET_
    for (const auto& [code, n] : d.responses_by_code) (*e->mutable_responses_by_code())[code] = n;
    for (uint32_t s = 0; s < d.grpc_statuses.size(); ++s)
      if (d.grpc_statuses[s]) (*e->mutable_grpc_statuses())[s] = d.grpc_statuses[s];
    AuthzCounterMap authz = d.authz;
    d.authz_slots.addTo(authz);
    for (const auto& [rule, n] : authz) {
      auto* a = e->add_authorization();
      a->set_policy(rule.policy);
      a->set_rule(rule.rule);
      a->set_action(toString(rule.action));
      a->set_dry_run(rule.dry_run);
      a->set_allowed(n.allowed);
      a->set_denied(n.denied);
      a->set_dry_run_denied(n.dry_run_denied);
    }
    if (d.latency) common::toProto(*d.latency, e->mutable_latency());
  }
}

v1::WorkloadCertificate MeshAgent::installedCertificate() const {
  v1::WorkloadCertificate cert;
  std::lock_guard lock(mu_);
  if (!installed_cert_) return cert;
  cert.set_spiffe_id(spiffe_id_);
  cert.set_serial_hex(installed_cert_->serial_hex);
  cert.set_issuer(installed_cert_->issuer);
  auto stamp = [](std::chrono::system_clock::time_point t, google::protobuf::Timestamp* out) {
    out->set_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  stamp(installed_cert_->not_before, cert.mutable_not_before());
  stamp(installed_cert_->not_after, cert.mutable_not_after());
  return cert;
}

void MeshAgent::runTelemetry() {
  {
    // With a bootstrap token, the first stream waits for the certificate so that it is
    // authenticated by it (see streamChannel).
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return identity_settled_ || stopping_.load(); });
  }
  uint64_t sequence = 0;
  EdgeMap pending;  // deltas not yet delivered
  uint32_t attempt = 0;
  while (!stopping_) {
    auto ctx = std::make_shared<grpc::ClientContext>();
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      telemetry_ctx_ = ctx;
    }
    std::string address;
    auto stub = v1::TelemetryIngest::NewStub(streamChannel(&address));
    auto stream = stub->Report(ctx.get());
    std::string reported_serial;  // certificate named on this stream ("" none yet)
    uint32_t quiet_intervals = 0;
    // Acks must be read so the server's writes never back up; nothing else depends on them.
    std::thread ack_reader([&stream] {
      v1::ReportAck ack;
      while (stream->Read(&ack)) {
      }
    });
    bool ok = true;
    while (ok && !stopping_) {
      // While a tap is open its events go out every kTapFlushInterval, in reports of their own
      // between the interval's reports (docs/tap.md).
      const auto due =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms_.load());
      bool stop = false;
      for (;;) {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(due - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        if (!sleepFor(proxy_.tap().active() ? std::min(left, kTapFlushInterval) : left)) {
          stop = true;
          break;
        }
        if (std::chrono::steady_clock::now() >= due) break;
        v1::TelemetryReport tap_report;
        if (!fillTapEvents(&tap_report)) continue;
        tap_report.set_proxy_id(identity_.proxy_id);
        tap_report.set_sequence(++sequence);
        if (!stream->Write(tap_report)) {
          ++counters_.reports_failed;
          ok = false;
          break;
        }
        ++counters_.tap_reports_sent;
      }
      if (stop || !ok) break;
      for (auto& [id, d] : proxy_.takeEdgeDeltas()) pending[id].merge(d);
      v1::WorkloadCertificate cert = installedCertificate();
      v1::TelemetryReport report;
      const bool tap_events = fillTapEvents(&report);
      // Something to say: traffic, a certificate the control plane has not heard of on this
      // stream, tap events, or a heartbeat (the control plane shows when each proxy last
      // reported).
      const bool cert_changed = cert.serial_hex() != reported_serial;
      if (pending.empty() && !cert_changed && !tap_events &&
          ++quiet_intervals < kHeartbeatIntervals)
        continue;
      fillTelemetryReport(pending, identity_.proxy_id, ++sequence, interval_ms_.load(), &report);
      if (!cert.serial_hex().empty()) *report.mutable_certificate() = std::move(cert);
      ok = stream->Write(report);
      if (ok) {
        pending.clear();
        attempt = 0;
        quiet_intervals = 0;
        reported_serial = report.certificate().serial_hex();
        ++counters_.reports_sent;
      } else {
        ++counters_.reports_failed;
      }
    }
    stream->WritesDone();
    {
      std::lock_guard lock(mu_);
      if (stopping_) ctx->TryCancel();
    }
    ctx->TryCancel();
    ack_reader.join();
    stream->Finish();
    {
      std::lock_guard lock(mu_);
      telemetry_ctx_.reset();
    }
    if (stopping_) break;
    ++attempt;
    if (!backoff(attempt)) break;
  }
}

void MeshAgent::applyTaps(const v1::TapSet& set) {
  std::vector<TapSpec> specs;
  for (const auto& sub : set.subscriptions()) {
    TapSpec s;
    const auto& m = sub.match();
    s.tap_id = sub.tap_id();
    s.service = m.service();
    s.service_version = m.service_version();
    s.source_service = m.source_service();
    s.source_version = m.source_version();
    s.destination_service = m.destination_service();
    s.destination_version = m.destination_version();
    s.method = m.method();
    s.path_prefix = m.path_prefix();
    s.authority = m.authority();
    s.status_class = m.status_class() <= 5 ? m.status_class() : 0;
    s.min_latency_us = m.min_latency_us();
    s.events_per_second = std::clamp(sub.events_per_second(), 0.0, 100'000.0);
    s.burst = sub.burst();
    s.headers = sub.headers();
    s.redact_headers.assign(sub.redact_headers().begin(), sub.redact_headers().end());
    s.direction = sub.direction() == v1::TAP_INBOUND     ? TapSpec::Direction::kInbound
                  : sub.direction() == v1::TAP_OUTBOUND  ? TapSpec::Direction::kOutbound
                  : sub.direction() == v1::TAP_FIRST_HOP ? TapSpec::Direction::kFirstHop
                                                         : TapSpec::Direction::kBoth;
    specs.push_back(std::move(s));
  }
  spdlog::info("tap: {} tap(s) open on this proxy", specs.size());
  proxy_.tap().set(std::move(specs));
}

bool MeshAgent::fillTapEvents(v1::TelemetryReport* report) {
  std::map<uint64_t, uint64_t> dropped;
  auto records = proxy_.tap().drain(&dropped);
  if (records.empty() && dropped.empty()) return false;
  for (auto& r : records) {
    auto* e = report->add_tap_events();
    e->set_tap_id(r.tap_id);
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(r.start.time_since_epoch()).count();
    e->mutable_start_time()->set_seconds(ns / 1'000'000'000);
    e->mutable_start_time()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
    e->set_side(r.client_side ? v1::CLIENT : v1::SERVER);
    e->set_proxy_id(identity_.proxy_id);
    e->set_source_service(std::move(r.source_service));
    e->set_source_version(std::move(r.source_version));
    e->set_source_identity(std::move(r.source_identity));
    e->set_destination_service(std::move(r.destination_service));
    e->set_destination_version(std::move(r.destination_version));
    e->set_destination_identity(std::move(r.destination_identity));
    e->set_protocol(std::move(r.protocol));
    e->set_method(std::move(r.method));
    e->set_authority(std::move(r.authority));
    e->set_path(std::move(r.path));
    e->set_status(r.status);
    if (r.grpc_status) e->set_grpc_status(*r.grpc_status);
    e->set_latency_us(r.latency_us);
    e->set_bytes_in(r.bytes_in);
    e->set_bytes_out(r.bytes_out);
    e->set_retries(r.retries);
    e->set_error_code(std::move(r.error_code));
    e->set_route(std::move(r.route));
    e->set_authorization_policy(std::move(r.authorization_policy));
    e->set_authorization_rule(std::move(r.authorization_rule));
    e->set_mtls(r.mtls);
    e->set_trace_id(std::move(r.trace_id));
    e->set_span_id(std::move(r.span_id));
    for (auto& [name, value] : r.request_headers) {
      auto* h = e->add_request_headers();
      h->set_name(std::move(name));
      h->set_value(std::move(value));
    }
    for (auto& [name, value] : r.response_headers) {
      auto* h = e->add_response_headers();
      h->set_name(std::move(name));
      h->set_value(std::move(value));
    }
  }
  for (const auto& [id, n] : dropped) (*report->mutable_tap_dropped())[id] = n;
  return true;
}

}  // namespace meshdeck::proxy
