#include "support/fake_control_plane.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <algorithm>
#include <cassert>
#include <cmath>
#include <random>
#include <set>
#include <sstream>

#include "common/telemetry/counter_fields.h"
#include "controlplane/policy/policy_parser.h"

namespace meshdeck::testing {
namespace {

using cp::GraphSnapshot;
using std::chrono::seconds;

struct EdgeSpec {
  const char* source;
  const char* destination;
  double rps;         // base request rate
  double p50_ms;      // base median latency
  double error_rate;  // base share of 5xx
};

struct ServiceSpec {
  const char* name;
  const char* tier;
  std::vector<std::string> versions;
  uint32_t instances;
};

const std::vector<ServiceSpec>& storefrontServices() {
  static const std::vector<ServiceSpec> services = {
      {"frontend", "edge", {"v1"}, 2},        {"auth", "core", {"v1"}, 2},
      {"catalog", "core", {"v1"}, 2},         {"search", "core", {"v1"}, 1},
      {"reviews", "core", {"v1", "v2"}, 3},   {"ratings", "data", {"v1"}, 1},
      {"recommendations", "core", {"v1"}, 1}, {"cart", "core", {"v1"}, 2},
      {"checkout", "core", {"v1"}, 1},        {"payments", "data", {"v1"}, 1},
      {"shipping", "data", {"v1"}, 1},        {"inventory", "data", {"v1"}, 1},
  };
  return services;
}

const std::vector<EdgeSpec>& storefrontEdges() {
  static const std::vector<EdgeSpec> edges = {
      {"frontend", "auth", 42, 3.1, 0.0},
      {"frontend", "catalog", 85, 7.5, 0.001},
      {"frontend", "search", 24, 18, 0.002},
      {"frontend", "cart", 31, 5.2, 0.0},
      {"frontend", "recommendations", 20, 22, 0.004},
      {"catalog", "reviews", 60, 12, 0.003},
      {"catalog", "inventory", 48, 4.4, 0.0},
      {"reviews", "ratings", 55, 6.0, 0.06},
      {"search", "catalog", 18, 7.0, 0.0},
      {"recommendations", "catalog", 15, 8.1, 0.0},
      {"cart", "inventory", 22, 4.0, 0.0},
      {"cart", "checkout", 6, 35, 0.01},
      {"checkout", "payments", 6, 120, 0.02},
      {"checkout", "shipping", 5, 45, 0.0},
      {"checkout", "auth", 6, 3.0, 0.0},
      {"shipping", "inventory", 0, 0, 0.0},
  };
  return edges;
}

// Deterministic "live" variation: a slow wave per edge, so charts move without randomness.
double wave(int64_t t, int phase, double amplitude) {
  return 1.0 + amplitude * std::sin(double(t) / 17.0 + phase) * std::cos(double(t) / 41.0 + phase);
}

cp::WindowMetrics makeMetrics(double rps, double p50_ms, double error_rate, uint32_t window,
                              uint32_t seed, bool with_histogram) {
  cp::WindowMetrics m;
  m.requests_per_second = rps;
  m.requests = static_cast<uint64_t>(std::llround(rps * window));
  if (m.requests == 0) return m;
  const uint64_t errors = static_cast<uint64_t>(std::llround(double(m.requests) * error_rate));
  m.responses_by_class = {0, m.requests - errors - m.requests / 50, m.requests / 50, 0, errors};
  m.success_rate = 1.0 - double(errors) / double(m.requests);
  m.retries = errors / 2;
  m.timeouts = errors / 5;
  m.mtls_requests = m.requests;
  if (with_histogram) {
    auto histogram = std::make_shared<common::LatencyHistogram>();
    std::mt19937 rng(seed);
    std::lognormal_distribution<double> dist(std::log(p50_ms), 0.55);
    const uint64_t samples = std::min<uint64_t>(m.requests, 4000);
    for (uint64_t i = 0; i < samples; ++i) {
      histogram->record(static_cast<uint64_t>(dist(rng) * 1e6));
    }
    m.p50_ms = histogram->percentile(50) / 1e6;
    m.p90_ms = histogram->percentile(90) / 1e6;
    m.p99_ms = histogram->percentile(99) / 1e6;
    m.latency = std::move(histogram);
  } else {
    m.p50_ms = p50_ms;
    m.p90_ms = p50_ms * 2.0;
    m.p99_ms = p50_ms * 3.6;
  }
  return m;
}

QString isoTime(int64_t seconds_since_epoch) {
  return QDateTime::fromSecsSinceEpoch(seconds_since_epoch, Qt::UTC).toString(Qt::ISODate);
}

QString isoTime(cp::SystemTime t) {
  return isoTime(std::chrono::duration_cast<seconds>(t.time_since_epoch()).count());
}

QJsonValue u64(uint64_t v) { return QString::number(v); }

QJsonObject metricsJson(const cp::WindowMetrics& m) {
  QJsonObject o{{"requests_per_second", m.requests_per_second},
                {"success_rate", m.success_rate},
                {"p50_ms", m.p50_ms},
                {"p90_ms", m.p90_ms},
                {"p99_ms", m.p99_ms}};
  common::forEachEdgeCounter(
      [&](const common::EdgeCounterField& f, uint64_t v) {
        o[QLatin1String(f.name.data(), qsizetype(f.name.size()))] = u64(v);
      },
      m);
  QJsonObject classes;
  for (int i = 0; i < 5; ++i)
    classes[QStringLiteral("%1xx").arg(i + 1)] = u64(m.responses_by_class[size_t(i)]);
  o["responses_by_class"] = classes;
  if (m.latency) {
    QJsonArray buckets;
    for (int i = 0; i < common::LatencyHistogram::kBucketCount; ++i) {
      if (uint64_t c = m.latency->bucketCount(i)) {
        buckets.append(QJsonArray{i, double(c)});
      }
    }
    o["latency"] = QJsonObject{{"layout", int(common::LatencyHistogram::kLayout)},
                               {"buckets", buckets},
                               {"count", u64(m.latency->count())},
                               {"sum_ns", u64(m.latency->sum())},
                               {"min_ns", u64(m.latency->min())},
                               {"max_ns", u64(m.latency->max())},
                               {"underflow", u64(m.latency->underflow())},
                               {"overflow", u64(m.latency->overflow())}};
  }
  return o;
}
}  // namespace

FakeControlPlane::FakeControlPlane() {
  {
    std::lock_guard lock(mutex_);
    revisions_.push_back({{1, "meshdeck", cp::SystemTime(seconds(now_seconds_)), "initial"}, {}});
    rebuildLocked();
  }
  publisher_ = std::thread([this] { publisherLoop(); });
}

FakeControlPlane::~FakeControlPlane() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  publisher_.join();
}

GraphSnapshot FakeControlPlane::syntheticSnapshot(int nodes, int edges, uint32_t seed) {
  GraphSnapshot s;
  s.time = cp::SystemTime(seconds(1'790'000'000));
  s.topology_version = 1;
  s.listen_address = "127.0.0.1:15010";
  std::mt19937 rng(seed);
  const int layers = std::max(2, static_cast<int>(std::sqrt(double(nodes)) / 2.5));
  static const char* kTiers[] = {"edge", "core", "data"};
  for (int i = 0; i < nodes; ++i) {
    cp::ServiceNode n;
    n.name = "svc-" + std::to_string(i);
    n.tier = kTiers[i * 3 / std::max(1, nodes)];
    n.versions = {"v1"};
    n.instances = 1 + static_cast<uint32_t>(rng() % 3);
    s.services.push_back(std::move(n));
  }
  std::set<std::pair<int, int>> seen;
  for (int k = 0, tries = 0; k < edges && tries < edges * 20; ++tries) {
    int a = static_cast<int>(rng() % static_cast<uint32_t>(nodes));
    int la = a * layers / nodes;
    if (la >= layers - 1) continue;
    const int lo = (la + 1) * nodes / layers;
    const int hi = std::min(nodes, (la + 3) * nodes / layers);
    const int b = lo + static_cast<int>(rng() % static_cast<uint32_t>(std::max(1, hi - lo)));
    if (b == a || !seen.insert({a, b}).second) continue;
    cp::ServiceEdge e;
    e.source = s.services[static_cast<size_t>(a)].name;
    e.destination = s.services[static_cast<size_t>(b)].name;
    const double rps = (rng() % 10 == 0) ? 0.0 : double(rng() % 200) / 4.0;
    e.metrics = makeMetrics(rps, 2.0 + double(rng() % 400) / 10.0, (rng() % 12 == 0) ? 0.08 : 0.0,
                            10, 0, false);
    s.edges.push_back(std::move(e));
    ++k;
  }
  return s;
}

void FakeControlPlane::setSnapshot(GraphSnapshot snapshot) {
  std::lock_guard lock(mutex_);
  storefront_ = false;
  snapshot_ = std::make_shared<const GraphSnapshot>(std::move(snapshot));
}

void FakeControlPlane::rebuildLocked() {
  if (!storefront_) return;
  auto s = std::make_shared<GraphSnapshot>();
  s->time = cp::SystemTime(seconds(now_seconds_));
  s->topology_version = topology_version_;
  s->policy_revision = revisions_.back().info.number;
  s->window_seconds = 10;
  s->listen_address = "127.0.0.1:15010";
  int phase = 0;
  for (const auto& spec : storefrontServices()) {
    cp::ServiceNode n;
    n.name = spec.name;
    n.tier = spec.tier;
    n.versions = spec.versions;
    n.instances = spec.instances;
    double inbound_rps = 0, p50 = 0, errors = 0;
    for (const auto& e : storefrontEdges()) {
      if (spec.name == std::string(e.destination)) {
        inbound_rps += e.rps;
        p50 = std::max(p50, e.p50_ms * 0.8);
        errors = std::max(errors, e.error_rate);
      }
    }
    if (inbound_rps == 0) inbound_rps = 120;  // the frontend takes traffic from outside
    if (p50 == 0) p50 = 25;
    n.inbound = makeMetrics(inbound_rps * wave(now_seconds_, phase, 0.15), p50, errors,
                            s->window_seconds, uint32_t(now_seconds_ + phase * 131), true);
    for (uint32_t i = 0; i < n.instances; ++i) {
      cp::ProxyInfo p;
      p.service = n.name;
      p.version = n.versions[i % n.versions.size()];
      p.proxy_id = n.name + "-" + p.version + "-" + std::to_string(i);
      p.host = "127.0.0.1";
      p.inbound_port = 20000 + static_cast<uint32_t>(phase * 10) + i;
      p.admin_port = 21000 + static_cast<uint32_t>(phase * 10) + i;
      p.state = cp::SyncState::kSynced;
      p.version_sent = p.version_acked = std::to_string(s->policy_revision);
      p.connected_since = cp::SystemTime(seconds(now_seconds_ - 600));
      p.last_report = s->time;
      if (n.name == "payments") {
        p.state = cp::SyncState::kStale;
        p.version_acked = std::to_string(s->policy_revision > 1 ? s->policy_revision - 1 : 0);
      }
      s->proxies.push_back(std::move(p));
    }
    s->services.push_back(std::move(n));
    ++phase;
  }
  phase = 0;
  for (const auto& spec : storefrontEdges()) {
    cp::ServiceEdge e;
    e.source = spec.source;
    e.destination = spec.destination;
    e.metrics = makeMetrics(spec.rps * wave(now_seconds_, phase, 0.2), spec.p50_ms, spec.error_rate,
                            s->window_seconds, uint32_t(now_seconds_ * 7 + phase), true);
    for (const auto& p : policies_) {
      if (p.target == spec.destination) e.policies.push_back(p.kind + "/" + p.name);
    }
    s->edges.push_back(std::move(e));
    ++phase;
  }
  snapshot_ = std::move(s);
}

void FakeControlPlane::advance(int secs) {
  std::lock_guard lock(mutex_);
  now_seconds_ += secs;
  rebuildLocked();
}

void FakeControlPlane::publish() {
  {
    std::lock_guard lock(mutex_);
    publish_requested_ = true;
  }
  wake_.notify_all();
}

void FakeControlPlane::startTicking(int interval_ms) {
  {
    std::lock_guard lock(mutex_);
    tick_interval_ms_ = interval_ms;
  }
  wake_.notify_all();
}

void FakeControlPlane::publisherLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (tick_interval_ms_ > 0) {
      wake_.wait_for(lock, std::chrono::milliseconds(tick_interval_ms_));
      if (!publish_requested_ && !stopping_) {
        now_seconds_ += 1;
        rebuildLocked();
      }
    } else {
      wake_.wait(lock, [this] { return stopping_ || publish_requested_ || tick_interval_ms_ > 0; });
      if (!publish_requested_) continue;
    }
    if (stopping_) break;
    publish_requested_ = false;
    auto snap = snapshot_;
    lock.unlock();
    {
      std::lock_guard subs(subscribers_mutex_);
      for (auto& s : subscribers_) s.callback(snap);
    }
    lock.lock();
  }
}

std::shared_ptr<const GraphSnapshot> FakeControlPlane::snapshot() {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

std::shared_ptr<void> FakeControlPlane::subscribe(SnapshotCallback callback) {
  uint64_t id;
  {
    std::lock_guard subs(subscribers_mutex_);
    id = next_subscriber_++;
    subscribers_.push_back({id, std::move(callback)});
  }
  publish();
  return std::shared_ptr<void>(nullptr, [this, id](void*) { unsubscribe(id); });
}

void FakeControlPlane::unsubscribe(uint64_t id) {
  std::lock_guard subs(subscribers_mutex_);
  std::erase_if(subscribers_, [id](const Subscriber& s) { return s.id == id; });
}

std::vector<cp::EdgeSample> FakeControlPlane::edgeHistory(const std::string& source,
                                                          const std::string& destination,
                                                          uint32_t secs) {
  std::lock_guard lock(mutex_);
  std::vector<cp::EdgeSample> out;
  int phase = 0;
  for (const auto& spec : storefrontEdges()) {
    if (storefront_ && source == spec.source && destination == spec.destination) {
      for (int64_t t = now_seconds_ - secs + 1; t <= now_seconds_; ++t) {
        cp::EdgeSample sample;
        sample.time = cp::SystemTime(seconds(t));
        const double w = wave(t, phase, 0.2);
        sample.requests_per_second = spec.rps * w;
        sample.success_rate = 1.0 - spec.error_rate * (2.0 - w);
        sample.p50_ms = spec.p50_ms * (0.9 + 0.2 * w);
        sample.p90_ms = sample.p50_ms * 2.0;
        sample.p99_ms = sample.p50_ms * (3.2 + w);
        const auto requests = static_cast<uint64_t>(sample.requests_per_second);
        const auto errors = static_cast<uint64_t>(double(requests) * (1 - sample.success_rate));
        sample.responses_by_class = {0, requests - errors, 0, 0, errors};
        out.push_back(sample);
      }
    }
    ++phase;
  }
  return out;
}

std::vector<cp::PolicyInfo> FakeControlPlane::policies() {
  std::lock_guard lock(mutex_);
  return policies_;
}

cp::ApplyResult FakeControlPlane::applyPolicies(const std::string& yaml, const std::string& file,
                                                const std::string& author, bool dry_run) {
  ++apply_calls_;
  cp::ApplyResult result;
  // The control plane's own parser: the fake refuses what a document alone makes invalid, with
  // the same errors. No set validation: the fake has no registry to check references against.
  std::vector<cp::Policy> parsed = cp::parsePolicies(yaml, file, &result.errors);
  if (result.errors.empty() && parsed.empty())
    result.errors.push_back({file, 0, 0, "", "no policy document found"});
  if (!result.errors.empty() || dry_run) {
    result.ok = result.errors.empty();
    result.summary = result.ok ? "valid (dry run)" : "rejected: nothing changed";
    return result;
  }
  std::lock_guard lock(mutex_);
  std::vector<cp::PolicyInfo> next = policies_;
  // Summarised as the control plane's store does: "created K/N, updated K/N".
  std::string summary;
  for (auto& p : parsed) {
    const std::string kind = cp::toString(p.kind);
    const bool existed = std::erase_if(next, [&](const cp::PolicyInfo& q) {
                           return q.kind == kind && q.name == p.name;
                         }) > 0;
    summary += (summary.empty() ? "" : ", ") + std::string(existed ? "updated " : "created ") +
               kind + "/" + p.name;
    const cp::PolicyBadges badges = p.badges();  // as the control plane computes them
    next.push_back(cp::PolicyInfo{kind, p.name, p.target(), std::move(p.yaml), 0, badges});
  }
  commitLocked(std::move(next), author, summary, &result);
  applied_count_ += static_cast<int>(parsed.size());
  return result;
}

void FakeControlPlane::commitLocked(std::vector<cp::PolicyInfo> next, const std::string& author,
                                    const std::string& summary, cp::ApplyResult* result) {
  assert(!revisions_.empty());  // the constructor records revision 1
  const uint64_t number = revisions_.back().info.number + 1;
  for (auto& p : next) {
    if (p.revision == 0) p.revision = number;
  }
  policies_ = next;
  revisions_.push_back({{number, author, cp::SystemTime(seconds(now_seconds_)), summary}, next});
  rebuildLocked();
  result->ok = true;
  result->revision = number;
  result->summary = summary;
}

cp::ApplyResult FakeControlPlane::deletePolicy(const std::string& kind, const std::string& name,
                                               const std::string& author) {
  std::lock_guard lock(mutex_);
  cp::ApplyResult result;
  auto next = policies_;
  if (std::erase_if(
          next, [&](const cp::PolicyInfo& p) { return p.kind == kind && p.name == name; }) == 0) {
    result.errors.push_back({"", 0, 0, "", kind + "/" + name + " does not exist"});
    return result;
  }
  commitLocked(std::move(next), author, "deleted " + kind + "/" + name, &result);
  return result;
}

std::vector<cp::RevisionInfo> FakeControlPlane::revisions() {
  std::lock_guard lock(mutex_);
  std::vector<cp::RevisionInfo> out;
  for (auto it = revisions_.rbegin(); it != revisions_.rend(); ++it) out.push_back(it->info);
  return out;
}

std::string FakeControlPlane::diffRevisions(uint64_t from, uint64_t to) {
  std::lock_guard lock(mutex_);
  // As the control plane's store: `from` 0 is the empty set before revision 1, `to` 0 the
  // current revision.
  static const Revision kEmpty{{0, "", {}, ""}, {}};
  auto find = [this](uint64_t n) -> const Revision* {
    if (n == 0) return &revisions_.back();
    for (const auto& r : revisions_) {
      if (r.info.number == n) return &r;
    }
    return nullptr;
  };
  const Revision* a = from == 0 ? &kEmpty : find(from);
  const Revision* b = find(to);
  if (!a || !b) return "";
  auto lines = [](const Revision* r) {
    std::vector<std::string> out;
    for (const auto& p : r->policies) {
      std::istringstream in(p.yaml);
      for (std::string line; std::getline(in, line);) out.push_back(line);
      out.push_back("---");
    }
    return out;
  };
  const auto old_lines = lines(a), new_lines = lines(b);
  std::string diff = "--- revision " + std::to_string(a->info.number) + "\n+++ revision " +
                     std::to_string(b->info.number) + "\n";
  for (const auto& l : old_lines) {
    if (std::find(new_lines.begin(), new_lines.end(), l) == new_lines.end()) diff += "-" + l + "\n";
  }
  for (const auto& l : new_lines) {
    if (std::find(old_lines.begin(), old_lines.end(), l) == old_lines.end())
      diff += "+" + l + "\n";
    else
      diff += " " + l + "\n";
  }
  return diff;
}

cp::ApplyResult FakeControlPlane::revertToRevision(uint64_t revision, const std::string& author) {
  std::lock_guard lock(mutex_);
  cp::ApplyResult result;
  for (const auto& r : revisions_) {
    if (r.info.number == revision) {
      auto policies = r.policies;
      commitLocked(std::move(policies), author, "reverted to revision " + std::to_string(revision),
                   &result);
      return result;
    }
  }
  result.errors.push_back({"", 0, 0, "", "no revision " + std::to_string(revision)});
  return result;
}

std::string FakeControlPlane::exportSnapshotJson(uint32_t window_seconds) {
  auto snap = snapshot();
  QJsonArray services, edges, proxies, policies, revisions, history, processes;
  for (const auto& n : snap->services) {
    QJsonArray versions;
    for (const auto& v : n.versions) versions.append(QString::fromStdString(v));
    services.append(QJsonObject{{"name", QString::fromStdString(n.name)},
                                {"namespace", QString::fromStdString(n.ns)},
                                {"versions", versions},
                                {"tier", QString::fromStdString(n.tier)},
                                {"instances", int(n.instances)},
                                {"inbound", metricsJson(n.inbound)}});
  }
  for (const auto& e : snap->edges) {
    QJsonArray pol;
    for (const auto& p : e.policies) pol.append(QString::fromStdString(p));
    edges.append(QJsonObject{{"source", QString::fromStdString(e.source)},
                             {"destination", QString::fromStdString(e.destination)},
                             {"metrics", metricsJson(e.metrics)},
                             {"policies", pol}});
    QJsonArray samples;
    for (const auto& s : edgeHistory(e.source, e.destination, 120)) {
      QJsonArray classes;
      for (uint64_t c : s.responses_by_class) classes.append(u64(c));
      samples.append(QJsonObject{{"time", isoTime(s.time)},
                                 {"requests_per_second", s.requests_per_second},
                                 {"success_rate", s.success_rate},
                                 {"p50_ms", s.p50_ms},
                                 {"p90_ms", s.p90_ms},
                                 {"p99_ms", s.p99_ms},
                                 {"responses_by_class", classes}});
    }
    if (!samples.isEmpty()) {
      history.append(QJsonObject{{"source", QString::fromStdString(e.source)},
                                 {"destination", QString::fromStdString(e.destination)},
                                 {"samples", samples}});
    }
  }
  for (const auto& p : snap->proxies) {
    QJsonObject o{{"proxy_id", QString::fromStdString(p.proxy_id)},
                  {"service", QString::fromStdString(p.service)},
                  {"version", QString::fromStdString(p.version)},
                  {"host", QString::fromStdString(p.host)},
                  {"inbound_port", int(p.inbound_port)},
                  {"admin_port", int(p.admin_port)},
                  {"state", cp::toString(p.state)},
                  {"version_sent", QString::fromStdString(p.version_sent)},
                  {"version_acked", QString::fromStdString(p.version_acked)},
                  {"nack_reason", QString::fromStdString(p.nack_reason)}};
    if (p.connected_since) o["connected_since"] = isoTime(*p.connected_since);
    if (p.last_report) o["last_report"] = isoTime(*p.last_report);
    proxies.append(o);
  }
  for (const auto& p : this->policies()) {
    policies.append(QJsonObject{{"kind", QString::fromStdString(p.kind)},
                                {"name", QString::fromStdString(p.name)},
                                {"target", QString::fromStdString(p.target)},
                                {"yaml", QString::fromStdString(p.yaml)},
                                {"revision", u64(p.revision)},
                                {"badges", QJsonObject{{"fault", p.badges.fault},
                                                       {"canary", p.badges.canary},
                                                       {"rate_limit", p.badges.rate_limit},
                                                       {"mtls", p.badges.mtls}}}});
  }
  for (const auto& r : this->revisions()) {
    revisions.append(QJsonObject{{"number", u64(r.number)},
                                 {"author", QString::fromStdString(r.author)},
                                 {"time", isoTime(r.time)},
                                 {"summary", QString::fromStdString(r.summary)}});
  }
  for (const auto& p : this->processes()) {
    QJsonArray ports;
    for (uint32_t port : p.ports) ports.append(int(port));
    processes.append(QJsonObject{{"name", QString::fromStdString(p.name)},
                                 {"service", QString::fromStdString(p.service)},
                                 {"version", QString::fromStdString(p.version)},
                                 {"instance", int(p.instance)},
                                 {"role", QString::fromStdString(p.role)},
                                 {"pid", p.pid},
                                 {"state", QString::fromStdString(p.state)},
                                 {"restarts", int(p.restarts)},
                                 {"uptime_seconds", p.uptime_seconds},
                                 {"ports", ports},
                                 {"rss_bytes", u64(p.rss_bytes)},
                                 {"cpu_percent", p.cpu_percent}});
  }
  // The shape of the control plane's snapshotToJson (docs/snapshot-format.md), plus the
  // optional revisions, edge_history and processes lists the UI also reads.
  (void)window_seconds;
  QJsonObject root{
      {"format", "meshdeck-snapshot"},
      {"format_version", 1},
      {"generated_at", isoTime(snap->time)},
      {"control_plane",
       QJsonObject{{"version", "fake"}, {"listen", QString::fromStdString(snap->listen_address)}}},
      {"window_seconds", int(snap->window_seconds)},
      {"topology_version", u64(snap->topology_version)},
      {"policy_revision", u64(snap->policy_revision)},
      {"services", services},
      {"edges", edges},
      {"proxies", proxies},
      {"policies", policies},
      {"revisions", revisions},
      {"edge_history", history},
      {"processes", processes}};
  return QJsonDocument(root).toJson(QJsonDocument::Indented).toStdString();
}

void FakeControlPlane::setProcesses(std::vector<cp::ProcessInfo> processes) {
  std::lock_guard lock(mutex_);
  processes_ = std::move(processes);
}

void FakeControlPlane::setLogs(const std::string& process, std::vector<std::string> lines) {
  std::lock_guard lock(mutex_);
  logs_[process] = std::move(lines);
}

std::vector<std::string> FakeControlPlane::fleetActions() const {
  std::lock_guard lock(mutex_);
  return fleet_actions_;
}

std::vector<cp::ProcessInfo> FakeControlPlane::processes() {
  std::lock_guard lock(mutex_);
  return processes_;
}

std::vector<std::string> FakeControlPlane::processLogs(const std::string& name, uint32_t tail) {
  std::lock_guard lock(mutex_);
  auto it = logs_.find(name);
  if (it == logs_.end()) return {};
  const auto& lines = it->second;
  const size_t start = lines.size() > tail ? lines.size() - tail : 0;
  return {lines.begin() + static_cast<std::ptrdiff_t>(start), lines.end()};
}

cp::ActionResult FakeControlPlane::restartProcess(const std::string& name) {
  std::lock_guard lock(mutex_);
  fleet_actions_.push_back("restart " + name);
  for (auto& p : processes_) {
    if (p.name == name) {
      ++p.restarts;
      return {true, "restarted " + name};
    }
  }
  return {false, "no process " + name};
}

cp::ActionResult FakeControlPlane::scaleService(const std::string& service,
                                                const std::string& version, uint32_t replicas) {
  std::lock_guard lock(mutex_);
  fleet_actions_.push_back("scale " + service + " " + version + " " + std::to_string(replicas));
  return {true, "scaled " + service + " to " + std::to_string(replicas)};
}

std::shared_ptr<void> FakeControlPlane::startTap(const cp::TapFilter& filter,
                                                 cp::TapCallback callback, std::string* error) {
  (void)error;
  const std::lock_guard lock(taps_mutex_);
  const uint64_t id = next_tap_++;
  taps_.push_back({id, std::move(callback)});
  tap_filters_.push_back(filter);
  // A token that is not null (the UI tests whether it holds one).
  return std::shared_ptr<void>(new uint64_t(id), [this](void* p) {
    const uint64_t tap = *static_cast<uint64_t*>(p);
    delete static_cast<uint64_t*>(p);
    const std::lock_guard lock(taps_mutex_);
    std::erase_if(taps_, [tap](const Tap& t) { return t.id == tap; });
  });
}

int FakeControlPlane::deliverTap(const cp::TapBatch& batch) {
  int delivered = 0;
  std::thread deliverer([&] {
    const std::lock_guard lock(taps_mutex_);
    for (const Tap& t : taps_) {
      t.callback(batch);
      ++delivered;
    }
  });
  deliverer.join();
  return delivered;
}

int FakeControlPlane::openTaps() const {
  const std::lock_guard lock(taps_mutex_);
  return static_cast<int>(taps_.size());
}

std::vector<cp::TapFilter> FakeControlPlane::tapFilters() const {
  const std::lock_guard lock(taps_mutex_);
  return tap_filters_;
}

}  // namespace meshdeck::testing
