#include "ui/graph_grouping.h"

#include <QRegularExpression>
#include <algorithm>
#include <map>

namespace meshdeck::ui {

QString toString(GroupBy by) {
  switch (by) {
    case GroupBy::kNamespace:
      return QStringLiteral("namespace");
    case GroupBy::kTier:
      return QStringLiteral("tier");
    case GroupBy::kApp:
      return QStringLiteral("app");
    case GroupBy::kNone:
      break;
  }
  return QStringLiteral("none");
}

GroupBy groupByFromString(const QString& text, GroupBy fallback) {
  for (GroupBy by : {GroupBy::kNone, GroupBy::kNamespace, GroupBy::kTier, GroupBy::kApp}) {
    if (text == toString(by)) return by;
  }
  return fallback;
}

QString appOf(const QString& service) {
  static const QRegularExpression suffix(QStringLiteral("-v?[0-9]+$"));
  QString app = service;
  app.remove(suffix);
  return app.isEmpty() ? service : app;
}

QString groupKey(const cp::ServiceNode& service, GroupBy by) {
  switch (by) {
    case GroupBy::kNamespace:
      return QString::fromStdString(service.ns.empty() ? "default" : service.ns);
    case GroupBy::kTier:
      return service.tier.empty() ? QStringLiteral("(no tier)")
                                  : QString::fromStdString(service.tier);
    case GroupBy::kApp:
      return appOf(QString::fromStdString(service.name));
    case GroupBy::kNone:
      break;
  }
  return QString();
}

QString groupNodeId(GroupBy by, const QString& key) {
  return toString(by) + QStringLiteral(": ") + key;
}

bool isGroupNodeId(const QString& id) { return id.contains(QStringLiteral(": ")); }

cp::WindowMetrics mergeMetrics(const std::vector<const cp::WindowMetrics*>& parts) {
  cp::WindowMetrics out;
  uint64_t responses = 0;
  double weighted_success = 0;
  bool any_histogram = false;
  for (const cp::WindowMetrics* m : parts) {
    out.requests_per_second += m->requests_per_second;
#define MESHDECK_SUM_COUNTER(field, ...) out.field += m->field;
    MESHDECK_EDGE_COUNTERS(MESHDECK_SUM_COUNTER)
#undef MESHDECK_SUM_COUNTER
    for (size_t i = 0; i < out.responses_by_class.size(); ++i) {
      out.responses_by_class[i] += m->responses_by_class[i];
      responses += m->responses_by_class[i];
    }
    weighted_success += m->success_rate * double(m->requests);
    if (m->latency) any_histogram = true;
  }
  if (responses > 0) {
    out.success_rate = 1.0 - double(out.responses_by_class[4]) / double(responses);
  } else if (out.requests > 0) {
    out.success_rate = weighted_success / double(out.requests);
  }
  if (any_histogram) {
    auto merged = std::make_shared<common::LatencyHistogram>();
    for (const cp::WindowMetrics* m : parts) {
      if (m->latency) merged->merge(*m->latency);
    }
    out.p50_ms = merged->percentile(50) / 1e6;
    out.p90_ms = merged->percentile(90) / 1e6;
    out.p99_ms = merged->percentile(99) / 1e6;
    out.latency = std::move(merged);
  } else {
    for (const cp::WindowMetrics* m : parts) {
      out.p50_ms = std::max(out.p50_ms, m->p50_ms);
      out.p90_ms = std::max(out.p90_ms, m->p90_ms);
      out.p99_ms = std::max(out.p99_ms, m->p99_ms);
    }
  }
  return out;
}

GroupedGraph groupSnapshot(const std::shared_ptr<const cp::GraphSnapshot>& snapshot, GroupBy by,
                           const QSet<QString>& expanded) {
  GroupedGraph g;
  if (!snapshot || by == GroupBy::kNone) {
    g.snapshot = snapshot;
    return g;
  }
  for (const auto& s : snapshot->services) {
    const QString key = groupKey(s, by);
    const QString id = groupNodeId(by, key);
    const QString name = QString::fromStdString(s.name);
    g.members[id].append(name);
    g.group_of.insert(name, id);
    g.labels.insert(id, key);
  }
  for (auto it = g.members.begin(); it != g.members.end(); ++it) {
    it.value().sort();
    if (!expanded.contains(it.key())) g.collapsed.insert(it.key());
  }

  auto out = std::make_shared<cp::GraphSnapshot>();
  out->time = snapshot->time;
  out->topology_version = snapshot->topology_version;
  out->policy_revision = snapshot->policy_revision;
  out->window_seconds = snapshot->window_seconds;
  out->proxies = snapshot->proxies;
  out->listen_address = snapshot->listen_address;

  // Collapsed groups: one service each, in the order of their first member.
  std::map<std::string, std::vector<const cp::ServiceNode*>> group_services;
  std::vector<std::string> group_order;
  for (const auto& s : snapshot->services) {
    const QString id = g.group_of.value(QString::fromStdString(s.name));
    if (!g.collapsed.contains(id)) {
      out->services.push_back(s);
      continue;
    }
    auto& list = group_services[id.toStdString()];
    if (list.empty()) group_order.push_back(id.toStdString());
    list.push_back(&s);
  }
  for (const std::string& id : group_order) {
    const auto& list = group_services[id];
    cp::ServiceNode node;
    node.name = id;
    node.ns = list.front()->ns;
    node.tier = list.front()->tier;
    std::vector<const cp::WindowMetrics*> inbound;
    for (const cp::ServiceNode* s : list) {
      node.instances += s->instances;
      if (s->tier != node.tier) node.tier.clear();
      if (s->ns != node.ns) node.ns.clear();
      inbound.push_back(&s->inbound);
      for (const auto& v : s->versions) {
        if (std::find(node.versions.begin(), node.versions.end(), v) == node.versions.end())
          node.versions.push_back(v);
      }
    }
    node.inbound = mergeMetrics(inbound);
    out->services.push_back(std::move(node));
  }

  // Edges: an end in a collapsed group becomes the group; edges between the same two ends add
  // up.
  auto endOf = [&g](const std::string& service) {
    const QString id = g.group_of.value(QString::fromStdString(service));
    return g.collapsed.contains(id) ? id.toStdString() : service;
  };
  std::map<std::pair<std::string, std::string>, std::vector<const cp::ServiceEdge*>> merged;
  std::vector<std::pair<std::string, std::string>> edge_order;
  for (const auto& e : snapshot->edges) {
    const std::string src = endOf(e.source), dst = endOf(e.destination);
    const bool grouped = src != e.source || dst != e.destination;
    if (!grouped) {
      out->edges.push_back(e);
      continue;
    }
    if (src == dst) {
      g.inner_rate[QString::fromStdString(src)] += e.metrics.requests_per_second;
      continue;
    }
    auto& list = merged[{src, dst}];
    if (list.empty()) edge_order.push_back({src, dst});
    list.push_back(&e);
  }
  for (const auto& ends : edge_order) {
    const auto& list = merged[ends];
    cp::ServiceEdge edge;
    edge.source = ends.first;
    edge.destination = ends.second;
    std::vector<const cp::WindowMetrics*> metrics;
    for (const cp::ServiceEdge* e : list) {
      metrics.push_back(&e->metrics);
      for (const auto& p : e->policies) {
        if (std::find(edge.policies.begin(), edge.policies.end(), p) == edge.policies.end())
          edge.policies.push_back(p);
      }
      for (const auto& [version, n] : e->requests_by_destination_version)
        edge.requests_by_destination_version[version] += n;
    }
    edge.metrics = mergeMetrics(metrics);
    out->edges.push_back(std::move(edge));
  }
  g.snapshot = std::move(out);
  return g;
}

QSet<QString> neighbourhood(const cp::GraphSnapshot& snapshot, const QString& centre, int hops) {
  QHash<QString, QStringList> adjacent;
  for (const auto& e : snapshot.edges) {
    const QString a = QString::fromStdString(e.source), b = QString::fromStdString(e.destination);
    adjacent[a].append(b);
    adjacent[b].append(a);
  }
  QSet<QString> seen{centre};
  QStringList frontier{centre};
  for (int hop = 0; hop < hops && !frontier.isEmpty(); ++hop) {
    QStringList next;
    for (const QString& n : frontier) {
      for (const QString& m : adjacent.value(n)) {
        if (!seen.contains(m)) {
          seen.insert(m);
          next.append(m);
        }
      }
    }
    frontier = next;
  }
  return seen;
}

std::shared_ptr<const cp::GraphSnapshot> restrictTo(
    const std::shared_ptr<const cp::GraphSnapshot>& snapshot, const QSet<QString>& keep) {
  auto out = std::make_shared<cp::GraphSnapshot>();
  out->time = snapshot->time;
  out->topology_version = snapshot->topology_version;
  out->policy_revision = snapshot->policy_revision;
  out->window_seconds = snapshot->window_seconds;
  out->proxies = snapshot->proxies;
  out->listen_address = snapshot->listen_address;
  for (const auto& s : snapshot->services) {
    if (keep.contains(QString::fromStdString(s.name))) out->services.push_back(s);
  }
  for (const auto& e : snapshot->edges) {
    if (keep.contains(QString::fromStdString(e.source)) &&
        keep.contains(QString::fromStdString(e.destination)))
      out->edges.push_back(e);
  }
  return out;
}

}  // namespace meshdeck::ui
