#pragma once

#include <QElapsedTimer>
#include <QString>
#include <functional>
#include <memory>

#include "ui/scenario_runner.h"

namespace meshdeck::cp {
class InProcessControlPlane;
namespace fleet {
class DemoSession;
}  // namespace fleet
}  // namespace meshdeck::cp

namespace meshdeck::ui {
class MainWindow;
}  // namespace meshdeck::ui

namespace meshdeck::app {

// The demo mesh the app runs beside its embedded control plane (--demo): a DemoSession whose
// progress lines become statusChanged() and whose scenarios the Scenarios panel plays
// (ui::ScenarioRunner). The session's callbacks arrive on its runner thread and are queued to
// this object, so every signal is emitted on the GUI thread.
//
// Threading: create, use and destroy on the GUI thread. The destructor stops the demo (and
// waits for its processes) before anything it posts could outlive it.
class DemoController final : public ui::ScenarioRunner {
  Q_OBJECT

 public:
  // `demo`: a bundled demo name or a file; `bin_dir`: where the fleet's binaries are.
  DemoController(cp::InProcessControlPlane& control_plane, const QString& demo,
                 const QString& bin_dir, QObject* parent = nullptr);
  ~DemoController() override;

  void startDemo();
  // Writes two lines to stderr, once per run, S counted from `started` (the app's start): when the
  // demo is ready ("meshdeck: demo NAME: first complete graph in the control plane (S s after
  // start)"), and when `window` has then been given the next snapshot and painted it ("...: first
  // complete graph in the window (S s after start)"). bench/demo_start.sh --window reads them.
  void reportFirstGraphIn(ui::MainWindow* window, QElapsedTimer started);
  // Stops the demo and its processes; waits until they are gone.
  void stopDemo();

  // ui::ScenarioRunner
  QList<ui::ScenarioInfo> scenarios() const override { return scenarios_; }
  bool ready() const override { return ready_; }
  bool start(const QString& name, QString* error) override;
  QStringList collisions(const QString& name) override;
  bool startSettingAside(const QString& name, QString* error) override;
  void stop() override;

 signals:
  // What the demo is doing, for the status bar ("Demo storefront: [ 6.0s] 36 processes…").
  void statusChanged(const QString& text);

 private:
  void loadScenarios();
  // Runs `call` on the GUI thread (from the runner thread). Posted calls still queued when this
  // object goes are dropped with it; the destructor joins the runner thread first.
  void post(std::function<void()> call);
  bool play(const QString& name, bool set_aside, QString* error);  // start(), startSettingAside()

  QString demo_;
  QList<ui::ScenarioInfo> scenarios_;
  bool ready_ = false;
  std::unique_ptr<cp::fleet::DemoSession> session_;
};

}  // namespace meshdeck::app
