#pragma once

// What the discovery tests (incremental discovery, scoping) start in init() and stop in
// cleanup(): a control plane in this process on a loopback port, its state in a new temporary
// folder, and simulated proxies (FakeProxy) on its ConfigDiscovery stream.
#include <grpcpp/grpcpp.h>

#include <QTemporaryDir>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/in_process_control_plane.h"
#include "integration/controlplane/fake_proxy.h"

namespace meshdeck::testing {

// Polls `pred` until it holds (at most `timeout`).
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class DiscoveryFixture {
 public:
  // Starts the control plane; false with the reason in `error`.
  bool start(std::string* error) {
    dir_ = std::make_unique<QTemporaryDir>();
    cp::ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.state_dir = dir_->path().toStdString();
    cp_ = std::make_unique<cp::InProcessControlPlane>(options);
    if (!cp_->start(error)) return false;
    channel_ = grpc::CreateChannel(cp_->listenAddress(), grpc::InsecureChannelCredentials());
    discovery_ = v1::ConfigDiscovery::NewStub(channel_);
    return true;
  }
  // Disconnects every proxy, then stops the control plane.
  void stop() {
    proxies_.clear();
    if (cp_) cp_->stop();
    cp_.reset();
  }

  // Connects a simulated proxy (makeNode's fields).
  FakeProxy* add(const std::string& id, const std::string& service, const std::string& version,
                 uint32_t port, bool incremental = true,
                 const std::vector<std::string>& dependencies = {}) {
    proxies_.push_back(std::make_unique<FakeProxy>(
        discovery_.get(), makeNode(id, service, version, port, incremental, dependencies)));
    return proxies_.back().get();
  }
  // Disconnects one proxy and forgets it.
  void remove(FakeProxy* p) {
    p->stop();
    std::erase_if(proxies_, [&](const auto& q) { return q.get() == p; });
  }

  // The control plane's record of every proxy, by id.
  std::map<std::string, cp::ProxyInfo> records() const {
    std::map<std::string, cp::ProxyInfo> out;
    for (const auto& p : cp_->snapshot()->proxies) out[p.proxy_id] = p;
    return out;
  }
  // `f` has had a config, and the control plane records it synced on the one it holds last.
  static bool ackedLast(const std::map<std::string, cp::ProxyInfo>& records, FakeProxy& f) {
    const auto it = records.find(f.node().proxy_id());
    if (f.responses() == 0 || it == records.end()) return false;
    const auto& info = it->second;
    return info.state == cp::SyncState::kSynced && info.version_acked == info.version_sent &&
           info.version_sent == f.last().version_info();
  }

  // A test class derives from the fixture and uses these directly.
 protected:
  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<cp::InProcessControlPlane> cp_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ConfigDiscovery::Stub> discovery_;
  std::vector<std::unique_ptr<FakeProxy>> proxies_;
};

}  // namespace meshdeck::testing
