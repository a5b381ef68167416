#pragma once

#include <QHash>
#include <QSet>
#include <QString>
#include <QStringList>
#include <memory>
#include <vector>

#include "controlplane/api/types.h"

namespace meshdeck::ui {

// How the graph groups services (View → Group By).
enum class GroupBy { kNone, kNamespace, kTier, kApp };

// "none", "namespace", "tier", "app" (QSettings and the command line spell it so).
QString toString(GroupBy by);
GroupBy groupByFromString(const QString& text, GroupBy fallback = GroupBy::kNone);

// The app a service belongs to: its name without a trailing "-<number>" or "-v<number>"
// (the `large` demo's "backend-7" is app "backend", the storefront's "reviews" is "reviews").
QString appOf(const QString& service);
// The group key of a service: its namespace, its tier ("(no tier)" when it has none) or its app.
QString groupKey(const cp::ServiceNode& service, GroupBy by);
// The node id of a group in the graph: "tier: frontend". Service names are DNS labels, so no
// service can be called that.
QString groupNodeId(GroupBy by, const QString& key);
bool isGroupNodeId(const QString& id);

// Rates and latency of several windows (edges or services) together: request rate and every
// counter summed, success from the summed response classes (or, when none are given, from the
// summed requests and each one's success), percentiles from the MERGED latency histograms
// (never averaged). When no part carries a histogram the percentiles are the worst part's (an
// upper bound; the histogram is then null).
cp::WindowMetrics mergeMetrics(const std::vector<const cp::WindowMetrics*>& parts);

// A snapshot as the grouped graph shows it.
struct GroupedGraph {
  // Services not in a collapsed group, one service per collapsed group (name = its node id,
  // inbound = the members' merged inbound metrics, tier = the members' common tier or empty),
  // and the edges between them, aggregated; edges inside one collapsed group are left out.
  std::shared_ptr<const cp::GraphSnapshot> snapshot;
  QHash<QString, QStringList> members;  // group node id -> member service names, sorted
  QHash<QString, QString> group_of;     // service name -> group node id
  QHash<QString, QString> labels;       // group node id -> key ("frontend")
  QSet<QString> collapsed;              // group node ids drawn as one node
  // Requests per second inside each collapsed group (its hidden inner edges), for its badge.
  QHash<QString, double> inner_rate;
};

// Groups `snapshot` by `by`; groups whose node id is in `expanded` keep their members as
// services (and are framed by the view). With kNone the snapshot is passed through as it is.
GroupedGraph groupSnapshot(const std::shared_ptr<const cp::GraphSnapshot>& snapshot, GroupBy by,
                           const QSet<QString>& expanded);

// The services within `hops` calls (either direction) of `centre`, centre included.
QSet<QString> neighbourhood(const cp::GraphSnapshot& snapshot, const QString& centre, int hops);
// The snapshot with only `keep`'s services and the edges between them.
std::shared_ptr<const cp::GraphSnapshot> restrictTo(
    const std::shared_ptr<const cp::GraphSnapshot>& snapshot, const QSet<QString>& keep);

}  // namespace meshdeck::ui
