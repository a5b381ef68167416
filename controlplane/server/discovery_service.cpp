#include "controlplane/server/discovery_service.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>
#include <variant>
#include <vector>

#include "common/bounded_file.h"
#include "common/input_limits.h"
#include "common/shared_resources.h"
#include "controlplane/security/proxy_auth.h"
#include "controlplane/server/peer_info.h"

namespace meshdeck::cp {
namespace v1 = meshdeck::v1;

namespace {
using google::protobuf::internal::WireFormatLite;

// Appends a length-delimited field's tag and length.
void appendFieldHead(int field, size_t length, std::string* out) {
  google::protobuf::io::StringOutputStream stream(out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.WriteTag(WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
  coded.WriteVarint32(static_cast<uint32_t>(length));
}

// Scoping (see the class comment): at most this many services in one proxy's scope (declared
// and asked for on demand), and in one on-demand request.
constexpr size_t kMaxScopeServices = 4096;
constexpr int kMaxOnDemandPerRequest = 64;
}  // namespace

// What one push shares between the responses it sends: the shared part whole (serialized on
// first use), the scoped sets (one per scope), and the deltas of the shared resources, one per
// target and set of bases (the streams of one scope that ACKed the same push share one),
// encoded once and referenced by every response.
struct DiscoveryService::PushContext {
  const ConfigCompiler* compiler = nullptr;
  std::shared_ptr<const SharedResources> target;
  std::optional<grpc::Slice> whole;
  std::map<std::set<std::string>, std::shared_ptr<const SharedResources>> scoped;
  using DeltaKey = std::pair<const SharedResources*, std::vector<const SharedResources*>>;
  std::map<DeltaKey, grpc::Slice> deltas;
  // The bases whose addresses are keys of `deltas`, kept alive for the push.
  std::vector<std::shared_ptr<const SharedResources>> bases;
  uint64_t bytes = 0, incremental = 0;

  const grpc::Slice& wholeShared() {
    if (!whole) whole.emplace(compiler->sharedBytes());
    return *whole;
  }
  // The resources of a proxy scoped to `services`.
  const std::shared_ptr<const SharedResources>& scopedTarget(
      const std::set<std::string>& services) {
    auto it = scoped.find(services);
    if (it == scoped.end())
      it = scoped.emplace(services, scopeSharedResources(*target, services)).first;
    return it->second;
  }
  // The delta from any of `held` (none: complete) to `to`.
  const grpc::Slice& delta(const std::shared_ptr<const SharedResources>& to,
                           const std::vector<std::shared_ptr<const SharedResources>>& held) {
    DeltaKey key{to.get(), {}};
    for (const auto& h : held) key.second.push_back(h.get());
    auto it = deltas.find(key);
    if (it == deltas.end()) {
      it = deltas.emplace(key, grpc::Slice(encodeSharedDelta(*to, key.second))).first;
      bases.insert(bases.end(), held.begin(), held.end());
      bases.push_back(to);
    }
    return it->second;
  }
};

// One proxy's discovery stream. Lives until OnDone; the service's session set (guarded by the
// service mutex) is how the push thread reaches it, so it is removed from the set before it
// is deleted.
class DiscoveryService::Session final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  Session(DiscoveryService& service, security::ProxyPeer peer)
      : service_(service), peer_(std::move(peer)) {
    ++service_.streams_;
    StartRead(&in_);
  }

  // Queues the response carrying `local` (replacing one not yet written): the shared part whole,
  // or, to a stream that takes increments, the delta from what the proxy may hold (see the
  // class comment); `target` is what it holds after applying it (push.target, or its scoped
  // set). Called by the push thread.
  void send(const ConfigCompiler::LocalPart& local, const std::string& nonce, PushContext& push,
            const std::shared_ptr<const SharedResources>& target) {
    std::lock_guard lock(mutex_);
    if (finishing_) return;
    resend_ = false;
    // DiscoveryResponse{version_info = 1, nonce = 2, config = 3 (the local part, followed by
    // the shared part whole: protobuf concatenation appends repeated fields), shared = 4}.
    std::string head;
    {
      google::protobuf::io::StringOutputStream stream(&head);
      google::protobuf::io::CodedOutputStream out(&stream);
      WireFormatLite::WriteString(1, local.version, &out);
      WireFormatLite::WriteString(2, nonce, &out);
    }
    grpc::Slice shared;
    if (incremental_) {
      // Too many responses unanswered: stop tracking them, send everything.
      if (unacked_.size() >= kMaxUnacked) acked_.reset();
      if (!acked_) unacked_.clear();
      std::vector<std::shared_ptr<const SharedResources>> held;
      if (acked_) {
        held.push_back(acked_);
        held.insert(held.end(), unacked_.begin(), unacked_.end());
      }
      shared = push.delta(target, held);
      unacked_.push_back(target);
      last_incremental_ = true;
      appendFieldHead(3, local.bytes.size(), &head);
      head += local.bytes;
      appendFieldHead(4, shared.size(), &head);
      ++push.incremental;
    } else {
      shared = push.wholeShared();
      last_incremental_ = false;
      appendFieldHead(3, local.bytes.size() + shared.size(), &head);
      head += local.bytes;
    }
    push.bytes += head.size() + shared.size();
    const grpc::Slice parts[2] = {grpc::Slice(head), shared};
    grpc::ByteBuffer response(parts, 2);
    last_sent_version_ = local.version;
    last_nonce_ = nonce;
    service_.registry_.recordSent(node_.proxy_id, last_sent_version_);
    if (writing_) {
      pending_ = std::move(response);
      return;
    }
    writing_ = true;
    out_ = std::move(response);
    StartWrite(&out_);
  }

  // Queues a response carrying only `taps` when it differs from the last one sent (see
  // DiscoveryService::pushTaps). Called with the service's mutex held.
  void sendTaps(const v1::TapSet& taps) {
    std::string bytes;
    taps.SerializeToString(&bytes);
    std::lock_guard lock(mutex_);
    if (finishing_ || bytes == last_taps_) return;
    last_taps_ = std::move(bytes);
    v1::DiscoveryResponse response;
    *response.mutable_taps() = taps;
    grpc::ByteBuffer buffer;
    bool own = false;
    if (!grpc::SerializationTraits<v1::DiscoveryResponse>::Serialize(response, &buffer, &own).ok())
      return;
    ++service_.tap_sets_sent_;
    if (writing_) {
      pending_taps_ = std::move(buffer);
      return;
    }
    writing_ = true;
    out_ = std::move(buffer);
    StartWrite(&out_);
  }

  // Queues a response naming services asked for on demand that the mesh does not have (see
  // the class comment). Called by the push thread.
  void sendUnknown(const std::vector<std::string>& names) {
    std::lock_guard lock(mutex_);
    if (finishing_) return;
    unknown_pending_.insert(unknown_pending_.end(), names.begin(), names.end());
    if (!writing_) writeUnknownLocked();
  }

  // Scoping (see the class comment). Whether the proxy gets its scope alone now: it declared
  // dependencies and takes increments.
  bool scopedNow() {
    std::lock_guard lock(mutex_);
    return scoped_ && incremental_;
  }
  // Its scope; read and changed by the push thread only (set before the session is added).
  const std::set<std::string>& scope() const { return scope_; }
  // Adds a service asked for on demand; false when the scope is full.
  bool addToScope(const std::string& service) {
    if (scope_.size() >= kMaxScopeServices && !scope_.count(service)) return false;
    scope_.insert(service);
    return true;
  }
  // Services asked for on demand since the last push (see DiscoveryService::pushAll).
  bool onDemandDue() {
    std::lock_guard lock(mutex_);
    return !on_demand_.empty();
  }
  std::vector<std::string> takeOnDemand() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    out.swap(on_demand_);
    return out;
  }

  const ProxyNode& node() const { return node_; }
  // It announced the config it runs when it connected during the resync grace.
  bool announced() const { return announced_; }
  bool registered() const { return registered_; }
  std::string lastSentVersion() {
    std::lock_guard lock(mutex_);
    return last_sent_version_;
  }
  // It lost its incremental view and waits for a whole config (see the class comment).
  bool resendDue() {
    std::lock_guard lock(mutex_);
    return resend_;
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      finish(grpc::Status::OK);
      return;
    }
    namespace limits = common::limits;
    if (in_.Length() > limits::kMaxDiscoveryRequestBytes) {
      refuse(grpc::StatusCode::RESOURCE_EXHAUSTED,
             fmt::format("a discovery request of {}; the limit is {}",
                         common::formatBytes(in_.Length()),
                         common::formatBytes(limits::kMaxDiscoveryRequestBytes)));
      return;
    }
    // A proxy answers each push once; a peer sending far more is not a proxy.
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      window_requests_ = 0;
    }
    if (++window_requests_ > limits::kMaxDiscoveryRequestsPerSecond) {
      refuse(grpc::StatusCode::RESOURCE_EXHAUSTED,
             fmt::format("more than {} discovery requests in one second",
                         limits::kMaxDiscoveryRequestsPerSecond));
      return;
    }
    request_.Clear();
    if (!grpc::SerializationTraits<v1::DiscoveryRequest>::Deserialize(&in_, &request_).ok()) {
      ++service_.bad_requests_;
      finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "not a DiscoveryRequest"));
      return;
    }
    if (!registered_) {
      const auto& n = request_.node();
      if (n.proxy_id().empty() || n.service().empty()) {
        ++service_.bad_requests_;
        finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the first request must carry node.proxy_id and node.service"));
        return;
      }
      // A node with an impossible port would be copied into every other proxy's endpoints, and
      // each of them would NACK every config: refuse it here, before it joins the registry.
      // Names are copied into the registry, every proxy's config and the UI: bounded.
      for (const auto& [field, value, max] :
           {std::tuple{"proxy_id", &n.proxy_id(), limits::kMaxNameBytes},
            std::tuple{"service", &n.service(), limits::kMaxNameBytes},
            std::tuple{"version", &n.version(), limits::kMaxNameBytes},
            std::tuple{"namespace", &n.namespace_(), limits::kMaxNameBytes},
            std::tuple{"host", &n.host(), limits::kMaxNameBytes},
            std::tuple{"build_version", &n.build_version(), limits::kMaxUriBytes},
            std::tuple{"spiffe_id", &n.spiffe_id(), limits::kMaxUriBytes}}) {
        if (value->size() > max) {
          refuse(
              grpc::StatusCode::INVALID_ARGUMENT,
              fmt::format("node.{} is {} bytes long; the limit is {}", field, value->size(), max));
          return;
        }
      }
      for (const auto& [field, port] :
           {std::pair{"inbound_port", n.inbound_port()}, std::pair{"app_port", n.app_port()},
            std::pair{"outbound_port", n.outbound_port()},
            std::pair{"admin_port", n.admin_port()}}) {
        if (port > 65535) {
          ++service_.bad_requests_;
          spdlog::warn("proxy {} refused: node.{} {} is not a port (1..65535)", n.proxy_id(), field,
                       port);
          finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              fmt::format("node.{}: {} is not a port (1..65535)", field, port)));
          return;
        }
      }
      node_.proxy_id = n.proxy_id();
      node_.service = n.service();
      node_.version = n.version();
      node_.ns = n.namespace_().empty() ? "default" : n.namespace_();
      node_.host = n.host().empty() ? "127.0.0.1" : n.host();
      node_.inbound_port = n.inbound_port();
      node_.app_port = n.app_port();
      node_.outbound_port = n.outbound_port();
      node_.admin_port = n.admin_port();
      node_.build_version = n.build_version();
      node_.spiffe_id = n.spiffe_id();
      switch (n.app_protocol()) {
        case v1::Cluster::HTTP1:
          node_.app_protocol = "http1";
          break;
        case v1::Cluster::HTTP2:
          node_.app_protocol = "http2";
          break;
        case v1::Cluster::GRPC:
          node_.app_protocol = "grpc";
          break;
        default:
          node_.app_protocol.clear();
      }
      if (service_.auth_) {
        std::optional<security::RegisteredProxy> registered;
        if (const auto r = service_.registry_.node(node_.proxy_id))
          registered = security::RegisteredProxy{r->ns, r->service, r->spiffe_id, r->authenticated};
        const std::string why = service_.auth_->checkNode(
            peer_, node_.proxy_id, node_.ns, node_.service, node_.spiffe_id, registered);
        if (!why.empty()) {
          spdlog::warn("proxy {} refused ({}): {}", node_.proxy_id, peer_.address, why);
          finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why));
          return;
        }
        // Authenticated: the identity is the certificate's, whatever the node claims.
        node_.authenticated = peer_.authenticated();
        if (node_.authenticated) node_.spiffe_id = peer_.spiffe_id;
      }
      if (static_cast<size_t>(n.dependencies_size()) > kMaxScopeServices) {
        refuse(grpc::StatusCode::INVALID_ARGUMENT,
               fmt::format("node.dependencies names {} services; the limit is {}",
                           n.dependencies_size(), kMaxScopeServices));
        return;
      }
      for (const auto& d : n.dependencies()) {
        if (d.empty() || d.size() > limits::kMaxNameBytes) {
          refuse(grpc::StatusCode::INVALID_ARGUMENT,
                 fmt::format("node.dependencies: a name of {} bytes (1..{})", d.size(),
                             limits::kMaxNameBytes));
          return;
        }
      }
      {
        std::lock_guard lock(mutex_);
        incremental_ = std::find(n.client_features().begin(), n.client_features().end(),
                                 common::kIncrementalSharedResources) != n.client_features().end();
        // Scoping needs increments: a proxy taking whole configs gets the whole mesh.
        scoped_ = n.dependencies_size() > 0;
        scope_.insert(n.dependencies().begin(), n.dependencies().end());
      }
      connection_ = service_.registry_.connect(node_, service_.time_.systemNow());
      registered_ = true;
      if (!request_.version_info().empty() && service_.inResyncGrace()) {
        // Configured by an earlier control plane: it runs this version; see the class comment.
        std::lock_guard lock(mutex_);
        last_sent_version_ = request_.version_info();
        announced_ = true;
        service_.registry_.recordSent(node_.proxy_id, last_sent_version_);
        service_.registry_.recordAck(node_.proxy_id, last_sent_version_);
      }
      spdlog::info("proxy {} ({} {}) connected, inbound port {}", node_.proxy_id, node_.service,
                   node_.version, node_.inbound_port);
      if (service_.events_)
        service_.events_("proxy.connect", node_.proxy_id,
                         fmt::format("{} {}", node_.service, node_.version));
      service_.addSession(this);
    } else if (request_.on_demand_services_size() > 0) {
      if (!handleOnDemand()) return;
    } else {
      handleAnswer();
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (finish_after_write_) {
      Finish(finish_status_);
      return;
    }
    if (!ok) return;  // the stream is broken; OnReadDone(false) follows
    if (pending_) {
      out_ = std::move(*pending_);
      pending_.reset();
      writing_ = true;
      StartWrite(&out_);
    } else if (pending_taps_) {
      out_ = std::move(*pending_taps_);
      pending_taps_.reset();
      writing_ = true;
      StartWrite(&out_);
    } else if (!unknown_pending_.empty()) {
      writeUnknownLocked();
    }
  }

  void OnDone() override {
    if (registered_) {
      // The registry first: removeSession() wakes the push thread, which compiles from the
      // registry; were the proxy still connected there, that push would keep its endpoints and
      // nothing would push again until some other change (e2e_mesh_test's
      // endpointChangesArriveAsIncrements saw reviews|v3 stay after its sidecar had exited).
      service_.registry_.disconnect(node_.proxy_id, connection_);
      service_.removeSession(this);
      spdlog::info("proxy {} disconnected", node_.proxy_id);
      if (service_.events_)
        service_.events_("proxy.disconnect", node_.proxy_id,
                         fmt::format("{} {}", node_.service, node_.version));
    }
    --service_.streams_;
    delete this;
  }

  void OnCancel() override {}

 private:
  void handleAnswer() {
    const bool nack = request_.has_error_detail() && (!request_.error_detail().code().empty() ||
                                                      !request_.error_detail().message().empty());
    std::string nonce;
    bool resend = false;
    {
      // The nonce and the view under one lock: a response sent meanwhile is not the one
      // answered.
      std::lock_guard lock(mutex_);
      nonce = last_nonce_;
      if (request_.response_nonce() == nonce) resend = updateViewLocked(nack);
    }
    // An answer to an older response is superseded by the one in flight: ignore it. So is one
    // naming a nonce never sent on this stream (or sent before anything was): counted.
    if (request_.response_nonce() != nonce) {
      ++service_.answers_ignored_;
      if (!warned_nonce_) {
        warned_nonce_ = true;
        spdlog::info(
            "proxy {}: answer to nonce \"{}\" ignored (current \"{}\"); further ones are "
            "only counted",
            node_.proxy_id, request_.response_nonce().substr(0, 64), nonce);
      }
      return;
    }
    if (resend) service_.requestResend();
    if (nack) {
      ++service_.nacks_;
      std::string reason = request_.error_detail().code().empty()
                               ? request_.error_detail().message()
                               : fmt::format("{}: {}", request_.error_detail().code(),
                                             request_.error_detail().message());
      if (reason.size() > common::limits::kMaxNackReasonBytes) {
        reason.resize(common::limits::kMaxNackReasonBytes);
        reason += " (cut)";
      }
      spdlog::warn("proxy {} rejected config {}: {}", node_.proxy_id, last_sent_version_, reason);
      service_.registry_.recordNack(node_.proxy_id, reason);
      if (service_.events_)
        service_.events_("push.nack", node_.proxy_id,
                         fmt::format("config {}: {}", last_sent_version_, reason));
    } else {
      ++service_.acks_;
      service_.registry_.recordAck(node_.proxy_id, request_.version_info());
    }
  }

  // A request for services on demand (see the class comment): queued for the push thread,
  // which adds those that exist to the scope and names the others in unknown_services. False
  // when the request broke a limit (the stream ends).
  bool handleOnDemand() {
    if (request_.on_demand_services_size() > kMaxOnDemandPerRequest) {
      refuse(grpc::StatusCode::INVALID_ARGUMENT,
             fmt::format("{} services asked for on demand at once; the limit is {}",
                         request_.on_demand_services_size(), kMaxOnDemandPerRequest));
      return false;
    }
    for (const auto& name : request_.on_demand_services()) {
      if (name.empty() || name.size() > common::limits::kMaxNameBytes) {
        refuse(grpc::StatusCode::INVALID_ARGUMENT,
               fmt::format("on_demand_services: a name of {} bytes (1..{})", name.size(),
                           common::limits::kMaxNameBytes));
        return false;
      }
    }
    {
      std::lock_guard lock(mutex_);
      if (on_demand_.size() + static_cast<size_t>(request_.on_demand_services_size()) >
          kMaxScopeServices) {
        // Not refused: the push thread takes the queue at the next push.
        return true;
      }
      on_demand_.insert(on_demand_.end(), request_.on_demand_services().begin(),
                        request_.on_demand_services().end());
    }
    ++service_.on_demand_requests_;
    service_.requestResend();
    return true;
  }

  // Writes the unknown services queued (sendUnknown), with the stream's mutex held and no
  // write in flight.
  void writeUnknownLocked() {
    v1::DiscoveryResponse response;
    for (const auto& name : unknown_pending_) response.add_unknown_services(name);
    unknown_pending_.clear();
    grpc::ByteBuffer buffer;
    bool own = false;
    if (!grpc::SerializationTraits<v1::DiscoveryResponse>::Serialize(response, &buffer, &own).ok())
      return;
    writing_ = true;
    out_ = std::move(buffer);
    StartWrite(&out_);
  }

  // The answer to the last response sent, for a stream that takes increments. An ACK makes what
  // that response led to the known state; a NACK leaves the view as it was (the proxy keeps what
  // it had, one of the states the view allows for). The proxy's digest is only ever used to
  // distrust: when an ACK names another digest than the one sent, or a NACK one that matches
  // none of the states the proxy can be in, the view is dropped and the stream gets whole
  // configs from now on (true: a whole config is due at once).
  bool updateViewLocked(bool nack) {
    if (!incremental_ || !last_incremental_ || unacked_.empty()) return false;
    const std::string& digest = request_.shared_digest();
    bool consistent = false;
    if (!nack) {
      consistent = digest == unacked_.back()->digest;
    } else {
      consistent = (acked_ && digest == acked_->digest) ||
                   std::any_of(unacked_.begin(), unacked_.end(),
                               [&](const auto& u) { return digest == u->digest; });
    }
    if (consistent) {
      if (!nack) {
        acked_ = unacked_.back();
        unacked_.clear();
      }
      return false;
    }
    ++service_.incremental_fallbacks_;
    spdlog::warn(
        "proxy {}: its shared resources (digest \"{}\") are not what was sent; sending it whole "
        "configs from now on",
        node_.proxy_id, digest.substr(0, 64));
    incremental_ = false;
    acked_.reset();
    unacked_.clear();
    last_sent_version_.clear();
    resend_ = true;
    return true;
  }

  // Ends the stream for a request that breaks a limit; counted and logged.
  void refuse(grpc::StatusCode code, const std::string& why) {
    ++service_.bad_requests_;
    spdlog::warn("discovery stream of proxy {} refused: {}",
                 registered_ ? node_.proxy_id : std::string("(not yet identified)"), why);
    finish(grpc::Status(code, why));
  }

  void finish(grpc::Status status) {
    std::lock_guard lock(mutex_);
    if (finishing_) return;
    finishing_ = true;
    pending_.reset();
    pending_taps_.reset();
    if (writing_) {
      finish_after_write_ = true;
      finish_status_ = std::move(status);
      return;
    }
    Finish(std::move(status));
  }

  DiscoveryService& service_;
  const security::ProxyPeer peer_;  // who is at the other end (the transport's word)
  grpc::ByteBuffer in_;
  v1::DiscoveryRequest request_;
  ProxyNode node_;
  bool registered_ = false;
  bool announced_ = false;
  bool warned_nonce_ = false;
  std::chrono::steady_clock::time_point window_start_{};
  uint32_t window_requests_ = 0;
  uint64_t connection_ = 0;

  std::mutex mutex_;
  grpc::ByteBuffer out_;
  std::optional<grpc::ByteBuffer> pending_;
  // Taps (docs/tap.md): a tap set waiting for the write in flight, and the last one sent
  // (serialized; "" none).
  std::optional<grpc::ByteBuffer> pending_taps_;
  std::string last_taps_;
  bool writing_ = false, finishing_ = false, finish_after_write_ = false;
  grpc::Status finish_status_;
  std::string last_sent_version_, last_nonce_;
  // Incremental shared resources (see the class comment): whether this stream takes them, what
  // it is known to hold (null: unknown, the next response is complete), the targets of the
  // responses sent since its last ACK (each may have been applied), and whether the last
  // response sent was incremental.
  static constexpr size_t kMaxUnacked = 8;
  bool incremental_ = false, last_incremental_ = false, resend_ = false;
  std::shared_ptr<const SharedResources> acked_;
  std::vector<std::shared_ptr<const SharedResources>> unacked_;
  // Scoping (see the class comment): whether the proxy declared dependencies, its scope (the
  // push thread's once the session is added), the services asked for on demand not yet taken
  // by a push, and the unknown ones waiting to be written.
  bool scoped_ = false;
  std::set<std::string> scope_;
  std::vector<std::string> on_demand_, unknown_pending_;
};

DiscoveryService::DiscoveryService(Registry& registry, const common::TimeSource& time,
                                   StateProvider state, std::chrono::milliseconds debounce)
    : registry_(registry), time_(time), state_(std::move(state)), debounce_(debounce) {}

DiscoveryService::~DiscoveryService() { stop(); }

void DiscoveryService::start() {
  std::lock_guard lock(mutex_);
  if (pusher_.joinable()) return;
  stopping_ = false;
  started_ = time_.monotonicNow();
  hold_released_ = false;
  policies_at_start_ = nullptr;
  pusher_ = std::thread([this] { pushLoop(); });
}

void DiscoveryService::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (pusher_.joinable()) pusher_.join();
}

void DiscoveryService::markDirty() {
  {
    std::lock_guard lock(mutex_);
    dirty_ = true;
  }
  wake_.notify_all();
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* DiscoveryService::Stream(
    grpc::CallbackServerContext* context) {
  auto admitted = admitProxyStream(context, auth_, "discovery");
  if (auto* refused = std::get_if<ProxyStreamReactor*>(&admitted)) return *refused;
  return new Session(*this, std::move(std::get<security::ProxyPeer>(admitted)));
}

void DiscoveryService::addSession(Session* s) {
  {
    std::lock_guard lock(mutex_);
    sessions_.insert(s);
    new_sessions_ = true;
    members_dirty_ = true;  // its endpoints join every other proxy's clusters
  }
  wake_.notify_all();
  if (tap_hub_ && tap_hub_->openTaps() > 0) pushTaps();
}

void DiscoveryService::requestResend() {
  {
    std::lock_guard lock(mutex_);
    new_sessions_ = true;
  }
  wake_.notify_all();
}

void DiscoveryService::removeSession(Session* s) {
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(s);
    members_dirty_ = true;  // its endpoints leave every other proxy's clusters
  }
  wake_.notify_all();
  // The tap's rate is split anew across the proxies that stay.
  if (tap_hub_ && tap_hub_->openTaps() > 0) pushTaps();
}

void DiscoveryService::pushTaps() {
  if (!tap_hub_) return;
  std::lock_guard lock(mutex_);
  std::vector<ProxyNode> nodes;
  nodes.reserve(sessions_.size());
  for (Session* s : sessions_) nodes.push_back(s->node());
  const auto plan = tap_hub_->plan(nodes);
  for (Session* s : sessions_) {
    v1::TapSet set;
    if (const auto it = plan.find(s->node().proxy_id); it != plan.end()) {
      for (const auto& sub : it->second) {
        auto* out = set.add_subscriptions();
        out->set_tap_id(sub.tap_id);
        const TapFilter& f = sub.filter;
        auto* m = out->mutable_match();
        m->set_service(f.service);
        m->set_service_version(f.service_version);
        m->set_source_service(f.source_service);
        m->set_source_version(f.source_version);
        m->set_destination_service(f.destination_service);
        m->set_destination_version(f.destination_version);
        m->set_method(f.method);
        m->set_path_prefix(f.path_prefix);
        m->set_authority(f.authority);
        m->set_status_class(f.status_class);
        m->set_min_latency_us(f.min_latency_us);
        out->set_events_per_second(sub.events_per_second);
        out->set_burst(sub.burst);
        out->set_headers(f.headers);
        for (const auto& h : f.redact_headers) out->add_redact_headers(h);
        out->set_direction(
            sub.direction == ProxyTapSubscription::Direction::kInbound    ? v1::TAP_INBOUND
            : sub.direction == ProxyTapSubscription::Direction::kOutbound ? v1::TAP_OUTBOUND
            : sub.direction == ProxyTapSubscription::Direction::kFirstHop
                ? v1::TAP_FIRST_HOP
                : v1::TAP_DIRECTION_UNSPECIFIED);
      }
    }
    s->sendTaps(set);
  }
}

std::chrono::milliseconds DiscoveryService::membershipIntervalLocked() const {
  const auto scaled = std::chrono::milliseconds(5 * static_cast<int64_t>(sessions_.size()));
  return std::clamp(scaled, debounce_, std::max(debounce_, std::chrono::milliseconds(2000)));
}

bool DiscoveryService::inResyncGrace() {
  std::lock_guard lock(mutex_);
  return !hold_released_ && time_.monotonicNow() - started_ < resync_grace_;
}

bool DiscoveryService::holdingLocked(const PolicySet* policies) {
  if (hold_released_) return false;
  if (!policies_at_start_) policies_at_start_ = policies;
  // An operator's change is pushed at once, and ends the grace for everyone.
  if (policies != policies_at_start_ || time_.monotonicNow() - started_ >= resync_grace_)
    hold_released_ = true;
  return !hold_released_;
}

void DiscoveryService::pushLoop() {
  using SteadyClock = std::chrono::steady_clock;
  std::unique_lock lock(mutex_);
  const auto pending = [&] { return dirty_ || new_sessions_ || members_dirty_ || stopping_; };
  while (!stopping_) {
    // While reconnected proxies are held, wake up when the grace ends to push what is due.
    const auto grace_end = started_ + resync_grace_;
    if (!hold_released_ && !pending() && time_.monotonicNow() < grace_end) {
      wake_.wait_for(lock, grace_end - time_.monotonicNow(), pending);
      if (!pending()) dirty_ = true;
    }
    // Something to push: everyone (dirty_), new proxies, or membership changes once due.
    for (;;) {
      if (stopping_ || dirty_ || new_sessions_) break;
      if (members_dirty_) {
        const auto due = last_full_push_ + membershipIntervalLocked();
        if (SteadyClock::now() >= due) break;
        wake_.wait_until(lock, due);
      } else {
        wake_.wait(lock);
      }
    }
    if (stopping_) break;
    // Throttle, not a plain debounce: at most one push per `debounce_`. A change after a quiet
    // period goes out at once (an operator's apply is not delayed); the changes of a burst (a
    // fleet starting, proxies reconnecting) that arrive within `debounce_` of the last push are
    // coalesced into the next one.
    const auto next_allowed = last_push_ + debounce_;
    if (std::chrono::steady_clock::now() < next_allowed)
      wake_.wait_until(lock, next_allowed, [&] { return stopping_; });
    if (stopping_) break;
    const auto now = SteadyClock::now();
    const bool full =
        dirty_ || (members_dirty_ && now >= last_full_push_ + membershipIntervalLocked());
    dirty_ = false;
    new_sessions_ = false;
    if (full) {
      members_dirty_ = false;
      last_full_push_ = now;
    }
    last_push_ = now;
    lock.unlock();
    pushAll(!full);
    lock.lock();
  }
}

void DiscoveryService::pushAll(bool only_new) {
  const auto start = std::chrono::steady_clock::now();
  const MeshState state = state_();
  const ConfigCompiler compiler(state);
  std::lock_guard lock(mutex_);
  const bool holding = holdingLocked(state.policies.get());
  size_t sent = 0, held = 0;
  PushContext push;
  push.compiler = &compiler;
  push.target = compiler.sharedResources();
  std::chrono::steady_clock::duration compiling{}, sending{};
  const auto compiled = std::chrono::steady_clock::now();
  for (Session* s : sessions_) {
    // Configured (or announced) proxies wait for the next full push, unless a whole config is
    // due (the stream's incremental view was dropped) or they asked for services on demand.
    const bool on_demand = s->onDemandDue();
    if (only_new && !on_demand && !s->resendDue() &&
        (s->announced() || !s->lastSentVersion().empty()))
      continue;
    const bool scoped = s->scopedNow();
    if (on_demand) {
      // Services the mesh has join the scope (a proxy with the whole mesh holds them already);
      // the others are named back to the proxy at once.
      std::vector<std::string> unknown;
      for (const auto& name : s->takeOnDemand()) {
        if (!push.target->find(common::kRouteResourcePrefix + name))
          unknown.push_back(name);
        else if (scoped && !s->addToScope(name))
          unknown.push_back(name);
      }
      if (!unknown.empty()) {
        on_demand_unknown_ += unknown.size();
        s->sendUnknown(unknown);
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    const std::shared_ptr<const SharedResources>& target =
        scoped ? push.scopedTarget(s->scope()) : push.target;
    auto local = compiler.compileLocalBytes(s->node(), scoped ? target.get() : nullptr);
    compiling += std::chrono::steady_clock::now() - t0;
    if (local.version == s->lastSentVersion()) continue;
    if (holding && s->announced()) {
      ++held;
      continue;
    }
    const std::string nonce = fmt::format("{:x}", ++nonce_);
    ++pushes_sent_;
    ++sent;
    const auto t1 = std::chrono::steady_clock::now();
    s->send(local, nonce, push, target);
    sending += std::chrono::steady_clock::now() - t1;
  }
  if (held > 0)
    spdlog::info("push: {} reconnected proxies keep their config until the mesh has resynced",
                 held);
  bytes_sent_ += push.bytes;
  if (events_ && sent > 0)
    events_("push", fmt::format("{} prox{}", sent, sent == 1 ? "y" : "ies"),
            fmt::format("{} bytes{}", push.bytes, only_new ? ", new proxies only" : ""));
  spdlog::debug(
      "push: shared {} bytes whole, {} resources; {} bytes to {} proxies ({} incremental, {} "
      "scopes, {} deltas encoded); build {} us, local parts {} us, send {} us",
      push.whole ? push.whole->size() : 0, push.target->entries.size(), push.bytes, sent,
      push.incremental, push.scoped.size(), push.deltas.size(),
      std::chrono::duration_cast<std::chrono::microseconds>(compiled - start).count(),
      std::chrono::duration_cast<std::chrono::microseconds>(compiling).count(),
      std::chrono::duration_cast<std::chrono::microseconds>(sending).count());
  spdlog::debug("push: {} of {} proxies got a new config in {} us", sent, sessions_.size(),
                std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count());
}

}  // namespace meshdeck::cp
