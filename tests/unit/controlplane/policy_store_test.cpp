#include "controlplane/policy/policy_store.h"

#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/clock.h"

using namespace meshdeck::cp;
using namespace std::chrono_literals;

namespace {
const char* kDestination = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
)";
const char* kCanary = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: canary}
spec:
  host: reviews
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
)";
}  // namespace

class PolicyStoreTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    dir_ = std::make_unique<QTemporaryDir>();
    clock_ = std::make_unique<meshdeck::common::SimulatedTimeSource>();
  }

  void appliesAndRecordsRevisions() {
    PolicyStore store(dir(), *clock_);
    std::string error;
    QVERIFY(store.load(&error));
    int changes = 0;
    store.setOnChange([&](auto set) {
      ++changes;
      QVERIFY(set->revision > 0);
    });
    auto r1 = store.apply(kDestination, "d.yaml", "alice", false);
    QVERIFY(r1.ok);
    QCOMPARE(r1.revision, 1u);
    QCOMPARE(r1.summary, std::string("created DestinationPolicy/reviews"));
    clock_->advance(5s);
    auto r2 = store.apply(kCanary, "c.yaml", "bob", false);
    QCOMPARE(r2.revision, 2u);
    // The same file again changes nothing and makes no revision.
    auto again = store.apply(kCanary, "c.yaml", "bob", false);
    QVERIFY(again.ok);
    QCOMPARE(again.revision, 2u);
    QCOMPARE(again.summary, std::string("no change"));
    // A dry run reports what would happen and changes nothing.
    std::string updated = kCanary;
    updated.replace(updated.find("weight: 90"), 10, "weight: 50")
        .replace(updated.find("weight: 10"), 10, "weight: 50");
    auto dry = store.apply(updated, "c.yaml", "bob", true);
    QVERIFY(dry.ok);
    QCOMPARE(dry.revision, 3u);
    QCOMPARE(dry.summary, std::string("updated TrafficRoute/canary"));
    QCOMPARE(store.current()->revision, 2u);
    QCOMPARE(changes, 2);

    const auto revs = store.revisions();
    QCOMPARE(revs.size(), size_t(2));
    QCOMPARE(revs[0].number, 2u);  // newest first
    QCOMPARE(revs[0].author, std::string("bob"));
    QCOMPARE(revs[0].time - revs[1].time, SystemTime::duration(5s));
    QCOMPARE(store.current()->policies.size(), size_t(2));
  }

  void invalidApplyChangesNothing() {
    PolicyStore store(dir(), *clock_);
    QVERIFY(store.apply(kDestination, "d.yaml", "a", false).ok);
    const auto file = std::filesystem::path(dir()) / PolicyStore::kStateFileName;
    std::string before, after, error;
    QVERIFY(meshdeck::common::readFile(file, &before, &error));
    // Second document is fine, first refers to an undeclared subset: nothing at all is applied.
    std::string bad = std::string(kCanary) + "---\n" +
                      "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nmetadata: {name: rl}\n"
                      "spec: {selector: {service: reviews}, requestsPerSecond: 5}\n";
    bad.replace(bad.find("subset: v2"), 10, "subset: v9");
    auto r = store.apply(bad, "bad.yaml", "a", false);
    QVERIFY(!r.ok);
    QCOMPARE(r.errors.size(), size_t(1));
    QCOMPARE(r.errors[0].line, 9u);
    QCOMPARE(r.errors[0].file, std::string("bad.yaml"));
    QCOMPARE(store.current()->revision, 1u);
    QCOMPARE(store.current()->policies.size(), size_t(1));
    QVERIFY(meshdeck::common::readFile(file, &after, &error));
    QCOMPARE(after, before);
  }

  void deleteKeepsReferencesIntact() {
    PolicyStore store(dir(), *clock_);
    QVERIFY(store.apply(std::string(kDestination) + "---\n" + kCanary, "x.yaml", "a", false).ok);
    // The route uses the subsets: deleting their declaration is refused.
    auto refused = store.remove("DestinationPolicy", "reviews", "a");
    QVERIFY(!refused.ok);
    QVERIFY(refused.errors[0].message.find("subset \"v1\"") != std::string::npos);
    QVERIFY(!store.remove("TrafficRoute", "nope", "a").ok);
    auto ok = store.remove("TrafficRoute", "canary", "a");
    QVERIFY(ok.ok);
    QCOMPARE(ok.summary, std::string("deleted TrafficRoute/canary"));
    QVERIFY(store.remove("DestinationPolicy", "reviews", "a").ok);
    QCOMPARE(store.current()->policies.size(), size_t(0));
  }

  // Issue 17, problem 4: a refused delete names the policy that holds the reference, and its
  // position is a line and column of that policy's own text (what the desktop opens), not of the
  // file it was once applied from.
  void deleteRefusalNamesTheReferencingPolicy() {
    auto lineOf = [](const std::string& text, uint32_t line) {
      size_t start = 0;
      for (uint32_t i = 1; i < line && start != std::string::npos; ++i) {
        start = text.find('\n', start);
        if (start != std::string::npos) ++start;
      }
      if (start == std::string::npos) return std::string();
      return text.substr(start, text.find('\n', start) - start);
    };
    auto checkRefusal = [&](PolicyStore& store) {
      auto refused = store.remove("DestinationPolicy", "reviews", "a");
      QVERIFY(!refused.ok);
      QCOMPARE(refused.errors.size(), size_t(2));  // v1 and v2
      const Policy* canary = nullptr;
      for (const auto& p : store.current()->policies)
        if (p.id() == "TrafficRoute/canary") canary = &p;
      QVERIFY(canary != nullptr);
      const auto& e = refused.errors[0];
      QCOMPARE(e.file, std::string("TrafficRoute/canary"));
      QVERIFY2(e.message.find("TrafficRoute/canary uses subset \"v1\" of service \"reviews\"") !=
                   std::string::npos,
               e.message.c_str());
      QVERIFY2(e.message.find("delete or change TrafficRoute/canary first") != std::string::npos,
               e.message.c_str());
      // The position is in the stored text of the route: the destination there whose subset is
      // v1 (the first subset written after that line and column).
      QVERIFY(e.line > 0);
      const std::string line = lineOf(canary->yaml, e.line);
      QVERIFY(e.column > 0 && e.column <= line.size());
      QVERIFY2(line.find("destination") != std::string::npos, line.c_str());
      size_t offset = 0;
      for (uint32_t i = 1; i < e.line; ++i) offset = canary->yaml.find('\n', offset) + 1;
      const size_t subset = canary->yaml.find("subset:", offset + e.column - 1);
      QVERIFY(subset != std::string::npos);
      QCOMPARE(canary->yaml.substr(subset, 10), std::string("subset: v1"));
    };
    {
      PolicyStore store(dir(), *clock_);
      // Applied from a long file: the route's subset sits on line 23 of it.
      std::string file = "# comment\n# comment\n# comment\n# comment\n";
      file += std::string(kDestination) + "---\n" + kCanary;
      QVERIFY(store.apply(file, "editor", "a", false).ok);
      checkRefusal(store);
      // Applying a set that breaks a reference in a policy of the request still points into
      // the request's own text.
      const char* bad = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: other}
spec:
  host: reviews
  http:
  - match: [{uri: {prefix: /x}}]
    route:
    - {destination: {host: reviews, subset: v9}}
)";
      auto r = store.apply(bad, "editor", "a", true);
      QVERIFY(!r.ok);
      QCOMPARE(r.errors[0].file, std::string("editor"));
      QCOMPARE(r.errors[0].line, 9u);
      QVERIFY2(
          r.errors[0].message.find("TrafficRoute/other uses subset \"v9\"") != std::string::npos,
          r.errors[0].message.c_str());
    }
    {
      // A change in the request that breaks a policy in force (the DestinationPolicy without
      // v1) is located in that policy, not in the request.
      PolicyStore store(dir(), *clock_);
      std::string error;
      QVERIFY2(store.load(&error), error.c_str());
      std::string narrowed = kDestination;
      narrowed.erase(narrowed.find("  - {name: v1"),
                     narrowed.find("  - {name: v2") - narrowed.find("  - {name: v1"));
      auto r = store.apply(narrowed, "editor", "a", true);
      QVERIFY(!r.ok);
      QCOMPARE(r.errors.size(), size_t(1));
      QCOMPARE(r.errors[0].file, std::string("TrafficRoute/canary"));
      QVERIFY2(
          r.errors[0].message.find("TrafficRoute/canary uses subset \"v1\"") != std::string::npos,
          r.errors[0].message.c_str());
    }
    // The same after a restart (policies read back from the state file).
    PolicyStore reloaded(dir(), *clock_);
    std::string error;
    QVERIFY2(reloaded.load(&error), error.c_str());
    checkRefusal(reloaded);
  }

  void persistsAndReloads() {
    {
      PolicyStore store(dir(), *clock_);
      QVERIFY(store.apply(kDestination, "d.yaml", "a", false).ok);
      QVERIFY(store.apply(kCanary, "c.yaml", "b", false).ok);
    }
    PolicyStore reloaded(dir(), *clock_);
    std::string error;
    QVERIFY2(reloaded.load(&error), error.c_str());
    QCOMPARE(reloaded.current()->revision, 2u);
    QCOMPARE(reloaded.current()->policies.size(), size_t(2));
    // Each policy remembers the revision that last changed it, across a reload.
    QCOMPARE(reloaded.current()->policies[0].id(), std::string("DestinationPolicy/reviews"));
    QCOMPARE(reloaded.current()->policies[0].changed_in, 1u);
    QCOMPARE(reloaded.current()->policies[1].changed_in, 2u);
    QCOMPARE(reloaded.revisions()[1].author, std::string("a"));
    // Stored policies keep their services known although no proxy registered yet.
    std::string rl =
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nmetadata: {name: rl}\n"
        "spec: {selector: {service: reviews}, requestsPerSecond: 5}\n";
    QVERIFY(reloaded.apply(rl, "r.yaml", "c", false).ok);
    QCOMPARE(reloaded.current()->revision, 3u);
  }

  void corruptedStateIsAClearError() {
    const auto file = std::filesystem::path(dir()) / PolicyStore::kStateFileName;
    std::string error;
    for (const char* junk : {"{not json", R"({"format":"something-else","revisions":[]})",
                             R"({"format":"meshdeck.policy-store/v1","revisions":[{"number":1}]})",
                             R"({"format":"meshdeck.policy-store/v1","revisions":[{"number":1,)"
                             R"("author":"a","summary":"s","time_ms":0,"policies":[{"yaml":"kind: )"
                             R"(Nope"}]}]})"}) {
      QVERIFY(meshdeck::common::writeFileAtomically(file, junk, &error));
      PolicyStore store(dir(), *clock_);
      QVERIFY(!store.load(&error));
      QVERIFY2(error.find("is corrupted") != std::string::npos, error.c_str());
      QVERIFY(error.find(file.string()) != std::string::npos);
      QCOMPARE(store.current()->revision, 0u);
    }
  }

  void diffsAndReverts() {
    PolicyStore store(dir(), *clock_);
    QVERIFY(store.apply(std::string(kDestination) + "---\n" + kCanary, "x.yaml", "a", false).ok);
    std::string updated = kCanary;
    updated.replace(updated.find("weight: 90"), 10, "weight: 0")
        .replace(updated.find("weight: 10"), 10, "weight: 100");
    QVERIFY(store.apply(updated, "x.yaml", "a", false).ok);
    auto diff = store.diff(1, 2);
    QVERIFY(diff.has_value());
    QVERIFY2(diff->find("--- revision 1\n+++ revision 2\n@@") == 0, diff->c_str());
    QVERIFY2(diff->find("-          weight: 90\n+          weight: 0\n") != std::string::npos,
             diff->c_str());
    QVERIFY(diff->find("-          weight: 10\n+          weight: 100\n") != std::string::npos);
    QVERIFY(diff->find("@@ -24,8 +24,8 @@\n") != std::string::npos);
    QCOMPARE(*store.diff(2, 0), std::string());
    QVERIFY(!store.diff(1, 42).has_value());
    // From nothing: every line added.
    QVERIFY(store.diff(0, 1)->find("+kind: DestinationPolicy") != std::string::npos);

    auto reverted = store.revert(1, "carol");
    QVERIFY(reverted.ok);
    QCOMPARE(reverted.revision, 3u);
    QCOMPARE(reverted.summary, std::string("revert to 1: updated TrafficRoute/canary"));
    QCOMPARE(*store.diff(1, 3), std::string());
    QVERIFY(!store.revert(17, "carol").ok);
  }

 private:
  std::string dir() const { return dir_->path().toStdString(); }
  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<meshdeck::common::SimulatedTimeSource> clock_;
};

QTEST_GUILESS_MAIN(PolicyStoreTest)
#include "policy_store_test.moc"
