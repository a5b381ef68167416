// Identity.Sign against a real meshdeck-controlplane process: bootstrap tokens on the plain
// port, renewal with the issued certificate over the TLS port, and `meshdeckctl get certs`.
#include <grpcpp/grpcpp.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QtTest>

#include "common/atomic_file.h"
#include "common/pki/pki.h"
#include "meshdeck/v1/identity.grpc.pb.h"
#include "support/binaries.h"

using meshdeck::test::bin;

using namespace std::chrono_literals;
namespace pki = meshdeck::pki;
namespace v1 = meshdeck::v1;

namespace {
const std::string kReviews = "spiffe://meshdeck.local/ns/default/sa/reviews";

std::unique_ptr<v1::Identity::Stub> stub(const std::string& address,
                                         std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("meshdeck-controlplane");
  return v1::Identity::NewStub(grpc::CreateCustomChannel(address, creds, args));
}

grpc::Status sign(v1::Identity::Stub& s, const std::string& proxy, const std::string& csr,
                  const std::string& token, v1::SignResponse* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::SignRequest req;
  req.set_proxy_id(proxy);
  req.set_csr_pem(csr);
  req.set_bootstrap_token(token);
  return s.Sign(&ctx, req, response);
}

bool verifies(const v1::SignResponse& r) {
  const auto leaf = pki::loadCertPem(r.certificate_chain_pem());
  std::vector<pki::X509Ptr> roots;
  std::vector<X509*> raw;
  for (const auto& pem : r.trust_bundle_pem()) {
    roots.push_back(pki::loadCertPem(pem));
    raw.push_back(roots.back().get());
  }
  std::string error;
  const bool ok =
      leaf && pki::verifyCertificate(leaf.get(), {}, raw, std::chrono::system_clock::now(), &error);
  if (!ok) qWarning("verify: %s", error.c_str());
  return ok;
}
}  // namespace

class IdentitySignTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY(qEnvironmentVariableIsSet("MESHDECK_BIN_DIR"));
    QVERIFY(dir_.isValid());
    server_.setProcessChannelMode(QProcess::SeparateChannels);
    server_.start(
        bin("meshdeck-controlplane"),
        {"--listen", "127.0.0.1:0", "--state-dir", dir_.filePath("state"), "--bootstrap-token",
         "reviews-1=default/reviews", "--bootstrap-token", "ratings-1=default/ratings"});
    QVERIFY(server_.waitForStarted());
    // The token files are written before the ports are announced.
    const QRegularExpression announced("control plane TLS listening on \\S+\n");
    QString log;
    for (int i = 0; i < 100 && !announced.match(log).hasMatch(); ++i) {
      server_.waitForReadyRead(100);
      log += QString::fromUtf8(server_.readAllStandardError());
    }
    const auto plain = QRegularExpression("control plane listening on (\\S+)").match(log);
    const auto tls = QRegularExpression("control plane TLS listening on (\\S+)").match(log);
    QVERIFY2(plain.hasMatch() && tls.hasMatch(), qPrintable(log));
    QVERIFY2(log.indexOf("ratings-1.token") >= 0 &&
                 log.indexOf("ratings-1.token") < log.indexOf("listening on"),
             qPrintable(log));
    QVERIFY2(!log.contains(QRegularExpression("[0-9a-f]{64}")), "a token was logged");
    plain_ = plain.captured(1).toStdString();
    tls_ = tls.captured(1).toStdString();
    std::string error;
    const std::filesystem::path tokens = dir_.filePath("state/tokens").toStdString();
    QVERIFY(meshdeck::common::readFile(tokens / "reviews-1.token", &reviews_token_, &error));
    QVERIFY(meshdeck::common::readFile(tokens / "ratings-1.token", &ratings_token_, &error));
    QCOMPARE(reviews_token_.size(), size_t{64});
    QCOMPARE(std::filesystem::status(tokens / "reviews-1.token").permissions() &
                 std::filesystem::perms::all,
             std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }

  void firstCertificateNeedsAToken() {
    auto s = stub(plain_, grpc::InsecureChannelCredentials());
    const auto key = pki::generateKey(pki::KeyType::kEd25519);
    const std::string csr = pki::csrPem(key, kReviews);
    v1::SignResponse r;
    // No token.
    auto status = sign(*s, "reviews-1", csr, "", &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    // A token that does not exist.
    status = sign(*s, "reviews-1", csr, std::string(64, 'a'), &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    // Another proxy's token: refused (and burnt).
    status = sign(*s, "reviews-1", csr, ratings_token_, &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    status =
        sign(*s, "ratings-1", pki::csrPem(key, "spiffe://meshdeck.local/ns/default/sa/ratings"),
             ratings_token_, &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }

  void tokenWorksOnceForItsOwnIdentity() {
    auto s = stub(plain_, grpc::InsecureChannelCredentials());
    key_ = pki::generateKey(pki::KeyType::kEd25519);
    v1::SignResponse r;
    auto status = sign(*s, "reviews-1", pki::csrPem(key_, kReviews), reviews_token_, &r);
    QVERIFY2(status.ok(), status.error_message().c_str());
    QCOMPARE(r.spiffe_id(), kReviews);
    QCOMPARE(r.trust_bundle_pem_size(), 1);
    QVERIFY(verifies(r));
    const auto leaf = pki::loadCertPem(r.certificate_chain_pem());
    QCOMPARE(pki::spiffeIdOf(leaf.get()), std::optional<std::string>(kReviews));
    const auto left = std::chrono::system_clock::from_time_t(r.not_after().seconds()) -
                      std::chrono::system_clock::now();
    QVERIFY(left > 23h && left <= 24h);
    chain_ = r.certificate_chain_pem();
    bundle_.assign(r.trust_bundle_pem().begin(), r.trust_bundle_pem().end());
    first_serial_ = pki::certificateInfo(leaf.get())->serial_hex;
    // Replay: refused.
    v1::SignResponse again;
    status = sign(*s, "reviews-1", pki::csrPem(key_, kReviews), reviews_token_, &again);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    QVERIFY2(status.error_message().find("already used") != std::string::npos,
             status.error_message().c_str());
  }

  void renewsOverTlsWithTheIssuedCertificate() {
    QVERIFY(!chain_.empty());
    grpc::SslCredentialsOptions tls;
    for (const auto& b : bundle_) tls.pem_root_certs += b;
    tls.pem_private_key = pki::privateKeyPem(key_.get());
    tls.pem_cert_chain = chain_;
    auto s = stub(tls_, grpc::SslCredentials(tls));
    const auto next = pki::generateKey(pki::KeyType::kP256);
    v1::SignResponse r;
    auto status = sign(*s, "reviews-1", pki::csrPem(next, kReviews), "", &r);
    QVERIFY2(status.ok(), status.error_message().c_str());
    QCOMPARE(r.spiffe_id(), kReviews);
    QVERIFY(verifies(r));
    const auto leaf = pki::loadCertPem(r.certificate_chain_pem());
    QCOMPARE(EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), next.get()), 1);
    renewed_serial_ = pki::certificateInfo(leaf.get())->serial_hex;
    QVERIFY(renewed_serial_ != first_serial_);
    // The renewal keeps the proxy id the certificate was issued to.
    status = sign(*s, "reviews-2", pki::csrPem(next, kReviews), "", &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    QCOMPARE(status.error_message(),
             std::string("a renewal for proxy reviews-2 with the certificate issued to proxy "
                         "reviews-1"));
    // The renewal must ask for the same identity.
    status = sign(*s, "reviews-1",
                  pki::csrPem(next, "spiffe://meshdeck.local/ns/default/sa/ratings"), "", &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);

    // On the TLS port without a client certificate, a token is still needed.
    grpc::SslCredentialsOptions anonymous;
    for (const auto& b : bundle_) anonymous.pem_root_certs += b;
    auto a = stub(tls_, grpc::SslCredentials(anonymous));
    status = sign(*a, "reviews-1", pki::csrPem(next, kReviews), "", &r);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

    // A self-made certificate for the same identity is refused by the TLS handshake (or by the
    // service): renewal needs a certificate of the mesh CA.
    const auto rogue_key = pki::generateKey(pki::KeyType::kP256);
    pki::X509Ptr rogue(X509_new());
    X509_set_version(rogue.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(rogue.get()), 7);
    X509_gmtime_adj(X509_getm_notBefore(rogue.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(rogue.get()), 3600);
    X509_set_pubkey(rogue.get(), rogue_key.get());
    X509_sign(rogue.get(), rogue_key.get(), EVP_sha256());
    grpc::SslCredentialsOptions forged = anonymous;
    forged.pem_private_key = pki::privateKeyPem(rogue_key.get());
    forged.pem_cert_chain = pki::certPem(rogue.get());
    auto f = stub(tls_, grpc::SslCredentials(forged));
    status = sign(*f, "reviews-1", pki::csrPem(next, kReviews), "", &r);
    QVERIFY(!status.ok());
  }

  void meshdeckctlListsTheCertificates() {
    QProcess ctl;
    ctl.start(bin("meshdeckctl"),
              {"--server", QString::fromStdString(plain_), "get", "certs", "-o", "json"});
    QVERIFY(ctl.waitForFinished(10000));
    QCOMPARE(ctl.exitCode(), 0);
    const auto doc = QJsonDocument::fromJson(ctl.readAllStandardOutput());
    QVERIFY(doc.isArray());
    QStringList serials, proxies;
    for (const auto& v : doc.array()) {
      serials << v.toObject()["serial"].toString();
      proxies << v.toObject()["proxy_id"].toString();
    }
    QVERIFY2(serials.contains(QString::fromStdString(first_serial_)),
             qPrintable(serials.join(",")));
    QVERIFY(serials.contains(QString::fromStdString(renewed_serial_)));
    QVERIFY(proxies.contains("controlplane"));  // the TLS port's own certificate

    ctl.start(bin("meshdeckctl"), {"--server", QString::fromStdString(plain_), "get", "certs"});
    QVERIFY(ctl.waitForFinished(10000));
    QCOMPARE(ctl.exitCode(), 0);
    const QString table = QString::fromUtf8(ctl.readAllStandardOutput());
    QVERIFY2(table.contains("SPIFFE ID") && table.contains("reviews-1") &&
                 table.contains(QString::fromStdString(kReviews)) && table.contains("ok ("),
             qPrintable(table));
  }

  void cleanupTestCase() {
    if (server_.state() != QProcess::NotRunning) {
      server_.terminate();
      if (!server_.waitForFinished(10000)) {
        server_.kill();
        server_.waitForFinished();
      }
    }
  }

 private:
  QTemporaryDir dir_;
  QProcess server_;
  std::string plain_, tls_, reviews_token_, ratings_token_;
  pki::PKey key_;
  std::string chain_, first_serial_, renewed_serial_;
  std::vector<std::string> bundle_;
};

QTEST_GUILESS_MAIN(IdentitySignTest)
#include "identity_sign_test.moc"
