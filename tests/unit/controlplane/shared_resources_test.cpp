// The control plane's shared resources and deltas (controlplane/compiler/shared_resources.h)
// against the proxy's side (common/shared_resources.h): what a delta carries, and that applying
// it to any state the control plane allows for gives exactly the target.
#include "controlplane/compiler/shared_resources.h"

#include <QtTest>
#include <algorithm>

#include "common/shared_resources.h"
#include "controlplane/compiler/config_compiler.h"
#include "controlplane/policy/policy_parser.h"

using namespace meshdeck::cp;
using meshdeck::common::LocatedError;
using meshdeck::common::SharedResourceSet;
namespace v1 = meshdeck::v1;

namespace {

ProxyNode node(const std::string& id, const std::string& svc, const std::string& ver,
               uint32_t port) {
  ProxyNode n;
  n.proxy_id = id;
  n.service = svc;
  n.version = ver;
  n.inbound_port = port;
  n.app_port = port + 1;
  n.outbound_port = port + 2;
  return n;
}

std::shared_ptr<PolicySet> policies(const std::string& yaml) {
  std::vector<LocatedError> errors;
  auto set = std::make_shared<PolicySet>();
  set->revision = 1;
  set->policies = parsePolicies(yaml, "t.yaml", &errors);
  if (!errors.empty()) qFatal("%s", errors[0].toString().c_str());
  return set;
}

std::string route(int weight) {
  return "apiVersion: meshdeck.io/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: reviews}\n"
         "spec:\n  host: reviews\n  subsets:\n  - {name: v1, labels: {version: v1}}\n"
         "  - {name: v2, labels: {version: v2}}\n---\n"
         "apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: canary}\n"
         "spec:\n  host: reviews\n  http:\n  - route:\n"
         "    - {destination: {host: reviews, subset: v1}, weight: " +
         std::to_string(100 - weight) +
         "}\n"
         "    - {destination: {host: reviews, subset: v2}, weight: " +
         std::to_string(weight) + "}\n";
}

MeshState mesh(std::vector<ProxyNode> proxies, int weight = 10) {
  MeshState s;
  s.proxies = std::move(proxies);
  s.services = {"productpage", "reviews", "ratings"};
  s.policies = policies(route(weight));
  return s;
}

std::vector<ProxyNode> base() {
  return {node("page-0", "productpage", "v1", 100), node("rev-1", "reviews", "v1", 200),
          node("rev-2", "reviews", "v2", 300), node("rat-1", "ratings", "v1", 400)};
}

v1::SharedResourcesDelta parse(const std::string& bytes) {
  v1::SharedResourcesDelta d;
  if (!d.ParseFromString(bytes)) qFatal("delta does not parse");
  return d;
}

std::vector<std::string> names(const v1::SharedResourcesDelta& d) {
  std::vector<std::string> out;
  for (const auto& r : d.resources()) out.push_back(r.name());
  return out;
}
std::vector<std::string> removed(const v1::SharedResourcesDelta& d) {
  return {d.removed().begin(), d.removed().end()};
}

// A config with its clusters in name order, serialized deterministically: the assembled config
// and the compiled one differ only in that order.
std::string canonical(v1::ProxyConfig c) {
  auto* clusters = c.mutable_clusters();
  std::sort(clusters->begin(), clusters->end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  std::string out;
  c.SerializeToString(&out);
  return out;
}

// What a proxy holding `held` runs after `delta`; fails the test when the delta is refused.
SharedResourceSet applied(const SharedResourceSet& held, const std::string& delta) {
  SharedResourceSet next;
  std::string error;
  if (!held.apply(parse(delta), &next, &error)) qFatal("delta refused: %s", error.c_str());
  return next;
}

SharedResourceSet holding(const SharedResources& r) {
  return applied({}, encodeSharedDelta(r, {}));
}

// The proxy's local part (as the push sends it) plus `held`, as meshdeck-proxy assembles it.
v1::ProxyConfig assembled(const ConfigCompiler& c, const ProxyNode& self,
                          const SharedResourceSet& held) {
  v1::ProxyConfig config;
  if (!config.ParseFromString(c.compileLocalBytes(self).bytes)) qFatal("local part");
  held.appendTo(&config);
  return config;
}

}  // namespace

class SharedResourcesTest : public QObject {
  Q_OBJECT

 private slots:
  void completeDeltaAssemblesTheCompiledConfig() {
    const auto state = mesh(base());
    const ConfigCompiler c(state);
    const auto& r = *c.sharedResources();
    // One resource per outbound virtual host and per cluster, by name, each with a version.
    QCOMPARE(r.entries.size(), size_t(3 + 2 + 3 + 2));  // 3 hosts; clusters: 2 + 3 + 2
    QVERIFY(std::is_sorted(r.entries.begin(), r.entries.end(),
                           [](const auto& a, const auto& b) { return a.name < b.name; }));
    QVERIFY(r.find("route/reviews"));
    QVERIFY(r.find("cluster/reviews|v2"));
    QVERIFY(!r.find("cluster/inbound|local"));  // the proxy's own part, never shared
    const auto d = parse(encodeSharedDelta(r, {}));
    QVERIFY(d.complete());
    QCOMPARE(d.resources_size(), int(r.entries.size()));
    QCOMPARE(d.digest(), r.digest);
    for (const auto& self : state.proxies) {
      const auto held = holding(r);
      QCOMPARE(held.digest(), r.digest);
      QCOMPARE(canonical(assembled(c, self, held)), canonical(c.compile(self)));
    }
  }

  // Scoping: a scope holds each service's route, every cluster of the service (not those of a
  // service whose name only starts with it), and the clusters its routes name; its digest is
  // that of exactly those entries, and a change outside it leaves the scoped version alone.
  void scopeHoldsItsServicesAndWhatTheirRoutesName() {
    auto state = mesh(base());
    state.proxies.push_back(node("rev-x", "reviews2", "v1", 500));  // "reviews" is its prefix
    state.services.insert("reviews2");
    const ConfigCompiler c(state);
    const auto& full = *c.sharedResources();
    QVERIFY(full.find("cluster/reviews2|v1"));
    const auto scoped = scopeSharedResources(full, {"reviews"});
    std::vector<std::string> got;
    for (const auto& e : scoped->entries) got.push_back(e.name);
    QCOMPARE(got, (std::vector<std::string>{"cluster/reviews", "cluster/reviews|v1",
                                            "cluster/reviews|v2", "route/reviews"}));
    for (const auto& e : scoped->entries) {
      QCOMPARE(e.version, full.find(e.name)->version);
      QCOMPARE(e.bytes.get(), full.find(e.name)->bytes.get());  // shared, not copied
    }
    const auto held = holding(*scoped);
    QCOMPARE(held.digest(), scoped->digest);
    QCOMPARE(held.size(), size_t(4));
    // Unknown services are skipped; an empty scope holds nothing.
    QCOMPARE(scopeSharedResources(full, {"nowhere"})->entries.size(), size_t(0));

    // A route naming another service's cluster (a mirror) brings that cluster, not its route.
    auto mirrored = state;
    mirrored.policies = policies(
        "apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: m}\n"
        "spec:\n  host: reviews\n  http:\n  - route:\n    - {destination: {host: reviews}}\n"
        "    mirror: {host: ratings, percentage: 5}\n");
    const ConfigCompiler m(mirrored);
    const auto with_mirror = scopeSharedResources(*m.sharedResources(), {"reviews"});
    QVERIFY(with_mirror->find("cluster/ratings"));
    QVERIFY(!with_mirror->find("route/ratings"));
    QVERIFY(!with_mirror->find("cluster/ratings|v1"));

    // Versions: ratings' endpoints change; the version of a proxy scoped to reviews does not,
    // that of a proxy with the whole mesh does.
    auto moved = state;
    moved.proxies.push_back(node("rat-2", "ratings", "v2", 600));
    const ConfigCompiler after(moved);
    const auto scoped_after = scopeSharedResources(*after.sharedResources(), {"reviews"});
    const auto& self = state.proxies[0];
    QCOMPARE(after.compileLocalBytes(self, scoped_after.get()).version,
             c.compileLocalBytes(self, scoped.get()).version);
    QVERIFY(after.compileLocalBytes(self).version != c.compileLocalBytes(self).version);
    // A change inside it does change it.
    auto grown = state;
    grown.proxies.push_back(node("rev-3", "reviews", "v3", 700));
    const ConfigCompiler g(grown);
    QVERIFY(g.compileLocalBytes(self, scopeSharedResources(*g.sharedResources(), {"reviews"}).get())
                .version != c.compileLocalBytes(self, scoped.get()).version);
  }

  void routeChangeSendsOnlyThatVirtualHost() {
    const ConfigCompiler before(mesh(base(), 10)), after(mesh(base(), 20));
    const auto delta =
        encodeSharedDelta(*after.sharedResources(), {before.sharedResources().get()});
    const auto d = parse(delta);
    QVERIFY(!d.complete());
    QCOMPARE(names(d), std::vector<std::string>{"route/reviews"});
    QVERIFY(removed(d).empty());
    const auto held = applied(holding(*before.sharedResources()), delta);
    QCOMPARE(held.digest(), after.sharedResources()->digest);
    QCOMPARE(canonical(assembled(after, base()[0], held)), canonical(after.compile(base()[0])));
    // Nothing changed: nothing sent, the same digest.
    const auto same =
        parse(encodeSharedDelta(*after.sharedResources(), {after.sharedResources().get()}));
    QCOMPARE(same.resources_size(), 0);
    QCOMPARE(same.removed_size(), 0);
    QCOMPARE(same.digest(), after.sharedResources()->digest);
  }

  void endpointAddedAndRemovedForOneService() {
    auto three = base();
    three.push_back(node("rev-3", "reviews", "v3", 500));
    const ConfigCompiler before(mesh(base())), added(mesh(three));
    // A reviews v3 endpoint: the reviews clusters that contain it change, reviews|v3 is new;
    // nothing of productpage or ratings is sent.
    const auto up = encodeSharedDelta(*added.sharedResources(), {before.sharedResources().get()});
    QCOMPARE(names(parse(up)), (std::vector<std::string>{"cluster/reviews", "cluster/reviews|v3"}));
    auto held = applied(holding(*before.sharedResources()), up);
    QCOMPARE(held.digest(), added.sharedResources()->digest);
    QCOMPARE(canonical(assembled(added, three[0], held)), canonical(added.compile(three[0])));
    // It leaves again: reviews changes back, reviews|v3 is removed by name.
    const auto down = encodeSharedDelta(*before.sharedResources(), {added.sharedResources().get()});
    QCOMPARE(names(parse(down)), std::vector<std::string>{"cluster/reviews"});
    QCOMPARE(removed(parse(down)), std::vector<std::string>{"cluster/reviews|v3"});
    held = applied(held, down);
    QCOMPARE(held.version("cluster/reviews|v3"), std::string());
    QCOMPARE(held.digest(), before.sharedResources()->digest);
    QCOMPARE(canonical(assembled(before, base()[0], held)), canonical(before.compile(base()[0])));
    // A whole service going: its host and clusters removed.
    auto no_ratings = base();
    no_ratings.pop_back();
    auto state = mesh(no_ratings);
    state.services.erase("ratings");
    const ConfigCompiler gone(state);
    const auto d =
        parse(encodeSharedDelta(*gone.sharedResources(), {before.sharedResources().get()}));
    QCOMPARE(removed(d),
             (std::vector<std::string>{"cluster/ratings", "cluster/ratings|v1", "route/ratings"}));
    QCOMPARE(d.resources_size(), 0);
  }

  // The control plane does not know which of the responses sent since the last ACK the proxy
  // applied (a NACK keeps the previous one): from every one of them, the delta must lead to the
  // target. Here the proxy may hold A (ACKed) or B (sent, maybe applied), and C is the target:
  // B added reviews v3 and changed the route, C drops v3 again and changes ratings.
  void deltaFromAnyPossibleStateReachesTheTarget() {
    auto with_v3 = base();
    with_v3.push_back(node("rev-3", "reviews", "v3", 500));
    auto moved = base();
    moved[3].inbound_port = 401;
    const ConfigCompiler a(mesh(base(), 10)), b(mesh(with_v3, 30)), c(mesh(moved, 10));
    const auto& ra = *a.sharedResources();
    const auto& rb = *b.sharedResources();
    const auto& rc = *c.sharedResources();
    const auto delta = encodeSharedDelta(rc, {&ra, &rb});
    const auto d = parse(delta);
    // route/reviews is the same in A and C but differs in B: sent. reviews|v3 only in B: removed.
    QCOMPARE(names(d), (std::vector<std::string>{"cluster/ratings", "cluster/ratings|v1",
                                                 "cluster/reviews", "route/reviews"}));
    QCOMPARE(removed(d), std::vector<std::string>{"cluster/reviews|v3"});
    for (const auto* from : {&ra, &rb}) {
      const auto held = applied(holding(*from), delta);
      QCOMPARE(held.digest(), rc.digest);
      QCOMPARE(canonical(assembled(c, moved[0], held)), canonical(c.compile(moved[0])));
    }
    // The delta from A alone would leave a proxy holding B with B's route and reviews|v3: the
    // digest check refuses it rather than run it.
    const auto from_a = parse(encodeSharedDelta(rc, {&ra}));
    SharedResourceSet next;
    std::string error;
    QVERIFY(!holding(rb).apply(from_a, &next, &error));
    QVERIFY2(error.find("digest") != std::string::npos, error.c_str());
  }

  // The proxy's side refuses what would leave it holding something else than the control plane
  // meant, and keeps what it had.
  void malformedDeltasAreRefused() {
    const ConfigCompiler c(mesh(base()));
    const auto held = holding(*c.sharedResources());
    const std::string digest = held.digest();
    const auto good = parse(encodeSharedDelta(*c.sharedResources(), {}));
    auto refused = [&](v1::SharedResourcesDelta d, const char* why) {
      SharedResourceSet next;
      std::string error;
      const bool ok = held.apply(d, &next, &error);
      if (ok || error.find(why) == std::string::npos)
        qWarning("expected a refusal with \"%s\", got %s \"%s\"", why, ok ? "success" : "",
                 error.c_str());
      return !ok && error.find(why) != std::string::npos;
    };
    auto wrong_digest = good;
    wrong_digest.set_digest("0123456789abcdef");
    QVERIFY(refused(wrong_digest, "digest"));
    auto garbage = good;
    garbage.set_digest(std::string(100'000, '\xff'));
    QVERIFY(refused(garbage, "digest"));
    auto twice = good;
    *twice.add_resources() = good.resources(0);
    QVERIFY(refused(twice, "twice"));
    auto added_and_removed = good;
    added_and_removed.add_removed(good.resources(0).name());
    QVERIFY(refused(added_and_removed, "twice"));
    auto misnamed = good;
    misnamed.mutable_resources(0)->set_name("cluster/somewhere-else");
    QVERIFY(refused(misnamed, "does not name its body"));
    auto bodiless = good;
    bodiless.mutable_resources(0)->clear_body();
    QVERIFY(refused(bodiless, "does not name its body"));
    auto unversioned = good;
    unversioned.mutable_resources(0)->clear_version();
    QVERIFY(refused(unversioned, "no version"));
    QCOMPARE(held.digest(), digest);
    // A name it does not hold may be removed (a superset of bases), and the digest still decides.
    v1::SharedResourcesDelta extra;
    extra.add_removed("cluster/never-held");
    extra.set_digest(digest);
    SharedResourceSet next;
    std::string error;
    QVERIFY2(held.apply(extra, &next, &error), error.c_str());
    QCOMPARE(next.digest(), digest);
  }

  void versionsFollowContentOnly() {
    const ConfigCompiler one(mesh(base())), two(mesh(base()));
    QCOMPARE(one.sharedResources()->digest, two.sharedResources()->digest);
    auto moved = base();
    moved[1].inbound_port = 201;
    const ConfigCompiler three(mesh(moved));
    const auto* before = one.sharedResources()->find("cluster/reviews|v1");
    const auto* after = three.sharedResources()->find("cluster/reviews|v1");
    QVERIFY(before->version != after->version);
    QCOMPARE(one.sharedResources()->find("cluster/reviews|v2")->version,
             three.sharedResources()->find("cluster/reviews|v2")->version);
    // The config version still follows the shared part.
    QVERIFY(one.version(base()[0]) != three.version(moved[0]));
    QCOMPARE(one.version(base()[0]), two.version(base()[0]));
  }
};

QTEST_GUILESS_MAIN(SharedResourcesTest)
#include "shared_resources_test.moc"
