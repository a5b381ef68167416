#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/api/control_plane.h"

namespace meshdeck::testing {

// A ControlPlane for UI tests and screenshots: a deterministic storefront-like mesh of twelve
// services whose metrics move with a simulated clock, or a synthetic N-node graph. Policies are
// checked with the control plane's own parser (cp::parsePolicies: schema, types, ranges, each
// error located), so the fake refuses what one document alone makes invalid exactly as the
// control plane does; references between policies and services are not checked (no registry).
// Each accepted policy's badges (PolicyInfo::badges) come from Policy::badges(), as in the
// control plane.
//
// Threading: every method is thread-safe. Subscribers are called on the fake's own publisher
// thread (never the caller's), as the interface promises; publish() asks that thread to send
// the current snapshot, and startTicking() makes it advance the clock and publish periodically.
class FakeControlPlane final : public cp::ControlPlane {
 public:
  FakeControlPlane();
  ~FakeControlPlane() override;

  // Replaces the storefront mesh with a synthetic layered graph (no histograms on purpose: they
  // are large and a layout or paint benchmark does not read them).
  static cp::GraphSnapshot syntheticSnapshot(int nodes, int edges, uint32_t seed);
  void setSnapshot(cp::GraphSnapshot snapshot);

  // Advances simulated time by `seconds` and rebuilds the storefront metrics.
  void advance(int seconds);
  // Asks the publisher thread to send the current snapshot to every subscriber.
  void publish();
  // Advances one second and publishes every `interval_ms` until destroyed.
  void startTicking(int interval_ms);

  void setProcesses(std::vector<cp::ProcessInfo> processes);
  void setLogs(const std::string& process, std::vector<std::string> lines);

  int applyCalls() const { return apply_calls_.load(); }
  int appliedCount() const { return applied_count_.load(); }
  std::vector<std::string> fleetActions() const;

  // ControlPlane:
  std::shared_ptr<const cp::GraphSnapshot> snapshot() override;
  std::shared_ptr<void> subscribe(SnapshotCallback callback) override;
  std::vector<cp::EdgeSample> edgeHistory(const std::string& source, const std::string& destination,
                                          uint32_t seconds) override;
  std::vector<cp::PolicyInfo> policies() override;
  cp::ApplyResult applyPolicies(const std::string& yaml, const std::string& file,
                                const std::string& author, bool dry_run) override;
  cp::ApplyResult deletePolicy(const std::string& kind, const std::string& name,
                               const std::string& author) override;
  std::vector<cp::RevisionInfo> revisions() override;
  std::string diffRevisions(uint64_t from, uint64_t to) override;
  cp::ApplyResult revertToRevision(uint64_t revision, const std::string& author) override;
  std::string exportSnapshotJson(uint32_t window_seconds) override;
  std::vector<cp::ProcessInfo> processes() override;
  std::vector<std::string> processLogs(const std::string& name, uint32_t tail) override;
  cp::ActionResult restartProcess(const std::string& name) override;
  cp::ActionResult scaleService(const std::string& service, const std::string& version,
                                uint32_t replicas) override;
  std::string listenAddress() override { return "127.0.0.1:15010"; }
  // Taps: recorded; events arrive only through deliverTap().
  std::shared_ptr<void> startTap(const cp::TapFilter& filter, cp::TapCallback callback,
                                 std::string* error) override;

  // Calls every open tap's callback with `batch` on a thread of its own (as the control plane
  // would), and waits for it. Returns how many taps received it.
  int deliverTap(const cp::TapBatch& batch);
  int openTaps() const;
  // The filters of every tap opened so far, oldest first.
  std::vector<cp::TapFilter> tapFilters() const;

 private:
  struct Subscriber {
    uint64_t id;
    SnapshotCallback callback;
  };
  struct Revision {
    cp::RevisionInfo info;
    std::vector<cp::PolicyInfo> policies;
  };

  void rebuildLocked();
  void commitLocked(std::vector<cp::PolicyInfo> policies, const std::string& author,
                    const std::string& summary, cp::ApplyResult* result);
  void publisherLoop();
  void unsubscribe(uint64_t id);

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::shared_ptr<const cp::GraphSnapshot> snapshot_;
  bool storefront_ = true;
  int64_t now_seconds_ = 1'790'000'000;  // simulated wall clock (2026-09)
  uint64_t topology_version_ = 1;
  std::vector<cp::PolicyInfo> policies_;
  std::vector<Revision> revisions_;
  std::vector<cp::ProcessInfo> processes_;
  std::map<std::string, std::vector<std::string>> logs_;
  std::vector<std::string> fleet_actions_;
  std::atomic<int> apply_calls_{0};
  std::atomic<int> applied_count_{0};

  std::mutex subscribers_mutex_;  // held while a callback runs, so unsubscribe waits for it
  std::vector<Subscriber> subscribers_;
  uint64_t next_subscriber_ = 1;

  struct Tap {
    uint64_t id;
    cp::TapCallback callback;
  };
  mutable std::mutex taps_mutex_;  // held while a tap callback runs, so a release waits for it
  std::vector<Tap> taps_;
  std::vector<cp::TapFilter> tap_filters_;
  uint64_t next_tap_ = 1;

  bool publish_requested_ = false;
  int tick_interval_ms_ = 0;
  bool stopping_ = false;
  std::thread publisher_;
};

}  // namespace meshdeck::testing
