#pragma once

#include <QHash>
#include <QMetaType>
#include <QPainterPath>
#include <QPointF>
#include <QRectF>
#include <QSet>
#include <QSizeF>
#include <QString>
#include <QStringList>
#include <optional>
#include <utility>
#include <vector>

namespace meshdeck::ui {

// What the layered layout needs to know: node ids with their drawn size, and directed edges.
struct LayoutInput {
  struct Node {
    QString id;
    QSizeF size;  // scene units (1 unit = 1 Graphviz point)
    // Nodes with the same non-empty cluster are kept together (an expanded group: a
    // `subgraph cluster_N` in dot; the fast layout ignores it).
    QString cluster = QString();
  };
  struct Edge {
    QString source;
    QString destination;
  };
  std::vector<Node> nodes;
  std::vector<Edge> edges;
};

// Node centres and edge routes in scene coordinates (y grows downwards, origin at the
// layout's top-left corner). Edge routes are keyed "source\ndestination".
struct LayoutResult {
  bool ok = false;
  QString error;
  QHash<QString, QPointF> positions;
  QHash<QString, QPainterPath> routes;
  QRectF bounds;
  double milliseconds = 0;

  static QString edgeKey(const QString& source, const QString& destination) {
    return source + QLatin1Char('\n') + destination;
  }
};

// Above this many edges `dot` is too slow for an interactive tool (measured on this project's
// 2-core machine: 1000 nodes / 5000 edges take 5-12 s, most of it in Graphviz's dictionary code
// during crossing minimisation), so computeLayout() switches to computeFastLayeredLayout().
inline constexpr int kDotEdgeLimit = 1500;

// What `dot` has to place: the services plus one virtual node per rank an edge crosses
// (longest-path ranks). Edges that span many ranks (a random call graph) multiply dot's work:
// 300 services / 1,200 such edges (about 5,800) took 5-9 s, a layered 300 / 1,200 (about 460)
// under a second. Above kDotWorkLimit computeLayout() uses the fast layered layout. Thread-safe.
int dotWorkEstimate(const LayoutInput& input);
inline constexpr int kDotWorkLimit = 2500;

// Computes a left-to-right layered layout with Graphviz `dot`, linked as a library with the dot
// layout plugin registered in-process (no plugin cache, no `dot` executable).
//
// Threading: Graphviz keeps global state and is not thread-safe. Call this from ONE thread
// only (the view's layout thread; the benchmark's main thread). It does not touch Qt GUI
// objects, so that thread need not be the GUI thread.
LayoutResult computeDotLayout(const LayoutInput& input);

// A simple Sugiyama-style layered layout (cycle breaking by DFS, longest-path ranks, a few
// barycentre sweeps, compacted coordinates) for graphs too large for dot. No edge routes: the
// view draws its own curves. Thread-safe.
LayoutResult computeFastLayeredLayout(const LayoutInput& input);

// Service boxes of `size` centred at `centres` overlap (closer than `gap` counts as overlap).
bool boxesOverlap(const QPointF& a, const QPointF& b, const QSizeF& size, double gap = 0);
// The first pair of overlapping boxes, sorted by name; empty when none overlap.
std::optional<std::pair<QString, QString>> findOverlap(const QHash<QString, QPointF>& centres,
                                                       const QSizeF& size, double gap = 0);
// Moves every box not in `fixed` straight down until it overlaps no other (boxes are settled in
// order of x, then y, then name; fixed ones first). Returns how many moved. Fixed boxes that
// overlap each other stay as they are. Thread-safe.
int separateOverlaps(QHash<QString, QPointF>* centres, const QSet<QString>& fixed,
                     const QSizeF& size, double gap);

// dot up to kDotEdgeLimit edges and kDotWorkLimit of estimated work, the fast layered layout
// above either. Same threading rule as computeDotLayout().
LayoutResult computeLayout(const LayoutInput& input);

}  // namespace meshdeck::ui

Q_DECLARE_METATYPE(meshdeck::ui::LayoutInput)
Q_DECLARE_METATYPE(meshdeck::ui::LayoutResult)
