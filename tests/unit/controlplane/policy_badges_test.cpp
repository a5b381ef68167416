// Policy::badges(): what each policy means for the graph's edge badges, computed from the parsed
// policy (the bundled sample policies and the cases around each rule), and carried by the
// embedded control plane's PolicyInfo.
#include <QtTest>
#include <filesystem>
#include <map>

#include "common/atomic_file.h"
#include "controlplane/in_process_control_plane.h"
#include "controlplane/policy/policy_parser.h"

using namespace meshdeck::cp;

namespace {

// The one policy `yaml` holds; fails the test on any parse error.
Policy parseOne(const std::string& yaml) {
  std::vector<meshdeck::common::LocatedError> errors;
  auto policies = parsePolicies(yaml, "p.yaml", &errors);
  if (!errors.empty()) qWarning("%s", errors[0].toString().c_str());
  [&] {
    QVERIFY(errors.empty());
    QCOMPARE(policies.size(), size_t{1});
  }();
  return policies.empty() ? Policy{} : policies[0];
}

PolicyBadges badgesOf(const std::string& yaml) { return parseOne(yaml).badges(); }

PolicyBadges badges(bool fault, bool canary, bool rate_limit, bool mtls) {
  return PolicyBadges{fault, canary, rate_limit, mtls};
}

std::string route(const std::string& http) {
  return "apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: r}\n"
         "spec:\n  host: reviews\n  http:\n" +
         http;
}

std::string peer(const std::string& mode) {
  return "apiVersion: meshdeck.io/v1alpha1\nkind: PeerAuthentication\nmetadata: {name: m}\n"
         "spec: {mtls: {mode: " +
         mode + "}}\n";
}

}  // namespace

namespace QTest {
template <>
char* toString(const PolicyBadges& b) {
  return qstrdup(QStringLiteral("{fault %1, canary %2, rate_limit %3, mtls %4}")
                     .arg(b.fault)
                     .arg(b.canary)
                     .arg(b.rate_limit)
                     .arg(b.mtls)
                     .toUtf8()
                     .constData());
}
}  // namespace QTest

class PolicyBadgesTest : public QObject {
  Q_OBJECT

 private slots:
  // Every sample policy the app ships, with the badges an operator expects on the graph.
  void bundledSamplePolicies() {
    const char* root = std::getenv("MESHDECK_SOURCE_DIR");
    QVERIFY(root);
    const std::map<std::string, PolicyBadges> want = {
        {"TrafficRoute/reviews-canary@reviews-canary.yaml", badges(false, true, false, false)},
        {"TrafficRoute/reviews-canary@reviews-fault.yaml", badges(true, false, false, false)},
        {"RateLimit/reviews@reviews-ratelimit.yaml", badges(false, false, true, false)},
        {"PeerAuthentication/mesh@mesh-mtls.yaml", badges(false, false, false, true)},
        {"PeerAuthentication/reviews-migration@mesh-mtls.yaml", badges(false, false, false, true)},
        {"DestinationPolicy/reviews@reviews-destination.yaml", badges(false, false, false, false)},
    };
    size_t seen = 0;
    size_t without_badges = 0;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path(root) / "resources/policies")) {
      std::string text;
      std::string error;
      QVERIFY2(meshdeck::common::readFile(entry.path(), &text, &error), error.c_str());
      std::vector<meshdeck::common::LocatedError> errors;
      const auto policies = parsePolicies(text, entry.path().string(), &errors);
      QVERIFY2(errors.empty(), errors.empty() ? "" : errors[0].toString().c_str());
      for (const auto& p : policies) {
        const std::string key = p.id() + "@" + entry.path().filename().string();
        const auto it = want.find(key);
        if (it == want.end()) {
          // Anything else (the AuthorizationPolicies) implies no badge.
          QVERIFY2(!p.badges().any(), key.c_str());
          ++without_badges;
          continue;
        }
        QCOMPARE(p.badges(), it->second);
        ++seen;
      }
    }
    QCOMPARE(seen, want.size());
    QVERIFY(without_badges >= 1);
  }

  void canaryNeedsTwoDestinationsThatGetTraffic() {
    const std::string one = "    - route:\n        - destination: {host: reviews, subset: v1}\n";
    QCOMPARE(badgesOf(route(one)), badges(false, false, false, false));
    const std::string all_to_one =
        "    - route:\n        - destination: {host: reviews, subset: v1}\n          weight: 100\n"
        "        - destination: {host: reviews, subset: v2}\n          weight: 0\n";
    QCOMPARE(badgesOf(route(all_to_one)), badges(false, false, false, false));
    const std::string split =
        "    - route:\n        - destination: {host: reviews, subset: v1}\n          weight: 99\n"
        "        - destination: {host: reviews, subset: v2}\n          weight: 1\n";
    QCOMPARE(badgesOf(route(split)), badges(false, true, false, false));
    // A split on any one route of several is enough.
    const std::string match_then_split =
        "    - match: [{uri: {prefix: /a}}]\n      route:\n"
        "        - destination: {host: reviews, subset: v1}\n" +
        split;
    QCOMPARE(badgesOf(route(match_then_split)), badges(false, true, false, false));
  }

  void faultOnAnyRoute() {
    const std::string delay =
        "    - route:\n        - destination: {host: reviews}\n"
        "      fault: {delay: {percentage: 50, fixedDelay: 200ms}}\n";
    QCOMPARE(badgesOf(route(delay)), badges(true, false, false, false));
    const std::string abort =
        "    - match: [{uri: {prefix: /x}}]\n      route:\n        - destination: {host: reviews}\n"
        "    - route:\n        - destination: {host: reviews}\n"
        "      fault: {abort: {percentage: 5, httpStatus: 503}}\n";
    QCOMPARE(badgesOf(route(abort)), badges(true, false, false, false));
  }

  void mtlsUnlessDisabled() {
    QCOMPARE(badgesOf(peer("STRICT")), badges(false, false, false, true));
    QCOMPARE(badgesOf(peer("PERMISSIVE")), badges(false, false, false, true));
    QCOMPARE(badgesOf(peer("UNSET")), badges(false, false, false, true));
    QCOMPARE(badgesOf(peer("DISABLE")), badges(false, false, false, false));
  }

  // What the embedded control plane lists carries the badges of each stored policy.
  void listedPoliciesCarryTheirBadges() {
    ControlPlaneOptions options;
    options.listen = "";  // no gRPC server, nothing persisted
    options.secure_listen = "";
    InProcessControlPlane cp(options);
    cp.registerService("reviews", "v1", "backend");
    cp.registerService("reviews", "v2", "backend");
    const std::string yaml =
        "apiVersion: meshdeck.io/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: reviews}\n"
        "spec:\n  host: reviews\n  subsets:\n    - {name: v1, labels: {version: v1}}\n"
        "    - {name: v2, labels: {version: v2}}\n---\n" +
        route(
            "    - route:\n        - destination: {host: reviews, subset: v1}\n"
            "          weight: 90\n        - destination: {host: reviews, subset: v2}\n"
            "          weight: 10\n      fault: {abort: {percentage: 1, httpStatus: 503}}\n");
    const ApplyResult applied = cp.applyPolicies(yaml, "p.yaml", "test", false);
    QVERIFY2(applied.ok, applied.errors.empty() ? "" : applied.errors[0].toString().c_str());
    std::map<std::string, PolicyBadges> listed;
    for (const auto& p : cp.policies()) listed[p.kind + "/" + p.name] = p.badges;
    QCOMPARE(listed.size(), size_t{2});
    QCOMPARE(listed["TrafficRoute/r"], badges(true, true, false, false));
    QCOMPARE(listed["DestinationPolicy/reviews"], badges(false, false, false, false));
  }
};

QTEST_APPLESS_MAIN(PolicyBadgesTest)
#include "policy_badges_test.moc"
