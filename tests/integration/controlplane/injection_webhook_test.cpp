// The sidecar injector's webhook on the real meshdeck-controlplane (docs/kubernetes-injection.md):
// AdmissionReview v1 requests of recorded pod shapes (tests/data/kubernetes/) sent over HTTPS,
// the server verified against the mesh CA (its certificate issued for the Service's DNS name)
// or against a certificate from files; the answers' base64 JSON patches applied with
// nlohmann::json and compared with the golden pods; garbage, oversized bodies, wrong paths,
// methods and plaintext refused and counted while the webhook keeps serving.
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/pki/credentials_file.h"
#include "support/binaries.h"
#include "support/raw_http.h"
#include "support/tagged_processes.h"
#include "support/tls_client.h"

using meshdeck::test::bin;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

const char* kServiceName = "meshdeck-controlplane.meshdeck-system.svc";

std::string readFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string dataFile(const std::string& name) {
  return readFile(std::string(qgetenv("MESHDECK_SOURCE_DIR").constData()) +
                  "/tests/data/kubernetes/" + name);
}

std::string base64Decode(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t n = 0;
  int bits = 0;
  for (const char c : in) {
    if (c == '=') break;
    const auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) return "<not base64>";
    n = n << 6 | static_cast<uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(n >> bits & 255);
    }
  }
  return out;
}

// An AdmissionReview v1 as the API server sends it for a pod CREATE.
std::string review(const std::string& uid, const nlohmann::json& pod) {
  return nlohmann::json{
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", uid},
        {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
        {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
        {"requestKind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
        {"requestResource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
        {"namespace", pod["metadata"].value("namespace", "default")},
        {"operation", "CREATE"},
        {"userInfo",
         {{"username", "system:serviceaccount:kube-system:replicaset-controller"},
          {"uid", "a1b2"},
          {"groups", {"system:serviceaccounts", "system:authenticated"}}}},
        {"object", pod},
        {"oldObject", nullptr},
        {"dryRun", false},
        {"options", {{"kind", "CreateOptions"}, {"apiVersion", "meta.k8s.io/v1"}}}}}}
      .dump();
}

struct Reply {
  int status = 0;
  std::string body;
  std::string error;
};

// One request over TLS to `address`, the server verified against `ca_pem` for `host`.
Reply httpsRequest(const std::string& address, const std::string& ca_pem, const std::string& host,
                   http::verb method, const std::string& target, const std::string& body) {
  Reply r;
  try {
    meshdeck::test::TlsClient client(address, ca_pem, host, std::chrono::seconds(10));
    auto& stream = client.stream();
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host);
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    r.status = res.result_int();
    r.body = res.body();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

// Raw bytes over TLS (what no HTTP client would send), the server verified as by
// httpsRequest(); returns what comes back until close.
std::string tlsRawExchange(const std::string& address, const std::string& ca_pem,
                           const std::string& host, const std::string& bytes) {
  std::string out;
  try {
    meshdeck::test::TlsClient client(address, ca_pem, host, std::chrono::seconds(10));
    auto& stream = client.stream();
    asio::write(stream, asio::buffer(bytes));
    char buf[4096];
    boost::system::error_code ec;
    for (int i = 0; i < 100; ++i) {
      const size_t n = stream.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) break;
    }
  } catch (const std::exception& e) {
    out += std::string("<error: ") + e.what() + ">";
  }
  return out;
}

}  // namespace

class InjectionWebhookTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    dir_ = std::make_unique<QTemporaryDir>();
    log_.clear();
  }
  void cleanup() { stopServer(); }

  // The mesh CA issues the webhook's certificate for the Service's DNS name; the patches of the
  // recorded shapes, applied, are the golden pods.
  void injectsOverHttpsWithMeshCertificate() {
    startServer({});
    std::string error, warning;
    const auto admin = meshdeck::pki::readCredentialsFile(
        dir_->filePath("state/admin.credentials").toStdString(), &error, &warning);
    QVERIFY2(admin, error.c_str());
    const std::string ca = admin->trust_bundle_pem;

    int uid = 0;
    for (const char* name : {"deployment-pod", "existing-init-containers", "capture-off",
                             "no-volumes", "null-arrays", "empty-init-containers"}) {
      const auto pod = nlohmann::json::parse(dataFile(std::string(name) + ".pod.json"));
      const std::string id = "uid-" + std::to_string(++uid);
      const auto r =
          httpsRequest(webhook_, ca, kServiceName, http::verb::post, "/inject", review(id, pod));
      QVERIFY2(r.error.empty(), r.error.c_str());
      QCOMPARE(r.status, 200);
      const auto answer = nlohmann::json::parse(r.body);
      QCOMPARE(answer["apiVersion"], "admission.k8s.io/v1");
      QCOMPARE(answer["kind"], "AdmissionReview");
      const auto& response = answer["response"];
      QCOMPARE(response["uid"], id);
      QCOMPARE(response["allowed"], true);
      QCOMPARE(response["patchType"], "JSONPatch");
      const auto patch = nlohmann::json::parse(base64Decode(response["patch"]));
      auto patched = pod.patch(patch);
      // The golden pods carry the unit test's image and version; the running control plane
      // writes its own defaults. Everything else must be identical.
      auto golden = nlohmann::json::parse(dataFile(std::string(name) + ".expected.json"));
      QCOMPARE(patched["metadata"]["annotations"]["meshdeck.io/injected"].is_string(), true);
      patched["metadata"]["annotations"]["meshdeck.io/injected"] = "1.2.3";
      for (auto& c : patched["spec"]["initContainers"])
        if (c["name"].get<std::string>().rfind("meshdeck-proxy", 0) == 0)
          c["image"] = "registry.example.com/meshdeck-proxy:1.2.3";
      QVERIFY2(patched == golden, nlohmann::json::diff(golden, patched).dump(2).c_str());
    }

    // Pods left alone: allowed without a patch. The injected golden pod counts as one.
    for (const char* name : {"opt-out", "host-network", "manually-injected"}) {
      const auto pod = nlohmann::json::parse(dataFile(std::string(name) + ".pod.json"));
      const auto r =
          httpsRequest(webhook_, ca, kServiceName, http::verb::post, "/inject", review(name, pod));
      QCOMPARE(r.status, 200);
      const auto response = nlohmann::json::parse(r.body)["response"];
      QCOMPARE(response["uid"], name);
      QCOMPARE(response["allowed"], true);
      QVERIFY(!response.contains("patch"));
    }
    const auto injected = nlohmann::json::parse(dataFile("deployment-pod.expected.json"));
    auto r = httpsRequest(webhook_, ca, kServiceName, http::verb::post, "/inject",
                          review("again", injected));
    QCOMPARE(r.status, 200);
    QVERIFY(!nlohmann::json::parse(r.body)["response"].contains("patch"));

    // The certificate is for the Service's name only.
    r = httpsRequest(webhook_, ca, "evil.example.com", http::verb::post, "/inject", "{}");
    QVERIFY2(!r.error.empty(), r.body.c_str());

    // Garbage: answered with a clear status, counted, and the webhook keeps serving.
    r = httpsRequest(webhook_, ca, kServiceName, http::verb::post, "/inject", "{\"kind\":");
    QCOMPARE(r.status, 400);
    QVERIFY2(r.body.find("bad AdmissionReview: not JSON") == 0, r.body.c_str());
    r = httpsRequest(webhook_, ca, kServiceName, http::verb::post, "/inject",
                     R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})");
    QCOMPARE(r.status, 400);
    r = httpsRequest(webhook_, ca, kServiceName, http::verb::get, "/inject", "");
    QCOMPARE(r.status, 405);
    r = httpsRequest(webhook_, ca, kServiceName, http::verb::post, "/mutate", "{}");
    QCOMPARE(r.status, 404);
    const auto oversized = tlsRawExchange(
        webhook_, ca, kServiceName,
        "POST /inject HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n{\"a\":1}");
    QVERIFY2(oversized.rfind("HTTP/1.1 413", 0) == 0, oversized.c_str());
    const auto junk = tlsRawExchange(webhook_, ca, kServiceName, "\x01\x02 garbage\r\n\r\n");
    QVERIFY2(junk.rfind("HTTP/1.1 400", 0) == 0, junk.c_str());
    // Plaintext HTTP to the TLS port: the handshake fails, nothing is served.
    const auto plain = meshdeck::test::rawHttpExchange(
        webhook_, "POST /inject HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    QVERIFY2(plain.find("AdmissionReview") == std::string::npos, plain.c_str());

    const auto pod = nlohmann::json::parse(dataFile("no-volumes.pod.json"));
    r = httpsRequest(webhook_, ca, kServiceName, http::verb::post, "/inject", review("last", pod));
    QCOMPARE(r.status, 200);
    QVERIFY(nlohmann::json::parse(r.body)["response"].contains("patch"));

    const QString log = stopServer();
    // 7 injected (6 shapes + the last), 4 left alone, 6 refused, 1 failed handshake at least
    // (the wrong name fails on the client's side).
    QVERIFY2(log.contains(QRegularExpression(
                 "webhook: 7 injected, 4 left alone, 6 refused, [1-9]\\d* failed handshakes")),
             qPrintable(log));
  }

  // --webhook-cert/--webhook-key: a certificate from files (cert-manager's Secret).
  void servesCertificateFromFiles() {
    const QString key = dir_->filePath("tls.key"), cert = dir_->filePath("tls.crt");
    QProcess openssl;
    openssl.start("openssl",
                  {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-days", "2", "-subj", "/CN=injector", "-addext",
                   "subjectAltName=DNS:injector.test.svc", "-keyout", key, "-out", cert});
    QVERIFY(openssl.waitForFinished(30000));
    QCOMPARE(openssl.exitCode(), 0);
    startServer({"--webhook-cert", cert, "--webhook-key", key, "--proxy-image",
                 "example/meshdeck-proxy:test", "--mesh-address", "cp.example:15010"});
    const auto pod = nlohmann::json::parse(dataFile("no-volumes.pod.json"));
    const auto r = httpsRequest(webhook_, readFile(cert.toStdString()), "injector.test.svc",
                                http::verb::post, "/inject", review("f", pod));
    QVERIFY2(r.error.empty(), r.error.c_str());
    QCOMPARE(r.status, 200);
    const auto patch =
        nlohmann::json::parse(base64Decode(nlohmann::json::parse(r.body)["response"]["patch"]));
    const auto patched = pod.patch(patch);
    const auto& sidecar = patched["spec"]["initContainers"][1];
    QCOMPARE(sidecar["image"], "example/meshdeck-proxy:test");
    QCOMPARE(sidecar["args"][1], "cp.example:15010");
  }

  void refusesBadOptions() {
    for (const QStringList& args :
         {QStringList{"--webhook-listen", "127.0.0.1:0", "--webhook-cert", "/nonexistent"},
          QStringList{"--webhook-listen", "nocolon"},
          QStringList{"--webhook-listen", "127.0.0.1:0", "--proxy-admin-port", "15006"},
          QStringList{"--webhook-listen", "127.0.0.1:0", "--webhook-cert", "/nonexistent/c",
                      "--webhook-key", "/nonexistent/k"}}) {
      QProcess p;
      p.start(bin("meshdeck-controlplane"),
              QStringList{"--listen", "127.0.0.1:0", "--state-dir", dir_->filePath("s")} + args);
      QVERIFY(p.waitForFinished(20000));
      QVERIFY2(p.exitCode() != 0, qPrintable(args.join(' ')));
    }
  }

 private:
  void startServer(QStringList extra) {
    server_ = std::make_unique<QProcess>();
    server_->setProcessChannelMode(QProcess::SeparateChannels);
    server_->start(bin("meshdeck-controlplane"),
                   QStringList{"--listen", "127.0.0.1:0", "--state-dir", dir_->filePath("state"),
                               "--webhook-listen", "127.0.0.1:0"} +
                       extra);
    QVERIFY(server_->waitForStarted());
    for (int i = 0; i < 100 && !log_.contains("/inject"); ++i) {
      server_->waitForReadyRead(100);
      log_ += QString::fromUtf8(server_->readAllStandardError());
    }
    const auto m = QRegularExpression("webhook on https://(\\S+)/inject").match(log_);
    QVERIFY2(m.hasMatch(), qPrintable(log_));
    webhook_ = m.captured(1).toStdString();
  }
  QString stopServer() {
    if (!server_) return log_;
    meshdeck::test::signalProcess(*server_, SIGTERM);
    server_->waitForFinished(10000);
    log_ += QString::fromUtf8(server_->readAllStandardError());
    server_.reset();
    return log_;
  }

  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<QProcess> server_;
  QString log_;
  std::string webhook_;
};

QTEST_GUILESS_MAIN(InjectionWebhookTest)
#include "injection_webhook_test.moc"
