#include "controlplane/identity/certificate_authority.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <QtTest>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/pki/pki.h"
#include "controlplane/identity/bootstrap_tokens.h"
#include "controlplane/identity/server_tls_files.h"

using namespace std::chrono_literals;
namespace pki = meshdeck::pki;
using meshdeck::cp::identity::BootstrapTokens;
using meshdeck::cp::identity::CertificateAuthority;
using meshdeck::cp::identity::SignError;

namespace {
const std::string kTd = "meshdeck.local";
const std::string kId = "spiffe://meshdeck.local/ns/default/sa/reviews";

std::unique_ptr<CertificateAuthority> memoryCa(meshdeck::common::TimeSource& clock) {
  std::string error;
  auto ca = CertificateAuthority::openOrCreate({}, kTd, clock, &error);
  if (!ca) qWarning("%s", error.c_str());
  return ca;
}

// True when `chain_pem`'s leaf verifies against `bundle` at `at`.
bool verifies(const std::string& chain_pem, const std::vector<std::string>& bundle,
              pki::TimePoint at, std::string* error = nullptr) {
  const auto leaf = pki::loadCertPem(chain_pem);
  std::vector<pki::X509Ptr> roots;
  std::vector<X509*> raw;
  for (const auto& pem : bundle) {
    roots.push_back(pki::loadCertPem(pem));
    raw.push_back(roots.back().get());
  }
  return leaf && pki::verifyCertificate(leaf.get(), {}, raw, at, error);
}

// `csr_pem` with one byte of the signed part changed ("reviews" → "reviewz"), re-encoded.
std::string tamperedCsr(const std::string& csr_pem) {
  const auto req = pki::loadCsrPem(csr_pem);
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  const size_t at = bytes.find("reviews");
  if (at == std::string::npos) return {};
  bytes[at + 6] = 'z';
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
  pki::X509ReqPtr back(d2i_X509_REQ(nullptr, &p, static_cast<long>(bytes.size())));
  if (!back) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, back.get());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

unsigned modeOf(const std::filesystem::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}
}  // namespace

class CertificateAuthorityTest : public QObject {
  Q_OBJECT

 private slots:
  void signsGoodP256AndEd25519Csrs() {
    meshdeck::common::SimulatedTimeSource clock;
    auto ca = memoryCa(clock);
    QVERIFY(ca);
    for (auto type : {pki::KeyType::kP256, pki::KeyType::kEd25519}) {
      const auto key = pki::generateKey(type);
      const auto r = ca->sign(pki::csrPem(key, kId), kId, 1h, "reviews-1");
      QVERIFY2(r.ok, r.error.c_str());
      QCOMPARE(r.spiffe_id, kId);
      const auto leaf = pki::loadCertPem(r.chain_pem);
      QVERIFY(leaf);
      // The leaf holds the CSR's key and exactly one SAN, the identity.
      QCOMPARE(EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), key.get()), 1);
      QCOMPARE(pki::spiffeIdOf(leaf.get()), std::optional<std::string>(kId));
      QCOMPARE(pki::subjectAltNames(leaf.get()).total(), size_t{1});
      // Validity: backdated 60 s, ttl as asked.
      QCOMPARE(r.not_before, clock.systemNow() - 60s);
      QCOMPARE(r.not_after, clock.systemNow() + 1h);
      // Extensions: CA:FALSE critical, digitalSignature critical, server+client auth, SAN
      // critical, SKI and AKI.
      int crit = -1;
      auto* bc = static_cast<BASIC_CONSTRAINTS*>(
          X509_get_ext_d2i(leaf.get(), NID_basic_constraints, &crit, nullptr));
      QVERIFY(bc);
      QCOMPARE(bc->ca, 0);
      QCOMPARE(crit, 1);
      BASIC_CONSTRAINTS_free(bc);
      QVERIFY(X509_get_key_usage(leaf.get()) & KU_DIGITAL_SIGNATURE);
      QVERIFY(!(X509_get_key_usage(leaf.get()) & KU_KEY_CERT_SIGN));
      QCOMPARE(X509_get_extended_key_usage(leaf.get()), uint32_t{XKU_SSL_SERVER | XKU_SSL_CLIENT});
      const int san = X509_get_ext_by_NID(leaf.get(), NID_subject_alt_name, -1);
      QVERIFY(san >= 0);
      QCOMPARE(X509_EXTENSION_get_critical(X509_get_ext(leaf.get(), san)), 1);
      QVERIFY(X509_get0_subject_key_id(leaf.get()));
      QVERIFY(X509_get0_authority_key_id(leaf.get()));
      // Serial: random, at least 64 bits in practice (128 random bits).
      QVERIFY(r.serial_hex.size() >= 16);
      // Verifies against the trust bundle (X509_verify_cert), and not after expiry.
      std::string error;
      QVERIFY2(verifies(r.chain_pem, ca->trustBundlePem(), clock.systemNow(), &error),
               error.c_str());
      QVERIFY(!verifies(r.chain_pem, ca->trustBundlePem(), clock.systemNow() + 2h));
      QCOMPARE(ca->verifyPeer(r.chain_pem, &error), std::optional<std::string>(kId));
    }
    QCOMPARE(ca->counters().signed_ok, uint64_t{2});
    // Two serials differ.
    const auto issued = ca->issued();
    QCOMPARE(issued.size(), size_t{2});
    QVERIFY(issued[0].serial_hex != issued[1].serial_hex);
    QCOMPARE(issued[0].proxy_id, std::string("reviews-1"));
  }

  void refusesBadCsrsWithSpecificErrors() {
    meshdeck::common::SimulatedTimeSource clock;
    auto ca = memoryCa(clock);
    QVERIFY(ca);
    const auto key = pki::generateKey(pki::KeyType::kP256);
    auto expectRefused = [&](const std::string& csr, SignError kind, const char* words) {
      const auto r = ca->sign(csr, kId, 1h, "p");
      QVERIFY(!r.ok);
      QCOMPARE(static_cast<int>(r.error_kind), static_cast<int>(kind));
      QVERIFY2(r.error.find(words) != std::string::npos, r.error.c_str());
      QVERIFY(r.chain_pem.empty());
    };
    // RSA key.
    pki::PKey rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
    QVERIFY(rsa);
    X509_REQ* raw = X509_REQ_new();
    // Build the RSA CSR by hand (csrPem refuses nothing, but sign needs a known key type).
    X509_REQ_set_pubkey(raw, rsa.get());
    X509_REQ_sign(raw, rsa.get(), EVP_sha256());
    pki::X509ReqPtr rsa_req(raw);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(bio, rsa_req.get());
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    const std::string rsa_csr(data, static_cast<size_t>(n));
    BIO_free(bio);
    expectRefused(rsa_csr, SignError::kKeyType, "RSA");
    // Two URI SANs.
    expectRefused(
        pki::csrPemWithSans(key, {kId, "spiffe://meshdeck.local/ns/default/sa/admin"}, {}),
        SignError::kSanCount, "exactly one URI SAN");
    // No SAN.
    expectRefused(pki::csrPemWithSans(key, {}, {}), SignError::kSanCount, "it has 0");
    // A DNS SAN next to the right URI.
    expectRefused(pki::csrPemWithSans(key, {kId}, {"reviews.local"}), SignError::kSanType,
                  "DNS \"reviews.local\"");
    // Another identity.
    expectRefused(pki::csrPem(key, "spiffe://meshdeck.local/ns/default/sa/payments"),
                  SignError::kWrongIdentity, "may only get");
    // Right shape, foreign trust domain asked for and expected.
    {
      const std::string foreign = "spiffe://other.org/ns/default/sa/reviews";
      const auto r = ca->sign(pki::csrPem(key, foreign), foreign, 1h, "p");
      QVERIFY(!r.ok);
      QCOMPARE(static_cast<int>(r.error_kind), static_cast<int>(SignError::kWrongIdentity));
    }
    // Tampered: the SAN changed after signing (so the identity would even match).
    const std::string tampered = tamperedCsr(pki::csrPem(key, kId));
    QVERIFY(!tampered.empty());
    {
      const auto r = ca->sign(tampered, "spiffe://meshdeck.local/ns/default/sa/reviewz", 1h, "p");
      QVERIFY(!r.ok);
      QCOMPARE(static_cast<int>(r.error_kind), static_cast<int>(SignError::kBadSignature));
    }
    // Not a CSR.
    expectRefused("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                  SignError::kMalformedCsr, "PKCS#10");
    expectRefused("", SignError::kMalformedCsr, "PKCS#10");

    const auto c = ca->counters();
    QCOMPARE(c.signed_ok, uint64_t{0});
    QCOMPARE(c.refused[static_cast<size_t>(SignError::kKeyType)], uint64_t{1});
    QCOMPARE(c.refused[static_cast<size_t>(SignError::kSanCount)], uint64_t{2});
    QCOMPARE(c.refused[static_cast<size_t>(SignError::kSanType)], uint64_t{1});
    QCOMPARE(c.refused[static_cast<size_t>(SignError::kWrongIdentity)], uint64_t{2});
    QCOMPARE(c.refused[static_cast<size_t>(SignError::kBadSignature)], uint64_t{1});
    QCOMPARE(c.refused[static_cast<size_t>(SignError::kMalformedCsr)], uint64_t{2});
    QVERIFY(ca->issued().empty());
  }

  void capsTheLifetime() {
    meshdeck::common::SimulatedTimeSource clock;
    auto ca = memoryCa(clock);
    QVERIFY(ca);
    const auto key = pki::generateKey(pki::KeyType::kEd25519);
    const auto def = ca->sign(pki::csrPem(key, kId), kId, 0s, "p");
    QVERIFY(def.ok);
    QCOMPARE(def.not_after, clock.systemNow() + 24h);
    const auto longest = ca->sign(pki::csrPem(key, kId), kId, 30 * 24h, "p");
    QVERIFY(longest.ok);
    QCOMPARE(longest.not_after, clock.systemNow() + 7 * 24h);
    // Expired certificates leave the registry.
    QCOMPARE(ca->issued().size(), size_t{2});
    clock.advance(25h);
    QCOMPARE(ca->issued().size(), size_t{1});
  }

  void persistsTheRootWithAPrivateKeyFile() {
    meshdeck::common::SimulatedTimeSource clock;
    QTemporaryDir dir;
    const std::filesystem::path state = dir.path().toStdString();
    const auto file = state / "identity" / "ca.json";
    std::string error;
    std::vector<std::string> bundle;
    std::string chain;
    {
      auto ca = CertificateAuthority::openOrCreate(state, kTd, clock, &error);
      QVERIFY2(ca, error.c_str());
      bundle = ca->trustBundlePem();
      const auto key = pki::generateKey(pki::KeyType::kP256);
      chain = ca->sign(pki::csrPem(key, kId), kId, 1h, "p").chain_pem;
    }
    QCOMPARE(modeOf(file), 0600u);
    QCOMPARE(modeOf(state / "identity"), 0700u);
    {
      // Reopened: the same root, earlier leaves still verify.
      auto ca = CertificateAuthority::openOrCreate(state, kTd, clock, &error);
      QVERIFY2(ca, error.c_str());
      QCOMPARE(ca->trustBundlePem(), bundle);
      QVERIFY(verifies(chain, ca->trustBundlePem(), clock.systemNow()));
    }
    // Another trust domain is refused.
    QVERIFY(!CertificateAuthority::openOrCreate(state, "other.org", clock, &error));
    QVERIFY2(error.find("other.org") != std::string::npos, error.c_str());
    // A group/world readable key file is refused with a clear error.
    for (const auto mode : {0640u, 0604u, 0660u}) {
      QCOMPARE(::chmod(file.c_str(), mode), 0);
      error.clear();
      QVERIFY(!CertificateAuthority::openOrCreate(state, kTd, clock, &error));
      QVERIFY2(error.find("chmod 600") != std::string::npos, error.c_str());
      QVERIFY2(error.find("group or others") != std::string::npos, error.c_str());
    }
    QCOMPARE(::chmod(file.c_str(), 0600), 0);
    QVERIFY(CertificateAuthority::openOrCreate(state, kTd, clock, &error));
    // A corrupted state is refused, not replaced.
    QVERIFY(meshdeck::common::writeFileAtomically(file, "{\"version\":1}", &error, 0600));
    QVERIFY(!CertificateAuthority::openOrCreate(state, kTd, clock, &error));
    QVERIFY2(error.find("not a valid CA state") != std::string::npos, error.c_str());
    QVERIFY(meshdeck::common::writeFileAtomically(file, "garbage", &error, 0600));
    QVERIFY(!CertificateAuthority::openOrCreate(state, kTd, clock, &error));
    // An invalid trust domain is refused up front.
    QVERIFY(!CertificateAuthority::openOrCreate({}, "Bad Domain", clock, &error));
  }

  void rotatesTheRoot() {
    meshdeck::common::SimulatedTimeSource clock;
    QTemporaryDir dir;
    const std::filesystem::path state = dir.path().toStdString();
    std::string error;
    auto ca = CertificateAuthority::openOrCreate(state, kTd, clock, &error);
    QVERIFY2(ca, error.c_str());
    const auto key = pki::generateKey(pki::KeyType::kP256);
    const auto old_leaf = ca->sign(pki::csrPem(key, kId), kId, 1h, "p");
    QVERIFY(old_leaf.ok);
    QVERIFY(!ca->retireOldRoot(&error));  // nothing to retire yet

    QVERIFY2(ca->beginRootRotation(&error), error.c_str());
    QVERIFY(ca->rotationInProgress());
    QVERIFY(!ca->beginRootRotation(&error));  // one rotation at a time
    const auto bundle = ca->trustBundlePem();
    QCOMPARE(bundle.size(), size_t{2});
    const auto new_leaf = ca->sign(pki::csrPem(key, kId), kId, 1h, "p");
    QVERIFY(new_leaf.ok);
    QVERIFY(new_leaf.issuer != old_leaf.issuer);
    const auto now = clock.systemNow();
    QVERIFY(verifies(old_leaf.chain_pem, bundle, now));
    QVERIFY(verifies(new_leaf.chain_pem, bundle, now));
    // The new leaf really chains to the new root only.
    QVERIFY(verifies(new_leaf.chain_pem, {bundle.front()}, now));
    QVERIFY(!verifies(new_leaf.chain_pem, {bundle.back()}, now));
    {
      // The rotation survives a restart.
      auto again = CertificateAuthority::openOrCreate(state, kTd, clock, &error);
      QVERIFY2(again, error.c_str());
      QCOMPARE(again->trustBundlePem(), bundle);
    }

    QVERIFY2(ca->retireOldRoot(&error), error.c_str());
    const auto after = ca->trustBundlePem();
    QCOMPARE(after.size(), size_t{1});
    QCOMPARE(after.front(), bundle.front());
    QVERIFY(verifies(new_leaf.chain_pem, after, now));
    QVERIFY(!verifies(old_leaf.chain_pem, after, now));
    QVERIFY(!ca->verifyPeer(old_leaf.chain_pem, &error));
    auto reopened = CertificateAuthority::openOrCreate(state, kTd, clock, &error);
    QVERIFY2(reopened, error.c_str());
    QCOMPARE(reopened->trustBundlePem(), after);
  }

  void describesTheRootsDuringARotation() {
    meshdeck::common::SimulatedTimeSource clock;
    auto ca = memoryCa(clock);
    QVERIFY(ca);
    std::string error;
    const auto before = ca->activeRoot();
    QCOMPARE(before.fingerprint_sha256.size(), size_t{32 * 3 - 1});  // "AB:CD:..."
    QVERIFY(before.subject.find("Meshdeck Root CA") != std::string::npos);
    QVERIFY(before.not_after > clock.systemNow() + 24h * 365 * 9);
    QVERIFY(ca->retiringRoots().empty());
    const auto key = pki::generateKey(pki::KeyType::kP256);
    const auto old_leaf = ca->sign(pki::csrPem(key, kId), kId, 1h, "p");
    QCOMPARE(old_leaf.issuer, ca->activeIssuer());

    QVERIFY2(ca->beginRootRotation(&error), error.c_str());
    const auto after = ca->activeRoot();
    QVERIFY(after.fingerprint_sha256 != before.fingerprint_sha256);
    QCOMPARE(ca->retiringRoots().size(), size_t{1});
    QCOMPARE(ca->retiringRoots().front().fingerprint_sha256, before.fingerprint_sha256);
    // Leaves of the old root are told apart by their issuer name.
    QVERIFY(old_leaf.issuer != ca->activeIssuer());
    QCOMPARE(ca->sign(pki::csrPem(key, kId), kId, 1h, "p").issuer, ca->activeIssuer());
    QVERIFY2(ca->retireOldRoot(&error), error.c_str());
    QVERIFY(ca->retiringRoots().empty());
    QCOMPARE(ca->activeRoot().fingerprint_sha256, after.fingerprint_sha256);
  }

  void serverTlsFilesSwapWholeGenerations() {
    QTemporaryDir dir;
    const std::filesystem::path tls = std::filesystem::path(dir.path().toStdString()) / "tls";
    std::string error;
    auto files = meshdeck::cp::identity::ServerTlsFiles::open(tls, &error);
    QVERIFY2(files, error.c_str());
    QCOMPARE(modeOf(tls), 0700u);
    for (int i = 1; i <= 4; ++i) {
      const std::string n = std::to_string(i);
      QVERIFY2(files->update("key" + n, "cert" + n, "roots" + n, &error), error.c_str());
      std::string text;
      QVERIFY(meshdeck::common::readFile(files->keyPath(), &text, &error));
      QCOMPARE(text, "key" + n);
      QVERIFY(meshdeck::common::readFile(files->certPath(), &text, &error));
      QCOMPARE(text, "cert" + n);
      QVERIFY(meshdeck::common::readFile(files->rootsPath(), &text, &error));
      QCOMPARE(text, "roots" + n);
      QCOMPARE(modeOf(files->keyPath()), 0600u);
      QVERIFY(std::filesystem::is_symlink(tls / "current"));
    }
    // The current and the previous generation are kept, older ones removed.
    QVERIFY(std::filesystem::exists(tls / "gen-4"));
    QVERIFY(std::filesystem::exists(tls / "gen-3"));
    QVERIFY(!std::filesystem::exists(tls / "gen-2"));
    QVERIFY(!std::filesystem::exists(tls / "gen-1"));
    // Reopened (a restart): numbering continues, nothing is overwritten in place.
    files = meshdeck::cp::identity::ServerTlsFiles::open(tls, &error);
    QVERIFY2(files, error.c_str());
    QCOMPARE(files->generation(), uint64_t{4});
    QVERIFY(files->update("k", "c", "r", &error));
    QVERIFY(std::filesystem::exists(tls / "gen-5"));

    // Without a directory: a private temporary one, removed with the object.
    auto temporary = meshdeck::cp::identity::ServerTlsFiles::open({}, &error);
    QVERIFY2(temporary, error.c_str());
    QVERIFY(temporary->update("k", "c", "r", &error));
    const auto where = temporary->keyPath().parent_path().parent_path();
    QCOMPARE(modeOf(where), 0700u);
    temporary.reset();
    QVERIFY(!std::filesystem::exists(where));
  }

  void issuesAServerCertificateWithADnsName() {
    meshdeck::common::SimulatedTimeSource clock;
    auto ca = memoryCa(clock);
    QVERIFY(ca);
    std::string error;
    const std::string id = "spiffe://meshdeck.local/ns/meshdeck-system/sa/controlplane";
    const auto kc = ca->issueServerCertificate(id, {"meshdeck-controlplane"}, 24h, &error);
    QVERIFY2(kc, error.c_str());
    const auto cert = pki::loadCertPem(kc->chain_pem);
    const auto key = pki::loadPrivateKeyPem(kc->key_pem);
    QVERIFY(cert && key);
    QCOMPARE(X509_check_private_key(cert.get(), key.get()), 1);
    QCOMPARE(pki::spiffeIdOf(cert.get()), std::optional<std::string>(id));
    QCOMPARE(X509_check_host(cert.get(), "meshdeck-controlplane", 0, 0, nullptr), 1);
    QVERIFY(verifies(kc->chain_pem, ca->trustBundlePem(), clock.systemNow()));
  }

  void tokensAreSingleUseBoundAndExpiring() {
    meshdeck::common::SimulatedTimeSource clock;
    BootstrapTokens tokens(clock);
    std::string error;
    const std::string t = tokens.issue("reviews-1", "default", "reviews", 5min);
    QCOMPARE(t.size(), size_t{64});
    QVERIFY(t.find_first_not_of("0123456789abcdef") == std::string::npos);
    QVERIFY(tokens.issue("other", "default", "x") != t);
    QCOMPARE(tokens.pending(), size_t{2});
    // Bound: another proxy cannot use it, and the attempt burns it.
    QVERIFY(!tokens.consume(t, "reviews-2", &error));
    QVERIFY2(error.find("another proxy") != std::string::npos, error.c_str());
    QVERIFY(!tokens.consume(t, "reviews-1", &error));
    QVERIFY2(error.find("unknown") != std::string::npos, error.c_str());
    // Single use.
    const std::string t2 = tokens.issue("reviews-1", "default", "reviews", 5min);
    const auto grant = tokens.consume(t2, "reviews-1", &error);
    QVERIFY(grant);
    QCOMPARE(grant->ns, std::string("default"));
    QCOMPARE(grant->service, std::string("reviews"));
    QVERIFY(!tokens.consume(t2, "reviews-1", &error));
    // Expiry (simulated clock): valid just before, refused at the deadline.
    const std::string t3 = tokens.issue("reviews-1", "default", "reviews", 5min);
    const std::string t4 = tokens.issue("ratings-1", "default", "ratings", 5min);
    clock.advance(5min - 1s);
    QVERIFY(tokens.consume(t4, "ratings-1", &error));
    clock.advance(1s);
    QVERIFY(!tokens.consume(t3, "reviews-1", &error));
    QVERIFY2(
        error.find("unknown") != std::string::npos || error.find("expired") != std::string::npos,
        error.c_str());
    // A new token for a proxy replaces its pending one; empty and garbage tokens are refused.
    const std::string a = tokens.issue("p", "ns", "s");
    const std::string b = tokens.issue("p", "ns", "s");
    QVERIFY(!tokens.consume(a, "p", &error));
    QVERIFY(tokens.consume(b, "p", &error));
    QVERIFY(!tokens.consume("", "p", &error));
    QVERIFY(!tokens.consume("zz", "p", &error));
    // The default lifetime is ten minutes; longer requests are capped at an hour.
    const std::string d = tokens.issue("q", "ns", "s", 0s);
    const std::string e = tokens.issue("r", "ns", "s", 24h);
    clock.advance(10min);
    QVERIFY(!tokens.consume(d, "q", &error));
    clock.advance(50min);
    QVERIFY(!tokens.consume(e, "r", &error));
    QCOMPARE(tokens.pending(), size_t{0});
    const auto c = tokens.counters();
    QCOMPARE(c.consumed, uint64_t{3});
    QCOMPARE(c.refused_wrong_proxy, uint64_t{1});
    QVERIFY(c.refused_unknown + c.refused_expired >= 6);
  }
};

QTEST_GUILESS_MAIN(CertificateAuthorityTest)
#include "certificate_authority_test.moc"
