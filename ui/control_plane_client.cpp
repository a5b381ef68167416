#include "ui/control_plane_client.h"

#include <QMetaObject>

namespace meshdeck::ui {

ControlPlaneClient::ControlPlaneClient(std::shared_ptr<cp::ControlPlane> control_plane,
                                       bool read_only, QObject* parent)
    : QObject(parent),
      control_plane_(std::move(control_plane)),
      read_only_(read_only),
      latest_(std::make_shared<const cp::GraphSnapshot>()) {
  qRegisterMetaType<std::shared_ptr<const cp::GraphSnapshot>>();
  // Two threads: one slow call (a remote apply) must not hold up a history fetch.
  pool_.setMaxThreadCount(2);
}

ControlPlaneClient::~ControlPlaneClient() {
  subscription_.reset();
  pool_.waitForDone();
}

void ControlPlaneClient::setControlPlane(std::shared_ptr<cp::ControlPlane> control_plane,
                                         bool read_only) {
  subscription_.reset();
  pool_.waitForDone();
  ++generation_;
  control_plane_ = std::move(control_plane);
  read_only_ = read_only;
  latest_ = std::make_shared<const cp::GraphSnapshot>();
  start();
}

void ControlPlaneClient::start() {
  if (subscription_) return;
  const uint64_t generation = generation_;
  subscription_ =
      control_plane_->subscribe([this, generation](std::shared_ptr<const cp::GraphSnapshot> s) {
        // Runs on a control-plane thread. `this` outlives every call: the destructor drops the
        // subscription first, which waits for a running callback. A queued call whose context
        // object is gone is discarded by Qt.
        if (!s) return;
        QMetaObject::invokeMethod(
            this,
            [this, s, generation] {
              if (generation != generation_) return;
              latest_ = s;
              emit snapshotUpdated(s);
            },
            Qt::QueuedConnection);
      });
}

}  // namespace meshdeck::ui
