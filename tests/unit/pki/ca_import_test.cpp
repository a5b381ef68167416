// The CA run from an imported root + intermediate (meshdeck-controlplane --ca-import): every
// validation failure gives its error naming the file, leaves are signed by the intermediate and
// verify against the root bundle only with the intermediate, the import is stored and survives
// a restart, and replacing another root needs CaImport::replace.
#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <QtTest>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/pki/pki.h"
#include "controlplane/identity/certificate_authority.h"

using namespace std::chrono_literals;
namespace pki = meshdeck::pki;
namespace fs = std::filesystem;
using meshdeck::cp::identity::CaImport;
using meshdeck::cp::identity::CertificateAuthority;

namespace {
const std::string kTd = "meshdeck.local";
const std::string kId = "spiffe://meshdeck.local/ns/default/sa/reviews";

struct CertSpec {
  std::string cn;
  bool ca = true;
  std::string key_usage = "critical,keyCertSign,cRLSign";  // "" → no keyUsage extension
  pki::TimePoint not_before;
  pki::TimePoint not_after;
};

bool addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key` signed by `issuer_key` (`issuer` null: self-signed), with OpenSSL.
pki::X509Ptr makeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  pki::X509Ptr cert(X509_new());
  X509* c = cert.get();
  static long serial = 1000;
  bool ok =
      X509_set_version(c, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(c), ++serial) &&
      ASN1_TIME_set(X509_getm_notBefore(c),
                    std::chrono::system_clock::to_time_t(spec.not_before)) &&
      ASN1_TIME_set(X509_getm_notAfter(c), std::chrono::system_clock::to_time_t(spec.not_after));
  X509_NAME* name = X509_get_subject_name(c);
  ok = ok &&
       X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>("Example Corp"), -1, -1,
                                  0) == 1 &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1,
                                  0) == 1 &&
       X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name) == 1 &&
       X509_set_pubkey(c, key) == 1;
  X509* iss = issuer ? issuer : c;
  ok = ok && addExt(c, iss, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "CA:FALSE") &&
       (spec.key_usage.empty() || addExt(c, iss, NID_key_usage, spec.key_usage)) &&
       addExt(c, iss, NID_subject_key_identifier, "hash") &&
       addExt(c, iss, NID_authority_key_identifier, "keyid:always") &&
       X509_sign(c, issuer_key, EVP_sha256()) > 0;
  if (!ok) return nullptr;
  return cert;
}

// A root and an intermediate made by "the operator's PKI".
struct OperatorCa {
  pki::PKey root_key, ca_key;
  pki::X509Ptr root, ca;
};

OperatorCa makeOperatorCa(pki::TimePoint now, const std::string& root_cn = "Example Root",
                          CertSpec ca_spec = {}) {
  OperatorCa o;
  o.root_key = pki::generateKey(pki::KeyType::kP256);
  o.ca_key = pki::generateKey(pki::KeyType::kP256);
  o.root = makeCert({root_cn, true, "critical,keyCertSign,cRLSign", now - 24h, now + 24h * 3650},
                    o.root_key.get(), nullptr, o.root_key.get());
  if (ca_spec.cn.empty())
    ca_spec = {"Example Mesh Intermediate", true, "critical,keyCertSign,cRLSign", now - 1h,
               now + 24h * 365};
  o.ca = makeCert(ca_spec, o.ca_key.get(), o.root.get(), o.root_key.get());
  return o;
}

void writeText(const fs::path& p, const std::string& text, fs::perms perms) {
  std::string error;
  QVERIFY2(meshdeck::common::writeFileAtomically(p, text, &error, 0600), error.c_str());
  fs::permissions(p, perms, fs::perm_options::replace);
}

// Writes the import directory DIR of `o` (ca-key.pem mode 0600 unless told otherwise).
void writeImportDir(const fs::path& dir, const OperatorCa& o,
                    fs::perms key_perms = fs::perms::owner_read | fs::perms::owner_write) {
  fs::create_directories(dir);
  writeText(dir / "root-cert.pem", pki::certPem(o.root.get()), fs::perms::owner_all);
  writeText(dir / "ca-cert.pem", pki::certPem(o.ca.get()), fs::perms::owner_all);
  writeText(dir / "ca-key.pem", pki::privateKeyPem(o.ca_key.get()), key_perms);
}

std::string subjectOf(const X509* cert) { return pki::certificateInfo(cert)->subject; }

unsigned modeOf(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}
}  // namespace

class CaImportTest : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;
  fs::path base() const { return fs::path(tmp_.path().toStdString()); }
  meshdeck::common::SimulatedTimeSource clock_;

  // The error of importing `dir` into a fresh state directory (which must then stay empty).
  std::string importError(const fs::path& dir) {
    const fs::path state = dir.string() + "-state";
    std::string error;
    const CaImport import{dir, false};
    auto ca = CertificateAuthority::openOrCreate(state, kTd, clock_, &error, &import);
    if (ca) return "imported";
    std::string why;
    if (CertificateAuthority::validateImport(dir, clock_.systemNow(), &why) || why != error)
      return "validateImport disagrees: " + why;
    if (fs::exists(state / "identity" / "ca.json")) return "state written despite: " + error;
    return error;
  }

  // Expects the import of `dir` to fail naming `file` with `reason` in the message.
  void expectRefused(const fs::path& dir, const std::string& file, const std::string& reason) {
    const std::string error = importError(dir);
    qInfo("%s", error.c_str());
    QVERIFY2(error.find((dir / file).string() + ":") != std::string::npos, error.c_str());
    QVERIFY2(error.find(reason) != std::string::npos, error.c_str());
  }

 private slots:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void leavesAreSignedByTheIntermediateAndVerifyOnlyWithIt() {
    const auto now = clock_.systemNow();
    const auto o = makeOperatorCa(now);
    QVERIFY(o.root && o.ca);
    const fs::path dir = base() / "good";
    writeImportDir(dir, o);
    std::string error;
    const CaImport import{dir, false};
    auto ca =
        CertificateAuthority::openOrCreate(base() / "good-state", kTd, clock_, &error, &import);
    QVERIFY2(ca, error.c_str());
    QVERIFY(ca->imported());

    // The trust bundle is the imported root only.
    const auto bundle = ca->trustBundlePem();
    QCOMPARE(bundle.size(), size_t{1});
    QCOMPARE(bundle.front(), pki::certPem(o.root.get()));
    QCOMPARE(ca->activeRoot().subject, subjectOf(o.root.get()));
    QCOMPARE(ca->activeIssuer(), subjectOf(o.ca.get()));

    const auto key = pki::generateKey(pki::KeyType::kP256);
    const auto r = ca->sign(pki::csrPem(key, kId), kId, 1h, "reviews-1");
    QVERIFY2(r.ok, r.error.c_str());
    QCOMPARE(r.issuer, subjectOf(o.ca.get()));
    const auto chain = pki::loadCertChainPem(r.chain_pem);
    QCOMPARE(chain.size(), size_t{2});  // leaf + intermediate
    QCOMPARE(X509_cmp(chain[1].get(), o.ca.get()), 0);
    QCOMPARE(pki::certificateInfo(chain[0].get())->issuer, subjectOf(o.ca.get()));
    QCOMPARE(pki::spiffeIdOf(chain[0].get()).value_or(""), kId);

    std::string why;
    QVERIFY2(pki::verifyCertificate(chain[0].get(), {chain[1].get()}, {o.root.get()}, now, &why),
             why.c_str());
    QVERIFY(!pki::verifyCertificate(chain[0].get(), {}, {o.root.get()}, now, &why));
    QVERIFY2(why.find("local issuer") != std::string::npos, why.c_str());
    // The CA's own peer check takes the same view.
    QCOMPARE(ca->verifyPeer(r.chain_pem, &why).value_or(""), kId);
    QVERIFY(!ca->verifyPeer(pki::certPem(chain[0].get()), &why));

    // Listings name the intermediate as issuer.
    const auto issued = ca->issued();
    QCOMPARE(issued.size(), size_t{1});
    QCOMPARE(issued.front().issuer, subjectOf(o.ca.get()));

    // The control plane's own TLS certificate carries the chain too.
    const auto kc = ca->issueServerCertificate("spiffe://meshdeck.local/ns/meshdeck-system/sa/cp",
                                               {"meshdeck-controlplane"}, 24h, &error);
    QVERIFY2(kc, error.c_str());
    const auto server_chain = pki::loadCertChainPem(kc->chain_pem);
    QCOMPARE(server_chain.size(), size_t{2});
    QVERIFY2(pki::verifyCertificate(server_chain[0].get(), {server_chain[1].get()}, {o.root.get()},
                                    now, &why),
             why.c_str());

    // A leaf never outlives the intermediate.
    const auto o_short =
        makeOperatorCa(now, "Short Root",
                       {"Short Intermediate", true, "critical,keyCertSign", now - 1h, now + 30h});
    writeImportDir(base() / "short", o_short);
    const CaImport short_import{base() / "short", false};
    auto short_ca = CertificateAuthority::openOrCreate({}, kTd, clock_, &error, &short_import);
    QVERIFY2(short_ca, error.c_str());
    const auto long_leaf = short_ca->sign(pki::csrPem(key, kId), kId, 7 * 24h, "reviews-1");
    QVERIFY2(long_leaf.ok, long_leaf.error.c_str());
    QVERIFY(long_leaf.not_after <= pki::certificateInfo(o_short.ca.get())->not_after);
  }

  void importIsStoredAndSurvivesARestart() {
    const auto o = makeOperatorCa(clock_.systemNow());
    const fs::path dir = base() / "stored";
    writeImportDir(dir, o);
    const fs::path state = base() / "stored-state";
    std::string error;
    const CaImport import{dir, false};
    QVERIFY2(CertificateAuthority::openOrCreate(state, kTd, clock_, &error, &import),
             error.c_str());
    const fs::path file = state / "identity" / "ca.json";
    QCOMPARE(modeOf(file), 0600u);
    std::string text;
    QVERIFY(meshdeck::common::readFile(file, &text, &error));
    QVERIFY(text.find("\"imported\":true") != std::string::npos);
    QVERIFY(text.find("root_key_pem") == std::string::npos);  // there is no root key

    // The import directory may go away: the state has everything.
    fs::remove_all(dir);
    auto again = CertificateAuthority::openOrCreate(state, kTd, clock_, &error);
    QVERIFY2(again, error.c_str());
    QVERIFY(again->imported());
    QCOMPARE(again->trustBundlePem(), std::vector<std::string>{pki::certPem(o.root.get())});
    const auto key = pki::generateKey(pki::KeyType::kEd25519);
    const auto r = again->sign(pki::csrPem(key, kId), kId, 1h, "reviews-1");
    QVERIFY2(r.ok, r.error.c_str());
    QCOMPARE(pki::loadCertChainPem(r.chain_pem).size(), size_t{2});

    // Re-importing a new intermediate under the same root is allowed without --replace.
    OperatorCa renewed;
    renewed.root_key.reset(EVP_PKEY_dup(o.root_key.get()));
    renewed.root.reset(X509_dup(o.root.get()));
    renewed.ca_key = pki::generateKey(pki::KeyType::kP256);
    const auto now = clock_.systemNow();
    renewed.ca = makeCert(
        {"Example Mesh Intermediate 2", true, "critical,keyCertSign", now - 1h, now + 24h * 365},
        renewed.ca_key.get(), renewed.root.get(), renewed.root_key.get());
    writeImportDir(base() / "renewed", renewed);
    const CaImport renew{base() / "renewed", false};
    auto third = CertificateAuthority::openOrCreate(state, kTd, clock_, &error, &renew);
    QVERIFY2(third, error.c_str());
    QCOMPARE(third->activeIssuer(), subjectOf(renewed.ca.get()));
  }

  void replacingAnotherRootNeedsReplace() {
    const fs::path state = base() / "replace-state";
    std::string error;
    auto own = CertificateAuthority::openOrCreate(state, kTd, clock_, &error);  // self-generated
    QVERIFY2(own, error.c_str());
    const auto own_bundle = own->trustBundlePem();
    own.reset();
    std::string before;
    QVERIFY(meshdeck::common::readFile(state / "identity" / "ca.json", &before, &error));

    const auto o = makeOperatorCa(clock_.systemNow());
    writeImportDir(base() / "replace", o);
    CaImport import{base() / "replace", false};
    QVERIFY(!CertificateAuthority::openOrCreate(state, kTd, clock_, &error, &import));
    qInfo("%s", error.c_str());
    QVERIFY2(error.find("--ca-import-replace") != std::string::npos, error.c_str());
    QVERIFY2(error.find("stop verifying") != std::string::npos, error.c_str());
    std::string after;
    QVERIFY(meshdeck::common::readFile(state / "identity" / "ca.json", &after, &error));
    QCOMPARE(after, before);  // untouched

    import.replace = true;
    auto replaced = CertificateAuthority::openOrCreate(state, kTd, clock_, &error, &import);
    QVERIFY2(replaced, error.c_str());
    QVERIFY(replaced->trustBundlePem() != own_bundle);
    QCOMPARE(replaced->trustBundlePem(), std::vector<std::string>{pki::certPem(o.root.get())});
  }

  void rootRotationIsRefusedForAnImportedCa() {
    const auto o = makeOperatorCa(clock_.systemNow());
    writeImportDir(base() / "rotate", o);
    std::string error;
    const CaImport import{base() / "rotate", false};
    auto ca = CertificateAuthority::openOrCreate({}, kTd, clock_, &error, &import);
    QVERIFY2(ca, error.c_str());
    QVERIFY(!ca->beginRootRotation(&error));
    QVERIFY2(error.find("--ca-import") != std::string::npos, error.c_str());
    QVERIFY(!ca->rotationInProgress());
    QCOMPARE(ca->trustBundlePem().size(), size_t{1});
  }

  void eachValidationFailureNamesTheFileAndTheReason() {
    const auto now = clock_.systemNow();
    const auto good = makeOperatorCa(now);

    // PEM parse errors.
    writeImportDir(base() / "bad-root-pem", good);
    writeText(base() / "bad-root-pem" / "root-cert.pem", "-----BEGIN CERTIFICATE-----\nnope\n",
              fs::perms::owner_all);
    expectRefused(base() / "bad-root-pem", "root-cert.pem", "parse error");
    writeImportDir(base() / "bad-ca-pem", good);
    writeText(base() / "bad-ca-pem" / "ca-cert.pem", "garbage", fs::perms::owner_all);
    expectRefused(base() / "bad-ca-pem", "ca-cert.pem", "parse error");
    writeImportDir(base() / "bad-key-pem", good);
    writeText(base() / "bad-key-pem" / "ca-key.pem", "garbage",
              fs::perms::owner_read | fs::perms::owner_write);
    expectRefused(base() / "bad-key-pem", "ca-key.pem", "parse error");
    writeImportDir(base() / "bad-chain-pem", good);
    writeText(base() / "bad-chain-pem" / "cert-chain.pem", "garbage", fs::perms::owner_all);
    expectRefused(base() / "bad-chain-pem", "cert-chain.pem", "parse error");

    // A missing file.
    writeImportDir(base() / "missing", good);
    fs::remove(base() / "missing" / "root-cert.pem");
    expectRefused(base() / "missing", "root-cert.pem", "cannot read");

    // The key is not ca-cert's.
    OperatorCa mismatch = makeOperatorCa(now);
    mismatch.ca_key = pki::generateKey(pki::KeyType::kP256);
    writeImportDir(base() / "mismatch", mismatch);
    expectRefused(base() / "mismatch", "ca-key.pem", "does not match the public key");

    // ca-cert is signed by another root.
    OperatorCa other = makeOperatorCa(now);
    other.root = makeOperatorCa(now, "Another Root").root;
    writeImportDir(base() / "other-root", other);
    expectRefused(base() / "other-root", "ca-cert.pem", "does not chain to root-cert.pem");

    // Not CAs / no keyCertSign.
    expectRefused(writeCase("ca-not-ca", makeOperatorCa(now, "R",
                                                        {"I", false, "critical,keyCertSign",
                                                         now - 1h, now + 24h * 365})),
                  "ca-cert.pem", "basicConstraints CA:TRUE");
    expectRefused(
        writeCase("ca-no-certsign", makeOperatorCa(now, "R",
                                                   {"I", true, "critical,digitalSignature",
                                                    now - 1h, now + 24h * 365})),
        "ca-cert.pem", "keyCertSign");
    expectRefused(
        writeCase("ca-no-ku", makeOperatorCa(now, "R", {"I", true, "", now - 1h, now + 24h * 365})),
        "ca-cert.pem", "keyCertSign");
    {
      OperatorCa o = makeOperatorCa(now);
      o.root = makeCert({"Leafy Root", false, "critical,keyCertSign", now - 1h, now + 24h * 365},
                        o.root_key.get(), nullptr, o.root_key.get());
      o.ca = makeCert({"I", true, "critical,keyCertSign", now - 1h, now + 24h * 365},
                      o.ca_key.get(), o.root.get(), o.root_key.get());
      expectRefused(writeCase("root-not-ca", o), "root-cert.pem", "basicConstraints CA:TRUE");
    }

    // Validity.
    expectRefused(
        writeCase(
            "ca-expired",
            makeOperatorCa(now, "R", {"I", true, "critical,keyCertSign", now - 48h, now - 1h})),
        "ca-cert.pem", "expired at");
    expectRefused(writeCase("ca-future", makeOperatorCa(now, "R",
                                                        {"I", true, "critical,keyCertSign",
                                                         now + 1h, now + 24h * 365})),
                  "ca-cert.pem", "not valid before");
    {
      OperatorCa o = makeOperatorCa(now);
      o.root = makeCert({"Old Root", true, "critical,keyCertSign", now - 48h, now - 1h},
                        o.root_key.get(), nullptr, o.root_key.get());
      o.ca = makeCert({"I", true, "critical,keyCertSign", now - 1h, now + 24h * 365},
                      o.ca_key.get(), o.root.get(), o.root_key.get());
      expectRefused(writeCase("root-expired", o), "root-cert.pem", "expired at");
    }
    // The intermediate must outlive a default leaf (24 h).
    expectRefused(writeCase("ca-short",
                            makeOperatorCa(
                                now, "R", {"I", true, "critical,keyCertSign", now - 1h, now + 2h})),
                  "ca-cert.pem", "before a leaf issued now");

    // Key file permissions.
    writeImportDir(base() / "key-0640", good,
                   fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    expectRefused(base() / "key-0640", "ca-key.pem", "mode 0640");
    writeImportDir(base() / "key-0604", good,
                   fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
    expectRefused(base() / "key-0604", "ca-key.pem", "chmod 600");
    // 0400 is stricter and fine.
    writeImportDir(base() / "key-0400", good, fs::perms::owner_read);
    QCOMPARE(importError(base() / "key-0400"), std::string("imported"));

    // cert-chain.pem must start with ca-cert.
    writeImportDir(base() / "chain-order", good);
    writeText(base() / "chain-order" / "cert-chain.pem",
              pki::certPem(good.root.get()) + pki::certPem(good.ca.get()), fs::perms::owner_all);
    expectRefused(base() / "chain-order", "cert-chain.pem", "first certificate is not ca-cert.pem");
    // ...and with ca-cert + root it is accepted (the default).
    writeText(base() / "chain-order" / "cert-chain.pem",
              pki::certPem(good.ca.get()) + pki::certPem(good.root.get()), fs::perms::owner_all);
    QCOMPARE(importError(base() / "chain-order"), std::string("imported"));
  }

  void twoLevelsOfIntermediatesThroughCertChain() {
    const auto now = clock_.systemNow();
    OperatorCa o = makeOperatorCa(now);  // o.ca is the first-level intermediate
    const auto sub_key = pki::generateKey(pki::KeyType::kP256);
    const auto sub = makeCert(
        {"Example Sub Intermediate", true, "critical,keyCertSign", now - 1h, now + 24h * 300},
        sub_key.get(), o.ca.get(), o.ca_key.get());
    const fs::path dir = base() / "two-levels";
    fs::create_directories(dir);
    writeText(dir / "root-cert.pem", pki::certPem(o.root.get()), fs::perms::owner_all);
    writeText(dir / "ca-cert.pem", pki::certPem(sub.get()), fs::perms::owner_all);
    writeText(dir / "ca-key.pem", pki::privateKeyPem(sub_key.get()),
              fs::perms::owner_read | fs::perms::owner_write);
    // Without the chain file the sub-intermediate does not chain to the root.
    expectRefused(dir, "ca-cert.pem", "does not chain to root-cert.pem");
    writeText(dir / "cert-chain.pem",
              pki::certPem(sub.get()) + pki::certPem(o.ca.get()) + pki::certPem(o.root.get()),
              fs::perms::owner_all);
    std::string error;
    const CaImport import{dir, false};
    auto ca = CertificateAuthority::openOrCreate({}, kTd, clock_, &error, &import);
    QVERIFY2(ca, error.c_str());
    const auto key = pki::generateKey(pki::KeyType::kP256);
    const auto r = ca->sign(pki::csrPem(key, kId), kId, 1h, "reviews-1");
    QVERIFY2(r.ok, r.error.c_str());
    const auto chain = pki::loadCertChainPem(r.chain_pem);
    QCOMPARE(chain.size(), size_t{3});  // leaf, sub, first-level; not the root
    std::string why;
    QVERIFY2(pki::verifyCertificate(chain[0].get(), {chain[1].get(), chain[2].get()},
                                    {o.root.get()}, now, &why),
             why.c_str());
  }

 private:
  fs::path writeCase(const std::string& name, const OperatorCa& o) {
    writeImportDir(base() / name, o);
    return base() / name;
  }
};

QTEST_GUILESS_MAIN(CaImportTest)
#include "ca_import_test.moc"
