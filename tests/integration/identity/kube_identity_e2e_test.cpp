// The Kubernetes registry and the service-account token exchange end to end
// (docs/kubernetes-registry.md): a fake API server over HTTPS (tests/support), a real
// meshdeck-controlplane --registry kubernetes pointed at it, and real meshdeck-proxy sidecars
// with --sa-token-file. The control plane lists and watches the cluster into its graph; a proxy
// whose token the API server authenticates gets spiffe://meshdeck.local/ns/shop/sa/reviews; a
// token the API server refuses gets nothing (the proxy stays in plaintext).
#include <grpcpp/grpcpp.h>

#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

#include "common/pki/pki.h"
#include "meshdeck/v1/identity.grpc.pb.h"
#include "meshdeck/v1/management.grpc.pb.h"
#include "support/binaries.h"
#include "support/fake_kube_api_server.h"
#include "support/free_ports.h"

using meshdeck::test::bin;
using meshdeck::test::FakeKubeApiServer;
using namespace std::chrono_literals;
namespace pki = meshdeck::pki;
namespace v1 = meshdeck::v1;

namespace {

const std::string kReviews = "spiffe://meshdeck.local/ns/shop/sa/reviews";

std::string podJson(const std::string& name, const std::string& ip, const std::string& version) {
  return "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"" + name +
         "\",\"namespace\":\"shop\",\"resourceVersion\":\"10\",\"labels\":{\"app\":\"reviews\","
         "\"version\":\"" +
         version + "\"}},\"spec\":{\"serviceAccountName\":\"reviews\"},\"status\":{\"podIP\":\"" +
         ip + "\"}}";
}

// Reads a process's stderr until `pattern` appears (bounded).
QString waitForLog(QProcess& p, QString* log, const QString& pattern, int rounds = 150) {
  const QRegularExpression re(pattern);
  for (int i = 0; i < rounds; ++i) {
    const auto m = re.match(*log);
    if (m.hasMatch()) return m.captured(m.lastCapturedIndex());
    p.waitForReadyRead(100);
    *log += QString::fromUtf8(p.readAllStandardError());
  }
  return {};
}

}  // namespace

class KubeIdentityE2eTest : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;
  FakeKubeApiServer api_{true};
  QProcess cp_;
  QString cp_log_;
  std::string plain_;

  void writeFile(const QString& name, const std::string& text) {
    std::ofstream(dir_.filePath(name).toStdString(), std::ios::trunc) << text;
  }

  QStringList proxyArgs(const QString& service, const QString& token_file) {
    return {"--control-plane", QString::fromStdString(plain_),
            "--service",       service,
            "--namespace",     "shop",
            "--version",       "v1",
            "--inbound-port",  QString::number(meshdeck::test::freePort()),
            "--app-port",      QString::number(meshdeck::test::freePort()),
            "--outbound-port", QString::number(meshdeck::test::freePort()),
            "--sa-token-file", dir_.filePath(token_file)};
  }

 private slots:
  void initTestCase() {
    QVERIFY(qEnvironmentVariableIsSet("MESHDECK_BIN_DIR"));
    QVERIFY(dir_.isValid());
    std::string error;
    QVERIFY2(api_.start(&error), error.c_str());
    api_.requireBearer("controlplane-sa-token");
    api_.setList(
        "/api/v1/pods",
        {podJson("reviews-v1-a", "10.1.0.1", "v1"), podJson("reviews-v2-a", "10.1.0.2", "v2")},
        "100");
    api_.setList("/api/v1/services",
                 {"{\"kind\":\"Service\",\"metadata\":{\"name\":\"reviews\",\"namespace\":\"shop\","
                  "\"resourceVersion\":\"11\"}}"},
                 "100");
    api_.setList("/apis/discovery.k8s.io/v1/endpointslices",
                 {"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"reviews-x\",\"namespace\":"
                  "\"shop\",\"resourceVersion\":\"12\",\"labels\":{\"kubernetes.io/service-name\":"
                  "\"reviews\"}},\"endpoints\":[{\"addresses\":[\"10.1.0.1\"],\"conditions\":{"
                  "\"ready\":true},\"targetRef\":{\"kind\":\"Pod\",\"name\":\"reviews-v1-a\"}},{"
                  "\"addresses\":[\"10.1.0.2\"],\"conditions\":{\"ready\":true},\"targetRef\":{"
                  "\"kind\":\"Pod\",\"name\":\"reviews-v2-a\"}}],\"ports\":[{\"port\":9080}]}"},
                 "100");
    api_.setTokenReview("reviews-pod-token",
                        {true, "system:serviceaccount:shop:reviews", {"meshdeck"}, "reviews-v1-a"});
    api_.setTokenReview("other-audience-token",
                        {true, "system:serviceaccount:shop:reviews", {"vault"}, ""});
    writeFile("cp-token", "controlplane-sa-token\n");
    writeFile("reviews-token", "reviews-pod-token\n");
    writeFile("forged-token", "forged-token\n");
    writeFile("audience-token", "other-audience-token\n");

    cp_.setProcessChannelMode(QProcess::SeparateChannels);
    cp_.start(
        bin("meshdeck-controlplane"),
        {"--listen", "127.0.0.1:0", "--state-dir", dir_.filePath("state"), "--registry",
         "kubernetes", "--kube-api", QString::fromStdString(api_.url()), "--kube-ca",
         QString::fromStdString(api_.caFile()), "--kube-token-file", dir_.filePath("cp-token")});
    QVERIFY(cp_.waitForStarted());
    const QString plain = waitForLog(cp_, &cp_log_, "control plane listening on (\\S+)");
    QVERIFY2(!plain.isEmpty(), qPrintable(cp_log_));
    plain_ = plain.toStdString();
  }

  void cleanupTestCase() {
    cp_.terminate();
    cp_.waitForFinished(10000);
    api_.stop();
  }

  void registryFromTheCluster() {
    // The control plane listed and then watches the three kinds, with its bearer token.
    QTRY_VERIFY_WITH_TIMEOUT(
        !api_.requests("/api/v1/pods?watch=1").empty() &&
            !api_.requests("/api/v1/services?watch=1").empty() &&
            !api_.requests("/apis/discovery.k8s.io/v1/endpointslices?watch=1").empty(),
        10000);
    auto mesh = v1::Mesh::NewStub(grpc::CreateChannel(plain_, grpc::InsecureChannelCredentials()));
    bool found = false;
    for (int i = 0; i < 100 && !found; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      v1::GraphSnapshot graph;
      QVERIFY(mesh->GetGraph(&ctx, v1::GetGraphRequest(), &graph).ok());
      for (const auto& s : graph.services())
        if (s.name() == "reviews") {
          const std::set<std::string> versions(s.versions().begin(), s.versions().end());
          found = versions.count("v1") && versions.count("v2");
        }
      if (!found) QTest::qWait(100);
    }
    QVERIFY2(found, "service reviews with versions v1 and v2 not in the graph");
    // A pod added later arrives through the watch.
    api_.watchEvent("/api/v1/pods", "ADDED", podJson("reviews-v3-a", "10.1.0.3", "v3"));
    QTRY_COMPARE(api_.pendingScript("/api/v1/pods"), size_t(0));
  }

  void signWithServiceAccountToken() {
    auto identity =
        v1::Identity::NewStub(grpc::CreateChannel(plain_, grpc::InsecureChannelCredentials()));
    const auto key = pki::generateKey(pki::KeyType::kP256);
    auto sign = [&](const std::string& token, const std::string& spiffe, v1::SignResponse* r) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 10s);
      v1::SignRequest req;
      req.set_proxy_id("reviews-v1-a");
      req.set_csr_pem(pki::csrPem(key, spiffe));
      req.set_service_account_token(token);
      return identity->Sign(&ctx, req, r);
    };
    v1::SignResponse r;
    auto status = sign("reviews-pod-token", kReviews, &r);
    QVERIFY2(status.ok(), status.error_message().c_str());
    QCOMPARE(r.spiffe_id(), kReviews);
    // The review asked for our audience.
    QVERIFY(api_.tokenReviewBodies().back().find("\"audiences\":[\"meshdeck\"]") !=
            std::string::npos);
    // The token is the pod's, reusable (not burnt like a bootstrap token).
    status = sign("reviews-pod-token", kReviews, &r);
    QVERIFY2(status.ok(), status.error_message().c_str());
    // Another identity than the token's.
    status = sign("reviews-pod-token", "spiffe://meshdeck.local/ns/shop/sa/ratings", &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    // A token the API server does not authenticate, and one for another audience.
    status = sign("forged-token", kReviews, &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    QVERIFY(status.error_message().find("did not authenticate") != std::string::npos);
    status = sign("other-audience-token", kReviews, &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    QVERIFY(status.error_message().find("audience") != std::string::npos);
  }

  void proxyGetsItsCertificateFromItsToken() {
    QProcess proxy;
    proxy.setProcessChannelMode(QProcess::SeparateChannels);
    proxy.start(bin("meshdeck-proxy"), proxyArgs("reviews", "reviews-token"));
    QVERIFY(proxy.waitForStarted());
    QString log;
    const QString installed = waitForLog(proxy, &log, "identity: installed (spiffe://\\S+)");
    proxy.terminate();
    proxy.waitForFinished(10000);
    QVERIFY2(installed == QString::fromStdString(kReviews), qPrintable(log));
    QVERIFY2(!log.contains("reviews-pod-token"), "the token was logged");
    cp_log_ += QString::fromUtf8(cp_.readAllStandardError());
    QVERIFY(!cp_log_.contains("reviews-pod-token"));
  }

  void refusedTokenGivesNoCertificate() {
    QProcess proxy;
    proxy.setProcessChannelMode(QProcess::SeparateChannels);
    proxy.start(bin("meshdeck-proxy"), proxyArgs("reviews", "forged-token"));
    QVERIFY(proxy.waitForStarted());
    QString log;
    const QString refused = waitForLog(proxy, &log, "(no certificate for proxy)");
    proxy.terminate();
    proxy.waitForFinished(10000);
    QVERIFY2(!refused.isEmpty(), qPrintable(log));
    QVERIFY2(log.contains("did not authenticate the token"), qPrintable(log));
    QVERIFY(!log.contains("identity: installed"));
    QVERIFY(waitForLog(cp_, &cp_log_, "(service-account token refused)").size() > 0);
  }
};

QTEST_GUILESS_MAIN(KubeIdentityE2eTest)
#include "kube_identity_e2e_test.moc"
