// Sidecar injection (docs/kubernetes-injection.md): the JSON patches of recorded pod shapes
// (tests/data/kubernetes/*.pod.json) against golden patches, applied by an independent RFC 6902
// implementation (nlohmann::json::patch) and by our own applyPatch(), both compared with the
// golden patched pod; pods left alone and why; the AdmissionReview answers, garbage included.
//
// MESHDECK_UPDATE_GOLDEN=1 rewrites the golden files from the current output (review the diff).
#include <QtTest>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "controlplane/kubernetes/admission_review.h"
#include "controlplane/kubernetes/injector.h"

using namespace meshdeck::cp::kubernetes;
namespace bj = boost::json;

namespace {

std::filesystem::path dataDir() {
  const char* src = std::getenv("MESHDECK_SOURCE_DIR");
  return std::filesystem::path(src ? src : ".") / "tests/data/kubernetes";
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

InjectionSettings testSettings() {
  InjectionSettings s;
  s.proxy_image = "registry.example.com/meshdeck-proxy:1.2.3";
  s.version = "1.2.3";
  return s;
}

bool updating() {
  const char* u = std::getenv("MESHDECK_UPDATE_GOLDEN");
  return u && std::string(u) == "1";
}

void writeGolden(const std::filesystem::path& p, const nlohmann::json& j) {
  std::ofstream(p, std::ios::binary) << j.dump(2) << "\n";
}

// Base64 decoding for checking AdmissionResponse.patch (strict: padding, alphabet).
std::string base64Decode(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  if (in.size() % 4 != 0) return "<bad length>";
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t n = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=') {
        ++pad;
        n <<= 6;
        continue;
      }
      const auto pos = kAlphabet.find(c);
      if (pos == std::string::npos || pad) return "<bad char>";
      n = n << 6 | static_cast<uint32_t>(pos);
    }
    out += static_cast<char>(n >> 16 & 255);
    if (pad < 2) out += static_cast<char>(n >> 8 & 255);
    if (pad < 1) out += static_cast<char>(n & 255);
  }
  return out;
}

nlohmann::json toNlohmann(const bj::value& v) { return nlohmann::json::parse(bj::serialize(v)); }

bj::object readPod(const std::string& name) {
  return bj::parse(readFile(dataDir() / (name + ".pod.json"))).as_object();
}

std::string review(const std::string& uid, const bj::value& object,
                   const std::string& operation = "CREATE", const std::string& kind = "Pod") {
  bj::object request{{"uid", uid},
                     {"kind", {{"group", ""}, {"version", "v1"}, {"kind", kind}}},
                     {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                     {"namespace", "bookinfo"},
                     {"operation", operation},
                     {"object", object}};
  return bj::serialize(bj::object{{"apiVersion", "admission.k8s.io/v1"},
                                  {"kind", "AdmissionReview"},
                                  {"request", std::move(request)}});
}

}  // namespace

class KubernetesInjectorTest : public QObject {
  Q_OBJECT

 private slots:
  void goldenPatches_data() {
    QTest::addColumn<QString>("name");
    for (const char* n : {"deployment-pod", "existing-init-containers", "capture-off", "no-volumes",
                          "null-arrays", "empty-init-containers"})
      QTest::newRow(n) << n;
  }
  // Each injected shape: the patch equals the golden one, and applying it (nlohmann's RFC 6902
  // and ours) gives the golden pod.
  void goldenPatches() {
    QFETCH(QString, name);
    const auto base = dataDir() / name.toStdString();
    const auto pod = readPod(name.toStdString());
    const auto r = computeInjection(pod, testSettings());
    QVERIFY2(r.injected, r.reason.c_str());
    for (const auto& op : r.patch) QCOMPARE(std::string(op.at("op").as_string()), "add");

    const auto patch = toNlohmann(r.patch);
    const auto patched = toNlohmann(pod).patch(patch);
    if (updating()) {
      writeGolden(base.string() + ".patch.json", patch);
      writeGolden(base.string() + ".expected.json", patched);
    }
    const auto golden_patch = nlohmann::json::parse(readFile(base.string() + ".patch.json"));
    const auto golden_pod = nlohmann::json::parse(readFile(base.string() + ".expected.json"));
    QVERIFY2(patch == golden_patch, patch.dump(2).c_str());
    QVERIFY2(patched == golden_pod, nlohmann::json::diff(golden_pod, patched).dump(2).c_str());

    // Our applier (meshdeckctl inject's) agrees with nlohmann's on the same patch.
    bj::value ours = pod;
    std::string error;
    QVERIFY2(applyPatch(ours, r.patch, &error), error.c_str());
    QVERIFY(toNlohmann(ours) == golden_pod);

    // The injected pod is left alone the second time.
    const auto again = computeInjection(bj::parse(golden_pod.dump()).as_object(), testSettings());
    QVERIFY(!again.injected);
    QVERIFY2(again.reason.find("already injected") != std::string::npos, again.reason.c_str());
  }

  // What the patch must hold, checked on the applied pod rather than only against the golden.
  void injectedPodShape() {
    const auto pod = toNlohmann(readPod("existing-init-containers"));
    const auto r = computeInjection(readPod("existing-init-containers"), testSettings());
    const auto out = pod.patch(toNlohmann(r.patch));
    const auto& inits = out["spec"]["initContainers"];
    QCOMPARE(inits.size(), size_t{4});
    // Capture first, then the sidecar, then the pod's own, in their order.
    QCOMPARE(inits[0]["name"], "meshdeck-proxy-init");
    QCOMPARE(inits[1]["name"], "meshdeck-proxy");
    QCOMPARE(inits[2]["name"], "migrate");
    QCOMPARE(inits[3]["name"], "warm-cache");
    const auto& init = inits[0];
    QCOMPARE(init["securityContext"]["runAsUser"], 0);
    QCOMPARE(init["securityContext"]["capabilities"]["add"],
             nlohmann::json::array({"NET_ADMIN", "NET_RAW"}));
    QCOMPARE(init["securityContext"]["capabilities"]["drop"], nlohmann::json::array({"ALL"}));
    QVERIFY(!init.contains("restartPolicy"));
    const auto& proxy = inits[1];
    QCOMPARE(proxy["restartPolicy"], "Always");
    QCOMPARE(proxy["securityContext"]["runAsNonRoot"], true);
    QCOMPARE(proxy["securityContext"]["runAsUser"], 65532);
    QCOMPARE(proxy["securityContext"]["readOnlyRootFilesystem"], true);
    QCOMPARE(proxy["readinessProbe"]["httpGet"]["port"], 15000);
    QCOMPARE(proxy["readinessProbe"]["httpGet"]["path"], "/ready");
    QVERIFY(proxy["resources"]["requests"].contains("cpu"));
    std::vector<std::string> args = proxy["args"];
    const auto arg = [&](const std::string& flag) {
      const auto it = std::find(args.begin(), args.end(), flag);
      return it == args.end() || it + 1 == args.end() ? std::string("<none>") : *(it + 1);
    };
    QCOMPARE(arg("--service"), "catalog");  // app.kubernetes.io/name
    QCOMPARE(arg("--version"), "2.3.1");    // app.kubernetes.io/version
    QCOMPARE(arg("--app-port"), "8080");    // the UDP port is not the application's
    QCOMPARE(arg("--sa-token-file"), "/var/run/secrets/meshdeck/token");
    QCOMPARE(arg("--proxy-id"), "$(POD_NAME)");
    QCOMPARE(arg("--host-address"), "$(POD_IP)");
    // The capture rules let the sidecar's user through, and exclude its admin port (probes).
    std::vector<std::string> init_args = init["args"];
    QCOMPARE(init_args, (std::vector<std::string>{
                            "--proxy-uid", "65532", "--inbound-port", "15006", "--outbound-port",
                            "15001", "--exclude-inbound-ports", "15000", "--app-port", "8080"}));
    std::set<std::string> env;
    for (const auto& e : proxy["env"]) env.insert(e["name"]);
    QVERIFY(env ==
            (std::set<std::string>{"POD_NAME", "POD_NAMESPACE", "POD_IP", "SERVICE_ACCOUNT"}));
    // The token volume: projected, audience meshdeck, mounted where --sa-token-file points.
    const auto& volumes = out["spec"]["volumes"];
    QCOMPARE(volumes.size(), size_t{3});
    QCOMPARE(volumes[0]["name"], "cache");
    QCOMPARE(volumes[1]["projected"]["sources"][0]["serviceAccountToken"]["audience"], "meshdeck");
    QCOMPARE(volumes[2]["configMap"]["name"], "meshdeck-ca-root");
    // The annotation, next to the existing ones (one of them holding "~" and "/").
    QCOMPARE(out["metadata"]["annotations"]["meshdeck.io/injected"], "1.2.3");
    QCOMPARE(out["metadata"]["annotations"]["example.com/odd~key"], "tilde and slash");
    QCOMPARE(out["metadata"]["annotations"].size(), size_t{3});
  }

  void captureOffHasNoInitContainer() {
    const auto r = computeInjection(readPod("capture-off"), testSettings());
    QVERIFY(r.injected);
    const auto out = toNlohmann(readPod("capture-off")).patch(toNlohmann(r.patch));
    QCOMPARE(out["spec"]["initContainers"].size(), size_t{1});
    QCOMPARE(out["spec"]["initContainers"][0]["name"], "meshdeck-proxy");
    // The annotation meshdeck.io/app-port wins over the declared containerPort.
    const std::string args = out["spec"]["initContainers"][0]["args"].dump();
    QVERIFY2(args.find("\"--app-port\",\"9080\"") != std::string::npos, args.c_str());
    // The service account names the service (its certificate's identity), not the app label.
    QVERIFY2(args.find("\"--service\",\"bookinfo-ratings\"") != std::string::npos, args.c_str());
  }

  void podsLeftAlone_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("reason");
    QTest::addColumn<bool>("warns");
    QTest::newRow("opt-out") << "opt-out"
                             << "opted out" << false;
    QTest::newRow("host-network") << "host-network"
                                  << "host-network" << false;
    QTest::newRow("no-port") << "no-port"
                             << "no port to forward to" << true;
    QTest::newRow("manually-injected") << "manually-injected"
                                       << "already injected" << false;
  }
  void podsLeftAlone() {
    QFETCH(QString, name);
    QFETCH(QString, reason);
    QFETCH(bool, warns);
    const auto r = computeInjection(readPod(name.toStdString()), testSettings());
    QVERIFY(!r.injected);
    QVERIFY(r.patch.empty());
    QVERIFY2(r.reason.find(reason.toStdString()) != std::string::npos, r.reason.c_str());
    QCOMPARE(!r.warnings.empty(), warns);
  }

  void otherRefusals() {
    auto pod = readPod("no-volumes");
    // The application on one of the proxy's ports.
    pod["spec"].as_object()["containers"].as_array()[0].as_object()["ports"] =
        bj::array{bj::object{{"containerPort", 15001}}};
    auto r = computeInjection(pod, testSettings());
    QVERIFY(!r.injected);
    QVERIFY2(r.reason.find("one of the proxy's") != std::string::npos, r.reason.c_str());
    // A bad app-port annotation.
    pod = readPod("no-volumes");
    pod["metadata"].as_object()["annotations"] = bj::object{{"meshdeck.io/app-port", "80a"}};
    r = computeInjection(pod, testSettings());
    QVERIFY(!r.injected);
    QVERIFY2(r.reason.find("is not a port") != std::string::npos, r.reason.c_str());
    // A volume already named like ours.
    pod = readPod("no-volumes");
    pod["spec"].as_object()["volumes"] =
        bj::array{bj::object{{"name", "meshdeck-token"}, {"emptyDir", bj::object{}}}};
    QVERIFY(!computeInjection(pod, testSettings()).injected);
    // Members the patch extends, of the wrong type: refused, never replaced.
    for (const char* key : {"containers", "initContainers", "volumes"}) {
      pod = readPod("no-volumes");
      pod["spec"].as_object()[key] = 5;
      r = computeInjection(pod, testSettings());
      QVERIFY(!r.injected);
      QVERIFY2(r.reason == "spec." + std::string(key) + " is not a list", r.reason.c_str());
      QVERIFY(!r.warnings.empty());
    }
    pod = readPod("no-volumes");
    pod["metadata"].as_object()["annotations"] = "x";
    r = computeInjection(pod, testSettings());
    QVERIFY(!r.injected);
    QVERIFY2(r.reason == "metadata.annotations is not a map", r.reason.c_str());
    // Namespace labels, when given (meshdeckctl does not; the webhook relies on the selector).
    pod = readPod("no-volumes");
    QVERIFY(!computeInjection(pod, testSettings(), std::map<std::string, std::string>{}).injected);
    QVERIFY(
        !computeInjection(pod, testSettings(),
                          std::map<std::string, std::string>{{"meshdeck.io/inject", "disabled"}})
             .injected);
    QVERIFY(computeInjection(pod, testSettings(),
                             std::map<std::string, std::string>{{"meshdeck.io/inject", "enabled"}})
                .injected);
    // No metadata at all: the annotation comes with a whole metadata object.
    pod.erase("metadata");
    r = computeInjection(pod, testSettings());
    QVERIFY(r.injected);
    const auto out = toNlohmann(pod).patch(toNlohmann(r.patch));
    QCOMPARE(out["metadata"]["annotations"]["meshdeck.io/injected"], "1.2.3");
    // Service falls back to the service account, then "default".
    const std::string args = out["spec"]["initContainers"][1]["args"].dump();
    QVERIFY2(args.find("\"--service\",\"default\"") != std::string::npos, args.c_str());
  }

  void settingsChecks() {
    QCOMPARE(testSettings().check(), std::string());
    auto s = testSettings();
    s.admin_port = s.inbound_port;
    QVERIFY(!s.check().empty());
    s = testSettings();
    s.token_expiration_seconds = 60;
    QVERIFY(!s.check().empty());
    s = testSettings();
    s.proxy_uid = 0;
    QVERIFY(!s.check().empty());
  }

  void pointerEscaping() {
    QCOMPARE(escapePointerToken("meshdeck.io/injected"), "meshdeck.io~1injected");
    QCOMPARE(escapePointerToken("a~b/c~/"), "a~0b~1c~0~1");
    QCOMPARE(escapePointerToken("plain"), "plain");
    // Our applier unescapes the same way nlohmann does.
    bj::value doc = bj::object{{"a", bj::object{}}};
    bj::array patch{bj::object{{"op", "add"}, {"path", "/a/x~1y~0z"}, {"value", 1}}};
    std::string error;
    QVERIFY(applyPatch(doc, patch, &error));
    QCOMPARE(doc.at("a").as_object().count("x/y~z"), size_t{1});
  }

  void applierRefusals() {
    const auto refused = [](const char* doc_text, const char* patch_text) {
      bj::value doc = bj::parse(doc_text);
      std::string error;
      const bool ok = applyPatch(doc, bj::parse(patch_text).as_array(), &error);
      return !ok && !error.empty();
    };
    QVERIFY(refused(R"({"a":[]})", R"([{"op":"remove","path":"/a"}])"));
    QVERIFY(refused(R"({"a":[]})", R"([{"op":"add","path":"/a/2","value":1}])"));
    QVERIFY(refused(R"({"a":[]})", R"([{"op":"add","path":"/a/01","value":1}])"));
    QVERIFY(refused(R"({"a":[]})", R"([{"op":"add","path":"/b/c","value":1}])"));
    QVERIFY(refused(R"({"a":[]})", R"([{"op":"add","path":"a","value":1}])"));
    QVERIFY(refused(R"({"a":[]})", R"([{"op":"add","path":"/a~2","value":1}])"));
    QVERIFY(refused(R"({"a":1})", R"([{"op":"add","path":"/a/b","value":1}])"));
    QVERIFY(refused(R"({"a":1})", R"([{"op":"add","path":"/a"}])"));
    // Appending with "-" and inserting at an index, as nlohmann does.
    bj::value doc = bj::parse(R"({"a":[1,3]})");
    std::string error;
    QVERIFY(applyPatch(doc,
                       bj::parse(R"([{"op":"add","path":"/a/1","value":2},
                                     {"op":"add","path":"/a/-","value":4}])")
                           .as_array(),
                       &error));
    QCOMPARE(bj::serialize(doc), std::string(R"({"a":[1,2,3,4]})"));
  }

  void admissionReviewInjects() {
    const auto pod = readPod("deployment-pod");
    const auto a =
        answerAdmissionReview(review("0df28fbd-5f5f-11e8-bc74-36e6bb280816", pod), testSettings());
    QCOMPARE(a.status, 200);
    QCOMPARE(a.outcome, ReviewAnswer::Outcome::kInjected);
    const auto out = nlohmann::json::parse(a.body);
    QCOMPARE(out["apiVersion"], "admission.k8s.io/v1");
    QCOMPARE(out["kind"], "AdmissionReview");
    QCOMPARE(out["response"]["uid"], "0df28fbd-5f5f-11e8-bc74-36e6bb280816");
    QCOMPARE(out["response"]["allowed"], true);
    QCOMPARE(out["response"]["patchType"], "JSONPatch");
    const auto patch = nlohmann::json::parse(base64Decode(out["response"]["patch"]));
    const auto golden = nlohmann::json::parse(readFile(dataDir() / "deployment-pod.expected.json"));
    QVERIFY(toNlohmann(pod).patch(patch) == golden);
  }

  void admissionReviewWithoutPatch() {
    // Opted out: allowed, no patch.
    auto a = answerAdmissionReview(review("u1", readPod("opt-out")), testSettings());
    QCOMPARE(a.status, 200);
    QCOMPARE(a.outcome, ReviewAnswer::Outcome::kSkipped);
    auto out = nlohmann::json::parse(a.body);
    QCOMPARE(out["response"]["allowed"], true);
    QVERIFY(!out["response"].contains("patch"));
    QVERIFY(!out["response"].contains("patchType"));
    // No port: allowed, no patch, a warning for kubectl.
    a = answerAdmissionReview(review("u2", readPod("no-port")), testSettings());
    out = nlohmann::json::parse(a.body);
    QVERIFY(!out["response"].contains("patch"));
    QCOMPARE(out["response"]["warnings"].size(), size_t{1});
    // An UPDATE, or another kind: allowed untouched.
    for (const auto& body : {review("u3", readPod("no-volumes"), "UPDATE"),
                             review("u4", readPod("no-volumes"), "CREATE", "Deployment")}) {
      a = answerAdmissionReview(body, testSettings());
      QCOMPARE(a.status, 200);
      out = nlohmann::json::parse(a.body);
      QCOMPARE(out["response"]["allowed"], true);
      QVERIFY(!out["response"].contains("patch"));
    }
  }

  void admissionReviewGarbage_data() {
    QTest::addColumn<QByteArray>("body");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("not json") << QByteArray("<xml/>");
    QTest::newRow("truncated") << QByteArray(R"({"apiVersion":"admission.k8s.io/v1","kind":)");
    QTest::newRow("array") << QByteArray("[1,2,3]");
    QTest::newRow("v1beta1") << QByteArray(
        R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}})");
    QTest::newRow("no request") << QByteArray(
        R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})");
    QTest::newRow("no uid") << QByteArray(
        R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})");
    QTest::newRow("uid not string") << QByteArray(
        R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}})");
    QTest::newRow("pod without object") << QByteArray(
        R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x",)"
        R"("kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}})");
    QTest::newRow("deep") << QByteArray(std::string(5000, '[').c_str());
  }
  void admissionReviewGarbage() {
    QFETCH(QByteArray, body);
    const auto a =
        answerAdmissionReview(std::string_view(body.constData(), body.size()), testSettings());
    QCOMPARE(a.status, 400);
    QCOMPARE(a.outcome, ReviewAnswer::Outcome::kBadRequest);
    QVERIFY(a.body.rfind("bad AdmissionReview: ", 0) == 0);
  }

  // A pod whose fields have the wrong types is left alone or patched, never a crash.
  void admissionReviewOddPods() {
    for (const char* object : {R"({})", R"({"spec":7})", R"({"spec":{"containers":7}})",
                               R"({"metadata":[],"spec":{"containers":[1,"x",null]}})",
                               R"({"spec":{"containers":[{"ports":[{"containerPort":"80"}]}]}})",
                               R"({"spec":{"containers":[{"ports":[{"containerPort":8080}]}],)"
                               R"("initContainers":{"a":1}}})"}) {
      const auto a = answerAdmissionReview(review("odd", bj::parse(object)), testSettings());
      QCOMPARE(a.status, 200);
    }
  }

  void base64() {
    QCOMPARE(base64Encode(""), "");
    QCOMPARE(base64Encode("f"), "Zg==");
    QCOMPARE(base64Encode("fo"), "Zm8=");
    QCOMPARE(base64Encode("foo"), "Zm9v");
    QCOMPARE(base64Encode("foobar"), "Zm9vYmFy");
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
    QCOMPARE(base64Decode(base64Encode(bytes)), bytes);
  }
};

QTEST_GUILESS_MAIN(KubernetesInjectorTest)
#include "kubernetes_injector_test.moc"
