#include "controlplane/fleet/demo_mesh.h"

#include <QtTest>
#include <algorithm>
#include <map>
#include <set>

#include "support/hostile_yaml.h"

using namespace meshdeck::cp::fleet;
using meshdeck::common::LocatedError;

namespace {
std::string errorsText(const std::vector<LocatedError>& errors) {
  std::string s;
  for (const auto& e : errors) s += e.toString() + "\n";
  return s;
}
}  // namespace

class DemoMeshTest : public QObject {
  Q_OBJECT

 private slots:
  void bundledStorefrontIsValidAndRealistic() {
    const auto file = findDemoFile("storefront");
    QVERIFY(file.has_value());
    std::vector<LocatedError> errors;
    const auto mesh = loadDemoMesh(*file, &errors);
    QVERIFY2(mesh.has_value(), errorsText(errors).c_str());
    QCOMPARE(mesh->name, std::string("storefront"));
    QVERIFY(mesh->services.size() >= 10);
    std::set<std::string> tiers;
    bool two_versions = false, external = false;
    for (const auto& s : mesh->services) {
      tiers.insert(s.tier);
      two_versions |= s.versions.size() >= 2;
      external |= s.external;
    }
    QVERIFY(tiers.size() >= 4);
    QVERIFY(two_versions);
    QVERIFY(external);
    QVERIFY(!mesh->load.empty());
  }

  void protocolIsReadAndValidated() {
    const std::string head =
        "apiVersion: meshdeck.io/v1alpha1\nkind: DemoMesh\nmetadata: {name: p}\nspec:\n"
        "  services:\n"
        "    - {name: a, calls: [b]}\n";
    std::vector<LocatedError> errors;
    auto mesh = parseDemoMesh(head + "    - {name: b, protocol: grpc}\n", "p.yaml", &errors);
    QVERIFY2(mesh.has_value(), errorsText(errors).c_str());
    QCOMPARE(mesh->find("a")->protocol, std::string("http1"));
    QCOMPARE(mesh->find("b")->protocol, std::string("grpc"));
    errors.clear();
    QVERIFY(!parseDemoMesh(head + "    - {name: b, protocol: h3}\n", "p.yaml", &errors));
    QVERIFY2(errorsText(errors).find("p.yaml:7:27: spec.services[1].protocol: must be http1 or "
                                     "grpc") != std::string::npos,
             errorsText(errors).c_str());
    errors.clear();
    QVERIFY(!parseDemoMesh(head + "    - {name: b, protocol: [grpc]}\n", "p.yaml", &errors));
    QVERIFY2(
        errorsText(errors).find("spec.services[1].protocol: must be a string") != std::string::npos,
        errorsText(errors).c_str());
    // The demo's load sends HTTP/1.1 requests: a gRPC target is refused.
    errors.clear();
    QVERIFY(!parseDemoMesh(head + "    - {name: b, protocol: grpc}\n  load:\n    - {target: b}\n",
                           "p.yaml", &errors));
    QVERIFY2(errorsText(errors).find("p.yaml:9:16: spec.load[0].target: 'b' speaks grpc") !=
                 std::string::npos,
             errorsText(errors).c_str());
  }

  void bundledLargeIsGenerated() {
    std::vector<LocatedError> errors;
    const auto mesh = loadDemoMesh(*findDemoFile("large"), &errors);
    QVERIFY2(mesh.has_value(), errorsText(errors).c_str());
    QCOMPARE(mesh->services.size(), size_t{200});
    // 200 instances: packed automatically.
    QCOMPARE(mesh->apps_per_process, 0u);
    QCOMPARE(mesh->appsPerProcess(), DemoMesh::kAutoAppsPerProcess);
  }

  void packIsReadAndValidated() {
    std::vector<LocatedError> errors;
    const std::string head =
        "apiVersion: meshdeck.io/v1alpha1\nkind: DemoMesh\nmetadata: {name: p}\nspec:\n"
        "  generate: {services: 10, seed: 1}\n";
    auto mesh = parseDemoMesh(head, "p.yaml", &errors);
    QVERIFY(mesh.has_value());
    QCOMPARE(mesh->appsPerProcess(), 1u);  // 10 instances: one process each
    mesh = parseDemoMesh(head + "  pack: {appsPerProcess: 4}\n", "p.yaml", &errors);
    QVERIFY(mesh.has_value());
    QCOMPARE(mesh->appsPerProcess(), 4u);
    QVERIFY(!parseDemoMesh(head + "  pack: {appsPerProcess: -1}\n", "p.yaml", &errors));
    QVERIFY(!parseDemoMesh(head + "  pack: {perProcess: 4}\n", "p.yaml", &errors));
    QCOMPARE(errors.back().field, std::string("spec.pack.perProcess"));
  }

  void largeMeshHasHeavyTailedDegreesAndIsDeterministic() {
    const DemoMesh a = generateLargeMesh(200, 7), b = generateLargeMesh(200, 7);
    std::map<std::string, int> in_degree;
    size_t edges = 0;
    for (size_t i = 0; i < a.services.size(); ++i) {
      QCOMPARE(a.services[i].calls.size(), b.services[i].calls.size());
      for (const auto& c : a.services[i].calls) {
        ++in_degree[c.service];
        ++edges;
      }
    }
    std::vector<int> degrees;
    for (const auto& s : a.services)
      if (s.tier != "edge") degrees.push_back(in_degree[s.name]);
    QVERIFY(std::all_of(degrees.begin(), degrees.end(), [](int d) { return d >= 1; }));
    std::sort(degrees.begin(), degrees.end());
    const int median = degrees[degrees.size() / 2];
    QVERIFY2(degrees.back() >= 4 * median,
             qPrintable(QString("max in-degree %1, median %2").arg(degrees.back()).arg(median)));
    QVERIFY(edges > a.services.size());
    // The generated mesh passes the same validation as a written one (no cycles, no dangling).
    QVERIFY(generateLargeMesh(1000, 3).services.size() == 1000);
  }

  void malformedFilesAreRefusedWithLineAndField() {
    std::vector<LocatedError> errors;
    const std::string yaml =
        "apiVersion: meshdeck.io/v1alpha1\n"
        "kind: DemoMesh\n"
        "metadata: {name: bad}\n"
        "spec:\n"
        "  services:\n"
        "    - name: a\n"
        "      calls: [b, ghost]\n"
        "      versions:\n"
        "        - {name: v1, replicas: 99}\n"
        "    - name: b\n"
        "      colour: blue\n"
        "      versions:\n"
        "        - {name: v1, latency: {p50: fast}}\n"
        "  load:\n"
        "    - {target: nowhere, rate: 5}\n";
    QVERIFY(!parseDemoMesh(yaml, "bad.yaml", &errors).has_value());
    const std::string text = errorsText(errors);
    auto has = [&](const std::string& needle) { return text.find(needle) != std::string::npos; };
    QVERIFY2(has("bad.yaml:9:"), text.c_str());
    QVERIFY2(has("spec.services[0].versions[0].replicas: must be between 0 and 16"), text.c_str());
    QVERIFY2(has("bad.yaml:11:7: spec.services[1].colour: unknown field"), text.c_str());
    QVERIFY2(has("spec.services[1].versions[0].latency.p50: must be a duration"), text.c_str());
    QVERIFY2(has("spec.services[0].calls[1]: calls undeclared service 'ghost'"), text.c_str());
    QVERIFY2(has("bad.yaml:15:"), text.c_str());
    QVERIFY2(has("spec.load[0].target: unknown service 'nowhere'"), text.c_str());
  }

  void cyclesAndSyntaxErrorsAreRefused() {
    std::vector<LocatedError> errors;
    QVERIFY(!parseDemoMesh(
        "apiVersion: meshdeck.io/v1alpha1\nkind: DemoMesh\nmetadata: {name: c}\n"
        "spec:\n  services:\n    - {name: a, calls: [b]}\n    - {name: b, calls: [a]}\n",
        "cycle.yaml", &errors));
    QVERIFY2(errorsText(errors).find("cycle: a -> b -> a") != std::string::npos,
             errorsText(errors).c_str());
    errors.clear();
    QVERIFY(!parseDemoMesh("spec: [unclosed\n", "syntax.yaml", &errors));
    QCOMPARE(errors.size(), size_t{1});
    QVERIFY(errors[0].line >= 1);
    errors.clear();
    QVERIFY(!loadDemoMesh("/nonexistent/demo.yaml", &errors));
    QVERIFY(errorsText(errors).find("cannot open") != std::string::npos);
  }

  // The "billion laughs" is refused by the YAML reader's limits, from text and from a file.
  void refusesAliasBomb() {
    std::vector<LocatedError> errors;
    QVERIFY(!parseDemoMesh(meshdeck::testing::billionLaughs(), "bomb.yaml", &errors));
    QCOMPARE(errorsText(errors),
             "bomb.yaml" + std::string(meshdeck::testing::kBillionLaughsRefusal) + "\n");
    errors.clear();
    const auto file = meshdeck::testing::hostileYamlFile("billion-laughs.yaml");
    QVERIFY(!loadDemoMesh(file, &errors));
    QCOMPARE(errorsText(errors), file.string() + meshdeck::testing::kBillionLaughsRefusal + "\n");
  }

  // Found by the demo_scenario fuzzer: a lookup of a missing key on a const yaml-cpp node yields
  // a node on which IsMap() throws, and the exception ended the process.
  void missingSectionsAreRefusedNotThrown() {
    std::vector<LocatedError> errors;
    std::optional<DemoMesh> mesh;
    QVERIFY_THROWS_NO_EXCEPTION(
        mesh =
            parseDemoMesh("apiVersion: meshdeck.io/v1alpha1\nkind: DemoMesh\n", "m.yaml", &errors));
    QVERIFY(!mesh);
    QVERIFY2(errorsText(errors).find("metadata: is required") != std::string::npos,
             errorsText(errors).c_str());
    QVERIFY2(errorsText(errors).find("spec: is required") != std::string::npos,
             errorsText(errors).c_str());
    errors.clear();
    QVERIFY_THROWS_NO_EXCEPTION(
        mesh = parseDemoMesh("a: &a [x, x]\nb: [*a, *a]\n", "m.yaml", &errors));
    QVERIFY(!mesh);
    QVERIFY(!errors.empty());
  }
};

QTEST_APPLESS_MAIN(DemoMeshTest)
#include "demo_mesh_test.moc"
