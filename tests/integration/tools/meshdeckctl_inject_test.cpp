// `meshdeckctl inject` (docs/kubernetes-injection.md, "Manual injection") on a multi-document
// manifest (tests/data/kubernetes/manifests.yaml): each workload's pod template in the output
// equals its input template patched by nlohmann::json's RFC 6902 with the webhook's own patch;
// other documents pass through; strings that look like numbers or booleans stay strings; the
// real binary with -f/-o and stdin; bad input refused with its location.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <boost/json.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/yaml/yaml_input.h"
#include "support/binaries.h"
#include "tools/meshdeckctl/inject.h"

using meshdeck::test::bin;
using namespace meshdeck;

namespace {

std::string readFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string manifestPath() {
  return std::string(qgetenv("MESHDECK_SOURCE_DIR").constData()) +
         "/tests/data/kubernetes/manifests.yaml";
}

// YAML to JSON with yaml-cpp's own conversions (independent of meshdeckctl's resolver): a plain
// scalar is an integer, a boolean or a float when yaml-cpp reads it as one.
nlohmann::json toJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: {
      if (n.Tag() != "?") return n.Scalar();
      long long i;
      bool b;
      double d;
      if (YAML::convert<long long>::decode(n, i)) return i;
      if (YAML::convert<bool>::decode(n, b)) return b;
      if (YAML::convert<double>::decode(n, d)) return d;
      if (n.Scalar() == "~" || n.Scalar() == "null") return nullptr;
      return n.Scalar();
    }
    case YAML::NodeType::Sequence: {
      auto a = nlohmann::json::array();
      for (const auto& item : n) a.push_back(toJson(item));
      return a;
    }
    case YAML::NodeType::Map: {
      auto o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.Scalar()] = toJson(kv.second);
      return o;
    }
    default:
      return nullptr;
  }
}

std::vector<nlohmann::json> documents(const std::string& text) {
  const auto loaded = common::loadYaml(text, "test");
  std::vector<nlohmann::json> out;
  for (const auto& d : loaded.documents)
    if (!d.IsNull()) out.push_back(toJson(d));
  return out;
}

// The pod template of a workload as a JSON pointer ("" for a Pod; none for other kinds).
std::optional<nlohmann::json::json_pointer> templateOf(const nlohmann::json& doc) {
  const std::string kind = doc.value("kind", "");
  if (kind == "Pod") return nlohmann::json::json_pointer("");
  if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" || kind == "Job")
    return nlohmann::json::json_pointer("/spec/template");
  if (kind == "CronJob") return nlohmann::json::json_pointer("/spec/jobTemplate/spec/template");
  return std::nullopt;
}

cp::kubernetes::InjectionSettings settings() {
  cp::kubernetes::InjectionSettings s;
  s.proxy_image = "example/meshdeck-proxy:9";
  s.version = "9";
  return s;
}

// Checks one input document against its output: the template patched as the injector says,
// everything else unchanged. Items of a List are checked one by one.
void checkDocument(const nlohmann::json& in, const nlohmann::json& out, int* injected) {
  if (in.value("kind", "") == "List") {
    QCOMPARE(out["items"].size(), in["items"].size());
    for (size_t i = 0; i < in["items"].size(); ++i)
      checkDocument(in["items"][i], out["items"][i], injected);
    return;
  }
  const auto ptr = templateOf(in);
  if (!ptr) {
    QVERIFY2(in == out, out.dump().c_str());
    return;
  }
  const auto& tmpl = in.at(*ptr);
  const auto r =
      cp::kubernetes::computeInjection(boost::json::parse(tmpl.dump()).as_object(), settings());
  const auto patch = nlohmann::json::parse(boost::json::serialize(r.patch));
  auto expected = in;
  expected[*ptr] = tmpl.patch(patch);
  QVERIFY2(expected == out, nlohmann::json::diff(expected, out).dump(2).c_str());
  if (r.injected) ++*injected;
}

}  // namespace

class MeshdeckctlInjectTest : public QObject {
  Q_OBJECT

 private slots:
  void manifestTemplatesArePatched() {
    const std::string text = readFile(manifestPath());
    std::string out, error;
    std::vector<tools::InjectNote> notes;
    QVERIFY2(tools::injectManifests(text, "manifests.yaml", settings(), &out, &notes, &error),
             error.c_str());
    const auto in_docs = documents(text), out_docs = documents(out);
    QCOMPARE(in_docs.size(), size_t{5});
    QCOMPARE(out_docs.size(), in_docs.size());
    int injected = 0;
    for (size_t i = 0; i < in_docs.size(); ++i) checkDocument(in_docs[i], out_docs[i], &injected);
    QCOMPARE(injected, 3);  // the Deployment, the Pod and the StatefulSet of the List

    std::vector<std::string> seen;
    for (const auto& n : notes) seen.push_back(n.workload + (n.injected ? " +" : " - " + n.reason));
    QCOMPARE(seen.size(), size_t{5});
    QCOMPARE(seen[0], "deployment/reviews-v1 +");
    QVERIFY2(seen[1].rfind("cronjob/nightly - opted out", 0) == 0, seen[1].c_str());
    QCOMPARE(seen[2], "pod/p1 +");
    QCOMPARE(seen[3], "statefulset/db +");
    QVERIFY2(seen[4].rfind("daemonset/node-agent - host-network", 0) == 0, seen[4].c_str());

    // Strings that would read as other types stay strings; numbers stay numbers.
    const auto& deployment = out_docs[1]["spec"]["template"];
    QCOMPARE(deployment["metadata"]["annotations"]["prometheus.io/port"], "9080");
    QCOMPARE(deployment["metadata"]["annotations"]["enabled"], "true");
    QCOMPARE(deployment["spec"]["containers"][0]["env"][1]["value"], "off");
    QCOMPARE(deployment["spec"]["containers"][0]["env"][2]["value"], "");
    QCOMPARE(deployment["spec"]["containers"][0]["env"][3]["value"], "y");
    QCOMPARE(deployment["spec"]["containers"][0]["ports"][0]["containerPort"], 9080);
    QCOMPARE(deployment["metadata"]["annotations"]["meshdeck.io/injected"], "9");
    // The StatefulSet's own init container runs after the mesh's two.
    const auto& inits = out_docs[3]["items"][1]["spec"]["template"]["spec"]["initContainers"];
    QCOMPARE(inits.size(), size_t{3});
    QCOMPARE(inits[2]["name"], "init-perms");

    // Injecting the output again changes nothing.
    std::string again;
    notes.clear();
    QVERIFY(tools::injectManifests(out, "out.yaml", settings(), &again, &notes, &error));
    QCOMPARE(documents(again), out_docs);
    for (const auto& n : notes) QVERIFY(!n.injected);
  }

  void badInputIsRefused() {
    std::string out = "untouched", error;
    std::vector<tools::InjectNote> notes;
    QVERIFY(!tools::injectManifests("kind: Pod\nspec: [a, b\n", "bad.yaml", settings(), &out,
                                    &notes, &error));
    QCOMPARE(out, "untouched");
    QVERIFY2(error.find("bad.yaml") != std::string::npos, error.c_str());
    QVERIFY2(error.find("invalid YAML") != std::string::npos, error.c_str());
  }

  void binaryWithFilesAndStdin() {
    QTemporaryDir dir;
    const QString out = dir.filePath("out.yaml");
    QProcess p;
    p.start(bin("meshdeckctl"),
            {"inject", "-f", QString::fromStdString(manifestPath()), "-o", out, "--proxy-image",
             "example/meshdeck-proxy:9", "--mesh-address", "cp.example:15010"});
    QVERIFY(p.waitForFinished(20000));
    QCOMPARE(p.exitCode(), 0);
    const QString notes = QString::fromUtf8(p.readAllStandardError());
    QVERIFY2(notes.contains("deployment/reviews-v1: injected"), qPrintable(notes));
    const auto docs = documents(readFile(out.toStdString()));
    QCOMPARE(docs.size(), size_t{5});
    const auto& sidecar = docs[1]["spec"]["template"]["spec"]["initContainers"][1];
    QCOMPARE(sidecar["image"], "example/meshdeck-proxy:9");
    QCOMPARE(sidecar["args"][1], "cp.example:15010");

    // From stdin to stdout.
    QProcess s;
    s.start(bin("meshdeckctl"), {"inject", "-f", "-"});
    QVERIFY(s.waitForStarted());
    s.write(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n"
        "  - {name: a, image: b, ports: [{containerPort: 80}]}\n");
    s.closeWriteChannel();
    QVERIFY(s.waitForFinished(20000));
    QCOMPARE(s.exitCode(), 0);
    const auto pod = documents(s.readAllStandardOutput().toStdString());
    QCOMPARE(pod.size(), size_t{1});
    QCOMPARE(pod[0]["spec"]["initContainers"].size(), size_t{2});

    // Bad settings and a missing file: exit 1 with a message.
    for (const QStringList& args :
         {QStringList{"inject", "-f", QString::fromStdString(manifestPath()), "--proxy-uid", "0"},
          QStringList{"inject", "-f", dir.filePath("missing.yaml")}}) {
      QProcess bad;
      bad.start(bin("meshdeckctl"), args);
      QVERIFY(bad.waitForFinished(20000));
      QCOMPARE(bad.exitCode(), 1);
      QVERIFY(bad.readAllStandardError().startsWith("meshdeckctl inject: "));
    }
  }
};

QTEST_GUILESS_MAIN(MeshdeckctlInjectTest)
#include "meshdeckctl_inject_test.moc"
