#include "common/pki/pki.h"

#include <openssl/x509v3.h>

#include <QtTest>
#include <limits>

#include "common/clock.h"

using namespace std::chrono_literals;
namespace pki = meshdeck::pki;

namespace {
// A self-signed certificate carrying exactly the SANs of `csr_pem` (the test's own tiny CA).
pki::X509Ptr selfSignedFromCsr(const pki::PKey& key, const std::string& csr_pem) {
  pki::X509ReqPtr req = pki::loadCsrPem(csr_pem);
  if (!req) return nullptr;
  pki::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 0x1234ABCD);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts); ++i)
    X509_add_ext(cert.get(), sk_X509_EXTENSION_value(exts, i), -1);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  const EVP_MD* md = pki::keyTypeOf(key.get()) == pki::KeyType::kEd25519 ? nullptr : EVP_sha256();
  if (X509_sign(cert.get(), key.get(), md) <= 0) return nullptr;
  return cert;
}
}  // namespace

class PkiTest : public QObject {
  Q_OBJECT

 private slots:
  void generatesBothKeyTypes() {
    const auto p256 = pki::generateKey(pki::KeyType::kP256);
    const auto ed = pki::generateKey(pki::KeyType::kEd25519);
    QVERIFY(p256 && ed);
    QCOMPARE(pki::keyTypeOf(p256.get()), std::optional(pki::KeyType::kP256));
    QCOMPARE(pki::keyTypeOf(ed.get()), std::optional(pki::KeyType::kEd25519));
    pki::PKey rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
    QVERIFY(rsa);
    QVERIFY(!pki::keyTypeOf(rsa.get()).has_value());
    pki::PKey p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    QVERIFY(!pki::keyTypeOf(p384.get()).has_value());
    // PEM round trip of a private key.
    const std::string pem = pki::privateKeyPem(p256.get());
    QVERIFY(pem.find("BEGIN PRIVATE KEY") != std::string::npos);
    const auto back = pki::loadPrivateKeyPem(pem);
    QVERIFY(back);
    QCOMPARE(EVP_PKEY_eq(back.get(), p256.get()), 1);
    QVERIFY(!pki::loadPrivateKeyPem("not a key"));
  }

  void parsesSpiffeIds() {
    const auto id = pki::parseSpiffeId("spiffe://meshdeck.local/ns/default/sa/reviews");
    QVERIFY(id);
    QCOMPARE(id->trust_domain, std::string("meshdeck.local"));
    QCOMPARE(id->ns, std::string("default"));
    QCOMPARE(id->service, std::string("reviews"));
    QCOMPARE(pki::formatSpiffeId(*id),
             std::string("spiffe://meshdeck.local/ns/default/sa/reviews"));
    QVERIFY(pki::parseSpiffeId("spiffe://td/ns/a_b.c-D/sa/X-1"));
    for (const char* bad : {"",
                            "spiffe://",
                            "SPIFFE://td/ns/a/sa/b",
                            "https://td/ns/a/sa/b",
                            "spiffe://td",
                            "spiffe://td/",
                            "spiffe://TD/ns/a/sa/b",
                            "spiffe://td:443/ns/a/sa/b",
                            "spiffe://user@td/ns/a/sa/b",
                            "spiffe://td/ns/a/sa/b/",
                            "spiffe://td/ns/a/sa/b?x=1",
                            "spiffe://td/ns/a/sa/b#f",
                            "spiffe://td/ns//sa/b",
                            "spiffe://td/ns/a/sa/",
                            "spiffe://td/ns/../sa/b",
                            "spiffe://td/ns/a/sa/.",
                            "spiffe://td/ns/a/sb/b",
                            "spiffe://td/ns/a/sa/b/c",
                            "spiffe://td/ns/a%20/sa/b",
                            "spiffe:///ns/a/sa/b"}) {
      std::string error;
      QVERIFY2(!pki::parseSpiffeId(bad, &error), bad);
      QVERIFY2(!error.empty(), bad);
    }
    QVERIFY(!pki::parseSpiffeId(std::string_view("spiffe://td/ns/a\0/sa/b", 22)));
    QVERIFY(!pki::parseSpiffeId("spiffe://td/ns/a/sa/" + std::string(2100, 'x')));
  }

  void csrCarriesOneUriSan() {
    for (auto type : {pki::KeyType::kP256, pki::KeyType::kEd25519}) {
      const auto key = pki::generateKey(type);
      const std::string id = "spiffe://meshdeck.local/ns/default/sa/reviews";
      const std::string pem = pki::csrPem(key, id);
      QVERIFY(pem.find("BEGIN CERTIFICATE REQUEST") != std::string::npos);
      const auto req = pki::loadCsrPem(pem);
      QVERIFY(req);
      pki::PKey pub(X509_REQ_get_pubkey(req.get()));
      QCOMPARE(X509_REQ_verify(req.get(), pub.get()), 1);
      const auto sans = pki::subjectAltNames(req.get());
      QCOMPARE(sans.total(), size_t{1});
      QCOMPARE(sans.uris, std::vector<std::string>{id});
      // An invalid identity produces no CSR.
      QVERIFY(pki::csrPem(key, "spiffe://td/ns/a").empty());
      QVERIFY(pki::csrPem(key, "https://example.com/").empty());
    }
  }

  void extractsSpiffeIdFromCertificates() {
    const auto key = pki::generateKey(pki::KeyType::kP256);
    const std::string id = "spiffe://meshdeck.local/ns/shop/sa/cart";
    // One URI SAN (plus a DNS SAN, which does not matter): the id.
    auto one = selfSignedFromCsr(key, pki::csrPemWithSans(key, {id}, {"cart.local"}));
    QVERIFY(one);
    QCOMPARE(pki::spiffeIdOf(one.get()), std::optional<std::string>(id));
    const auto sans = pki::subjectAltNames(one.get());
    QCOMPARE(sans.dns, std::vector<std::string>{"cart.local"});
    // Two URI SANs: no identity.
    auto two = selfSignedFromCsr(
        key, pki::csrPemWithSans(key, {id, "spiffe://meshdeck.local/ns/shop/sa/admin"}, {}));
    QVERIFY(two);
    QCOMPARE(pki::subjectAltNames(two.get()).uris.size(), size_t{2});
    QVERIFY(!pki::spiffeIdOf(two.get()).has_value());
    // No SAN at all, or a URI that is not a SPIFFE id: no identity.
    auto none = selfSignedFromCsr(key, pki::csrPemWithSans(key, {}, {"x.local"}));
    QVERIFY(none);
    QVERIFY(!pki::spiffeIdOf(none.get()).has_value());
    auto https = selfSignedFromCsr(key, pki::csrPemWithSans(key, {"https://x.local/"}, {}));
    QVERIFY(https);
    QVERIFY(!pki::spiffeIdOf(https.get()).has_value());
    QVERIFY(!pki::spiffeIdOf(nullptr).has_value());
  }

  void readsCertificateFactsAndPem() {
    const auto key = pki::generateKey(pki::KeyType::kEd25519);
    const std::string id = "spiffe://meshdeck.local/ns/shop/sa/cart";
    auto cert = selfSignedFromCsr(key, pki::csrPem(key, id));
    QVERIFY(cert);
    const auto info = pki::certificateInfo(cert.get());
    QVERIFY(info);
    QCOMPARE(info->serial_hex, std::string("1234ABCD"));
    QCOMPARE(info->issuer, std::string("CN=test"));
    QCOMPARE(info->spiffe_id, std::optional<std::string>(id));
    QCOMPARE(info->not_after - info->not_before, std::chrono::system_clock::duration(3600s));
    const auto now = std::chrono::system_clock::now();
    QVERIFY(info->not_before <= now + 1s && info->not_before >= now - 60s);

    const std::string pem = pki::certPem(cert.get());
    const auto back = pki::loadCertPem(pem);
    QVERIFY(back);
    QCOMPARE(X509_cmp(back.get(), cert.get()), 0);
    QCOMPARE(pki::loadCertChainPem(pem + pem).size(), size_t{2});
    QVERIFY(pki::loadCertChainPem(pem + "-----BEGIN CERTIFICATE-----\nAAAA\n").empty());
    QVERIFY(pki::loadCertChainPem("garbage").empty());
    QVERIFY(!pki::loadCertPem("garbage"));

    // Self-signed: verifies against itself, not against another root, not in the future.
    std::string error;
    QVERIFY2(pki::verifyCertificate(cert.get(), {}, {cert.get()}, now, &error), error.c_str());
    const auto other_key = pki::generateKey(pki::KeyType::kP256);
    auto other = selfSignedFromCsr(other_key, pki::csrPem(other_key, id));
    QVERIFY(!pki::verifyCertificate(cert.get(), {}, {other.get()}, now, &error));
    QVERIFY(!error.empty());
    QVERIFY(!pki::verifyCertificate(cert.get(), {}, {cert.get()}, now + 2h, &error));
    QVERIFY2(error.find("expired") != std::string::npos, error.c_str());
    QVERIFY(!pki::verifyCertificate(cert.get(), {}, {}, now, &error));
  }

  void renewsAtHalfLifeWithinJitter() {
    meshdeck::common::SimulatedTimeSource clock;
    const auto nb = clock.systemNow();
    const auto na = nb + 24h;
    QCOMPARE(pki::renewalTime(nb, na, 0.0, 12345), nb + 12h);
    QCOMPARE(pki::renewalTime(nb, na, 0.1, 0), nb + 12h - std::chrono::minutes(144));
    const auto latest = pki::renewalTime(nb, na, 0.1, std::numeric_limits<uint64_t>::max());
    QVERIFY(latest - (nb + 12h + std::chrono::minutes(144)) < 1ms);
    QVERIFY((nb + 12h + std::chrono::minutes(144)) - latest < 1ms);
    // Spread: every value lies within the band, and both halves of the band are used.
    uint64_t x = 88172645463325252ull;
    int early = 0, late = 0;
    for (int i = 0; i < 1000; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const auto t = pki::renewalTime(nb, na, 0.1, x);
      QVERIFY(t >= nb + 12h - std::chrono::minutes(144));
      QVERIFY(t <= nb + 12h + std::chrono::minutes(144));
      (t < nb + 12h ? early : late)++;
    }
    QVERIFY(early > 400 && late > 400);
    // Huge jitter is clamped to the lifetime; empty or inverted intervals give not_before.
    QCOMPARE(pki::renewalTime(nb, na, 5.0, 0), nb);
    QCOMPARE(pki::renewalTime(nb, nb, 0.1, 99), nb);
    QCOMPARE(pki::renewalTime(na, nb, 0.1, 99), na);
    // The renewal is due once the simulated clock passes it.
    const auto due = pki::renewalTime(nb, na, 0.1, 1ull << 63);
    clock.advance(11h);
    QVERIFY(clock.systemNow() < due);
    clock.advance(2h);
    QVERIFY(clock.systemNow() >= due);
  }

  void classifiesValidity() {
    meshdeck::common::SimulatedTimeSource clock;
    const auto nb = clock.systemNow();
    const auto na = nb + 10h;
    using V = pki::Validity;
    QCOMPARE(pki::validityAt(nb, na, nb - 1s), V::kNotYetValid);
    QCOMPARE(pki::validityAt(nb, na, nb), V::kValid);
    QCOMPARE(pki::validityAt(nb, na, nb + 7h + 59min), V::kValid);
    QCOMPARE(pki::validityAt(nb, na, nb + 8h), V::kExpiringSoon);  // last 20 %
    QCOMPARE(pki::validityAt(nb, na, na - 1s), V::kExpiringSoon);
    QCOMPARE(pki::validityAt(nb, na, na), V::kExpired);
    QCOMPARE(pki::validityAt(nb, na, nb + 6h, 0.5), V::kExpiringSoon);
  }
};

QTEST_GUILESS_MAIN(PkiTest)
#include "pki_test.moc"
