#include "ui/snapshot_control_plane.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <thread>

#include "common/bounded_file.h"
#include "common/input_limits.h"
#include "common/latency_histogram.h"
#include "common/telemetry/counter_fields.h"
#include "common/telemetry/grpc_status.h"

namespace meshdeck::ui {
namespace {

// Protobuf's JSON mapping writes lowerCamelCase; a writer that preserves proto field names
// writes snake_case. Accept both.
QJsonValue field(const QJsonObject& o, QLatin1String camel, QLatin1String snake = {}) {
  auto it = o.find(camel);
  if (it != o.end()) return it.value();
  if (!snake.isEmpty()) {
    it = o.find(snake);
    if (it != o.end()) return it.value();
  }
  return {};
}

QJsonValue field(const QJsonObject& o, const char* camel, const char* snake = nullptr) {
  return field(o, QLatin1String(camel), snake ? QLatin1String(snake) : QLatin1String());
}

// 64-bit integers arrive as strings (protobuf JSON) or numbers.
uint64_t u64(const QJsonValue& v) {
  if (v.isString()) return v.toString().toULongLong();
  if (v.isDouble()) {
    // Saturated: a double beyond uint64_t (or NaN) must not be converted (undefined behaviour,
    // found by the snapshot_reader fuzzer).
    const double d = v.toDouble();
    if (!(d > 0)) return 0;
    if (d >= 18446744073709551616.0) return std::numeric_limits<uint64_t>::max();
    return static_cast<uint64_t>(d);
  }
  return 0;
}

double number(const QJsonValue& v, double fallback = 0) {
  if (v.isDouble()) return v.toDouble();
  if (v.isString()) {
    bool ok = false;
    const double d = v.toString().toDouble(&ok);
    return ok ? d : fallback;
  }
  return fallback;
}

std::string str(const QJsonValue& v) { return v.toString().toStdString(); }

cp::SystemTime timeOf(const QJsonValue& v) {
  const QDateTime t = QDateTime::fromString(v.toString(), Qt::ISODateWithMs);
  // The clock counts nanoseconds in 64 bits (1678 to 2262): a time outside it is unknown, not
  // an overflow (the fuzzer found year -954).
  if (!t.isValid() || t.date().year() < 1900 || t.date().year() > 2200) return {};
  return cp::SystemTime(std::chrono::milliseconds(t.toMSecsSinceEpoch()));
}

// Responses by class: {"1xx": n, ..., "5xx": n} (control plane) or [n1xx, ..., n5xx].
void readClasses(const QJsonValue& v, std::array<uint64_t, 5>* out) {
  if (v.isObject()) {
    const QJsonObject o = v.toObject();
    for (int i = 0; i < 5; ++i)
      (*out)[static_cast<size_t>(i)] = u64(o.value(QStringLiteral("%1xx").arg(i + 1)));
    return;
  }
  const QJsonArray a = v.toArray();
  for (int i = 0; i < 5 && i < a.size(); ++i) (*out)[static_cast<size_t>(i)] = u64(a[i]);
}

bool parseHistogram(const QJsonObject& o, common::LatencyHistogram* h, QString* error) {
  const uint64_t layout = u64(field(o, "layout"));
  if (layout != common::LatencyHistogram::kLayout) {
    *error = QStringLiteral("histogram layout %1 is not supported").arg(layout);
    return false;
  }
  int previous = -1;
  for (const QJsonValue& b : field(o, "buckets").toArray()) {
    // A bucket is [index, count] (control plane) or {"index": i, "count": n} (protobuf JSON).
    const QJsonArray pair = b.toArray();
    const QJsonObject bucket = b.toObject();
    const bool is_pair = b.isArray() && pair.size() == 2;
    const int index = static_cast<int>(is_pair ? u64(pair[0]) : u64(field(bucket, "index")));
    const uint64_t count = is_pair ? u64(pair[1]) : u64(field(bucket, "count"));
    if (index <= previous || index >= common::LatencyHistogram::kBucketCount) {
      *error = QStringLiteral("histogram bucket index %1 out of order or range").arg(index);
      return false;
    }
    previous = index;
    h->addToBucket(index, count);
  }
  if (!h->restoreSummary(u64(field(o, "count")), u64(field(o, "sumNs", "sum_ns")),
                         u64(field(o, "minNs", "min_ns")), u64(field(o, "maxNs", "max_ns")),
                         u64(field(o, "underflow")), u64(field(o, "overflow")))) {
    *error = QStringLiteral("histogram counts do not add up");
    return false;
  }
  return true;
}

// gRPC calls by status: {"OK": 97, "UNAVAILABLE": 3} (snapshot file: names) or {"14": "3"}
// (protobuf JSON: codes). Keys that name no status 0..16 are ignored (a newer writer's).
void readGrpcStatuses(const QJsonValue& v, common::GrpcStatusCounts* out) {
  const QJsonObject o = v.toObject();
  for (auto it = o.begin(); it != o.end(); ++it) {
    const QByteArray key = it.key().toUtf8();
    std::optional<uint32_t> code =
        common::grpcStatusFromName(std::string_view(key.constData(), size_t(key.size())));
    if (!code) {
      bool ok = false;
      const uint n = it.key().toUInt(&ok);
      if (ok && n < common::kGrpcStatusCount) code = n;
    }
    if (code) (*out)[*code] = u64(it.value());
  }
}

bool parseMetrics(const QJsonObject& o, cp::WindowMetrics* m, QString* error) {
  m->requests_per_second = number(field(o, "requestsPerSecond", "requests_per_second"));
  m->success_rate = number(field(o, "successRate", "success_rate"), 1.0);
  m->p50_ms = number(field(o, "p50Ms", "p50_ms"));
  m->p90_ms = number(field(o, "p90Ms", "p90_ms"));
  m->p99_ms = number(field(o, "p99Ms", "p99_ms"));
  common::forEachEdgeCounter(
      [&](const common::EdgeCounterField& f, uint64_t& v) {
        v = u64(field(o, QLatin1String(f.json_name.data(), qsizetype(f.json_name.size())),
                      QLatin1String(f.name.data(), qsizetype(f.name.size()))));
      },
      *m);
  readClasses(field(o, "responsesByClass", "responses_by_class"), &m->responses_by_class);
  readGrpcStatuses(field(o, "grpcStatuses", "grpc_statuses"), &m->grpc_statuses);
  const QJsonValue latency = field(o, "latency");
  if (latency.isObject()) {
    auto h = std::make_shared<common::LatencyHistogram>();
    if (!parseHistogram(latency.toObject(), h.get(), error)) return false;
    m->latency = std::move(h);
  }
  return true;
}

// "synced" (control plane) or "SYNCED" (protobuf enum name).
cp::SyncState syncState(const QString& name) {
  const QString s = name.toLower();
  if (s == QLatin1String("synced")) return cp::SyncState::kSynced;
  if (s == QLatin1String("stale")) return cp::SyncState::kStale;
  if (s == QLatin1String("rejected")) return cp::SyncState::kRejected;
  if (s == QLatin1String("disconnected")) return cp::SyncState::kDisconnected;
  return cp::SyncState::kNeverSent;
}

std::vector<std::string> strings(const QJsonValue& v) {
  std::vector<std::string> out;
  for (const QJsonValue& s : v.toArray()) out.push_back(str(s));
  return out;
}

}  // namespace

bool parseSnapshotJson(const QByteArray& json, SnapshotDocument* doc, QString* error) {
  QJsonParseError parse_error;
  const QJsonDocument d = QJsonDocument::fromJson(json, &parse_error);
  if (d.isNull()) {
    *error = QStringLiteral("not JSON: %1 at offset %2")
                 .arg(parse_error.errorString())
                 .arg(parse_error.offset);
    return false;
  }
  if (!d.isObject()) {
    *error = QStringLiteral("not a Meshdeck snapshot: the top level is not an object");
    return false;
  }
  const QJsonObject root = d.object();
  // The control plane writes the graph's fields at the top level; a document that wraps them
  // in "graph" (the GraphSnapshot message as protobuf JSON) reads the same.
  const QJsonObject graph =
      field(root, "graph").isObject() ? field(root, "graph").toObject() : root;
  if (!field(graph, "services").isArray()) {
    *error = QStringLiteral("not a Meshdeck snapshot: no services list");
    return false;
  }
  if (const QJsonValue format = field(root, "format");
      format.isString() && format.toString() != QLatin1String("meshdeck-snapshot")) {
    *error = QStringLiteral("not a Meshdeck snapshot: format is \"%1\"").arg(format.toString());
    return false;
  }
  if (const QJsonValue version = field(root, "formatVersion", "format_version");
      !version.isNull() && !version.isUndefined() && u64(version) != 1) {
    *error = QStringLiteral("snapshot format version %1 is not supported (this build reads 1)")
                 .arg(u64(version));
    return false;
  }
  SnapshotDocument out;
  out.json = json;
  auto& g = out.graph;
  g.time = timeOf(field(graph, "time"));
  if (g.time == cp::SystemTime{}) g.time = timeOf(field(root, "generatedAt", "generated_at"));
  g.topology_version = u64(field(graph, "topologyVersion", "topology_version"));
  g.policy_revision = u64(field(graph, "policyRevision", "policy_revision"));
  g.window_seconds = static_cast<uint32_t>(u64(field(graph, "windowSeconds", "window_seconds")));
  if (g.window_seconds == 0) g.window_seconds = 10;
  g.listen_address = str(field(root, "listenAddress", "listen_address"));
  if (g.listen_address.empty()) {
    g.listen_address =
        str(field(field(root, "controlPlane", "control_plane").toObject(), "listen"));
  }
  for (const QJsonValue& v : field(graph, "services").toArray()) {
    const QJsonObject o = v.toObject();
    cp::ServiceNode n;
    n.name = str(field(o, "name"));
    if (n.name.empty()) {
      *error = QStringLiteral("a service has no name");
      return false;
    }
    if (const auto ns = field(o, "namespace"); ns.isString()) n.ns = str(ns);
    n.versions = strings(field(o, "versions"));
    n.tier = str(field(o, "tier"));
    n.instances = static_cast<uint32_t>(u64(field(o, "instances")));
    if (!parseMetrics(field(o, "inbound").toObject(), &n.inbound, error)) {
      *error = QStringLiteral("service %1: %2").arg(QString::fromStdString(n.name), *error);
      return false;
    }
    // The control plane's health (absent in older snapshots: the view's thresholds judge then).
    if (const auto h = field(o, "health"); h.isObject()) {
      const auto state = cp::healthStateFromString(str(field(h.toObject(), "state")));
      if (!state) {
        *error =
            QStringLiteral("service %1: unknown health state").arg(QString::fromStdString(n.name));
        return false;
      }
      cp::ServiceHealth health;
      health.state = *state;
      health.reasons = strings(field(h.toObject(), "reasons"));
      n.health = std::move(health);
    }
    // Per-rule authorization decisions over the window (absent in older snapshots).
    for (const QJsonValue& r : field(o, "authorization").toArray()) {
      const QJsonObject a = r.toObject();
      cp::AuthorizationRuleStats rule;
      rule.policy = str(field(a, "policy"));
      rule.rule = str(field(a, "rule"));
      rule.action = str(field(a, "action"));
      rule.dry_run = field(a, "dryRun", "dry_run").toBool();
      rule.allowed = u64(field(a, "allowed"));
      rule.denied = u64(field(a, "denied"));
      rule.dry_run_denied = u64(field(a, "dryRunDenied", "dry_run_denied"));
      if (rule.rule.empty()) {
        *error = QStringLiteral("service %1: an authorization entry has no rule")
                     .arg(QString::fromStdString(n.name));
        return false;
      }
      n.authorization.push_back(std::move(rule));
    }
    g.services.push_back(std::move(n));
  }
  for (const QJsonValue& v : field(graph, "edges").toArray()) {
    const QJsonObject o = v.toObject();
    cp::ServiceEdge e;
    e.source = str(field(o, "source"));
    e.destination = str(field(o, "destination"));
    if (!parseMetrics(field(o, "metrics").toObject(), &e.metrics, error)) {
      *error =
          QStringLiteral("edge %1 -> %2: %3")
              .arg(QString::fromStdString(e.source), QString::fromStdString(e.destination), *error);
      return false;
    }
    e.policies = strings(field(o, "policies"));
    e.protocol = str(field(o, "protocol"));
    g.edges.push_back(std::move(e));
  }
  for (const QJsonValue& v : field(graph, "proxies").toArray()) {
    const QJsonObject o = v.toObject();
    cp::ProxyInfo p;
    p.proxy_id = str(field(o, "proxyId", "proxy_id"));
    p.service = str(field(o, "service"));
    p.version = str(field(o, "version"));
    p.host = str(field(o, "host"));
    p.inbound_port = static_cast<uint32_t>(u64(field(o, "inboundPort", "inbound_port")));
    p.admin_port = static_cast<uint32_t>(u64(field(o, "adminPort", "admin_port")));
    p.state = syncState(field(o, "state").toString());
    p.version_sent = str(field(o, "versionSent", "version_sent"));
    p.version_acked = str(field(o, "versionAcked", "version_acked"));
    p.nack_reason = str(field(o, "nackReason", "nack_reason"));
    if (const auto t = field(o, "connectedSince", "connected_since"); t.isString())
      p.connected_since = timeOf(t);
    if (const auto t = field(o, "lastReport", "last_report"); t.isString())
      p.last_report = timeOf(t);
    g.proxies.push_back(std::move(p));
  }
  for (const QJsonValue& v : field(root, "policies").toArray()) {
    const QJsonObject o = v.toObject();
    // Badges: absent in files written before they were added (read as none).
    const QJsonObject b = field(o, "badges").toObject();
    out.policies.push_back(
        {str(field(o, "kind")), str(field(o, "name")), str(field(o, "target")),
         str(field(o, "yaml")), u64(field(o, "revision")),
         cp::PolicyBadges{field(b, "fault").toBool(), field(b, "canary").toBool(),
                          field(b, "rateLimit", "rate_limit").toBool(),
                          field(b, "mtls").toBool()}});
  }
  for (const QJsonValue& v : field(root, "revisions").toArray()) {
    const QJsonObject o = v.toObject();
    out.revisions.push_back({u64(field(o, "number")), str(field(o, "author")),
                             timeOf(field(o, "time")), str(field(o, "summary"))});
  }
  for (const QJsonValue& v : field(root, "edgeHistory", "edge_history").toArray()) {
    const QJsonObject o = v.toObject();
    auto& samples = out.history[{str(field(o, "source")), str(field(o, "destination"))}];
    for (const QJsonValue& s : field(o, "samples").toArray()) {
      const QJsonObject so = s.toObject();
      cp::EdgeSample sample;
      sample.time = timeOf(field(so, "time"));
      sample.requests_per_second = number(field(so, "requestsPerSecond", "requests_per_second"));
      sample.success_rate = number(field(so, "successRate", "success_rate"), 1.0);
      sample.p50_ms = number(field(so, "p50Ms", "p50_ms"));
      sample.p90_ms = number(field(so, "p90Ms", "p90_ms"));
      sample.p99_ms = number(field(so, "p99Ms", "p99_ms"));
      readClasses(field(so, "responsesByClass", "responses_by_class"), &sample.responses_by_class);
      samples.push_back(sample);
    }
  }
  for (const QJsonValue& v : field(root, "processes").toArray()) {
    const QJsonObject o = v.toObject();
    cp::ProcessInfo p;
    p.name = str(field(o, "name"));
    p.service = str(field(o, "service"));
    p.version = str(field(o, "version"));
    p.role = str(field(o, "role"));
    p.state = str(field(o, "state"));
    p.instance = static_cast<uint32_t>(u64(field(o, "instance")));
    p.restarts = static_cast<uint32_t>(u64(field(o, "restarts")));
    const double pid = number(field(o, "pid"));
    p.pid = pid > 0 && pid <= std::numeric_limits<int32_t>::max() ? static_cast<int32_t>(pid) : 0;
    p.uptime_seconds = number(field(o, "uptimeSeconds", "uptime_seconds"));
    p.cpu_percent = number(field(o, "cpuPercent", "cpu_percent"));
    p.rss_bytes = u64(field(o, "rssBytes", "rss_bytes"));
    for (const QJsonValue& port : field(o, "ports").toArray())
      p.ports.push_back(static_cast<uint32_t>(u64(port)));
    out.processes.push_back(std::move(p));
  }
  *doc = std::move(out);
  return true;
}

SnapshotControlPlane::SnapshotControlPlane(SnapshotDocument document)
    : document_(std::move(document)),
      graph_(std::make_shared<const cp::GraphSnapshot>(document_.graph)) {}

std::unique_ptr<SnapshotControlPlane> SnapshotControlPlane::open(const QString& path,
                                                                 QString* error) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) {
    *error = QStringLiteral("cannot open %1: %2").arg(path, file.errorString());
    return nullptr;
  }
  // A snapshot is a few megabytes at most; refuse something that clearly is not one.
  constexpr auto kMaxBytes = common::limits::kMaxSnapshotFileBytes;
  if (static_cast<uint64_t>(file.size()) > kMaxBytes) {
    *error =
        QStringLiteral("%1 is %2; the limit for a snapshot file is %3")
            .arg(path,
                 QString::fromStdString(common::formatBytes(static_cast<uint64_t>(file.size()))),
                 QString::fromStdString(common::formatBytes(kMaxBytes)));
    return nullptr;
  }
  SnapshotDocument doc;
  if (!parseSnapshotJson(file.readAll(), &doc, error)) {
    *error = QStringLiteral("%1: %2").arg(path, *error);
    return nullptr;
  }
  return std::make_unique<SnapshotControlPlane>(std::move(doc));
}

std::shared_ptr<void> SnapshotControlPlane::subscribe(SnapshotCallback callback) {
  // The interface promises callbacks on a thread other than the caller's; a snapshot file has
  // exactly one snapshot, delivered once. The token waits for that delivery.
  auto delivery =
      std::make_shared<std::thread>([callback = std::move(callback), g = graph_] { callback(g); });
  return std::shared_ptr<void>(nullptr, [delivery](void*) { delivery->join(); });
}

std::vector<cp::EdgeSample> SnapshotControlPlane::edgeHistory(const std::string& source,
                                                              const std::string& destination,
                                                              uint32_t seconds) {
  auto it = document_.history.find({source, destination});
  if (it == document_.history.end()) return {};
  const auto& samples = it->second;
  if (samples.empty()) return {};
  // "The last N seconds" of a snapshot are counted back from its newest sample.
  const auto from = samples.back().time - std::chrono::seconds(seconds);
  std::vector<cp::EdgeSample> out;
  for (const auto& s : samples) {
    if (s.time > from) out.push_back(s);
  }
  return out;
}

namespace {
cp::ApplyResult readOnlyResult() {
  cp::ApplyResult r;
  r.errors.push_back({"", 0, 0, "", "this is a saved snapshot, opened read-only"});
  r.summary = "read-only snapshot: nothing changed";
  return r;
}
}  // namespace

cp::ApplyResult SnapshotControlPlane::applyPolicies(const std::string&, const std::string&,
                                                    const std::string&, bool) {
  return readOnlyResult();
}

cp::ApplyResult SnapshotControlPlane::deletePolicy(const std::string&, const std::string&,
                                                   const std::string&) {
  return readOnlyResult();
}

std::string SnapshotControlPlane::diffRevisions(uint64_t, uint64_t) {
  return "(a snapshot keeps the revision list, not the policies of each revision)\n";
}

cp::ApplyResult SnapshotControlPlane::revertToRevision(uint64_t, const std::string&) {
  return readOnlyResult();
}

std::string SnapshotControlPlane::exportSnapshotJson(uint32_t) {
  return document_.json.toStdString();
}

std::vector<std::string> SnapshotControlPlane::processLogs(const std::string&, uint32_t) {
  return {"(logs are not part of a snapshot)"};
}

cp::ActionResult SnapshotControlPlane::restartProcess(const std::string&) {
  return {false, "read-only snapshot: nothing to restart"};
}

cp::ActionResult SnapshotControlPlane::scaleService(const std::string&, const std::string&,
                                                    uint32_t) {
  return {false, "read-only snapshot: nothing to scale"};
}

}  // namespace meshdeck::ui
