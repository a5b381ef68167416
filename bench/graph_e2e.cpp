// End-to-end graph benchmark of the desktop app: opens a snapshot file in the real MainWindow
// (as `meshdeck FILE.json` does: SnapshotControlPlane, read-only window) and reports
//  - time to first paint: from the start of the program (before the file is read) until the
//    graph view has finished painting the laid-out graph;
//  - RSS, peak RSS and PSS (/proc/self/status, /proc/self/smaps_rollup) at that moment;
//  - GUI-thread time per live update: a snapshot with every metric of every service and edge
//    changed is published through the control plane at 1 Hz; the time from publishing until
//    the window has handled it (MainWindow's snapshot slot) plus the repaint that asked for
//    (the full repaint at each zoom is reported with pan/zoom);
//  - frame times during scripted pan and zoom, at the zoom the window opened with ("Fit") and
//    at 1:1.
// Times are given twice: wall clock, and the GUI thread's own CPU time (CLOCK_THREAD_CPUTIME_ID),
// which a shared, loaded machine inflates much less.
// One snapshot per run (RSS is per process); bench/graph_scale.sh runs the sizes and prints the
// table. A watchdog ends the run after --timeout seconds and reports how far it got.
// Usage: bench_graph_e2e FILE.json [--timeout S] [--updates N] [--frames N] [--label TEXT]
//        [--group-by none|namespace|tier|app|auto]
// --group-by: how the graph groups services (default none, the whole graph; auto: as the window
// does on its own, by tier above GraphView::kGroupAbove services).
// Run with QT_QPA_PLATFORM=offscreen when there is no display.
#include <time.h>

#include <CLI/CLI.hpp>
#include <QApplication>
#include <QElapsedTimer>
#include <QEvent>
#include <QFile>
#include <QMouseEvent>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "meshdeck/version.h"
#include "ui/control_plane_client.h"
#include "ui/graph_items.h"
#include "ui/graph_view.h"
#include "ui/main_window.h"
#include "ui/snapshot_control_plane.h"

namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point g_start = Clock::now();

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// CPU time of the calling thread: on a shared machine the GUI thread's own work, without the
// time it waited for a core.
double threadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// A value in kB from a "Key:   123 kB" line of a /proc file; -1 when absent.
long procKb(const char* file, const char* key) {
  std::ifstream in(file);
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(k, 0) == 0) return std::atol(line.c_str() + k.size());
  }
  return -1;
}

struct Memory {
  double rss_mb, hwm_mb, pss_mb;
};
Memory memory() {
  return {procKb("/proc/self/status", "VmRSS") / 1024.0,
          procKb("/proc/self/status", "VmHWM") / 1024.0,
          procKb("/proc/self/smaps_rollup", "Pss") / 1024.0};
}

// The snapshot file as a control plane, with one addition: publish() sends a new snapshot to
// the subscribers (as a live control plane does every second). Everything else is the file's.
class LiveSnapshotControlPlane final : public meshdeck::cp::ControlPlane {
 public:
  explicit LiveSnapshotControlPlane(std::unique_ptr<meshdeck::ui::SnapshotControlPlane> file)
      : file_(std::move(file)), current_(file_->snapshot()) {}

  void publish(std::shared_ptr<const meshdeck::cp::GraphSnapshot> s) {
    {
      std::lock_guard lock(mutex_);
      current_ = s;
    }
    // Callbacks come from a thread other than the caller's, as the interface promises.
    std::thread([this, s] {
      std::lock_guard lock(mutex_);
      if (callback_) callback_(s);
    }).join();
  }

  std::shared_ptr<const meshdeck::cp::GraphSnapshot> snapshot() override {
    std::lock_guard lock(mutex_);
    return current_;
  }
  std::shared_ptr<void> subscribe(SnapshotCallback callback) override {
    {
      std::lock_guard lock(mutex_);
      callback_ = std::move(callback);
    }
    publish(snapshot());
    return std::shared_ptr<void>(nullptr, [this](void*) {
      std::lock_guard lock(mutex_);
      callback_ = nullptr;
    });
  }
  std::vector<meshdeck::cp::EdgeSample> edgeHistory(const std::string& s, const std::string& d,
                                                    uint32_t seconds) override {
    return file_->edgeHistory(s, d, seconds);
  }
  std::vector<meshdeck::cp::PolicyInfo> policies() override { return file_->policies(); }
  meshdeck::cp::ApplyResult applyPolicies(const std::string& yaml, const std::string& file,
                                          const std::string& author, bool dry_run) override {
    return file_->applyPolicies(yaml, file, author, dry_run);
  }
  meshdeck::cp::ApplyResult deletePolicy(const std::string& kind, const std::string& name,
                                         const std::string& author) override {
    return file_->deletePolicy(kind, name, author);
  }
  std::vector<meshdeck::cp::RevisionInfo> revisions() override { return file_->revisions(); }
  std::string diffRevisions(uint64_t from, uint64_t to) override {
    return file_->diffRevisions(from, to);
  }
  meshdeck::cp::ApplyResult revertToRevision(uint64_t revision,
                                             const std::string& author) override {
    return file_->revertToRevision(revision, author);
  }
  std::string exportSnapshotJson(uint32_t window_seconds) override {
    return file_->exportSnapshotJson(window_seconds);
  }
  std::vector<meshdeck::cp::ProcessInfo> processes() override { return file_->processes(); }
  std::vector<std::string> processLogs(const std::string& name, uint32_t tail) override {
    return file_->processLogs(name, tail);
  }
  meshdeck::cp::ActionResult restartProcess(const std::string& name) override {
    return file_->restartProcess(name);
  }
  meshdeck::cp::ActionResult scaleService(const std::string& service, const std::string& version,
                                          uint32_t replicas) override {
    return file_->scaleService(service, version, replicas);
  }
  std::string listenAddress() override { return file_->listenAddress(); }

 private:
  std::unique_ptr<meshdeck::ui::SnapshotControlPlane> file_;
  std::mutex mutex_;
  std::shared_ptr<const meshdeck::cp::GraphSnapshot> current_;
  SnapshotCallback callback_;
};

// Every metric changed a little (rate, success, latency, counters), as the next second brings.
void perturb(meshdeck::cp::WindowMetrics* m, int step) {
  if (m->requests == 0) return;  // idle stays idle
  const double f = 1.0 + 0.07 * ((step % 5) - 2);
  m->requests_per_second *= f;
  m->requests = static_cast<uint64_t>(double(m->requests) * f) + 1;
  m->success_rate = std::clamp(m->success_rate - 0.002 * ((step % 3) - 1), 0.0, 1.0);
  m->p50_ms *= f;
  m->p90_ms *= f;
  m->p99_ms *= f;
  m->retries += 1;
  m->mtls_requests = static_cast<uint64_t>(double(m->mtls_requests) * f);
  m->responses_by_class[1] = m->requests;
}

// Times the dispatch of paint events to one widget (the graph's viewport).
class PaintTimer : public QApplication {
 public:
  using QApplication::QApplication;
  QWidget* watched = nullptr;
  std::function<void(double start_ms, double duration_ms, double cpu_ms)> on_paint;
  bool notify(QObject* receiver, QEvent* event) override {
    if (watched == nullptr || receiver != watched || event->type() != QEvent::Paint)
      return QApplication::notify(receiver, event);
    const double start = msSince(g_start);
    const double cpu = threadCpuMs();
    const bool r = QApplication::notify(receiver, event);
    if (on_paint) on_paint(start, msSince(g_start) - start, threadCpuMs() - cpu);
    return r;
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * double(v.size())))];
}

std::atomic<const char*> g_phase{"start"};
// What is measured so far, for the watchdog's line.
std::mutex g_so_far_mutex;
std::string g_so_far;
void soFar(const std::string& text) {
  std::lock_guard lock(g_so_far_mutex);
  g_so_far += " | " + text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Meshdeck end-to-end graph benchmark (real window, offscreen)"};
  cli.set_version_flag("--version", std::string(meshdeck::kVersion));
  std::string file, label;
  int timeout_s = 120, updates = 5, frames = 60;
  cli.add_option("file", file, "snapshot file (bench/gen_snapshot.py)")->required();
  cli.add_option("--timeout", timeout_s, "give up after this many seconds")
      ->check(CLI::Range(1, 3600));
  cli.add_option("--updates", updates, "live updates at 1 Hz (0: skip)")
      ->check(CLI::Range(0, 1000));
  cli.add_option("--frames", frames, "frames per pan/zoom run (0: skip)")
      ->check(CLI::Range(0, 100000));
  cli.add_option("--label", label, "first column of the output line");
  std::string group_by = "none";
  cli.add_option("--group-by", group_by, "none, namespace, tier, app or auto")
      ->check(CLI::IsMember({"none", "namespace", "tier", "app", "auto"}));
  bool dense = true;
  cli.add_option("--dense", dense,
                 "dense views on (default) or off (GraphView::setDenseViews: every edge in view "
                 "drawn in full detail, as before)");
  std::string shot;
  cli.add_option("--shot", shot, "save the viewport at 1:1 (graph centre) as PNG FILE");
  CLI11_PARSE(cli, argc, argv);
  if (label.empty()) label = file;

  // The watchdog: a GUI thread stuck in one call cannot check the time itself.
  std::mutex wd_mutex;
  std::condition_variable wd_cv;
  bool finished = false;
  std::thread watchdog([&] {
    std::unique_lock lock(wd_mutex);
    if (wd_cv.wait_for(lock, std::chrono::seconds(timeout_s), [&] { return finished; })) return;
    const Memory m = memory();
    std::lock_guard so_far_lock(g_so_far_mutex);
    std::printf("%s | TIMEOUT after %d s (phase: %s) | RSS %.0f MB, peak %.0f MB, PSS %.0f MB%s\n",
                label.c_str(), timeout_s, g_phase.load(), m.rss_mb, m.hwm_mb, m.pss_mb,
                g_so_far.c_str());
    std::fflush(stdout);
    std::_Exit(3);
  });
  auto finish = [&](int status) {
    {
      std::lock_guard lock(wd_mutex);
      finished = true;
    }
    wd_cv.notify_all();
    watchdog.join();
    return status;
  };

  PaintTimer app(argc, argv);
  QCoreApplication::setApplicationName("meshdeck-bench");
  QString error;
  g_phase = "reading the file";
  auto opened = meshdeck::ui::SnapshotControlPlane::open(QString::fromStdString(file), &error);
  if (!opened) {
    std::fprintf(stderr, "%s\n", qPrintable(error));
    return finish(1);
  }
  const double parsed_ms = msSince(g_start);
  auto cp = std::make_shared<LiveSnapshotControlPlane>(std::move(opened));
  const auto original = cp->snapshot();
  meshdeck::ui::MainWindowOptions options;
  options.source = QStringLiteral("Snapshot %1").arg(QString::fromStdString(file));
  options.read_only = true;
  options.use_settings = false;
  g_phase = "first paint";
  meshdeck::ui::MainWindow window(cp, options);
  meshdeck::ui::GraphView* graph = window.graphView();
  graph->setDenseViews(dense);
  if (group_by != "auto")
    graph->setGroupBy(meshdeck::ui::groupByFromString(QString::fromStdString(group_by)));
  std::vector<double> paints, paints_cpu;  // durations (wall, GUI-thread CPU), while recording
  bool recording = false;
  int paint_count = 0;
  double paint_ms = 0;
  double first_paint_ms = -1, first_paint_duration = 0;
  app.watched = graph->viewport();
  app.on_paint = [&](double start, double duration, double cpu) {
    if (first_paint_ms < 0 && graph->layoutsDone() > 0) {
      first_paint_ms = start + duration;
      first_paint_duration = duration;
    }
    if (recording) {
      paints.push_back(duration);
      paints_cpu.push_back(cpu);
    }
    ++paint_count;
    paint_ms += duration;
  };
  window.resize(1600, 1000);
  window.show();
  while (first_paint_ms < 0) QApplication::processEvents(QEventLoop::AllEvents, 20);
  const Memory at_paint = memory();
  const double layout_ms = graph->lastLayoutMilliseconds();
  std::fprintf(stderr, "%s: first paint at %.0f ms (layout %.0f ms, that paint %.0f ms)\n",
               label.c_str(), first_paint_ms, layout_ms, first_paint_duration);
  soFar("first paint " + std::to_string(int(first_paint_ms)) + " ms, RSS " +
        std::to_string(int(at_paint.rss_mb)) + " MB, PSS " + std::to_string(int(at_paint.pss_mb)) +
        " MB");

  // Live updates at 1 Hz: every metric of every service and edge changed.
  g_phase = "live updates";
  int handled = 0;
  QObject::connect(window.client(), &meshdeck::ui::ControlPlaneClient::snapshotUpdated, &window,
                   [&handled] { ++handled; });
  std::vector<double> apply_ms, update_ms, update_cpu_ms;
  int update_paints = 0;
  for (int u = 0; u < updates; ++u) {
    auto next = std::make_shared<meshdeck::cp::GraphSnapshot>(*original);
    for (auto& s : next->services) perturb(&s.inbound, u);
    for (auto& e : next->edges) perturb(&e.metrics, u);
    const auto due = g_start + std::chrono::milliseconds(static_cast<int>(first_paint_ms)) +
                     std::chrono::seconds(u + 1);
    while (Clock::now() < due) QApplication::processEvents(QEventLoop::AllEvents, 5);
    const int before = handled;
    std::fprintf(stderr, "  %d paints (%.0f ms) since the last update\n", paint_count, paint_ms);
    paint_count = 0;
    paint_ms = 0;
    meshdeck::ui::EdgeItem::counters() = {};
    const auto t0 = Clock::now();
    const double cpu0 = threadCpuMs();
    cp->publish(std::move(next));
    while (handled == before) QApplication::processEvents(QEventLoop::AllEvents, 5);
    const double applied = msSince(t0);
    // Then the repaint the update asked for: the scene's dirty items become the viewport's
    // update region, painted at once (posted events, no timers, no waiting for the next frame).
    const int paints_before = paint_count;
    for (int k = 0; k < 4; ++k) QCoreApplication::sendPostedEvents();
    update_paints += paint_count - paints_before;
    apply_ms.push_back(applied);
    update_ms.push_back(msSince(t0));
    update_cpu_ms.push_back(threadCpuMs() - cpu0);
    const auto& c = meshdeck::ui::EdgeItem::counters();
    std::fprintf(stderr,
                 "%s: update %d handled in %.1f ms, with the repaint %.1f ms (GUI-thread CPU "
                 "%.1f ms); items restyled %llu, repainted %llu, geometry changes %llu, texts "
                 "%llu\n",
                 label.c_str(), u + 1, applied, update_ms.back(), update_cpu_ms.back(),
                 static_cast<unsigned long long>(c.restyles),
                 static_cast<unsigned long long>(c.repaints),
                 static_cast<unsigned long long>(c.geometry_changes),
                 static_cast<unsigned long long>(c.texts));
  }

  if (!update_ms.empty()) {
    soFar("update median " + std::to_string(int(percentile(update_ms, 0.5))) + " ms, max " +
          std::to_string(int(percentile(update_ms, 1.0))) + " ms, CPU " +
          std::to_string(int(percentile(update_cpu_ms, 0.5))) + " ms");
  }
  // The graph view's share of an update: the same snapshots straight into GraphView.
  std::vector<double> view_ms;
  for (int u = 0; u < std::min(updates, 3); ++u) {
    auto next = std::make_shared<meshdeck::cp::GraphSnapshot>(*original);
    for (auto& s : next->services) perturb(&s.inbound, u + 7);
    for (auto& e : next->edges) perturb(&e.metrics, u + 7);
    const auto t0 = Clock::now();
    graph->showSnapshot(std::move(next));
    view_ms.push_back(msSince(t0));
    QApplication::processEvents(QEventLoop::AllEvents, 5);
  }
  if (!view_ms.empty())
    std::fprintf(stderr, "%s: GraphView::showSnapshot alone: median %.1f ms\n", label.c_str(),
                 percentile(view_ms, 0.5));

  // Pan and zoom like a user exploring, at the opening zoom (Fit), then at 1:1: ten frames of
  // dragging the background (mouse events, as a user pans), ten of zooming (what the wheel
  // calls), and so on; each frame painted at once. Then the time of a full repaint, once the
  // gesture has settled.
  struct Run {
    const char* name;
    double fps = 0, p50 = 0, p95 = 0, full = 0, cpu_fps = 0, full_cpu = 0;
    bool dense = false;  // GraphView::denseView() at the end of the run
  };
  std::vector<Run> runs;
  auto settle = [&] {
    const auto until =
        Clock::now() + std::chrono::milliseconds(meshdeck::ui::GraphView::kGestureSettleMs + 100);
    while (Clock::now() < until) QApplication::processEvents(QEventLoop::AllEvents, 10);
  };
  auto send = [&](QEvent::Type type, QPoint at, Qt::MouseButtons buttons) {
    QMouseEvent e(type, at, graph->viewport()->mapToGlobal(at),
                  type == QEvent::MouseMove ? Qt::NoButton : Qt::LeftButton, buttons,
                  Qt::NoModifier);
    QApplication::sendEvent(graph->viewport(), &e);
  };
  if (frames > 0) {
    g_phase = "pan/zoom";
    for (const bool actual : {false, true}) {
      if (actual) {
        graph->resetZoom();
        graph->centerOn(graph->graphBounds().center());
      }
      settle();
      // A point of the background to drag.
      // A point of the background to drag; a graph so dense that there is none (a random DAG
      // at 1:1: every point is on some edge) pans as the keyboard would (GraphView::panBy).
      std::optional<QPoint> grip;
      for (int y = 40; y < graph->viewport()->height() - 40; y += 17) {
        for (int x = 40; x < graph->viewport()->width() - 40; x += 23) {
          if (graph->itemAt(QPoint(x, y)) == nullptr) {
            grip = QPoint(x, y);
            y = x = 1 << 20;
          }
        }
      }
      paints.clear();
      paints_cpu.clear();
      recording = true;
      QElapsedTimer total;
      total.start();
      const double run_cpu0 = threadCpuMs();
      QPoint at = grip.value_or(QPoint());
      bool pressed = false;
      std::vector<double> steps_cpu;  // each step with its frame (BENCH_FRAMES)
      for (int i = 0; i < frames; ++i) {
        const double step_cpu0 = threadCpuMs();
        const bool pan = (i / 10) % 2 == 0;
        const QPoint step((i / 20) % 2 ? -9 : 9, 6);
        if (pan && !grip) {
          graph->panBy(-step.x(), -step.y());
        } else if (pan && !pressed) {
          at = *grip;
          send(QEvent::MouseButtonPress, at, Qt::LeftButton);
          pressed = true;
        } else if (!pan && pressed) {
          send(QEvent::MouseButtonRelease, at, Qt::NoButton);
          pressed = false;
        }
        if (pan && grip) {
          at += step;
          send(QEvent::MouseMove, at, Qt::LeftButton);
        } else if (!pan) {
          graph->zoomBy((i / 20) % 2 ? 0.97 : 1.03);
        }
        graph->viewport()->repaint();
        steps_cpu.push_back(threadCpuMs() - step_cpu0);
      }
      if (pressed) send(QEvent::MouseButtonRelease, at, Qt::NoButton);
      recording = false;
      if (qEnvironmentVariableIsSet("BENCH_FRAMES")) {
        for (double d : paints) std::fprintf(stderr, " %.0f", d);
        std::fprintf(stderr, "\n steps (GUI-thread CPU ms):");
        for (double d : steps_cpu) std::fprintf(stderr, " %.0f", d);
        std::fprintf(stderr, "\n");
      }
      Run r{actual ? "1:1" : "fit"};
      r.fps = frames / (double(total.nsecsElapsed()) / 1e9);
      r.cpu_fps = frames / ((threadCpuMs() - run_cpu0) / 1e3);
      r.p50 = percentile(paints, 0.5);
      r.p95 = percentile(paints, 0.95);
      settle();
      paints.clear();
      paints_cpu.clear();
      recording = true;
      for (int k = 0; k < 5; ++k) graph->viewport()->repaint();
      recording = false;
      r.full = percentile(paints, 0.5);
      r.full_cpu = percentile(paints_cpu, 0.5);
      r.dense = graph->denseView();
      runs.push_back(r);
      std::fprintf(stderr, "%s: pan/zoom %s %.1f fps, full repaint %.1f ms\n", label.c_str(),
                   r.name, r.fps, r.full);
      soFar(std::string("pan/zoom ") + r.name + " " + std::to_string(int(r.fps)) +
            " fps, full repaint " + std::to_string(int(r.full)) + " ms");
    }
  }
  if (!shot.empty()) {
    graph->resetZoom();
    graph->centerOn(graph->graphBounds().center());
    settle();
    graph->viewport()->repaint();
    if (!graph->viewport()->grab().save(QString::fromStdString(shot)))
      std::fprintf(stderr, "could not write %s\n", shot.c_str());
  }
  const Memory at_end = memory();
  std::printf(
      "%s | %d services / %d edges | parse %.0f ms, layout %.0f ms, first paint %.0f ms (that "
      "paint %.0f ms) | RSS %.0f MB, PSS %.0f MB (end: RSS %.0f, peak %.0f, PSS %.0f MB) | "
      "update median %.1f ms, max %.1f ms (handled %.1f / %.1f ms; GUI-thread CPU median %.1f "
      "ms; %d repaints)",
      label.c_str(), graph->nodeCount(), graph->edgeCount(), parsed_ms, layout_ms, first_paint_ms,
      first_paint_duration, at_paint.rss_mb, at_paint.pss_mb, at_end.rss_mb, at_end.hwm_mb,
      at_end.pss_mb, percentile(update_ms, 0.5), percentile(update_ms, 1.0),
      percentile(apply_ms, 0.5), percentile(apply_ms, 1.0), percentile(update_cpu_ms, 0.5),
      update_paints);
  for (const Run& r : runs) {
    std::printf(
        " | pan/zoom %s%s: %.0f fps (frame p50 %.1f, p95 %.1f ms; full repaint %.0f ms; by "
        "GUI-thread "
        "CPU: %.0f fps, full repaint %.0f ms)",
        r.name, r.dense ? " (dense view)" : "", r.fps, r.p50, r.p95, r.full, r.cpu_fps, r.full_cpu);
  }
  std::printf("\n");
  std::fflush(stdout);
  return finish(0);
}
