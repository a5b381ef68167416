// Incremental shared resources on the control plane's discovery stream (docs/cp-scale.md):
// simulated proxies that take increments against one that takes whole configs, through the real
// gRPC server. What a proxy runs must always be what a whole config would have given it; the
// control plane's view of what each proxy holds survives pushes racing with reconnects, NACKs,
// and answers that lie about what the proxy holds.
#include <fmt/format.h>

#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <set>
#include <thread>

#include "common/shared_resources.h"
#include "controlplane/in_process_control_plane.h"
#include "integration/controlplane/discovery_fixture.h"
#include "integration/controlplane/proxy_config_lookup.h"
#include "support/policy_fixtures.h"

using namespace meshdeck;
using namespace std::chrono_literals;

namespace {

using testing::eventually;
using testing::findCluster;
using testing::findHost;
const char* const kFault = testing::kReviewsFault;

bool hasFault(const v1::ProxyConfig& c) {
  const auto* vh = findHost(c, "reviews");
  return vh && vh->routes_size() > 0 && vh->routes(0).has_fault();
}

bool hasCanary(const v1::ProxyConfig& c, int v2_weight = 10) {
  const auto* vh = findHost(c, "reviews");
  return vh && vh->routes_size() > 0 && vh->routes(0).destinations_size() == 2 &&
         vh->routes(0).destinations(1).weight() == uint32_t(v2_weight);
}

// The proxy ids behind a cluster (empty when there is no such cluster).
std::set<std::string> endpointIds(const v1::ProxyConfig& c, const std::string& cluster) {
  std::set<std::string> ids;
  if (const auto* cl = findCluster(c, cluster))
    for (const auto& e : cl->endpoints()) ids.insert(e.proxy_id());
  return ids;
}

// The part every proxy shares, comparable across proxies: the "outbound" route table and every
// cluster but the proxy's own, in name order.
std::string sharedPart(const v1::ProxyConfig& c) {
  v1::ProxyConfig shared;
  for (const auto& rt : c.route_tables())
    if (rt.name() == "outbound") *shared.add_route_tables() = rt;
  std::vector<v1::Cluster> clusters;
  for (const auto& cl : c.clusters())
    if (cl.name() != "inbound|local") clusters.push_back(cl);
  std::sort(clusters.begin(), clusters.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  for (auto& cl : clusters) *shared.add_clusters() = std::move(cl);
  std::string out;
  shared.SerializeToString(&out);
  return out;
}

std::vector<std::string> names(const v1::SharedResourcesDelta& d) {
  std::vector<std::string> out;
  for (const auto& r : d.resources()) out.push_back(r.name());
  return out;
}

}  // namespace

class IncrementalDiscoveryTest : public QObject, private testing::DiscoveryFixture {
  Q_OBJECT

 private slots:
  void init() {
    std::string error;
    QVERIFY2(start(&error), error.c_str());
  }
  void cleanup() { stop(); }

  // A policy change that only touches routes sends incremental proxies that one virtual host;
  // what they run equals what the whole-config proxy runs.
  void routeChangeSendsOnlyTheChangedHost() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000);
    add("reviews-v1-0", "reviews", "v1", 20010);
    add("reviews-v2-0", "reviews", "v2", 20020);
    add("ratings-v1-0", "ratings", "v1", 20030);
    auto* whole = add("ref-v1-0", "ref", "v1", 20040, false);
    QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews"), "canary.yaml", "test",
                               false)
                .ok);
    QVERIFY(converged());
    QVERIFY(page->incrementalResponses() >= 1);
    QCOMPARE(page->wholeResponses(), uint64_t(0));
    QCOMPARE(whole->incrementalResponses(), uint64_t(0));
    QVERIFY(hasCanary(page->applied()));

    const auto before = page->responses();
    QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews", 30), "canary.yaml",
                               "test", false)
                .ok);
    QVERIFY(eventually([&] { return hasCanary(page->applied(), 30); }));
    QVERIFY(converged());
    QVERIFY(page->responses() > before);
    const auto d = page->lastShared();
    QVERIFY(!d.complete());
    QCOMPARE(names(d), std::vector<std::string>{"route/reviews"});
    QCOMPARE(d.removed_size(), 0);
    QVERIFY(hasCanary(page->applied(), 30));
    QCOMPARE(cp_->counters().incremental_fallbacks, uint64_t(0));
  }

  // Endpoints of one service come and go: only that service's clusters travel, a subset that
  // loses its last endpoint is removed by name.
  void endpointAddedAndRemovedForOneService() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000);
    add("reviews-v1-0", "reviews", "v1", 20010);
    add("ratings-v1-0", "ratings", "v1", 20030);
    add("ref-v1-0", "ref", "v1", 20040, false);
    QVERIFY(converged());
    auto* v3 = add("reviews-v3-0", "reviews", "v3", 20050);
    QVERIFY(eventually([&] { return endpointIds(page->applied(), "reviews").size() == 2; }));
    QVERIFY(converged());
    QCOMPARE(endpointIds(page->applied(), "reviews"),
             (std::set<std::string>{"reviews-v1-0", "reviews-v3-0"}));
    auto d = page->lastShared();
    QCOMPARE(names(d), (std::vector<std::string>{"cluster/reviews", "cluster/reviews|v3"}));
    QCOMPARE(d.removed_size(), 0);

    v3->stop();
    proxies_.erase(std::find_if(proxies_.begin(), proxies_.end(),
                                [&](const auto& p) { return p.get() == v3; }));
    QVERIFY(eventually([&] { return endpointIds(page->applied(), "reviews").size() == 1; }));
    QVERIFY(converged());
    QCOMPARE(endpointIds(page->applied(), "reviews"), std::set<std::string>{"reviews-v1-0"});
    QVERIFY(!findCluster(page->applied(), "reviews|v3"));
    d = page->lastShared();
    QCOMPARE(names(d), std::vector<std::string>{"cluster/reviews"});
    QCOMPARE(std::vector<std::string>(d.removed().begin(), d.removed().end()),
             std::vector<std::string>{"cluster/reviews|v3"});
    QCOMPARE(cp_->counters().incremental_fallbacks, uint64_t(0));
  }

  // Policy changes pushed while proxies drop and reconnect (same ids, new streams), without
  // waiting in between: once things settle, every proxy runs every connected endpoint and the
  // same shared part as the whole-config proxy. A wrong view would show as a missing endpoint.
  void pushesRaceWithReconnects() {
    constexpr int kServices = 4, kPerService = 3;
    auto id = [](int s, int i) { return fmt::format("s{}-{}", s, i); };
    auto start = [&](int s, int i) {
      return add(id(s, i), fmt::format("s{}", s), i % 2 ? "v2" : "v1",
                 21000 + uint32_t(100 * s + 10 * i));
    };
    std::map<std::string, testing::FakeProxy*> live;
    for (int s = 0; s < kServices; ++s)
      for (int i = 0; i < kPerService; ++i) live[id(s, i)] = start(s, i);
    add("ref-v1-0", "ref", "v1", 20040, false);
    QVERIFY(converged());
    for (int round = 0; round < 40; ++round) {
      QVERIFY(cp_->applyPolicies(testing::canaryPolicies("s0", "s0", 1 + round % 90), "canary.yaml",
                                 "test", false)
                  .ok);
      const int s = round % kServices, i = (round / kServices) % kPerService;
      const std::string victim = id(s, i);
      if (live.count(victim)) {
        remove(live[victim]);
        live.erase(victim);
      }
      // Every other round it comes back at once (a reconnect), otherwise on its next turn.
      if (round % 2 == 0) live[victim] = start(s, i);
      if (round % 7 == 0 && round > 0) {
        // A proxy that is gone for now comes back.
        for (int t = 0; t < kServices * kPerService; ++t) {
          const std::string back = id(t / kPerService, t % kPerService);
          if (!live.count(back)) {
            live[back] = start(t / kPerService, t % kPerService);
            break;
          }
        }
      }
    }
    // Every proxy ends with every live endpoint (bounded wait: pushes may still be on the way).
    auto expected = [&](int s) {
      std::set<std::string> ids;
      for (const auto& [other, q] : live)
        if (other.rfind(fmt::format("s{}-", s), 0) == 0) ids.insert(other);
      return ids;
    };
    auto right = [&] {
      for (const auto& [name, p] : live)
        for (int s = 0; s < kServices; ++s)
          if (endpointIds(p->applied(), fmt::format("s{}", s)) != expected(s)) return false;
      return true;
    };
    QVERIFY(eventually(right));
    QVERIFY(converged());
    for (const auto& [name, p] : live) {
      for (int s = 0; s < kServices; ++s)
        QCOMPARE(endpointIds(p->applied(), fmt::format("s{}", s)), expected(s));
      QCOMPARE(p->held().digest(), p->lastShared().digest());
    }
    QCOMPARE(cp_->counters().incremental_fallbacks, uint64_t(0));
  }

  // Responses outrun the answers: the proxy applies a route change (B) and the change back (C)
  // before the control plane hears of either. C is the same as what it ACKed (A) but not as B,
  // which it runs: the delta to C must carry the route again, or the proxy would keep B's.
  void responsesOutrunAnswers() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000);
    add("reviews-v1-0", "reviews", "v1", 20010);
    add("reviews-v2-0", "reviews", "v2", 20020);
    add("ref-v1-0", "ref", "v1", 20040, false);
    QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews", 10), "canary.yaml",
                               "test", false)
                .ok);
    QVERIFY(eventually([&] { return hasCanary(page->applied(), 10); }));
    QVERIFY(converged());
    page->holdAnswers();
    QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews", 20), "canary.yaml",
                               "test", false)
                .ok);
    QVERIFY(eventually([&] { return hasCanary(page->applied(), 20); }));
    add("reviews-v1-1", "reviews", "v1", 20060);  // and a membership change meanwhile
    QVERIFY(eventually([&] { return endpointIds(page->applied(), "reviews").size() == 3; }));
    QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews", 10), "canary.yaml",
                               "test", false)
                .ok);
    QVERIFY(eventually([&] { return hasCanary(page->applied(), 10); }));
    const auto d = page->lastShared();
    QVERIFY(std::any_of(d.resources().begin(), d.resources().end(),
                        [](const auto& r) { return r.name() == "route/reviews"; }));
    page->releaseAnswers();
    QVERIFY(converged());
    QVERIFY(hasCanary(page->applied(), 10));
    QCOMPARE(endpointIds(page->applied(), "reviews"),
             (std::set<std::string>{"reviews-v1-0", "reviews-v1-1", "reviews-v2-0"}));
    QCOMPARE(cp_->counters().incremental_fallbacks, uint64_t(0));
  }

  // A proxy that NACKs keeps its last good config; pushes meanwhile (an endpoint joining) are
  // built against both what it ACKed and what it refused, and once it accepts again it runs
  // exactly the whole config.
  void nackKeepsLastGoodConfigAndCatchesUp() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000);
    page->setReject([](const v1::ProxyConfig& c) -> std::optional<std::string> {
      if (hasFault(c)) return "fault injection unsupported";
      return std::nullopt;
    });
    add("reviews-v1-0", "reviews", "v1", 20010);
    add("reviews-v2-0", "reviews", "v2", 20020);
    add("ref-v1-0", "ref", "v1", 20040, false);
    QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews"), "canary.yaml", "test",
                               false)
                .ok);
    QVERIFY(converged());
    const auto good = page->applied();
    const auto good_digest = page->held().digest();
    QVERIFY(cp_->applyPolicies(kFault, "fault.yaml", "test", false).ok);
    QVERIFY(
        eventually([&] { return proxy("productpage-v1-0").state == cp::SyncState::kRejected; }));
    QCOMPARE(sharedPart(page->applied()), sharedPart(good));
    QCOMPARE(page->held().digest(), good_digest);
    // An endpoint joins while it still refuses the fault.
    const auto answered = page->responses();
    add("reviews-v1-1", "reviews", "v1", 20060);
    QVERIFY(eventually([&] { return page->responses() > answered; }));
    QVERIFY(
        eventually([&] { return proxy("productpage-v1-0").state == cp::SyncState::kRejected; }));
    QCOMPARE(endpointIds(page->applied(), "reviews"),
             (std::set<std::string>{"reviews-v1-0", "reviews-v2-0"}));
    // Back to a config it accepts.
    QVERIFY(cp_->revertToRevision(1, "test").ok);
    QVERIFY(converged());
    QVERIFY(hasCanary(page->applied()));
    QCOMPARE(endpointIds(page->applied(), "reviews"),
             (std::set<std::string>{"reviews-v1-0", "reviews-v1-1", "reviews-v2-0"}));
    QCOMPARE(cp_->counters().incremental_fallbacks, uint64_t(0));
  }

  // Node.app_protocol reaches the compiled config: a sidecar declaring gRPC gets a gRPC
  // inbound|local cluster; an unknown enum value counts as not declared.
  void appProtocolSetsTheLocalCluster() {
    add("productpage-v1-0", "productpage", "v1", 20000);
    QVERIFY(converged());
    for (const auto& [declared, expected] :
         {std::pair{static_cast<int>(v1::Cluster::GRPC), v1::Cluster::GRPC},
          std::pair{77, v1::Cluster::PROTOCOL_UNSPECIFIED}}) {
      grpc::ClientContext ctx;
      auto stream = discovery_->Stream(&ctx);
      v1::DiscoveryRequest hello;
      *hello.mutable_node() =
          testing::makeNode(fmt::format("payments-{}", declared), "payments", "v1", 20080, true);
      hello.mutable_node()->set_app_protocol(static_cast<v1::Cluster::Protocol>(declared));
      v1::DiscoveryResponse first;
      QVERIFY(stream->Write(hello) && stream->Read(&first));
      const auto* local = findCluster(first.config(), "inbound|local");
      QVERIFY(local != nullptr);
      QCOMPARE(local->protocol(), expected);
      ctx.TryCancel();
    }
  }

  // Answers naming shared resources the proxy was never sent (a digest of another state, a huge
  // one, one that is not text) cannot make the control plane skip anything: the stream drops
  // its view and gets whole configs; an answer to a nonce never sent is ignored; honest proxies
  // keep their increments.
  void hostileAnswersCannotCorruptTheView() {
    auto* page = add("productpage-v1-0", "productpage", "v1", 20000);
    add("reviews-v1-0", "reviews", "v1", 20010);
    auto* whole = add("ref-v1-0", "ref", "v1", 20040, false);
    QVERIFY(converged());

    // A raw stream: read the complete first response, then answer it.
    struct Raw {
      grpc::ClientContext ctx;
      std::unique_ptr<grpc::ClientReaderWriter<v1::DiscoveryRequest, v1::DiscoveryResponse>> s;
      v1::DiscoveryResponse first;
    };
    auto open = [&](const std::string& id, Raw* raw) {
      raw->s = discovery_->Stream(&raw->ctx);
      v1::DiscoveryRequest hello;
      *hello.mutable_node() = testing::makeNode(id, "liar", "v1", 20070, true);
      return raw->s->Write(hello) && raw->s->Read(&raw->first) && raw->first.has_shared() &&
             raw->first.shared().complete();
    };
    auto answer = [](Raw* raw, const std::string& nonce, const std::string& digest) {
      v1::DiscoveryRequest ack;
      ack.set_version_info(raw->first.version_info());
      ack.set_response_nonce(nonce);
      ack.set_shared_digest(digest);
      return raw->s->Write(ack);
    };
    const uint64_t ignored0 = cp_->counters().answers_ignored;

    // A nonce never sent, with the right digest: ignored, the view stays.
    Raw stale;
    QVERIFY(open("liar-0", &stale));
    QVERIFY(answer(&stale, "ffffffffff", stale.first.shared().digest()));
    QVERIFY(eventually([&] { return cp_->counters().answers_ignored > ignored0; }));
    QCOMPARE(cp_->counters().incremental_fallbacks, uint64_t(0));

    // The right nonce and the digest of nothing, of a made-up state, or 60,000 characters: a
    // whole config follows at once, with every endpoint, and no increments after it.
    int n = 0;
    for (const std::string& digest : {common::SharedResourceSet().digest(),
                                      std::string("0123456789abcdef"), std::string(60'000, 'z')}) {
      Raw liar;
      const std::string id = fmt::format("liar-{}", ++n);
      QVERIFY(open(id, &liar));
      QVERIFY(answer(&liar, liar.first.nonce(), digest));
      v1::DiscoveryResponse next;
      QVERIFY(liar.s->Read(&next));
      QVERIFY(!next.has_shared());
      QCOMPARE(endpointIds(next.config(), "reviews"), std::set<std::string>{"reviews-v1-0"});
      QVERIFY(findCluster(next.config(), "inbound|local"));
      QCOMPARE(cp_->counters().incremental_fallbacks, uint64_t(n));
      // Acknowledged properly, it is synced; later pushes stay whole.
      auto ack = [&](const v1::DiscoveryResponse& r) {
        v1::DiscoveryRequest a;
        a.set_version_info(r.version_info());
        a.set_response_nonce(r.nonce());
        a.set_shared_digest(digest);
        return liar.s->Write(a);
      };
      QVERIFY(ack(next));
      QVERIFY(eventually([&] { return proxy(id).state == cp::SyncState::kSynced; }));
      QVERIFY(cp_->applyPolicies(testing::canaryPolicies("reviews", "reviews", 10 + n),
                                 "canary.yaml", "test", false)
                  .ok);
      // Membership pushes (the previous liar leaving) may come first.
      for (int reads = 0; reads < 10; ++reads) {
        QVERIFY(liar.s->Read(&next));
        QVERIFY(!next.has_shared());
        QVERIFY(ack(next));
        if (hasCanary(next.config(), 10 + n)) break;
      }
      QVERIFY(hasCanary(next.config(), 10 + n));
      QVERIFY(eventually([&] { return hasCanary(page->applied(), 10 + n); }));
      QVERIFY(eventually(
          [&] { return sharedPart(whole->last().config()) == sharedPart(page->applied()); }));
      QCOMPARE(endpointIds(next.config(), "reviews"), std::set<std::string>{"reviews-v1-0"});
      liar.ctx.TryCancel();
      v1::DiscoveryResponse drain;
      while (liar.s->Read(&drain)) {
      }
      (void)liar.s->Finish();
    }
    // Not text at all: the request does not parse; the stream is refused, nothing else changes.
    Raw binary;
    QVERIFY(open("liar-binary", &binary));
    QVERIFY(answer(&binary, binary.first.nonce(), std::string("\xff\xfe\x00\x80", 4)));
    v1::DiscoveryResponse drain;
    while (binary.s->Read(&drain)) {
    }
    QCOMPARE(binary.s->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QCOMPARE(cp_->counters().incremental_fallbacks, uint64_t(3));
    stale.ctx.TryCancel();
    while (stale.s->Read(&drain)) {
    }
    (void)stale.s->Finish();

    // The honest proxy took the last changes as increments and matches the whole-config one.
    QVERIFY(converged());
    QCOMPARE(page->wholeResponses(), uint64_t(0));
    QVERIFY(!page->lastShared().complete());
    QCOMPARE(sharedPart(page->applied()), sharedPart(whole->last().config()));
  }

 private:
  cp::ProxyInfo proxy(const std::string& id) {
    for (const auto& p : cp_->snapshot()->proxies)
      if (p.proxy_id == id) return p;
    return {};
  }
  // Every fake proxy synced on the control plane's latest config for it, and every incremental
  // one running the same shared part as the whole-config proxies.
  bool converged() {
    const bool ok = eventually([&] {
      const auto by_id = records();
      std::string reference;
      for (const auto& f : proxies_) {
        if (f->incrementalResponses() > 0 || f->responses() == 0) continue;
        reference = sharedPart(f->last().config());
      }
      for (const auto& f : proxies_) {
        if (!ackedLast(by_id, *f)) return false;
        if (f->incrementalResponses() > 0 && !reference.empty() &&
            sharedPart(f->applied()) != reference)
          return false;
      }
      return true;
    });
    if (!ok) {
      for (const auto& p : cp_->snapshot()->proxies)
        qWarning("%s: state %d, sent %s, acked %s", p.proxy_id.c_str(), int(p.state),
                 p.version_sent.c_str(), p.version_acked.c_str());
    }
    return ok;
  }
};

QTEST_GUILESS_MAIN(IncrementalDiscoveryTest)
#include "incremental_discovery_test.moc"
