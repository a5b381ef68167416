// Every policy a bundled scenario applies is valid for its demo mesh, in the order the
// scenario applies it, as the control plane's own policy store judges it; and it is named with
// the scheme the desktop's forms use (cp::policyObjectName).
#include <QtTest>

#include "common/clock.h"
#include "controlplane/api/policy_names.h"
#include "controlplane/fleet/scenario.h"
#include "controlplane/policy/policy_parser.h"
#include "controlplane/policy/policy_store.h"

using namespace meshdeck::cp;
using namespace meshdeck::cp::fleet;
using meshdeck::common::LocatedError;

class ScenarioPoliciesTest : public QObject {
  Q_OBJECT

 private slots:
  void scenarioPoliciesApplyInOrder() {
    const auto files = bundledScenarios();
    QVERIFY(files.size() >= 4);
    for (const auto& file : files) {
      std::vector<LocatedError> ferrors;
      const auto sc = loadScenario(file, &ferrors);
      QVERIFY(sc.has_value());
      const auto demo = loadDemoMesh(*findDemoFile(sc->demo), &ferrors);
      QVERIFY(demo.has_value());
      QTemporaryDir state;
      meshdeck::common::SimulatedTimeSource clock;
      PolicyStore store(state.path().toStdString(), clock);
      std::string error;
      QVERIFY2(store.load(&error), error.c_str());
      std::set<std::string> services;
      for (const auto& s : demo->services) services.insert(s.name);
      store.setKnownServices([services] { return services; });
      if (!demo->policies_yaml.empty())
        QVERIFY(store.apply(demo->policies_yaml, "demo", "test", false).ok);
      int applied = 0;
      for (const auto& step : sc->steps) {
        for (const auto& action : step.actions) {
          ApplyResult r;
          if (const auto* a = std::get_if<ApplyPolicyAction>(&action))
            r = store.apply(a->yaml, file.string(), "test", false);
          else if (const auto* d = std::get_if<DeletePolicyAction>(&action))
            r = store.remove(d->kind, d->name, "test");
          else
            continue;
          std::string text;
          for (const auto& e : r.errors) text += e.toString() + "\n";
          QVERIFY2(r.ok, qPrintable(QString::fromStdString(file.string() + " step '" + step.title +
                                                           "':\n" + text)));
          ++applied;
        }
      }
      QVERIFY2(applied > 0, file.c_str());
    }
  }

  // `<service>-<purpose>` (docs/operator-ux.md): a scenario and a form doing the same thing to
  // the same service name the same object.
  void scenarioPoliciesFollowTheNamingScheme() {
    const std::map<PolicyKind, std::vector<std::string>> purposes{
        {PolicyKind::kDestinationPolicy, {purpose::kDestination}},
        {PolicyKind::kTrafficRoute,
         {purpose::kCanary, purpose::kRetries, purpose::kTimeout, purpose::kFault}},
        {PolicyKind::kPeerAuthentication, {purpose::kMtls}},
        {PolicyKind::kRateLimit, {purpose::kRateLimit}},
        {PolicyKind::kAuthorizationPolicy,
         {purpose::kAllow, purpose::kDeny, purpose::kAllowNothing, purpose::kAudit}}};
    int checked = 0;
    for (const auto& file : bundledScenarios()) {
      std::vector<LocatedError> errors;
      const auto sc = loadScenario(file, &errors);
      QVERIFY(sc.has_value());
      for (const auto& step : sc->steps) {
        for (const auto& action : step.actions) {
          const auto* a = std::get_if<ApplyPolicyAction>(&action);
          if (!a) continue;
          for (const auto& p : parsePolicies(a->yaml, file.string(), &errors)) {
            const std::string target = p.target() == "*" ? "" : p.target();
            bool follows = false;
            for (const auto& purpose : purposes.at(p.kind))
              follows = follows || p.name == policyObjectName(target, purpose);
            QVERIFY2(follows,
                     qPrintable(QString::fromStdString(file.filename().string() + ": " + p.id())));
            ++checked;
          }
        }
      }
      QVERIFY(errors.empty());
    }
    QVERIFY(checked >= 6);
    QCOMPARE(policyObjectName("reviews", purpose::kCanary), std::string("reviews-canary"));
    QCOMPARE(policyObjectName("", purpose::kMtls), std::string("mesh-mtls"));
  }
};

QTEST_APPLESS_MAIN(ScenarioPoliciesTest)
#include "scenario_policies_test.moc"
