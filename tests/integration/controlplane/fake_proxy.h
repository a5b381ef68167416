#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/shared_resources.h"
#include "meshdeck/v1/discovery.grpc.pb.h"
#include "meshdeck/v1/telemetry.grpc.pb.h"

namespace meshdeck::testing {

// FakeProxy speaks the proxy side of ConfigDiscovery.Stream with the gRPC callback API, so a
// test can run many simulated proxies in one process without a thread each. It parses every
// response and ACKs it, or NACKs it when the reject predicate says so. Used by
// controlplane_push_test and controlplane_grpc_control_plane_test; the convergence benchmark
// (bench/cp_convergence.cpp) has its own LightProxy, which decodes only the version and nonce.
// When its node lists "incremental_shared_resources" it keeps the shared resources the way
// meshdeck-proxy does (common::SharedResourceSet): last().config() is then the assembled config
// (own part plus the resources held after the delta), and each answer names their digest.
class FakeProxy final : public grpc::ClientBidiReactor<meshdeck::v1::DiscoveryRequest,
                                                       meshdeck::v1::DiscoveryResponse> {
 public:
  using Clock = std::chrono::steady_clock;
  // Returns a reason to NACK the config, or nothing to ACK it.
  using Reject = std::function<std::optional<std::string>(const meshdeck::v1::ProxyConfig&)>;

  FakeProxy(meshdeck::v1::ConfigDiscovery::Stub* stub, meshdeck::v1::Node node, Reject reject = {})
      : node_(std::move(node)), reject_(std::move(reject)) {
    meshdeck::v1::DiscoveryRequest first;
    *first.mutable_node() = node_;
    queue_.push_back(first);
    stub->async()->Stream(&context_, this);
    writing_ = true;
    out_ = queue_.front();
    queue_.pop_front();
    StartWrite(&out_);
    StartRead(&in_);
    StartCall();
  }
  ~FakeProxy() override { stop(); }

  // Cancels the stream and waits until it is done.
  void stop() {
    context_.TryCancel();
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return done_; });
  }

  // Waits until a response satisfies `pred` (checked on every response, and on the last one
  // received). Returns false on timeout.
  bool waitFor(const std::function<bool(const meshdeck::v1::DiscoveryResponse&)>& pred,
               std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return responses_ > 0 && pred(last_); });
  }
  // Waits until at least `n` responses arrived.
  bool waitForResponses(uint64_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return responses_ >= n; });
  }

  const meshdeck::v1::Node& node() const { return node_; }
  meshdeck::v1::DiscoveryResponse last() {
    std::lock_guard lock(mutex_);
    return last_;
  }
  uint64_t responses() {
    std::lock_guard lock(mutex_);
    return responses_;
  }
  // When the latest response arrived (and its answer was queued).
  Clock::time_point lastResponseTime() {
    std::lock_guard lock(mutex_);
    return last_time_;
  }
  void setReject(Reject reject) {
    std::lock_guard lock(mutex_);
    reject_ = std::move(reject);
  }
  // While holding, answers are kept back (the proxy applies responses but the control plane hears
  // nothing); release sends them all, in order.
  void holdAnswers() {
    std::lock_guard lock(mutex_);
    holding_ = true;
  }
  void releaseAnswers() {
    std::lock_guard lock(mutex_);
    holding_ = false;
    for (auto& a : held_answers_) queue_.push_back(std::move(a));
    held_answers_.clear();
    if (!writing_ && !queue_.empty()) writeNextLocked();
  }
  // Replaces the digest its answers name (a lying or broken proxy), given the true one.
  void setAnswerDigest(std::function<std::string(const std::string&)> f) {
    std::lock_guard lock(mutex_);
    answer_digest_ = std::move(f);
  }
  // The config it last applied (incremental proxies only: whole ones do not copy theirs), and
  // the shared resources held.
  meshdeck::v1::ProxyConfig applied() {
    std::lock_guard lock(mutex_);
    return applied_;
  }
  meshdeck::common::SharedResourceSet held() {
    std::lock_guard lock(mutex_);
    return held_;
  }
  // The `shared` part of the last response (resources and removed names), and how many
  // responses came with and without one.
  meshdeck::v1::SharedResourcesDelta lastShared() {
    std::lock_guard lock(mutex_);
    return last_shared_;
  }
  uint64_t incrementalResponses() {
    std::lock_guard lock(mutex_);
    return incremental_responses_;
  }
  uint64_t wholeResponses() {
    std::lock_guard lock(mutex_);
    return responses_ - incremental_responses_;
  }
  bool done() {
    std::lock_guard lock(mutex_);
    return done_;
  }

  // Scoping: asks the control plane for `services` on demand (a request that answers nothing).
  void askOnDemand(const std::vector<std::string>& services) {
    meshdeck::v1::DiscoveryRequest ask;
    for (const auto& s : services) ask.add_on_demand_services(s);
    std::lock_guard lock(mutex_);
    queue_.push_back(ask);
    if (!writing_) writeNextLocked();
  }
  // The services the control plane named unknown (responses with unknown_services, which are
  // not answered and not counted as responses).
  std::vector<std::string> unknownServices() {
    std::lock_guard lock(mutex_);
    return unknown_;
  }
  bool waitForUnknown(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return unknown_.size() >= n; });
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    std::unique_lock lock(mutex_);
    if (in_.unknown_services_size() > 0) {
      unknown_.insert(unknown_.end(), in_.unknown_services().begin(), in_.unknown_services().end());
      in_.Clear();
      lock.unlock();
      cv_.notify_all();
      StartRead(&in_);
      return;
    }
    // Swap, not copy: a simulated fleet of hundreds must not spend its CPU copying configs.
    last_.Swap(&in_);
    ++responses_;
    last_time_ = Clock::now();
    meshdeck::v1::DiscoveryRequest answer;
    answer.set_response_nonce(last_.nonce());
    const bool incremental = last_.has_shared();
    meshdeck::common::SharedResourceSet next;
    std::optional<std::string> why;
    if (incremental) {
      ++incremental_responses_;
      std::string error;
      if (held_.apply(last_.shared(), &next, &error))
        next.appendTo(last_.mutable_config());
      else
        why = "shared resources: " + error;
      last_shared_.Swap(last_.mutable_shared());
      last_.clear_shared();
    }
    if (!why && reject_) why = reject_(last_.config());
    if (why) {
      answer.set_version_info(applied_version_);
      answer.mutable_error_detail()->set_code("rejected_by_test");
      answer.mutable_error_detail()->set_message(*why);
    } else {
      applied_version_ = last_.version_info();
      answer.set_version_info(applied_version_);
      if (incremental) {
        applied_ = last_.config();  // a copy: only incremental proxies keep it
        held_ = std::move(next);
      } else {
        held_.clear();
      }
    }
    if (incremental)
      answer.set_shared_digest(answer_digest_ ? answer_digest_(held_.digest()) : held_.digest());
    if (holding_) {
      held_answers_.push_back(answer);
    } else {
      queue_.push_back(answer);
      if (!writing_) writeNextLocked();
    }
    lock.unlock();
    cv_.notify_all();
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (ok && !queue_.empty()) writeNextLocked();
  }
  void OnDone(const grpc::Status& status) override {
    std::lock_guard lock(mutex_);
    status_ = status;
    done_ = true;
    cv_.notify_all();
  }

 private:
  void writeNextLocked() {
    out_ = queue_.front();
    queue_.pop_front();
    writing_ = true;
    StartWrite(&out_);
  }

  meshdeck::v1::Node node_;
  Reject reject_;
  grpc::ClientContext context_;
  meshdeck::v1::DiscoveryRequest out_;
  meshdeck::v1::DiscoveryResponse in_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<meshdeck::v1::DiscoveryRequest> queue_;
  bool writing_ = false, done_ = false;
  meshdeck::v1::DiscoveryResponse last_;
  uint64_t responses_ = 0;
  Clock::time_point last_time_{};
  std::string applied_version_;
  grpc::Status status_;
  meshdeck::common::SharedResourceSet held_;
  meshdeck::v1::ProxyConfig applied_;
  meshdeck::v1::SharedResourcesDelta last_shared_;
  uint64_t incremental_responses_ = 0;
  bool holding_ = false;
  std::deque<meshdeck::v1::DiscoveryRequest> held_answers_;
  std::function<std::string(const std::string&)> answer_digest_;
  std::vector<std::string> unknown_;
};

inline meshdeck::v1::Node makeNode(const std::string& id, const std::string& service,
                                   const std::string& version, uint32_t inbound_port,
                                   bool incremental = false,
                                   const std::vector<std::string>& dependencies = {}) {
  meshdeck::v1::Node n;
  for (const auto& d : dependencies) n.add_dependencies(d);
  if (incremental) n.add_client_features(meshdeck::common::kIncrementalSharedResources);
  n.set_proxy_id(id);
  n.set_service(service);
  n.set_version(version);
  n.set_host("127.0.0.1");
  n.set_inbound_port(inbound_port);
  n.set_app_port(inbound_port + 1);
  n.set_outbound_port(inbound_port + 2);
  n.set_admin_port(inbound_port + 3);
  return n;
}

// Sends telemetry reports on one TelemetryIngest.Report stream (synchronous; one per test).
class FakeReporter {
 public:
  explicit FakeReporter(meshdeck::v1::TelemetryIngest::Stub* stub)
      : stream_(stub->Report(&context_)) {}
  ~FakeReporter() {
    stream_->WritesDone();
    stream_->Finish();
  }
  // Sends a report and waits for its ACK.
  bool send(const meshdeck::v1::TelemetryReport& report, meshdeck::v1::ReportAck* ack) {
    return stream_->Write(report) && stream_->Read(ack);
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<meshdeck::v1::TelemetryReport, meshdeck::v1::ReportAck>>
      stream_;
};

}  // namespace meshdeck::testing
