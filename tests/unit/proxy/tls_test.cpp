// Unit tests of proxy/tls: SPIFFE id extraction and checks, first-byte detection, the TLS
// contexts (TLS 1.3 only, client certificates required, refusal reasons), rotation (a context
// swapped out keeps serving its connections) and client-side session resumption. Handshakes
// run over in-memory BIO pairs: no sockets, no clock.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <QtTest>
#include <boost/asio/ssl/error.hpp>

#include "proxy/tls/spiffe.h"
#include "proxy/tls/tls_contexts.h"
#include "support/test_certificates.h"

using namespace meshdeck::proxy;
using namespace meshdeck::test;

namespace {

constexpr const char* kProductpage = "spiffe://meshdeck.local/ns/default/sa/productpage";
constexpr const char* kReviews = "spiffe://meshdeck.local/ns/default/sa/reviews";

tls::TlsContextsPtr contextsFor(const TestCertificate& leaf, const std::string& bundle) {
  std::string error;
  auto c = tls::TlsContexts::create({leaf.cert_pem, leaf.key_pem, bundle}, &error);
  if (!c) qWarning("TlsContexts::create: %s", error.c_str());
  return c;
}

// One client and one server SSL connected by an in-memory BIO pair.
struct Connection {
  SSL* client = nullptr;
  SSL* server = nullptr;
  bool client_ok = false;
  bool server_ok = false;
  unsigned long server_error = 0;  // first OpenSSL error of a failed server handshake
  Connection(SSL_CTX* client_ctx, SSL_CTX* server_ctx) {
    client = SSL_new(client_ctx);
    server = SSL_new(server_ctx);
    BIO *bc = nullptr, *bs = nullptr;
    BIO_new_bio_pair(&bc, 0, &bs, 0);
    SSL_set_bio(client, bc, bc);
    SSL_set_bio(server, bs, bs);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
  }
  ~Connection() {
    // As the proxy's MeshStream does: closing without close_notify must not make the session
    // unresumable.
    SSL_set_shutdown(client, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(server, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(client);
    SSL_free(server);
  }
  static bool retry(SSL* ssl, int rc) {
    const int e = SSL_get_error(ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  }
  // Drives both sides until both finished or one failed (bounded).
  void handshake() {
    bool client_failed = false, server_failed = false;
    for (int i = 0; i < 50 && !(client_ok && server_ok) && !server_failed && !client_failed; ++i) {
      if (!client_ok) {
        ERR_clear_error();
        const int rc = SSL_do_handshake(client);
        if (rc == 1)
          client_ok = true;
        else if (!retry(client, rc))
          client_failed = true;
      }
      if (!server_ok) {
        ERR_clear_error();
        const int rs = SSL_do_handshake(server);
        if (rs == 1) {
          server_ok = true;
        } else if (!retry(server, rs)) {
          server_failed = true;
          server_error = ERR_get_error();
        }
      }
    }
    ERR_clear_error();
  }
  // Server writes `text`, client reads it (this also makes the client process session
  // tickets). Returns what the client read.
  std::string serverToClient(const std::string& text) {
    SSL_write(server, text.data(), static_cast<int>(text.size()));
    char buf[256];
    const int n = SSL_read(client, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  std::string serverReason() const {
    const boost::system::error_code ec(static_cast<int>(server_error),
                                       boost::asio::error::get_ssl_category());
    return tls::handshakeFailureReason(ec, server);
  }
};

}  // namespace

class TlsTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    ca_ = std::make_unique<TestCa>("meshdeck test root");
    productpage_ = ca_->issue(kProductpage);
    reviews_ = ca_->issue(kReviews);
  }

  void spiffeIdSyntax() {
    QVERIFY(tls::isSpiffeId(kReviews));
    QVERIFY(tls::isSpiffeId("spiffe://td/ns/x/sa/y"));
    QVERIFY(!tls::isSpiffeId("spiffe://td/x"));  // mesh ids are ns/<ns>/sa/<service>
    QVERIFY(!tls::isSpiffeId("spiffe://meshdeck.local"));
    QVERIFY(!tls::isSpiffeId("spiffe://meshdeck.local/"));
    QVERIFY(!tls::isSpiffeId("spiffe:///ns/a"));
    QVERIFY(!tls::isSpiffeId("spiffe://Mesh.Local/ns/a/sa/b"));  // upper case trust domain
    QVERIFY(!tls::isSpiffeId("spiffe://td/ns//sa/a"));
    QVERIFY(!tls::isSpiffeId("spiffe://td/ns/../sa/a"));
    QVERIFY(!tls::isSpiffeId("spiffe://td/ns/a/sa/b/"));
    QVERIFY(!tls::isSpiffeId("https://td/ns/a"));
    QCOMPARE(tls::trustDomainOf(kReviews), std::string_view("meshdeck.local"));
    QCOMPARE(tls::trustDomainOf("nonsense"), std::string_view());
    QCOMPARE(tls::serviceOf(kReviews), std::string_view("reviews"));
    QCOMPARE(tls::serviceOf("spiffe://td/other/path"), std::string_view());
    QCOMPARE(tls::trustDomainOf("spiffe://td/ns/a/sa/b"), std::string_view("td"));
  }

  void spiffeIdOfCertificate() {
    QCOMPARE(tls::spiffeIdOf(reviews_.cert.get()).value_or(""), std::string(kReviews));
    // Two URI SANs: ambiguous, no identity.
    auto two = ca_->issue(LeafOptions{{kReviews, kProductpage}});
    QVERIFY(!tls::spiffeIdOf(two.cert.get()));
    // No SAN, a URI of another scheme: no identity.
    QVERIFY(!tls::spiffeIdOf(ca_->issue(LeafOptions{{}}).cert.get()));
    QVERIFY(!tls::spiffeIdOf(ca_->issue("https://meshdeck.local/reviews").cert.get()));
    QVERIFY(!tls::spiffeIdOf(nullptr));
  }

  void peerIdentityChecks() {
    using C = tls::PeerIdentityCheck;
    const std::optional<std::string> none;
    const std::optional<std::string> reviews = std::string(kReviews);
    const std::optional<std::string> foreign = std::string("spiffe://other.org/ns/default/sa/x");
    QCOMPARE(tls::checkClientIdentity(reviews, "meshdeck.local"), C::kOk);
    QCOMPARE(tls::checkClientIdentity(none, "meshdeck.local"), C::kNoIdentity);
    QCOMPARE(tls::checkClientIdentity(foreign, "meshdeck.local"), C::kWrongTrustDomain);
    // Client side: any identity of the trust domain unless expectations are given.
    QCOMPARE(tls::checkServerIdentity(reviews, "meshdeck.local", {}), C::kOk);
    QCOMPARE(tls::checkServerIdentity(reviews, "meshdeck.local", {kReviews}), C::kOk);
    QCOMPARE(tls::checkServerIdentity(reviews, "meshdeck.local", {kProductpage}),
             C::kUnexpectedIdentity);
    QCOMPARE(tls::checkServerIdentity(foreign, "meshdeck.local", {}), C::kWrongTrustDomain);
    QCOMPARE(tls::checkServerIdentity(none, "meshdeck.local", {kReviews}), C::kNoIdentity);
    QCOMPARE(std::string(tls::toString(C::kUnexpectedIdentity)),
             std::string("unexpected_identity"));
  }

  void firstByteDetection() {
    QVERIFY(tls::looksLikeTlsHandshake(0x16));
    for (int c : {0x47 /* G */, 0x50, 0x48, 0x4f, 0x44, 0x43, 0x0d, 0x80, 0x15, 0x17})
      QVERIFY2(!tls::looksLikeTlsHandshake(static_cast<unsigned char>(c)), QByteArray::number(c));
  }

  void createRefusesBadMaterial() {
    std::string error;
    QVERIFY(!tls::TlsContexts::create({"", reviews_.key_pem, ca_->certPem()}, &error));
    QVERIFY(!tls::TlsContexts::create({"garbage", reviews_.key_pem, ca_->certPem()}, &error));
    QVERIFY(!tls::TlsContexts::create({reviews_.cert_pem, productpage_.key_pem, ca_->certPem()},
                                      &error));
    QVERIFY2(error.find("does not match") != std::string::npos, error.c_str());
    auto no_id = ca_->issue(LeafOptions{{}});
    QVERIFY(!tls::TlsContexts::create({no_id.cert_pem, no_id.key_pem, ca_->certPem()}, &error));
    QVERIFY2(error.find("spiffe") != std::string::npos, error.c_str());
    QVERIFY(!tls::TlsContexts::create({reviews_.cert_pem, reviews_.key_pem, "junk"}, &error));

    auto ok = contextsFor(reviews_, ca_->certPem());
    QVERIFY(ok);
    QCOMPARE(ok->identity(), std::string(kReviews));
    QCOMPARE(ok->trustDomain(), std::string("meshdeck.local"));
    QCOMPARE(ok->serialHex(), reviews_.serialHex());
    QVERIFY(ok->notAfter() > std::chrono::system_clock::now());
    auto next = contextsFor(productpage_, ca_->certPem());
    QVERIFY(next->generation() > ok->generation());
  }

  void mutualHandshakeAndRefusals() {
    auto server = contextsFor(reviews_, ca_->certPem());
    auto client = contextsFor(productpage_, ca_->certPem());
    {
      Connection c(client->client().native_handle(), server->server().native_handle());
      c.handshake();
      QVERIFY(c.client_ok && c.server_ok);
      QCOMPARE(SSL_version(c.server), TLS1_3_VERSION);
      QCOMPARE(tls::spiffeIdOf(SSL_get0_peer_certificate(c.server)).value_or(""),
               std::string(kProductpage));
      QCOMPARE(tls::spiffeIdOf(SSL_get0_peer_certificate(c.client)).value_or(""),
               std::string(kReviews));
    }
    auto refusedBecause = [&](SSL_CTX* client_ctx) {
      Connection c(client_ctx, server->server().native_handle());
      c.handshake();
      return c.server_ok ? std::string("accepted") : c.serverReason();
    };
    // A TLS 1.2 client.
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls12(SSL_CTX_new(TLS_client_method()),
                                                            &SSL_CTX_free);
    SSL_CTX_set_max_proto_version(tls12.get(), TLS1_2_VERSION);
    QCOMPARE(refusedBecause(tls12.get()), std::string("protocol_version"));
    // TLS 1.3 without a client certificate.
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> anonymous(SSL_CTX_new(TLS_client_method()),
                                                                &SSL_CTX_free);
    QCOMPARE(refusedBecause(anonymous.get()), std::string("no_client_certificate"));
    // Certificates the bundle does not vouch for, or no longer.
    auto withCert = [&](const TestCertificate& leaf, const std::string& bundle) {
      // The client trusts the server's CA; only its own certificate is in question.
      std::string error;
      auto ctx =
          tls::TlsContexts::create({leaf.cert_pem, leaf.key_pem, bundle + ca_->certPem()}, &error);
      if (!ctx) qWarning("%s", error.c_str());
      return ctx;
    };
    auto self = selfSigned(kProductpage);
    auto self_ctx = withCert(self, self.cert_pem);
    QVERIFY(self_ctx);
    QCOMPARE(refusedBecause(self_ctx->client().native_handle()), std::string("self_signed"));
    TestCa foreign("some other root");
    auto foreign_ctx = withCert(foreign.issue(kProductpage), foreign.certPem());
    const std::string foreign_reason = refusedBecause(foreign_ctx->client().native_handle());
    QVERIFY2(foreign_reason == "unknown_ca", foreign_reason.c_str());
    LeafOptions expired{{kProductpage}, -7200, -3600};
    auto expired_ctx = withCert(ca_->issue(expired), "");
    QCOMPARE(refusedBecause(expired_ctx->client().native_handle()), std::string("expired"));
  }

  void swappedContextKeepsItsConnections() {
    // A worker holds the current contexts in a shared_ptr and replaces it on rotation.
    tls::TlsContextsPtr current = contextsFor(reviews_, ca_->certPem());
    auto client = contextsFor(productpage_, ca_->certPem());
    auto before = std::make_unique<Connection>(client->client().native_handle(),
                                               current->server().native_handle());
    before->handshake();
    QVERIFY(before->client_ok && before->server_ok);

    auto renewed = ca_->issue(kReviews);
    current = contextsFor(renewed, ca_->certPem());  // the old contexts' last owner is gone
    QVERIFY(current);
    // The connection made with the old contexts still carries data both ways.
    QCOMPARE(before->serverToClient("still here"), std::string("still here"));
    SSL_write(before->client, "ping", 4);
    char buf[8];
    QCOMPARE(SSL_read(before->server, buf, sizeof buf), 4);
    // A new connection presents the renewed certificate.
    Connection after(client->client().native_handle(), current->server().native_handle());
    after.handshake();
    QVERIFY(after.client_ok && after.server_ok);
    std::unique_ptr<X509, decltype(&X509_free)> presented(SSL_get1_peer_certificate(after.client),
                                                          &X509_free);
    QCOMPARE(X509_cmp(presented.get(), renewed.cert.get()), 0);
  }

  void clientSessionsAreResumed() {
    auto server = contextsFor(reviews_, ca_->certPem());
    auto client = contextsFor(productpage_, ca_->certPem());
    tls::ClientSessionCache cache;
    const std::string key = "127.0.0.1:15006";
    {
      Connection first(client->client().native_handle(), server->server().native_handle());
      cache.prepare(first.client, key, client->generation());
      first.handshake();
      QVERIFY(first.client_ok && first.server_ok);
      QVERIFY(!SSL_session_reused(first.client));
      QCOMPARE(first.serverToClient("hello"), std::string("hello"));  // tickets processed
      QCOMPARE(cache.size(), size_t{1});
    }
    {
      Connection second(client->client().native_handle(), server->server().native_handle());
      cache.prepare(second.client, key, client->generation());
      second.handshake();
      QVERIFY(second.client_ok && second.server_ok);
      QVERIFY(SSL_session_reused(second.client));
      QVERIFY(SSL_session_reused(second.server));
      // The server still knows who the client is on a resumed session.
      QCOMPARE(tls::spiffeIdOf(SSL_get0_peer_certificate(second.server)).value_or(""),
               std::string(kProductpage));
    }
    {
      // Another endpoint has no session yet.
      Connection other(client->client().native_handle(), server->server().native_handle());
      cache.prepare(other.client, "127.0.0.1:1", client->generation());
      other.handshake();
      QVERIFY(other.client_ok && !SSL_session_reused(other.client));
    }
    {
      // After a rotation of the client's identity the old sessions are forgotten.
      auto rotated = contextsFor(ca_->issue(kProductpage), ca_->certPem());
      Connection third(rotated->client().native_handle(), server->server().native_handle());
      cache.prepare(third.client, key, rotated->generation());
      third.handshake();
      QVERIFY(third.client_ok && third.server_ok);
      QVERIFY(!SSL_session_reused(third.client));
    }
  }

 private:
  std::unique_ptr<TestCa> ca_;
  TestCertificate productpage_;
  TestCertificate reviews_;
};

QTEST_GUILESS_MAIN(TlsTest)
#include "tls_test.moc"
