#include "support/fake_control_plane.h"

#include <QtTest>

#include "controlplane/policy/policy_parser.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

std::string text(const std::vector<common::LocatedError>& errors) {
  return common::toString(errors);
}

const char* kCanary =
    "apiVersion: meshdeck.io/v1alpha1\n"
    "kind: TrafficRoute\n"
    "metadata: {name: reviews-canary}\n"
    "spec:\n"
    "  host: reviews\n"
    "  http:\n"
    "    - route:\n"
    "        - destination: {host: reviews, subset: v1}\n"
    "          weight: 90\n"
    "        - destination: {host: reviews, subset: v2}\n"
    "          weight: 10\n";

}  // namespace

// The fake checks policies with the control plane's own parser: it refuses the same documents
// with the same errors, and stores what the parser made of an accepted one.
class FakeControlPlaneTest : public QObject {
  Q_OBJECT

 private slots:
  void refusesWhatTheParserRefusesWithItsErrors() {
    const std::vector<std::string> invalid = {
        // weight out of range on line 11 (the sum is then not checked)
        std::string(kCanary).replace(std::string(kCanary).rfind("10"), 2, "300"),
        // weights that do not add up to 100
        std::string(kCanary).replace(std::string(kCanary).rfind("10"), 2, "20"),
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nspec: [1, 2\n",
        "apiVersion: meshdeck.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n",
        "apiVersion: meshdeck.io/v1\nkind: RateLimit\nmetadata: {name: r}\n"
        "spec: {selector: {service: cart}, requestsPerSecond: 5}\n",
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nspec: {requestsPerSecond: 5}\n",
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nmetadata: {name: r}\n"
        "spec: {selector: {service: cart}, requestsPerSecond: 5, colour: red}\n",
    };
    FakeControlPlane fake;
    for (const auto& yaml : invalid) {
      std::vector<common::LocatedError> expected;
      cp::parsePolicies(yaml, "f.yaml", &expected);
      QVERIFY2(!expected.empty(), yaml.c_str());
      for (bool dry_run : {true, false}) {
        const cp::ApplyResult r = fake.applyPolicies(yaml, "f.yaml", "test", dry_run);
        QVERIFY(!r.ok);
        QCOMPARE(text(r.errors), text(expected));
        QVERIFY(r.errors == expected);
      }
    }
    QCOMPARE(fake.applyCalls(), int(2 * invalid.size()));
    QCOMPARE(fake.appliedCount(), 0);
    QVERIFY(fake.policies().empty());
    QCOMPARE(fake.revisions().size(), size_t(1));
  }

  void anInvalidWeightIsLocated() {
    FakeControlPlane fake;
    const std::string yaml =
        std::string(kCanary).replace(std::string(kCanary).rfind("10"), 2, "300");
    const cp::ApplyResult r = fake.applyPolicies(yaml, "editor", "test", false);
    QVERIFY(!r.errors.empty());
    const common::LocatedError& e = r.errors.front();
    QCOMPARE(e.file, std::string("editor"));
    QCOMPARE(e.line, 11u);
    QCOMPARE(e.column, 19u);
    QCOMPARE(e.field, std::string("spec.http[0].route[1].weight"));
    QVERIFY2(e.toString().starts_with("editor:11:19: spec.http[0].route[1].weight: "),
             e.toString().c_str());
  }

  void anEmptyInputIsRefused() {
    FakeControlPlane fake;
    const cp::ApplyResult r = fake.applyPolicies("# nothing\n", "empty.yaml", "test", false);
    QVERIFY(!r.ok);
    QCOMPARE(text(r.errors), std::string("empty.yaml: no policy document found"));
  }

  void storesWhatTheParserMadeOfAnAcceptedPolicy() {
    FakeControlPlane fake;
    const cp::ApplyResult dry = fake.applyPolicies(kCanary, "f.yaml", "test", true);
    QVERIFY2(dry.ok, text(dry.errors).c_str());
    QVERIFY(fake.policies().empty());

    const std::string mesh_wide =
        "apiVersion: meshdeck.io/v1alpha1\nkind: PeerAuthentication\nmetadata: {name: mesh}\n"
        "spec: {mtls: {mode: STRICT}}\n";
    const std::string both = std::string(kCanary) + "---\n" + mesh_wide;
    std::vector<common::LocatedError> errors;
    const auto parsed = cp::parsePolicies(both, "f.yaml", &errors);
    QVERIFY2(errors.empty(), text(errors).c_str());
    QCOMPARE(parsed.size(), size_t(2));

    const cp::ApplyResult r = fake.applyPolicies(both, "f.yaml", "test", false);
    QVERIFY2(r.ok, text(r.errors).c_str());
    QCOMPARE(r.revision, uint64_t(2));
    const auto stored = fake.policies();
    QCOMPARE(stored.size(), size_t(2));
    for (size_t i = 0; i < parsed.size(); ++i) {
      QCOMPARE(stored[i].kind, std::string(cp::toString(parsed[i].kind)));
      QCOMPARE(stored[i].name, parsed[i].name);
      QCOMPARE(stored[i].target, parsed[i].target());
      QCOMPARE(stored[i].yaml, parsed[i].yaml);  // normalized, as the control plane stores it
      QCOMPARE(stored[i].revision, uint64_t(2));
    }
    QCOMPARE(stored[0].target, std::string("reviews"));
    QCOMPARE(stored[1].target, std::string("*"));  // mesh-wide, as the control plane says
    QCOMPARE(fake.appliedCount(), 2);
  }
};

QTEST_APPLESS_MAIN(FakeControlPlaneTest)
#include "fake_control_plane_test.moc"
