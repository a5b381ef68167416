// Every policy a bundled scenario applies is valid for its demo mesh, in the order the
// scenario applies it, as the control plane's own policy store judges it.
#include <QtTest>

#include "common/clock.h"
#include "controlplane/fleet/scenario.h"
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
};

QTEST_APPLESS_MAIN(ScenarioPoliciesTest)
#include "scenario_policies_test.moc"
