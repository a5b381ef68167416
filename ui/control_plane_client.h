#pragma once

#include <QFutureWatcher>
#include <QObject>
#include <QThreadPool>
#include <QtConcurrent/QtConcurrentRun>
#include <functional>
#include <memory>

#include "controlplane/api/control_plane.h"

Q_DECLARE_METATYPE(std::shared_ptr<const meshdeck::cp::GraphSnapshot>)

namespace meshdeck::ui {

// The UI's only door to a ControlPlane. It keeps the GUI thread free of control-plane calls:
// snapshots arrive on a control-plane thread and are forwarded through a queued signal, and
// every other call runs on a small private thread pool with its result delivered back on the
// GUI thread.
//
// Threading: create, use and destroy on the GUI thread. The destructor unsubscribes (which
// waits for a running snapshot callback) and waits for calls still running in the pool.
class ControlPlaneClient : public QObject {
  Q_OBJECT

 public:
  ControlPlaneClient(std::shared_ptr<cp::ControlPlane> control_plane, bool read_only,
                     QObject* parent = nullptr);
  ~ControlPlaneClient() override;

  // Subscribes to snapshots; the first one also arrives through snapshotUpdated().
  void start();
  // Replaces the control plane (File → Connect…): drops the subscription to the old one, waits
  // for its calls still running, and subscribes to the new one. latest() is empty until its
  // first snapshot; a snapshot of the old one still queued is dropped.
  void setControlPlane(std::shared_ptr<cp::ControlPlane> control_plane, bool read_only);

  // The last snapshot delivered on the GUI thread (never null).
  std::shared_ptr<const cp::GraphSnapshot> latest() const { return latest_; }
  // A snapshot file opened offline: nothing can be applied, restarted or scaled.
  bool readOnly() const { return read_only_; }

  // Runs `call` on the pool and hands its result to `done` on the GUI thread, unless `context`
  // was destroyed meanwhile.
  template <typename Result>
  void run(std::function<Result(cp::ControlPlane&)> call, QObject* context,
           std::function<void(Result)> done) {
    auto* watcher = new QFutureWatcher<Result>(context);
    QObject::connect(watcher, &QFutureWatcher<Result>::finished, context,
                     [watcher, done = std::move(done)] {
                       done(watcher->result());
                       watcher->deleteLater();
                     });
    auto control_plane = control_plane_;
    watcher->setFuture(QtConcurrent::run(
        &pool_, [control_plane, call = std::move(call)] { return call(*control_plane); }));
  }

  // Waits until every call started with run() has finished (tests, shutdown).
  void waitForIdle() { pool_.waitForDone(); }

 signals:
  void snapshotUpdated(std::shared_ptr<const cp::GraphSnapshot> snapshot);

 private:
  std::shared_ptr<cp::ControlPlane> control_plane_;
  bool read_only_;
  QThreadPool pool_;
  std::shared_ptr<void> subscription_;
  std::shared_ptr<const cp::GraphSnapshot> latest_;
  uint64_t generation_ = 0;  // setControlPlane() calls: tells the old subscription's snapshots
};

}  // namespace meshdeck::ui
