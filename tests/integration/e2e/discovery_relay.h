#pragma once

// Test-only: a ConfigDiscovery relay between one real meshdeck-proxy and the real control plane.
// It forwards both directions unchanged, except that when armed it corrupts the next response
// for a proxy (adds a route whose path regex does not compile). This is how the end-to-end
// tests make a real proxy NACK: the control plane validates every policy with the same rules
// the proxy applies, so no valid policy compiles into a config the proxy refuses.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "meshdeck/v1/discovery.grpc.pb.h"

namespace meshdeck::test {

class DiscoveryRelay final : public meshdeck::v1::ConfigDiscovery::Service {
 public:
  explicit DiscoveryRelay(std::string upstream) : upstream_(std::move(upstream)) {}
  ~DiscoveryRelay() override { stop(); }

  // Listens on 127.0.0.1 (a free port). Returns the address, empty on failure.
  std::string start() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0) return {};
    return "127.0.0.1:" + std::to_string(port);
  }
  void stop() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
  }

  // The next response to `proxy_id` gets an invalid route (until disarm()).
  void arm(const std::string& proxy_id) {
    std::lock_guard lock(mu_);
    armed_for_ = proxy_id;
  }
  void disarm() {
    std::lock_guard lock(mu_);
    armed_for_.clear();
  }
  uint64_t tampered() const { return tampered_; }
  // Responses relayed with incremental shared resources, and the `shared` part of the last one
  // (names only: resources keep their name and version, bodies dropped).
  uint64_t incrementalResponses() const { return incremental_; }
  uint64_t wholeResponses() const { return whole_; }
  meshdeck::v1::SharedResourcesDelta lastShared() {
    std::lock_guard lock(mu_);
    return last_shared_;
  }

  grpc::Status Stream(grpc::ServerContext* down_ctx,
                      grpc::ServerReaderWriter<meshdeck::v1::DiscoveryResponse,
                                               meshdeck::v1::DiscoveryRequest>* down) override {
    auto stub = meshdeck::v1::ConfigDiscovery::NewStub(
        grpc::CreateChannel(upstream_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext up_ctx;
    auto up = stub->Stream(&up_ctx);
    std::mutex id_mu;
    std::string proxy_id;
    std::thread pump([&] {
      meshdeck::v1::DiscoveryResponse response;
      while (up->Read(&response)) {
        std::string id;
        {
          std::lock_guard lock(id_mu);
          id = proxy_id;
        }
        if (shouldTamper(id)) corrupt(&response);
        record(response);
        if (!down->Write(response)) break;
      }
      down_ctx->TryCancel();
    });
    meshdeck::v1::DiscoveryRequest request;
    while (down->Read(&request)) {
      if (request.has_node()) {
        std::lock_guard lock(id_mu);
        proxy_id = request.node().proxy_id();
      }
      if (!up->Write(request)) break;
    }
    up->WritesDone();
    up_ctx.TryCancel();
    pump.join();
    up->Finish();
    return grpc::Status::OK;
  }

 private:
  bool shouldTamper(const std::string& id) {
    std::lock_guard lock(mu_);
    return !armed_for_.empty() && armed_for_ == id;
  }
  void corrupt(meshdeck::v1::DiscoveryResponse* response) {
    for (auto& table : *response->mutable_config()->mutable_route_tables()) {
      if (table.virtual_hosts_size() == 0) continue;
      auto* route = table.mutable_virtual_hosts(0)->add_routes();
      route->set_name("relay-injected");
      route->mutable_match()->set_path_regex("(unclosed");
      auto* d = route->add_destinations();
      d->set_cluster(response->config().clusters_size() ? response->config().clusters(0).name()
                                                        : "none");
      d->set_weight(100);
      ++tampered_;
      return;
    }
  }

  void record(const meshdeck::v1::DiscoveryResponse& response) {
    if (!response.has_shared()) {
      ++whole_;
      return;
    }
    meshdeck::v1::SharedResourcesDelta names = response.shared();
    for (auto& r : *names.mutable_resources()) r.clear_body();
    std::lock_guard lock(mu_);
    last_shared_ = std::move(names);
    ++incremental_;
  }

  const std::string upstream_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::string armed_for_;
  std::atomic<uint64_t> tampered_{0}, incremental_{0}, whole_{0};
  meshdeck::v1::SharedResourcesDelta last_shared_;
};

}  // namespace meshdeck::test
