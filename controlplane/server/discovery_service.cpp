#include "controlplane/server/discovery_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <optional>

namespace meshdeck::cp {
namespace v1 = meshdeck::v1;

// One proxy's discovery stream. Lives until OnDone; the service's session set (guarded by the
// service mutex) is how the push thread reaches it, so it is removed from the set before it
// is deleted.
class DiscoveryService::Session final
    : public grpc::ServerBidiReactor<v1::DiscoveryRequest, v1::DiscoveryResponse> {
 public:
  explicit Session(DiscoveryService& service) : service_(service) { StartRead(&request_); }

  // Queues `response` (replacing one not yet written). Called by the push thread.
  void send(v1::DiscoveryResponse response) {
    std::lock_guard lock(mutex_);
    if (finishing_) return;
    last_sent_version_ = response.version_info();
    last_nonce_ = response.nonce();
    service_.registry_.recordSent(node_.proxy_id, response.version_info());
    if (writing_) {
      pending_ = std::move(response);
      return;
    }
    writing_ = true;
    out_ = std::move(response);
    StartWrite(&out_);
  }

  const ProxyNode& node() const { return node_; }
  bool registered() const { return registered_; }
  std::string lastSentVersion() {
    std::lock_guard lock(mutex_);
    return last_sent_version_;
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      finish(grpc::Status::OK);
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
      connection_ = service_.registry_.connect(node_, service_.time_.systemNow());
      registered_ = true;
      spdlog::info("proxy {} ({} {}) connected, inbound port {}", node_.proxy_id, node_.service,
                   node_.version, node_.inbound_port);
      service_.addSession(this);
    } else {
      handleAnswer();
    }
    StartRead(&request_);
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
    }
  }

  void OnDone() override {
    if (registered_) {
      service_.removeSession(this);
      service_.registry_.disconnect(node_.proxy_id, connection_);
      spdlog::info("proxy {} disconnected", node_.proxy_id);
    }
    delete this;
  }

  void OnCancel() override {}

 private:
  void handleAnswer() {
    std::string nonce;
    {
      std::lock_guard lock(mutex_);
      nonce = last_nonce_;
    }
    // An answer to an older response is superseded by the one in flight: ignore it.
    if (request_.response_nonce() != nonce) return;
    if (request_.has_error_detail() &&
        (!request_.error_detail().code().empty() || !request_.error_detail().message().empty())) {
      ++service_.nacks_;
      const std::string reason = request_.error_detail().code().empty()
                                     ? request_.error_detail().message()
                                     : fmt::format("{}: {}", request_.error_detail().code(),
                                                   request_.error_detail().message());
      spdlog::warn("proxy {} rejected config {}: {}", node_.proxy_id, last_sent_version_, reason);
      service_.registry_.recordNack(node_.proxy_id, reason);
    } else {
      ++service_.acks_;
      service_.registry_.recordAck(node_.proxy_id, request_.version_info());
    }
  }

  void finish(grpc::Status status) {
    std::lock_guard lock(mutex_);
    if (finishing_) return;
    finishing_ = true;
    pending_.reset();
    if (writing_) {
      finish_after_write_ = true;
      finish_status_ = std::move(status);
      return;
    }
    Finish(std::move(status));
  }

  DiscoveryService& service_;
  v1::DiscoveryRequest request_;
  ProxyNode node_;
  bool registered_ = false;
  uint64_t connection_ = 0;

  std::mutex mutex_;
  v1::DiscoveryResponse out_;
  std::optional<v1::DiscoveryResponse> pending_;
  bool writing_ = false, finishing_ = false, finish_after_write_ = false;
  grpc::Status finish_status_;
  std::string last_sent_version_, last_nonce_;
};

DiscoveryService::DiscoveryService(Registry& registry, const common::TimeSource& time,
                                   StateProvider state, std::chrono::milliseconds debounce)
    : registry_(registry), time_(time), state_(std::move(state)), debounce_(debounce) {}

DiscoveryService::~DiscoveryService() { stop(); }

void DiscoveryService::start() {
  std::lock_guard lock(mutex_);
  if (pusher_.joinable()) return;
  stopping_ = false;
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

grpc::ServerBidiReactor<v1::DiscoveryRequest, v1::DiscoveryResponse>* DiscoveryService::Stream(
    grpc::CallbackServerContext*) {
  return new Session(*this);
}

void DiscoveryService::addSession(Session* s) {
  {
    std::lock_guard lock(mutex_);
    sessions_.insert(s);
    dirty_ = true;
  }
  wake_.notify_all();
}

void DiscoveryService::removeSession(Session* s) {
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(s);
    dirty_ = true;  // its endpoints leave every other proxy's clusters
  }
  wake_.notify_all();
}

void DiscoveryService::pushLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait(lock, [&] { return dirty_ || stopping_; });
    if (stopping_) break;
    // Debounce: let a burst of changes (a proxy fleet starting, a multi-file apply) settle.
    wake_.wait_for(lock, debounce_, [&] { return stopping_; });
    if (stopping_) break;
    dirty_ = false;
    lock.unlock();
    pushAll();
    lock.lock();
  }
}

void DiscoveryService::pushAll() {
  const ConfigCompiler compiler(state_());
  std::lock_guard lock(mutex_);
  for (Session* s : sessions_) {
    v1::DiscoveryResponse response;
    *response.mutable_config() = compiler.compile(s->node());
    const std::string version = ConfigCompiler::contentHash(response.config());
    if (version == s->lastSentVersion()) continue;
    response.set_version_info(version);
    response.set_nonce(fmt::format("{:x}", ++nonce_));
    ++pushes_sent_;
    s->send(std::move(response));
  }
}

}  // namespace meshdeck::cp
