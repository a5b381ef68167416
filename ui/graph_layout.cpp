#include "ui/graph_layout.h"

#include <gvc.h>
#include <gvplugin.h>

#include <QElapsedTimer>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <unordered_map>

// The dot layout plugin's library descriptor, exported by libgvplugin_dot_layout. Linking it
// directly and handing it to gvContextPlugins() means Graphviz never reads its plugin cache
// (config6), so the layout works wherever the library is installed, even without `dot -c`.
extern "C" {
extern gvplugin_library_t gvplugin_dot_layout_LTX_library;
}

namespace meshdeck::ui {
namespace {

// Graphviz's C API takes non-const char*; these strings outlive every call.
char* mutableString(const char* s) { return const_cast<char*>(s); }

void setAttr(void* object, const char* name, const std::string& value) {
  agsafeset(object, mutableString(name), const_cast<char*>(value.c_str()), mutableString(""));
}

GVC_t* layoutContext() {
  // One context for the life of the process, created on the (single) layout thread.
  static lt_symlist_t builtins[] = {
      {"gvplugin_dot_layout_LTX_library", &gvplugin_dot_layout_LTX_library},
      {nullptr, nullptr},
  };
  static GVC_t* context = gvContextPlugins(builtins, 0);
  return context;
}

constexpr double kPointsPerInch = 72.0;

}  // namespace

LayoutResult computeDotLayout(const LayoutInput& input) {
  LayoutResult result;
  QElapsedTimer timer;
  timer.start();
  GVC_t* gvc = layoutContext();
  if (gvc == nullptr) {
    result.error = QStringLiteral("Graphviz context could not be created");
    return result;
  }
  if (input.nodes.empty()) {
    result.ok = true;
    return result;
  }

  Agraph_t* g = agopen(mutableString("mesh"), Agdirected, nullptr);
  setAttr(g, "rankdir", "LR");
  setAttr(g, "nodesep", "0.45");
  setAttr(g, "ranksep", "1.3");
  setAttr(g, "splines", "spline");
  // Sizes are given in inches and fixed: no text measurement (no text-layout plugin needed).
  agattr(g, AGNODE, mutableString("shape"), mutableString("box"));
  agattr(g, AGNODE, mutableString("fixedsize"), mutableString("true"));
  agattr(g, AGNODE, mutableString("label"), mutableString(""));
  agattr(g, AGNODE, mutableString("width"), mutableString("1"));
  agattr(g, AGNODE, mutableString("height"), mutableString("0.5"));
  agattr(g, AGEDGE, mutableString("arrowhead"), mutableString("none"));

  std::unordered_map<std::string, Agnode_t*> nodes;
  nodes.reserve(input.nodes.size());
  // Expanded groups: one `subgraph cluster_N` each, so dot keeps their members together (the
  // view draws the frame around them).
  QHash<QString, Agraph_t*> clusters;
  for (const auto& n : input.nodes) {
    std::string id = n.id.toStdString();
    Agnode_t* node = agnode(g, id.data(), 1);
    setAttr(node, "width", std::to_string(n.size.width() / kPointsPerInch));
    setAttr(node, "height", std::to_string(n.size.height() / kPointsPerInch));
    if (!n.cluster.isEmpty()) {
      Agraph_t* sub = clusters.value(n.cluster);
      if (sub == nullptr) {
        std::string name = "cluster_" + std::to_string(clusters.size());
        sub = agsubg(g, name.data(), 1);
        setAttr(sub, "margin", "28");
        clusters.insert(n.cluster, sub);
      }
      agsubnode(sub, node, 1);
    }
    nodes.emplace(std::move(id), node);
  }
  // Services without edges yet (a mesh coming up) would stand in one long rank: each connected
  // part is laid out on its own and the parts are packed in rows, so they form a grid. Not with
  // clusters: this Graphviz (2.43) crashes in gv_postprocess when it packs clustered parts.
  if (clusters.isEmpty()) {
    setAttr(g, "pack", "24");
    setAttr(g, "packmode", "array_t");
  }
  std::vector<std::pair<Agedge_t*, QString>> edges;
  edges.reserve(input.edges.size());
  for (const auto& e : input.edges) {
    auto from = nodes.find(e.source.toStdString());
    auto to = nodes.find(e.destination.toStdString());
    if (from == nodes.end() || to == nodes.end() || from->second == to->second) continue;
    Agedge_t* edge = agedge(g, from->second, to->second, nullptr, 1);
    edges.emplace_back(edge, LayoutResult::edgeKey(e.source, e.destination));
  }

  if (gvLayout(gvc, g, "dot") != 0) {
    agclose(g);
    result.error = QStringLiteral("Graphviz dot layout failed");
    return result;
  }

  // Graphviz's y axis grows upwards; the scene's grows downwards.
  const boxf bb = GD_bb(g);
  auto toScene = [&bb](pointf p) { return QPointF(p.x - bb.LL.x, bb.UR.y - p.y); };
  for (const auto& [id, node] : nodes) {
    result.positions.insert(QString::fromStdString(id), toScene(ND_coord(node)));
  }
  for (const auto& [edge, key] : edges) {
    const splines* spl = ED_spl(edge);
    if (spl == nullptr || spl->size == 0 || spl->list[0].size < 4) continue;
    const bezier& bz = spl->list[0];
    QPainterPath path(toScene(bz.list[0]));
    for (int i = 1; i + 2 < bz.size; i += 3) {
      path.cubicTo(toScene(bz.list[i]), toScene(bz.list[i + 1]), toScene(bz.list[i + 2]));
    }
    result.routes.insert(key, path);
  }
  result.bounds = QRectF(0, 0, bb.UR.x - bb.LL.x, bb.UR.y - bb.LL.y);
  gvFreeLayout(gvc, g);
  agclose(g);
  result.ok = true;
  result.milliseconds = static_cast<double>(timer.nsecsElapsed()) / 1e6;
  return result;
}

LayoutResult computeFastLayeredLayout(const LayoutInput& input) {
  LayoutResult result;
  QElapsedTimer timer;
  timer.start();
  const int n = static_cast<int>(input.nodes.size());
  QHash<QString, int> index;
  index.reserve(n);
  for (int i = 0; i < n; ++i) index.insert(input.nodes[static_cast<size_t>(i)].id, i);
  std::vector<std::vector<int>> out(static_cast<size_t>(n)), in(static_cast<size_t>(n));
  for (const auto& e : input.edges) {
    const int a = index.value(e.source, -1), b = index.value(e.destination, -1);
    if (a < 0 || b < 0 || a == b) continue;
    out[static_cast<size_t>(a)].push_back(b);
  }
  // Break cycles: drop edges that close a cycle in an iterative DFS (back edges).
  std::vector<int> state(static_cast<size_t>(n), 0);  // 0 new, 1 on stack, 2 done
  std::vector<int> order;  // reverse post-order = topological order of the DAG
  order.reserve(static_cast<size_t>(n));
  for (int root = 0; root < n; ++root) {
    if (state[static_cast<size_t>(root)] != 0) continue;
    std::vector<std::pair<int, size_t>> stack{{root, 0}};
    state[static_cast<size_t>(root)] = 1;
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      auto& succ = out[static_cast<size_t>(v)];
      if (next < succ.size()) {
        const int w = succ[next];
        if (state[static_cast<size_t>(w)] == 1) {
          succ.erase(succ.begin() + static_cast<std::ptrdiff_t>(next));
          continue;
        }
        ++next;
        if (state[static_cast<size_t>(w)] == 0) {
          state[static_cast<size_t>(w)] = 1;
          stack.emplace_back(w, 0);
        }
      } else {
        state[static_cast<size_t>(v)] = 2;
        order.push_back(v);
        stack.pop_back();
      }
    }
  }
  std::reverse(order.begin(), order.end());
  for (int v = 0; v < n; ++v) {
    for (int w : out[static_cast<size_t>(v)]) in[static_cast<size_t>(w)].push_back(v);
  }
  // Longest-path ranks along the topological order.
  std::vector<int> rank(static_cast<size_t>(n), 0);
  int max_rank = 0;
  for (int v : order) {
    for (int w : out[static_cast<size_t>(v)]) {
      rank[static_cast<size_t>(w)] =
          std::max(rank[static_cast<size_t>(w)], rank[static_cast<size_t>(v)] + 1);
      max_rank = std::max(max_rank, rank[static_cast<size_t>(w)]);
    }
  }
  std::vector<std::vector<int>> layers(static_cast<size_t>(max_rank + 1));
  for (int v : order) layers[static_cast<size_t>(rank[static_cast<size_t>(v)])].push_back(v);
  std::vector<double> slot(static_cast<size_t>(n), 0);
  auto renumber = [&](const std::vector<int>& layer) {
    for (size_t i = 0; i < layer.size(); ++i) slot[static_cast<size_t>(layer[i])] = double(i);
  };
  for (const auto& layer : layers) renumber(layer);
  // Barycentre sweeps (down then up) reduce crossings; four rounds give most of the gain.
  auto sweep = [&](const std::vector<std::vector<int>>& neighbours, bool forward) {
    const int count = static_cast<int>(layers.size());
    for (int step = 1; step < count; ++step) {
      auto& layer = layers[static_cast<size_t>(forward ? step : count - 1 - step)];
      std::vector<double> key(layer.size());
      for (size_t i = 0; i < layer.size(); ++i) {
        const auto& nb = neighbours[static_cast<size_t>(layer[i])];
        double sum = 0;
        for (int u : nb) sum += slot[static_cast<size_t>(u)];
        key[i] = nb.empty() ? slot[static_cast<size_t>(layer[i])] : sum / double(nb.size());
      }
      std::vector<size_t> perm(layer.size());
      std::iota(perm.begin(), perm.end(), 0);
      std::stable_sort(perm.begin(), perm.end(),
                       [&key](size_t a, size_t b) { return key[a] < key[b]; });
      std::vector<int> sorted(layer.size());
      for (size_t i = 0; i < perm.size(); ++i) sorted[i] = layer[perm[i]];
      layer = std::move(sorted);
      renumber(layer);
    }
  };
  for (int round = 0; round < 4; ++round) {
    sweep(in, true);
    sweep(out, false);
  }
  // Coordinates: layers left to right, nodes stacked and centred vertically.
  constexpr double kRankGap = 110, kNodeGap = 30;
  double x = 0, height = 0;
  std::vector<double> layer_height(layers.size(), 0);
  for (size_t l = 0; l < layers.size(); ++l) {
    for (int v : layers[l])
      layer_height[l] += input.nodes[static_cast<size_t>(v)].size.height() + kNodeGap;
    height = std::max(height, layer_height[l]);
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    double width = 0;
    for (int v : layers[l])
      width = std::max(width, input.nodes[static_cast<size_t>(v)].size.width());
    double y = (height - layer_height[l]) / 2;
    for (int v : layers[l]) {
      const QSizeF size = input.nodes[static_cast<size_t>(v)].size;
      result.positions.insert(input.nodes[static_cast<size_t>(v)].id,
                              QPointF(x + width / 2, y + size.height() / 2 + kNodeGap / 2));
      y += size.height() + kNodeGap;
    }
    x += width + kRankGap;
  }
  result.bounds = QRectF(0, 0, std::max(0.0, x - kRankGap), height);
  result.ok = true;
  result.milliseconds = static_cast<double>(timer.nsecsElapsed()) / 1e6;
  return result;
}

bool boxesOverlap(const QPointF& a, const QPointF& b, const QSizeF& size, double gap) {
  return std::abs(a.x() - b.x()) < size.width() + gap &&
         std::abs(a.y() - b.y()) < size.height() + gap;
}

std::optional<std::pair<QString, QString>> findOverlap(const QHash<QString, QPointF>& centres,
                                                       const QSizeF& size, double gap) {
  QStringList names = centres.keys();
  names.sort();
  for (qsizetype i = 0; i < names.size(); ++i) {
    for (qsizetype j = i + 1; j < names.size(); ++j) {
      if (boxesOverlap(centres.value(names[i]), centres.value(names[j]), size, gap))
        return std::make_pair(names[i], names[j]);
    }
  }
  return std::nullopt;
}

int separateOverlaps(QHash<QString, QPointF>* centres, const QSet<QString>& fixed,
                     const QSizeF& size, double gap) {
  std::vector<QPointF> settled;
  std::vector<QString> loose;
  for (auto it = centres->cbegin(); it != centres->cend(); ++it) {
    if (fixed.contains(it.key()))
      settled.push_back(it.value());
    else
      loose.push_back(it.key());
  }
  std::sort(loose.begin(), loose.end(), [centres](const QString& a, const QString& b) {
    const QPointF pa = centres->value(a), pb = centres->value(b);
    if (pa.x() != pb.x()) return pa.x() < pb.x();
    if (pa.y() != pb.y()) return pa.y() < pb.y();
    return a < b;
  });
  int moved = 0;
  for (const QString& name : loose) {
    QPointF c = centres->value(name);
    bool shifted = false;
    // Each pass moves below one box it hit, so it ends within settled.size() + 1 passes.
    for (size_t pass = 0; pass <= settled.size(); ++pass) {
      const auto hit = std::find_if(settled.begin(), settled.end(), [&](const QPointF& other) {
        return boxesOverlap(c, other, size, gap);
      });
      if (hit == settled.end()) break;
      c.setY(hit->y() + size.height() + gap);
      shifted = true;
    }
    if (shifted) {
      centres->insert(name, c);
      ++moved;
    }
    settled.push_back(c);
  }
  return moved;
}

int dotWorkEstimate(const LayoutInput& input) {
  const int n = static_cast<int>(input.nodes.size());
  QHash<QString, int> index;
  index.reserve(n);
  for (int i = 0; i < n; ++i) index.insert(input.nodes[static_cast<size_t>(i)].id, i);
  std::vector<std::vector<int>> out(static_cast<size_t>(n));
  std::vector<int> indegree(static_cast<size_t>(n), 0), rank(static_cast<size_t>(n), 0);
  std::vector<std::pair<int, int>> edges;
  edges.reserve(input.edges.size());
  for (const auto& e : input.edges) {
    const int a = index.value(e.source, -1), b = index.value(e.destination, -1);
    if (a < 0 || b < 0 || a == b) continue;
    out[static_cast<size_t>(a)].push_back(b);
    edges.emplace_back(a, b);
  }
  // Cycles broken as dot breaks them (a depth-first search turns its back edges round): a
  // dense graph of groups calling each other both ways is a long chain of ranks for dot, not
  // one rank (40 namespaces with 1,475 edges between them took dot minutes).
  {
    std::vector<int> state(static_cast<size_t>(n), 0);  // 0 new, 1 on the stack, 2 done
    std::vector<std::pair<int, size_t>> stack;
    std::vector<std::vector<int>> dag(static_cast<size_t>(n));
    for (int root = 0; root < n; ++root) {
      if (state[static_cast<size_t>(root)] != 0) continue;
      stack.emplace_back(root, 0);
      state[static_cast<size_t>(root)] = 1;
      while (!stack.empty()) {
        auto& [v, next] = stack.back();
        const auto& targets = out[static_cast<size_t>(v)];
        if (next == targets.size()) {
          state[static_cast<size_t>(v)] = 2;
          stack.pop_back();
          continue;
        }
        const int w = targets[next++];
        if (state[static_cast<size_t>(w)] == 1) {
          dag[static_cast<size_t>(w)].push_back(v);  // a back edge, turned round
        } else {
          dag[static_cast<size_t>(v)].push_back(w);
          if (state[static_cast<size_t>(w)] == 0) {
            state[static_cast<size_t>(w)] = 1;
            stack.emplace_back(w, 0);
          }
        }
      }
    }
    out = std::move(dag);
  }
  for (const auto& targets : out)
    for (int w : targets) ++indegree[static_cast<size_t>(w)];
  // Longest-path ranks (Kahn's order).
  std::vector<int> queue;
  for (int i = 0; i < n; ++i) {
    if (indegree[static_cast<size_t>(i)] == 0) queue.push_back(i);
  }
  for (size_t q = 0; q < queue.size(); ++q) {
    const int v = queue[q];
    for (int w : out[static_cast<size_t>(v)]) {
      rank[static_cast<size_t>(w)] =
          std::max(rank[static_cast<size_t>(w)], rank[static_cast<size_t>(v)] + 1);
      if (--indegree[static_cast<size_t>(w)] == 0) queue.push_back(w);
    }
  }
  long long work = n;
  for (const auto& [a, b] : edges)
    work += std::max(0, std::abs(rank[static_cast<size_t>(b)] - rank[static_cast<size_t>(a)]) - 1);
  return static_cast<int>(std::min<long long>(work, INT32_MAX));
}

LayoutResult computeLayout(const LayoutInput& input) {
  if (input.edges.size() > static_cast<size_t>(kDotEdgeLimit) ||
      dotWorkEstimate(input) > kDotWorkLimit)
    return computeFastLayeredLayout(input);
  return computeDotLayout(input);
}

}  // namespace meshdeck::ui
