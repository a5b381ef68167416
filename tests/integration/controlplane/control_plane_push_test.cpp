#include <fmt/format.h>

#include <QTemporaryDir>
#include <QtTest>
#include <boost/json.hpp>
#include <map>
#include <thread>

#include "common/histogram_proto.h"
#include "controlplane/in_process_control_plane.h"
#include "integration/controlplane/fake_proxy.h"
#include "integration/controlplane/proxy_config_lookup.h"
#include "meshdeck/v1/management.grpc.pb.h"
#include "support/policy_fixtures.h"

using namespace meshdeck;
using namespace std::chrono_literals;

namespace {

using testing::findCluster;
using testing::findHost;
const char* const kFault = testing::kReviewsFault;

const std::string kPolicies = testing::canaryPolicies("reviews", "reviews");

bool hasCanary(const v1::DiscoveryResponse& r) {
  const auto* vh = findHost(r.config(), "reviews");
  return vh && vh->routes_size() > 0 && vh->routes(0).destinations_size() == 2 &&
         vh->routes(0).destinations(0).cluster() == "reviews|v1" &&
         vh->routes(0).destinations(0).weight() == 90;
}

bool hasFault(const v1::ProxyConfig& c) {
  const auto* vh = findHost(c, "reviews");
  return vh && vh->routes_size() > 0 && vh->routes(0).has_fault();
}

// Polls the control plane's snapshots until `pred` holds (at most `timeout`).
bool waitForSnapshot(cp::ControlPlane& cp,
                     const std::function<bool(const cp::GraphSnapshot&)>& pred,
                     std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(*cp.snapshot())) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

const cp::ProxyInfo* proxy(const cp::GraphSnapshot& g, const std::string& id) {
  for (const auto& p : g.proxies)
    if (p.proxy_id == id) return &p;
  return nullptr;
}

}  // namespace

class ControlPlanePushTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    dir_ = std::make_unique<QTemporaryDir>();
    cp::ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.state_dir = dir_->path().toStdString();
    options.snapshot_interval = 250ms;
    cp_ = std::make_unique<cp::InProcessControlPlane>(options);
    std::string error;
    QVERIFY2(cp_->start(&error), error.c_str());
    channel_ = grpc::CreateChannel(cp_->listenAddress(), grpc::InsecureChannelCredentials());
    discovery_ = v1::ConfigDiscovery::NewStub(channel_);
    telemetry_ = v1::TelemetryIngest::NewStub(channel_);
  }
  void cleanup() {
    proxies_.clear();
    cp_->stop();
    cp_.reset();
  }

  void pushesConfigAndTracksAcks() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000);
    add("reviews-v1-0", "reviews", "v1", 20010);
    add("reviews-v2-0", "reviews", "v2", 20020);
    // First push with every peer: the three proxies connect in any order, so wait until both
    // reviews proxies are endpoints (reviews|v2 alone can come before reviews-v1 has connected).
    QVERIFY(page->waitFor(
        [](const auto& r) {
          const auto* c = findCluster(r.config(), "reviews|v2");
          const auto* all = findCluster(r.config(), "reviews");
          return c && c->endpoints_size() == 1 && all && all->endpoints_size() == 2;
        },
        5s));
    const auto first = page->last();
    QVERIFY(!first.version_info().empty());
    QVERIFY(!first.nonce().empty());
    const auto& cfg = first.config();
    QCOMPARE(cfg.listeners_size(), 2);
    QCOMPARE(cfg.listeners(0).name(), std::string("inbound"));
    QCOMPARE(cfg.listeners(0).address().port(), 20000u);
    QCOMPARE(cfg.listeners(1).address().port(), 20002u);
    const auto* local = findCluster(cfg, "inbound|local");
    QVERIFY(local);
    QCOMPARE(local->endpoints(0).address().port(), 20001u);
    const auto* v2 = findCluster(cfg, "reviews|v2");
    QCOMPARE(v2->endpoints(0).address().port(), 20020u);
    QCOMPARE(v2->endpoints(0).proxy_id(), std::string("reviews-v2-0"));
    QCOMPARE(findCluster(cfg, "reviews")->endpoints_size(), 2);
    QCOMPARE(cfg.workload().service(), std::string("productpage"));

    // A policy change reaches every proxy and each ACK shows as synced.
    const auto r = cp_->applyPolicies(kPolicies, "canary.yaml", "test", false);
    QVERIFY(r.ok);
    for (auto& p : proxies_) QVERIFY(p->waitFor(hasCanary, 5s));
    QVERIFY(waitForSnapshot(*cp_, [&](const auto& g) {
      if (g.proxies.size() != 3) return false;
      for (const auto& p : g.proxies)
        if (p.state != cp::SyncState::kSynced || p.version_acked != p.version_sent) return false;
      return g.policy_revision == r.revision;
    }));
    // Every proxy ACKed (all three are synced above). The page answered at least 2 responses
    // (the first config it was seen to hold, then the canary); the reviews proxies at least 1
    // each (their first config may already carry the canary: pushes are debounced). An answer
    // to a response already superseded when it arrived counts as ignored, not as an ACK.
    const auto counters = cp_->counters();
    QVERIFY2(counters.acks >= 3 && counters.acks + counters.answers_ignored >= 4,
             qPrintable(
                 QString("acks %1, ignored %2").arg(counters.acks).arg(counters.answers_ignored)));
  }

  void nackingProxyShowsRejected() {
    add("productpage-v1-0", "productpage", "v1", 20000);
    auto* stubborn = add("reviews-v1-0", "reviews", "v1", 20010,
                         [](const v1::ProxyConfig& c) -> std::optional<std::string> {
                           if (hasFault(c)) return "fault injection unsupported";
                           return std::nullopt;
                         });
    add("reviews-v2-0", "reviews", "v2", 20020);
    QVERIFY(cp_->applyPolicies(kPolicies, "canary.yaml", "test", false).ok);
    QVERIFY(stubborn->waitFor(hasCanary, 5s));
    QVERIFY(cp_->applyPolicies(kFault, "fault.yaml", "test", false).ok);
    QVERIFY(waitForSnapshot(*cp_, [](const auto& g) {
      const auto* s = proxy(g, "reviews-v1-0");
      const auto* o = proxy(g, "productpage-v1-0");
      return s && o && s->state == cp::SyncState::kRejected && o->state == cp::SyncState::kSynced &&
             o->version_acked == o->version_sent;
    }));
    const auto g = cp_->snapshot();
    const auto* s = proxy(*g, "reviews-v1-0");
    QVERIFY2(s->nack_reason.find("fault injection unsupported") != std::string::npos,
             s->nack_reason.c_str());
    QVERIFY(s->version_acked != s->version_sent);  // still running its last good config
    QVERIFY(cp_->counters().nacks >= 1);

    // Going back to a config it accepts makes it synced again.
    QVERIFY(cp_->revertToRevision(1, "test").ok);
    QVERIFY(waitForSnapshot(*cp_, [](const auto& g) {
      const auto* s = proxy(g, "reviews-v1-0");
      return s && s->state == cp::SyncState::kSynced && s->nack_reason.empty();
    }));
  }

  void serviceTakesItsProxiesNamespace() {
    auto node = testing::makeNode("catalog-v1-0", "catalog", "v1", 20030);
    node.set_namespace_("shop");
    proxies_.push_back(std::make_unique<testing::FakeProxy>(discovery_.get(), node));
    add("reviews-v1-0", "reviews", "v1", 20040);  // no namespace given: "default"
    QVERIFY(waitForSnapshot(*cp_, [](const auto& g) {
      std::map<std::string, std::string> ns;
      for (const auto& s : g.services) ns[s.name] = s.ns;
      return ns["catalog"] == "shop" && ns["reviews"] == "default";
    }));
  }

  void nodeWithImpossiblePortIsRefused() {
    // Its port would be copied into every other proxy's endpoints and NACKed by all of them.
    grpc::ClientContext ctx;
    auto stream = discovery_->Stream(&ctx);
    v1::DiscoveryRequest first;
    *first.mutable_node() = testing::makeNode("bad-v1-0", "bad", "v1", 70000);
    QVERIFY(stream->Write(first));
    stream->WritesDone();
    v1::DiscoveryResponse response;
    QVERIFY(!stream->Read(&response));
    const grpc::Status status = stream->Finish();
    QCOMPARE(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY2(status.error_message().find("node.inbound_port: 70000") != std::string::npos,
             status.error_message().c_str());
    std::this_thread::sleep_for(300ms);  // longer than a snapshot interval
    QVERIFY(proxy(*cp_->snapshot(), "bad-v1-0") == nullptr);
  }

  // A peer sending each bad shape on the discovery stream is refused and counted.
  void discoveryRefusesOversizedAndMisbehavingPeers() {
    auto refusedWith = [&](const v1::DiscoveryRequest& first) {
      grpc::ClientContext ctx;
      auto stream = discovery_->Stream(&ctx);
      stream->Write(first);
      stream->WritesDone();
      v1::DiscoveryResponse response;
      while (stream->Read(&response)) {
      }
      return stream->Finish();
    };
    const auto bad_before = cp_->counters().bad_discovery_requests;
    v1::DiscoveryRequest huge;
    *huge.mutable_node() = testing::makeNode("huge-v1-0", "huge", "v1", 20100);
    huge.mutable_node()->set_build_version(std::string(100 * 1024, 'x'));
    auto status = refusedWith(huge);
    QCOMPARE(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    QVERIFY2(status.error_message().find("the limit is 64 KiB") != std::string::npos,
             status.error_message().c_str());
    v1::DiscoveryRequest long_name;
    *long_name.mutable_node() = testing::makeNode("long-v1-0", std::string(300, 's'), "v1", 20101);
    status = refusedWith(long_name);
    QCOMPARE(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY2(status.error_message().find("node.service is 300 bytes long") != std::string::npos,
             status.error_message().c_str());
    QCOMPARE(cp_->counters().bad_discovery_requests, bad_before + 2);

    // An ACK naming a nonce never sent is ignored and counted; a flood closes the stream.
    grpc::ClientContext ctx;
    auto stream = discovery_->Stream(&ctx);
    v1::DiscoveryRequest hello;
    *hello.mutable_node() = testing::makeNode("noisy-v1-0", "noisy", "v1", 20102);
    QVERIFY(stream->Write(hello));
    v1::DiscoveryRequest unknown;
    unknown.set_response_nonce("no-such-nonce");
    QVERIFY(stream->Write(unknown));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (cp_->counters().answers_ignored == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    QVERIFY(cp_->counters().answers_ignored >= 1);
    for (int i = 0; i < 400 && stream->Write(unknown); ++i) {
    }
    stream->WritesDone();
    v1::DiscoveryResponse response;
    while (stream->Read(&response)) {
    }
    status = stream->Finish();
    QCOMPARE(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    QVERIFY2(status.error_message().find("discovery requests in one second") != std::string::npos,
             status.error_message().c_str());
  }

  // Each bad shape on the telemetry stream is refused whole, acknowledged as rejected and
  // counted; the stream stays usable.
  void telemetryRefusesBadReportsAndCountsThem() {
    FakeReporterHolder reporter(telemetry_.get());
    auto edge = [](v1::TelemetryReport* r, const std::string& destination) {
      auto* e = r->add_edges();
      e->mutable_key()->set_source_service("a");
      e->mutable_key()->set_destination_service(destination);
      e->set_side(v1::CLIENT);
      e->set_requests(1);
    };
    v1::ReportAck ack;
    v1::TelemetryReport anonymous;  // telemetry before the proxy names itself
    edge(&anonymous, "b");
    QVERIFY(reporter->send(anonymous, &ack));
    QCOMPARE(ack.rejected_edges(), 1u);
    QCOMPARE(cp_->counters().reports_refused, uint64_t{1});

    v1::TelemetryReport many;
    many.set_proxy_id("a-v1-0");
    for (int i = 0; i < 2049; ++i) edge(&many, "b");
    QVERIFY(reporter->send(many, &ack));
    QCOMPARE(ack.rejected_edges(), 2049u);
    QCOMPARE(cp_->counters().reports_refused, uint64_t{2});

    v1::TelemetryReport other;  // another proxy's id on this stream
    other.set_proxy_id("z-v1-0");
    edge(&other, "b");
    QVERIFY(reporter->send(other, &ack));
    QCOMPARE(ack.rejected_edges(), 1u);

    v1::TelemetryReport labels;  // one edge with an over-long label, one good
    labels.set_proxy_id("a-v1-0");
    edge(&labels, std::string(300, 'd'));
    edge(&labels, "b");
    QVERIFY(reporter->send(labels, &ack));
    QCOMPARE(ack.rejected_edges(), 1u);

    // More than 20 reports a second beyond a burst of 60: the rest are refused.
    v1::TelemetryReport ok;
    ok.set_proxy_id("a-v1-0");
    edge(&ok, "b");
    uint32_t refused = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; ++i) {
      QVERIFY(reporter->send(ok, &ack));
      refused += ack.rejected_edges();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // At most the burst plus 20 a second pass; the sends on loopback take well under 5 s.
    QVERIFY2(seconds < 5, std::to_string(seconds).c_str());
    const auto passed_at_most = uint32_t(60 + 20 * seconds + 1);
    QVERIFY2(refused >= 200 - passed_at_most,
             (std::to_string(refused) + " refused in " + std::to_string(seconds) + " s").c_str());
    QVERIFY(refused > 0);
    QVERIFY(cp_->counters().reports_refused >= 3 + refused);
  }

  void disconnectedProxyLeavesEndpoints() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000);
    add("reviews-v1-0", "reviews", "v1", 20010);
    QVERIFY(page->waitFor(
        [](const auto& r) {
          const auto* c = findCluster(r.config(), "reviews");
          return c && c->endpoints_size() == 1;
        },
        5s));
    proxies_.back()->stop();
    QVERIFY(page->waitFor(
        [](const auto& r) {
          const auto* c = findCluster(r.config(), "reviews");
          return c && c->endpoints_size() == 0;
        },
        5s));
    QVERIFY(waitForSnapshot(*cp_, [](const auto& g) {
      const auto* p = proxy(g, "reviews-v1-0");
      return p && p->state == cp::SyncState::kDisconnected;
    }));
  }

  // Proxies joining one after another (each waits for its first config before the next
  // connects, so no two arrivals share a push) reach a proxy already configured coalesced:
  // fewer configs than arrivals, where one push per arrival gave it one config each. Every
  // newcomer still gets its config, and the configured proxy ends with every endpoint.
  void joiningProxiesReachConfiguredOnesCoalesced() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000);
    QVERIFY(page->waitForResponses(1, 5s));
    const uint64_t before = page->responses();
    constexpr int kJoining = 100;
    for (int i = 0; i < kJoining; ++i) {
      auto* r = add(fmt::format("reviews-v1-{}", i), "reviews", "v1", 21000 + 10 * uint32_t(i));
      QVERIFY2(r->waitForResponses(1, 5s), fmt::format("reviews-v1-{}: no config", i).c_str());
    }
    QVERIFY(page->waitFor(
        [](const auto& r) {
          const auto* c = findCluster(r.config(), "reviews");
          return c && c->endpoints_size() == kJoining;
        },
        10s));
    const uint64_t received = page->responses() - before;
    QVERIFY2(received < uint64_t(kJoining),
             fmt::format("{} configs for {} arrivals", received, kJoining).c_str());
  }

  void telemetryBecomesEdgeMetrics() {
    add("productpage-v1-0", "productpage", "v1", 20000);
    // Report only once the proxy is registered, as a real proxy's first report follows its
    // discovery handshake; otherwise the report may race the registration.
    QVERIFY(waitForSnapshot(*cp_,
                            [](const auto& g) { return proxy(g, "productpage-v1-0") != nullptr; }));
    FakeReporterHolder reporter(telemetry_.get());
    v1::TelemetryReport report;
    report.set_proxy_id("productpage-v1-0");
    report.set_sequence(1);
    report.set_interval_ms(1000);
    common::LatencyHistogram h;
    for (int i = 0; i < 90; ++i) h.record(2'000'000);   // 2 ms
    for (int i = 0; i < 10; ++i) h.record(40'000'000);  // 40 ms
    for (const auto& [version, n] : {std::pair{"v1", 90}, std::pair{"v2", 10}}) {
      auto* e = report.add_edges();
      e->mutable_key()->set_source_service("productpage");
      e->mutable_key()->set_destination_service("reviews");
      e->mutable_key()->set_destination_version(version);
      e->set_side(v1::CLIENT);
      e->set_requests(static_cast<uint64_t>(n));
      (*e->mutable_responses_by_code())[200] = static_cast<uint64_t>(n - 1);
      (*e->mutable_responses_by_code())[503] = 1;
      if (std::string(version) == "v1") common::toProto(h, e->mutable_latency());
    }
    auto* server = report.add_edges();
    server->mutable_key()->set_source_service("productpage");
    server->mutable_key()->set_destination_service("reviews");
    server->set_side(v1::SERVER);
    server->set_requests(100);
    (*server->mutable_responses_by_code())[200] = 100;
    auto* bad = report.add_edges();
    *bad = report.edges(0);
    bad->mutable_latency()->set_layout(99);  // a layout we do not know: refused, counted
    v1::ReportAck ack;
    QVERIFY(reporter->send(report, &ack));
    QCOMPARE(ack.sequence(), 1u);
    QCOMPARE(ack.rejected_edges(), 1u);
    QCOMPARE(cp_->counters().edges_rejected, 1u);
    QCOMPARE(cp_->counters().edges_accepted, 3u);

    QVERIFY(waitForSnapshot(*cp_, [](const auto& g) { return !g.edges.empty(); }));
    const auto g = cp_->snapshot();
    QCOMPARE(g->edges.size(), size_t(1));
    const auto& e = g->edges[0];
    QCOMPARE(e.source, std::string("productpage"));
    QCOMPARE(e.destination, std::string("reviews"));
    QCOMPARE(e.metrics.requests, 100u);
    QCOMPARE(e.metrics.requests_per_second, 100.0 / g->window_seconds);
    QCOMPARE(e.metrics.responses_by_class[4], 2u);
    QCOMPARE(e.metrics.success_rate, 0.98);
    QVERIFY(std::abs(e.metrics.p50_ms - 2.0) < 0.02);
    QVERIFY(std::abs(e.metrics.p99_ms - 40.0) < 0.4);
    QCOMPARE(e.requests_by_destination_version.at("v1"), 90u);
    QCOMPARE(e.requests_by_destination_version.at("v2"), 10u);
    const auto* node = [&]() -> const cp::ServiceNode* {
      for (const auto& s : g->services)
        if (s.name == "reviews") return &s;
      return nullptr;
    }();
    QVERIFY(node);
    QCOMPARE(node->inbound.requests, 100u);
    const auto* p = proxy(*g, "productpage-v1-0");
    QVERIFY(p && p->last_report.has_value());
    // The history has the second just reported.
    const auto hist = cp_->edgeHistory("productpage", "reviews", 60);
    QCOMPARE(hist.size(), size_t(1));
    QCOMPARE(hist[0].requests_per_second, 100.0);
    // Mesh.GetGraph computes the snapshot over the window the client asks for (meshdeckctl -w).
    auto mesh = v1::Mesh::NewStub(channel_);
    for (const uint32_t window : {2u, 30u}) {
      grpc::ClientContext ctx;
      v1::GetGraphRequest req;
      req.set_window_seconds(window);
      v1::GraphSnapshot out;
      QVERIFY(mesh->GetGraph(&ctx, req, &out).ok());
      QCOMPARE(out.window_seconds(), window);
      QCOMPARE(out.edges_size(), 1);
      QCOMPARE(out.edges(0).metrics().requests_per_second(), 100.0 / window);
    }
    // The snapshot export carries it too.
    const std::string json = cp_->exportSnapshotJson(60);
    QVERIFY(json.find("\"format\":\"meshdeck-snapshot\"") != std::string::npos);
    QVERIFY(json.find("\"destination\":\"reviews\"") != std::string::npos);
    // ... and the edge's history, so a reopened file draws its charts (docs/snapshot-format.md).
    const auto doc = boost::json::parse(json).as_object();
    QVERIFY(doc.contains("edge_history"));
    const auto& history = doc.at("edge_history").as_array();
    QCOMPARE(history.size(), size_t(1));
    QVERIFY(history[0].at("source").as_string() == "productpage");
    const auto& samples = history[0].at("samples").as_array();
    QCOMPARE(samples.size(), size_t(1));
    QCOMPARE(samples[0].at("requests_per_second").as_double(), 100.0);
  }

 private:
  struct FakeReporterHolder {
    explicit FakeReporterHolder(v1::TelemetryIngest::Stub* stub)
        : r(std::make_unique<testing::FakeReporter>(stub)) {}
    testing::FakeReporter* operator->() { return r.get(); }
    std::unique_ptr<testing::FakeReporter> r;
  };

  testing::FakeProxy* add(const std::string& id, const std::string& service,
                          const std::string& version, uint32_t port,
                          testing::FakeProxy::Reject reject = {}) {
    proxies_.push_back(std::make_unique<testing::FakeProxy>(
        discovery_.get(), testing::makeNode(id, service, version, port), std::move(reject)));
    return proxies_.back().get();
  }

  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<cp::InProcessControlPlane> cp_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ConfigDiscovery::Stub> discovery_;
  std::unique_ptr<v1::TelemetryIngest::Stub> telemetry_;
  std::vector<std::unique_ptr<testing::FakeProxy>> proxies_;
};

QTEST_GUILESS_MAIN(ControlPlanePushTest)
#include "control_plane_push_test.moc"
