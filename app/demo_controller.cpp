#include "app/demo_controller.h"

#include <QMetaObject>
#include <QRegularExpression>
#include <QTimer>
#include <cstdio>

#include "controlplane/fleet/demo_session.h"
#include "controlplane/identity/certificate_authority.h"
#include "controlplane/in_process_control_plane.h"
#include "ui/main_window.h"

namespace meshdeck::app {

DemoController::DemoController(cp::InProcessControlPlane& control_plane, const QString& demo,
                               const QString& bin_dir, QObject* parent)
    : ui::ScenarioRunner(parent), demo_(demo) {
  loadScenarios();
  cp::fleet::DemoRunOptions run;
  run.demo = demo.toStdString();
  run.bin_dir = bin_dir.toStdString();
  run.control_plane_address = control_plane.listenAddress();
  // Sidecars renew their certificates over the control plane's TLS port.
  run.control_plane_tls_address = control_plane.secureListenAddress();
  if (const auto* ca = control_plane.certificateAuthority()) run.trust_domain = ca->trustDomain();
  cp::InProcessControlPlane* embedded = &control_plane;
  run.register_service = [embedded](const std::string& s, const std::string& v,
                                    const std::string& t) { embedded->registerService(s, v, t); };
  run.on_fleet = [embedded](cp::fleet::DemoFleet* f) { embedded->setFleet(f); };
  run.record_event = control_plane.eventRecorder();
  session_ = std::make_unique<cp::fleet::DemoSession>(
      control_plane, std::move(run),
      [this](const std::string& line) {
        // The runner's lines start with the seconds since start ("[  1.5s] "): the window
        // shows the event, not the log line.
        static const QRegularExpression stamp(QStringLiteral("^\\s*\\[\\s*[0-9.]+s\\]\\s*"));
        const QString text = QStringLiteral("Demo %1: %2")
                                 .arg(demo_, QString::fromStdString(line).remove(stamp).trimmed());
        post([this, text] { emit statusChanged(text); });
      },
      [this](int code) {
        const QString text = code == 0 ? QStringLiteral("Demo %1 stopped").arg(demo_)
                                       : QStringLiteral(
                                             "Demo %1 failed (exit %2): see the Fleet "
                                             "panel")
                                             .arg(demo_)
                                             .arg(code);
        post([this, text] {
          ready_ = false;
          emit readyChanged(false);
          emit statusChanged(text);
        });
      });
  session_->setScenarioCallbacks(
      [this](const cp::fleet::DemoMesh&) {
        post([this] {
          ready_ = true;
          emit readyChanged(true);
        });
      },
      [this](const cp::ScenarioEvent& e) { post([this, e] { emit progress(e); }); });
}

DemoController::~DemoController() { stopDemo(); }

void DemoController::post(std::function<void()> call) {
  QMetaObject::invokeMethod(this, std::move(call), Qt::QueuedConnection);
}

void DemoController::loadScenarios() {
  // The scenarios written for this demo, found where the app finds demos.
  namespace fleet = cp::fleet;
  const auto demo_file = fleet::findDemoFile(demo_.toStdString());
  if (!demo_file) return;
  std::vector<common::LocatedError> errors;
  const auto mesh = fleet::loadDemoMesh(*demo_file, &errors);
  if (!mesh) return;
  for (const auto& file : fleet::bundledScenarios()) {
    const auto sc = fleet::loadScenario(file, &errors);
    if (!sc || sc->demo != mesh->name) continue;
    if (!fleet::checkHighlights(*sc, *mesh, file.string(), &errors)) continue;
    ui::ScenarioInfo info;
    info.name = QString::fromStdString(sc->name);
    info.title = QString::fromStdString(sc->title);
    info.description = QString::fromStdString(sc->description).trimmed();
    for (const auto& step : sc->steps) {
      ui::ScenarioStepInfo s;
      s.title = QString::fromStdString(step.title);
      s.narration = QString::fromStdString(step.narration).trimmed();
      for (const auto& action : step.actions)
        s.actions << QString::fromStdString(fleet::describe(action));
      if (step.checkpoint) {
        s.checkpoint = QString::fromStdString(step.checkpoint->describe());
        s.within_ms = step.checkpoint->within.count();
      }
      for (const auto& e : fleet::stepEdges(step, *mesh))
        s.edges.append({QString::fromStdString(e.source), QString::fromStdString(e.destination)});
      info.steps << s;
    }
    scenarios_ << info;
  }
  std::sort(scenarios_.begin(), scenarios_.end(),
            [](const ui::ScenarioInfo& a, const ui::ScenarioInfo& b) { return a.name < b.name; });
}

void DemoController::startDemo() { session_->start(); }

void DemoController::reportFirstGraphIn(ui::MainWindow* window, QElapsedTimer started) {
  auto say = [demo = demo_, started](const char* where) {
    std::fprintf(stderr, "meshdeck: demo %s: first complete graph in the %s (%.1f s after start)\n",
                 qPrintable(demo), where, static_cast<double>(started.elapsed()) / 1000.0);
  };
  auto ready = std::make_shared<QMetaObject::Connection>();
  *ready = connect(this, &ScenarioRunner::readyChanged, window, [=](bool is_ready) {
    if (!is_ready) return;
    disconnect(*ready);
    say("control plane");
    // The window's next snapshot is at least as new as the one the runner found complete; the
    // line is queued behind the repaint that snapshot scheduled.
    auto shown = std::make_shared<QMetaObject::Connection>();
    *shown = connect(window, &ui::MainWindow::graphShown, window, [=] {
      disconnect(*shown);
      QTimer::singleShot(0, window, [=] { say("window"); });
    });
  });
}

void DemoController::stopDemo() {
  if (session_) session_->stop();
}

QStringList DemoController::collisions(const QString& name) {
  QStringList out;
  for (const auto& p : session_->scenarioCollisions(name.toStdString()))
    out << QString::fromStdString(p.kind + "/" + p.name);
  return out;
}

bool DemoController::start(const QString& name, QString* error) { return play(name, false, error); }

bool DemoController::startSettingAside(const QString& name, QString* error) {
  return play(name, true, error);
}

bool DemoController::play(const QString& name, bool set_aside, QString* error) {
  std::string why;
  if (session_->runScenario(name.toStdString(), &why, set_aside)) return true;
  *error = QString::fromStdString(why);
  return false;
}

void DemoController::stop() { session_->stopScenario(); }

}  // namespace meshdeck::app
