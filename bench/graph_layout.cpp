// Graph layout and rendering benchmark of the desktop UI:
//  - layout time of a synthetic layered mesh (default 1000 services / 5000 edges) with the
//    layout the view would use (computeLayout: dot up to kDotEdgeLimit edges, the fast layered
//    layout above), and optionally with Graphviz dot forced;
//  - pan/zoom frame rate of the live graph view for a 200-service mesh (offscreen raster, the
//    same painting code the window uses).
// Usage: bench_graph_layout [--nodes N] [--edges M] [--runs R] [--force-dot] [--fps-nodes K]
// Run with QT_QPA_PLATFORM=offscreen when there is no display.
#include "ui/graph_layout.h"

#include <CLI/CLI.hpp>
#include <QApplication>
#include <QElapsedTimer>
#include <QScrollBar>
#include <algorithm>
#include <cstdio>
#include <vector>

#include "meshdeck/version.h"
#include "support/fake_control_plane.h"
#include "ui/graph_view.h"

namespace {

using meshdeck::testing::FakeControlPlane;
using meshdeck::ui::LayoutInput;

LayoutInput inputFrom(const meshdeck::cp::GraphSnapshot& s) {
  LayoutInput in;
  for (const auto& n : s.services)
    in.nodes.push_back({QString::fromStdString(n.name), QSizeF(168, 58)});
  for (const auto& e : s.edges) {
    in.edges.push_back({QString::fromStdString(e.source), QString::fromStdString(e.destination)});
  }
  return in;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Meshdeck graph layout and pan/zoom benchmark"};
  cli.set_version_flag("--version", std::string(meshdeck::kVersion));
  int nodes = 1000, edges = 5000, runs = 5, fps_nodes = 200, frames = 120;
  bool force_dot = false;
  cli.add_option("--nodes", nodes, "services of the synthetic mesh")->check(CLI::Range(2, 100000));
  cli.add_option("--edges", edges, "edges of the synthetic mesh")->check(CLI::Range(1, 1000000));
  cli.add_option("--runs", runs, "layout runs (the median is reported)")->check(CLI::Range(1, 100));
  cli.add_flag("--force-dot", force_dot, "also time Graphviz dot on the synthetic mesh (slow)");
  cli.add_option("--fps-nodes", fps_nodes, "services of the pan/zoom mesh (0: skip)")
      ->check(CLI::Range(0, 5000));
  cli.add_option("--frames", frames, "frames painted for the pan/zoom figure")
      ->check(CLI::Range(10, 10000));
  CLI11_PARSE(cli, argc, argv);

  const auto snap = FakeControlPlane::syntheticSnapshot(nodes, edges, 11);
  const LayoutInput input = inputFrom(snap);
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    const auto result = meshdeck::ui::computeLayout(input);
    if (!result.ok) {
      std::fprintf(stderr, "layout failed: %s\n", qPrintable(result.error));
      return 1;
    }
    times.push_back(result.milliseconds);
  }
  const bool uses_dot = input.edges.size() <= static_cast<size_t>(meshdeck::ui::kDotEdgeLimit);
  std::printf(
      "layout %d services / %zu edges (%s): median %.1f ms over %d runs (min %.1f, max %.1f)\n",
      nodes, input.edges.size(), uses_dot ? "graphviz dot" : "fast layered", median(times), runs,
      *std::min_element(times.begin(), times.end()), *std::max_element(times.begin(), times.end()));
  if (force_dot) {
    const auto result = meshdeck::ui::computeDotLayout(input);
    std::printf("layout %d services / %zu edges (graphviz dot, forced): %.1f ms\n", nodes,
                input.edges.size(), result.milliseconds);
  }
  // The size of the `large` demo, always with dot.
  {
    const auto demo = FakeControlPlane::syntheticSnapshot(200, 400, 5);
    std::vector<double> dot_times;
    for (int r = 0; r < runs; ++r)
      dot_times.push_back(meshdeck::ui::computeDotLayout(inputFrom(demo)).milliseconds);
    std::printf("layout 200 services / %zu edges (graphviz dot): median %.1f ms\n",
                demo.edges.size(), median(dot_times));
  }

  if (fps_nodes == 0) return 0;
  QApplication app(argc, argv);
  meshdeck::ui::GraphView view;
  view.resize(1600, 1000);
  view.show();
  view.showSnapshot(std::make_shared<const meshdeck::cp::GraphSnapshot>(
      FakeControlPlane::syntheticSnapshot(fps_nodes, fps_nodes * 2, 5)));
  QElapsedTimer wait;
  wait.start();
  while (view.layoutsDone() == 0 && wait.elapsed() < 30000)
    QApplication::processEvents(QEventLoop::AllEvents, 50);
  if (view.layoutsDone() == 0) {
    std::fprintf(stderr, "layout did not finish\n");
    return 1;
  }
  view.resetTransform();  // 1:1, the scale a user reads labels at
  for (const bool animate : {false, true}) {
    view.setAnimateTraffic(animate);
    QElapsedTimer timer;
    timer.start();
    std::vector<double> frame_ms;
    for (int i = 0; i < frames; ++i) {
      QElapsedTimer frame;
      frame.start();
      // Alternate panning and zooming like a user exploring the graph.
      if (i % 2 == 0) {
        view.horizontalScrollBar()->setValue(view.horizontalScrollBar()->value() +
                                             ((i / 20) % 2 ? -37 : 37));
        view.verticalScrollBar()->setValue(view.verticalScrollBar()->value() +
                                           ((i / 30) % 2 ? -23 : 23));
      } else {
        view.zoomBy((i / 10) % 2 ? 0.97 : 1.03);
      }
      view.viewport()->repaint();
      frame_ms.push_back(double(frame.nsecsElapsed()) / 1e6);
    }
    const double total_s = double(timer.nsecsElapsed()) / 1e9;
    std::sort(frame_ms.begin(), frame_ms.end());
    std::printf(
        "pan/zoom %d services / %d edges, %dx%d viewport, traffic dots %s: %.0f fps "
        "(median frame %.1f ms, p95 %.1f ms)\n",
        view.nodeCount(), view.edgeCount(), view.viewport()->width(), view.viewport()->height(),
        animate ? "on" : "off", frames / total_s, frame_ms[frame_ms.size() / 2],
        frame_ms[frame_ms.size() * 95 / 100]);
  }
  return 0;
}
