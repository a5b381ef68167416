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

void ControlPlaneClient::start() {
  if (subscription_) return;
  subscription_ = control_plane_->subscribe([this](std::shared_ptr<const cp::GraphSnapshot> s) {
    // Runs on a control-plane thread. `this` outlives every call: the destructor drops the
    // subscription first, which waits for a running callback. A queued call whose context
    // object is gone is discarded by Qt.
    if (!s) return;
    QMetaObject::invokeMethod(
        this,
        [this, s] {
          latest_ = s;
          emit snapshotUpdated(s);
        },
        Qt::QueuedConnection);
  });
}

}  // namespace meshdeck::ui
