// Proxies on the streams (controlplane/security/proxy_auth): each decision of
// ProxyAuthenticator with certificates from a real in-memory CA: the plaintext port open or
// closed (--no-plaintext-proxies), a TLS stream without a certificate or with an operator's,
// a node or a report of another service, namespace or proxy id than the certificate's, edges
// whose own side is another service, and a plaintext stream speaking for an authenticated proxy.
#include "controlplane/security/proxy_auth.h"

#include <QtTest>

#include "common/clock.h"
#include "common/pki/pki.h"
#include "controlplane/identity/certificate_authority.h"

using namespace meshdeck::cp::security;
using meshdeck::cp::identity::CertificateAuthority;
namespace pki = meshdeck::pki;

namespace {
constexpr const char* kTd = "meshdeck.local";
const char* kReviews = "spiffe://meshdeck.local/ns/default/sa/reviews";
}  // namespace

class ProxyAuthTest : public QObject {
  Q_OBJECT

 private:
  meshdeck::common::SimulatedTimeSource clock_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::string reviews_pem_, reviews_serial_;

  std::string workloadCert(const std::string& spiffe, const std::string& proxy_id,
                           std::string* serial = nullptr) {
    const auto key = pki::generateKey(pki::KeyType::kP256);
    const auto r = ca_->sign(pki::csrPem(key, spiffe), spiffe, std::chrono::hours(1), proxy_id);
    if (serial) *serial = r.serial_hex;
    return r.chain_pem;
  }
  ProxyAuthenticator make(bool plaintext_proxies = true) {
    return ProxyAuthenticator(kTd, ProxyAccess{plaintext_proxies},
                              [this](const std::string& s) { return ca_->issuedTo(s); });
  }
  static PeerInfo tls(const std::string& pem) { return PeerInfo{true, "ipv4:127.0.0.1:5", pem}; }
  static PeerInfo plain() { return PeerInfo{false, "ipv4:127.0.0.1:5", ""}; }

 private slots:
  void initTestCase() {
    std::string error;
    clock_.advance(std::chrono::system_clock::now() - clock_.systemNow());
    ca_ = CertificateAuthority::openOrCreate({}, kTd, clock_, &error);
    QVERIFY2(ca_, error.c_str());
    reviews_pem_ = workloadCert(kReviews, "reviews-1", &reviews_serial_);
    QVERIFY(!reviews_pem_.empty());
  }

  void plaintextStreamsAreServedUnlessClosed() {
    auto open = make(true);
    std::string error;
    const auto p = open.admit(plain(), "telemetry", &error);
    QVERIFY(p);
    QVERIFY(!p->authenticated());
    QCOMPARE(open.streamsRefused(), uint64_t{0});
    auto closed = make(false);
    QVERIFY(!closed.admit(plain(), "telemetry", &error));
    QCOMPARE(error, std::string("telemetry stream refused: the plaintext port serves no proxies "
                                "(--no-plaintext-proxies); proxies with a workload certificate "
                                "stream over the TLS port (meshdeck-proxy --control-plane-tls)"));
    QCOMPARE(closed.streamsRefused(), uint64_t{1});
    // The TLS port stays open to proxies.
    QVERIFY(closed.admit(tls(reviews_pem_), "telemetry", &error));
  }

  void aTlsStreamIsBoundToItsCertificate() {
    auto auth = make();
    std::string error;
    const auto p = auth.admit(tls(reviews_pem_), "discovery", &error);
    QVERIFY2(p, error.c_str());
    QVERIFY(p->authenticated());
    QCOMPARE(p->spiffe_id, std::string(kReviews));
    QCOMPARE(p->service, std::string("reviews"));
    QCOMPARE(p->ns, std::string("default"));
    QCOMPARE(p->serial_hex, reviews_serial_);
    QCOMPARE(p->issued_to, std::string("reviews-1"));
  }

  void aTlsStreamWithoutAWorkloadCertificateIsRefused() {
    auto auth = make();
    std::string error;
    QVERIFY(!auth.admit(tls(""), "discovery", &error));
    QCOMPARE(error, std::string("discovery stream refused: no client certificate; on the TLS port "
                                "a proxy is authenticated by its workload certificate"));
    const auto op = ca_->issueClientCertificate("spiffe://meshdeck.local/operator/alice",
                                                std::chrono::hours(1), "operator:alice", &error);
    QVERIFY(op);
    QVERIFY(!auth.admit(tls(op->chain_pem), "telemetry", &error));
    QCOMPARE(error, std::string("telemetry stream refused: spiffe://meshdeck.local/operator/alice "
                                "is not a workload identity of this mesh "
                                "(spiffe://meshdeck.local/ns/<namespace>/sa/<service>)"));
    QCOMPARE(auth.streamsRefused(), uint64_t{2});
  }

  void aNodeOfAnotherIdentityIsRefused() {
    auto auth = make();
    std::string error;
    const auto p = *auth.admit(tls(reviews_pem_), "discovery", &error);
    QCOMPARE(auth.checkNode(p, "reviews-1", "default", "reviews", kReviews, std::nullopt),
             std::string());
    QCOMPARE(auth.checkNode(p, "reviews-1", "default", "reviews", "", std::nullopt), std::string());
    QCOMPARE(auth.checkNode(p, "ratings-1", "default", "ratings", "", std::nullopt),
             std::string("discovery refused: the node is service ratings in namespace default, "
                         "but the client certificate is " +
                         std::string(kReviews)));
    QCOMPARE(auth.checkNode(p, "reviews-1", "prod", "reviews", "", std::nullopt),
             std::string("discovery refused: the node is service reviews in namespace prod, but "
                         "the client certificate is " +
                         std::string(kReviews)));
    QCOMPARE(auth.checkNode(p, "reviews-1", "default", "reviews",
                            "spiffe://meshdeck.local/ns/default/sa/ratings", std::nullopt),
             std::string("discovery refused: the node claims "
                         "spiffe://meshdeck.local/ns/default/sa/ratings, but the client "
                         "certificate is " +
                         std::string(kReviews)));
    // Same service, but the certificate was issued to another proxy.
    QCOMPARE(auth.checkNode(p, "reviews-2", "default", "reviews", "", std::nullopt),
             std::string("discovery refused: the node is proxy reviews-2, but the client "
                         "certificate was issued to proxy reviews-1"));
    QCOMPARE(auth.identityRefused(), uint64_t{4});
  }

  void aPlaintextStreamCannotSpeakForAnAuthenticatedProxy() {
    auto auth = make();
    std::string error;
    const auto p = *auth.admit(plain(), "discovery", &error);
    const RegisteredProxy authenticated{"default", "reviews", kReviews, true};
    const RegisteredProxy plaintext{"default", "reviews", "", false};
    QCOMPARE(auth.checkNode(p, "reviews-1", "default", "reviews", "", plaintext), std::string());
    QCOMPARE(auth.checkNode(p, "reviews-1", "default", "reviews", "", authenticated),
             std::string("discovery refused: proxy reviews-1 is " + std::string(kReviews) +
                         ": it connects over the TLS port with its certificate, never on the "
                         "plaintext port"));
    QCOMPARE(auth.checkReport(p, "reviews-1", plaintext, {}), std::string());
    QCOMPARE(auth.checkReport(p, "reviews-1", authenticated, {}),
             std::string("telemetry refused: proxy reviews-1 is " + std::string(kReviews) +
                         ": its reports come over the TLS port with its certificate, never on "
                         "the plaintext port"));
    QCOMPARE(auth.identityRefused(), uint64_t{2});
  }

  void aReportOfAnotherIdentityIsRefused() {
    auto auth = make();
    std::string error;
    const auto p = *auth.admit(tls(reviews_pem_), "telemetry", &error);
    const RegisteredProxy reviews{"default", "reviews", kReviews, true};
    const RegisteredProxy ratings{"default", "ratings", "", false};
    const std::vector<ReportedEdge> own{{true, "reviews", "ratings"},
                                        {false, "productpage", "reviews"}};
    QCOMPARE(auth.checkReport(p, "reviews-1", reviews, own), std::string());
    // Before the proxy connected for discovery: the edges still must be its own.
    QCOMPARE(auth.checkReport(p, "reviews-1", std::nullopt, own), std::string());
    QCOMPARE(auth.checkReport(p, "ratings-1", ratings, own),
             std::string("telemetry refused: a report for proxy ratings-1 with the certificate "
                         "issued to proxy reviews-1"));
    // A certificate this process did not issue (before a restart): the registry decides.
    ProxyPeer unknown = p;
    unknown.issued_to.clear();
    QCOMPARE(auth.checkReport(unknown, "ratings-1", ratings, own),
             std::string("telemetry refused: a report for proxy ratings-1 (service ratings in "
                         "namespace default) with the certificate of " +
                         std::string(kReviews)));
    QCOMPARE(auth.checkReport(p, "reviews-1", std::nullopt, {{true, "ratings", "details"}}),
             std::string("telemetry refused: a client-side edge ratings -> details reported with "
                         "the certificate of " +
                         std::string(kReviews) +
                         ", whose proxies only report edges of service "
                         "reviews"));
    QCOMPARE(auth.checkReport(p, "reviews-1", std::nullopt, {{false, "reviews", "ratings"}}),
             std::string("telemetry refused: a server-side edge reviews -> ratings reported with "
                         "the certificate of " +
                         std::string(kReviews) +
                         ", whose proxies only report edges of service "
                         "reviews"));
    QCOMPARE(auth.identityRefused(), uint64_t{4});
  }
};

QTEST_GUILESS_MAIN(ProxyAuthTest)
#include "proxy_auth_test.moc"
