#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "support/fake_control_plane.h"

namespace meshdeck::testing {

// FakeControlPlane plus workload certificates: every call goes to the fake, certificates()
// returns what the test set (the fake itself has no CA).
class CertificatesControlPlane final : public cp::ControlPlane {
 public:
  explicit CertificatesControlPlane(std::shared_ptr<FakeControlPlane> fake)
      : fake_(std::move(fake)) {}

  FakeControlPlane& fake() { return *fake_; }

  void setCertificates(std::vector<cp::CertificateInfo> certificates) {
    std::lock_guard lock(mutex_);
    certificates_ = std::move(certificates);
  }

  // One certificate per proxy of the fake's snapshot, for spiffe://meshdeck.local/ns/default/
  // sa/<service>, with a 24 h lifetime: `ages[i % ages.size()]` is how long ago proxy i's was
  // issued (so some are fresh, some in their last 20 %, some expired).
  static std::vector<cp::CertificateInfo> forProxies(
      const cp::GraphSnapshot& snapshot, cp::SystemTime now,
      const std::vector<std::chrono::minutes>& ages) {
    std::vector<cp::CertificateInfo> out;
    for (size_t i = 0; i < snapshot.proxies.size(); ++i) {
      const auto& p = snapshot.proxies[i];
      cp::CertificateInfo c;
      c.proxy_id = p.proxy_id;
      c.spiffe_id = "spiffe://meshdeck.local/ns/default/sa/" + p.service;
      c.issuer = "CN=Meshdeck Root CA 5E0C41A2,O=meshdeck.local";
      char serial[40];
      std::snprintf(serial, sizeof serial, "4F%06zX9C1D%08zX", i * 7919 + 17, i * 104729 + 3);
      c.serial = serial;
      c.not_before = now - ages[i % ages.size()];
      c.not_after = c.not_before + std::chrono::hours(24);
      out.push_back(c);
    }
    return out;
  }

  std::vector<cp::CertificateInfo> certificates() override {
    std::lock_guard lock(mutex_);
    return certificates_;
  }

  std::shared_ptr<const cp::GraphSnapshot> snapshot() override { return fake_->snapshot(); }
  std::shared_ptr<void> subscribe(SnapshotCallback callback) override {
    return fake_->subscribe(std::move(callback));
  }
  std::vector<cp::EdgeSample> edgeHistory(const std::string& source, const std::string& destination,
                                          uint32_t seconds) override {
    return fake_->edgeHistory(source, destination, seconds);
  }
  std::vector<cp::PolicyInfo> policies() override { return fake_->policies(); }
  cp::ApplyResult applyPolicies(const std::string& yaml, const std::string& file,
                                const std::string& author, bool dry_run) override {
    return fake_->applyPolicies(yaml, file, author, dry_run);
  }
  cp::ApplyResult deletePolicy(const std::string& kind, const std::string& name,
                               const std::string& author) override {
    return fake_->deletePolicy(kind, name, author);
  }
  std::vector<cp::RevisionInfo> revisions() override { return fake_->revisions(); }
  std::string diffRevisions(uint64_t from, uint64_t to) override {
    return fake_->diffRevisions(from, to);
  }
  cp::ApplyResult revertToRevision(uint64_t revision, const std::string& author) override {
    return fake_->revertToRevision(revision, author);
  }
  std::string exportSnapshotJson(uint32_t window_seconds) override {
    return fake_->exportSnapshotJson(window_seconds);
  }
  std::vector<cp::ProcessInfo> processes() override { return fake_->processes(); }
  std::vector<std::string> processLogs(const std::string& name, uint32_t tail) override {
    return fake_->processLogs(name, tail);
  }
  cp::ActionResult restartProcess(const std::string& name) override {
    return fake_->restartProcess(name);
  }
  cp::ActionResult scaleService(const std::string& service, const std::string& version,
                                uint32_t replicas) override {
    return fake_->scaleService(service, version, replicas);
  }
  std::string listenAddress() override { return fake_->listenAddress(); }

 private:
  std::shared_ptr<FakeControlPlane> fake_;
  std::mutex mutex_;
  std::vector<cp::CertificateInfo> certificates_;
};

}  // namespace meshdeck::testing
