#include "controlplane/identity/certificate_authority.h"

#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/atomic_file.h"
#include "common/bounded_file.h"
#include "common/clock.h"
#include "common/input_limits.h"

namespace meshdeck::cp::identity {
namespace {

namespace json = boost::json;
constexpr int kStateVersion = 1;

bool fail(std::string* error, std::string text) {
  if (error) *error = std::move(text);
  return false;
}

bool setRandomSerial(X509* cert) {
  BIGNUM* bn = BN_new();
  bool ok = bn && BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 && !BN_is_zero(bn) &&
            BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

bool setTime(ASN1_TIME* t, pki::TimePoint at) {
  return ASN1_TIME_set(t, std::chrono::system_clock::to_time_t(at)) != nullptr;
}

// Adds an extension given in OpenSSL's configuration syntax (e.g. "critical,CA:FALSE").
bool addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

bool addSan(X509* cert, const std::vector<std::string>& uris, const std::vector<std::string>& dns,
            bool critical) {
  GENERAL_NAMES* names = pki::newGeneralNames(uris, dns);
  bool ok = names != nullptr;
  ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, names, critical ? 1 : 0,
                               X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(names);
  return ok;
}

RootDescription describe(const X509* cert) {
  RootDescription d;
  d.fingerprint_sha256 = pki::fingerprintSha256(cert);
  if (const auto info = pki::certificateInfo(cert)) {
    d.subject = info->subject;
    d.not_before = info->not_before;
    d.not_after = info->not_after;
  }
  return d;
}

// The digest to sign with `key`: none for Ed25519/Ed448 (pure signatures), SHA-256 otherwise.
const EVP_MD* signDigest(EVP_PKEY* key) {
  const int id = EVP_PKEY_get_base_id(key);
  return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? nullptr : EVP_sha256();
}

std::string isoTime(pki::TimePoint t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Names of the files of an import directory (CaImport).
constexpr const char* kRootCertFile = "root-cert.pem";
constexpr const char* kCaCertFile = "ca-cert.pem";
constexpr const char* kCaKeyFile = "ca-key.pem";
constexpr const char* kCertChainFile = "cert-chain.pem";

// The PEM texts of an imported CA (from an import directory or from ca.json).
struct ImportPem {
  std::string root_cert;
  std::string ca_cert;
  std::string ca_key;
  std::string cert_chain;  // "" → ca-cert + root
};

// Why `cert` cannot be a CA certificate ("" when it can): basicConstraints CA:TRUE and, when
// it has a keyUsage extension, keyCertSign in it (a CA certificate without keyUsage is refused
// too: RFC 5280 requires it).
std::string notACaReason(X509* cert) {
  const uint32_t flags = X509_get_extension_flags(cert);
  if (!(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA))
    return "it is not a CA certificate (basicConstraints CA:TRUE missing)";
  if (!(flags & EXFLAG_KUSAGE)) return "it has no keyUsage extension (keyCertSign required)";
  if (!(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN))
    return "its keyUsage does not allow certificate signing (keyCertSign missing)";
  return {};
}

// Why `cert` is not valid at `now` ("" when it is).
std::string validityReason(const X509* cert, pki::TimePoint now) {
  const auto info = pki::certificateInfo(cert);
  if (!info) return "its validity dates cannot be read";
  if (now < info->not_before) return "it is not valid before " + isoTime(info->not_before);
  if (now >= info->not_after) return "it expired at " + isoTime(info->not_after);
  return {};
}

}  // namespace

struct CertificateAuthority::Root {
  pki::PKey key;             // the signing key
  pki::X509Ptr cert;         // the signing certificate: the self-signed root or the intermediate
  pki::TimePoint not_after;  // no leaf outlives this (the earliest expiry of the chain)
  // Imported CA only: the trust anchor (root-cert.pem; null: `cert` is its own root) and the
  // intermediates between `cert` and the anchor (from cert-chain.pem).
  pki::X509Ptr anchor;
  std::vector<pki::X509Ptr> extra;

  X509* trustAnchor() const { return anchor ? anchor.get() : cert.get(); }
  // What follows a leaf in the chains sent to peers: the intermediates (nothing for a
  // self-generated root).
  std::string chainAfterLeaf() const {
    if (!anchor) return {};
    std::string out = pki::certPem(cert.get());
    for (const auto& c : extra) out += pki::certPem(c.get());
    return out;
  }

  // Validates imported PEM (see validateImport; `where` prefixes the file names) and builds the
  // signing root. `min_lifetime`: how long the intermediate must still be valid.
  static std::unique_ptr<Root> fromImport(const ImportPem& pem, const std::string& where,
                                          pki::TimePoint now, std::chrono::seconds min_lifetime,
                                          std::string* error) {
    auto bad = [&](const char* file, const std::string& why) {
      fail(error, where + file + ": " + why);
      return nullptr;
    };
    auto root = std::make_unique<Root>();
    const auto roots = pki::loadCertChainPem(pem.root_cert);
    if (roots.empty()) {
      pki::opensslErrors();
      return bad(kRootCertFile, "not a PEM certificate (parse error)");
    }
    if (roots.size() != 1)
      return bad(kRootCertFile,
                 "holds " + std::to_string(roots.size()) + " certificates; expected one root");
    root->anchor.reset(X509_dup(roots.front().get()));
    const auto cas = pki::loadCertChainPem(pem.ca_cert);
    if (cas.empty()) {
      pki::opensslErrors();
      return bad(kCaCertFile, "not a PEM certificate (parse error)");
    }
    if (cas.size() != 1)
      return bad(kCaCertFile, "holds " + std::to_string(cas.size()) +
                                  " certificates; expected only the intermediate (put the chain "
                                  "in cert-chain.pem)");
    root->cert.reset(X509_dup(cas.front().get()));
    root->key = pki::loadPrivateKeyPem(pem.ca_key);
    if (!root->key) {
      pki::opensslErrors();
      return bad(kCaKeyFile, "not an unencrypted PEM private key (parse error)");
    }
    if (!pem.cert_chain.empty()) {
      auto chain = pki::loadCertChainPem(pem.cert_chain);
      if (chain.empty()) {
        pki::opensslErrors();
        return bad(kCertChainFile, "not a PEM certificate chain (parse error)");
      }
      if (X509_cmp(chain.front().get(), root->cert.get()) != 0)
        return bad(kCertChainFile, "its first certificate is not ca-cert.pem");
      for (size_t i = 1; i < chain.size(); ++i)
        if (X509_cmp(chain[i].get(), root->anchor.get()) != 0)
          root->extra.push_back(std::move(chain[i]));
    }
    if (X509_check_private_key(root->cert.get(), root->key.get()) != 1) {
      pki::opensslErrors();
      return bad(kCaKeyFile, "does not match the public key of ca-cert.pem");
    }
    std::string why = notACaReason(root->anchor.get());
    if (!why.empty()) return bad(kRootCertFile, why);
    why = notACaReason(root->cert.get());
    if (!why.empty()) return bad(kCaCertFile, why);
    for (const auto& c : root->extra)
      if (why = notACaReason(c.get()); !why.empty()) return bad(kCertChainFile, why);
    why = validityReason(root->anchor.get(), now);
    if (!why.empty()) return bad(kRootCertFile, why);
    why = validityReason(root->cert.get(), now);
    if (!why.empty()) return bad(kCaCertFile, why);
    std::vector<X509*> untrusted;
    for (const auto& c : root->extra) untrusted.push_back(c.get());
    if (!pki::verifyCertificate(root->cert.get(), untrusted, {root->anchor.get()}, now, &why))
      return bad(kCaCertFile, "does not chain to root-cert.pem: " + why);
    root->not_after = pki::TimePoint::max();
    std::vector<const X509*> all{root->anchor.get(), root->cert.get()};
    for (const auto& c : root->extra) all.push_back(c.get());
    for (const X509* c : all)
      if (const auto info = pki::certificateInfo(c))
        root->not_after = std::min(root->not_after, info->not_after);
    if (root->not_after < now + min_lifetime)
      return bad(kCaCertFile, "the chain expires at " + isoTime(root->not_after) +
                                  ", before a leaf issued now (" +
                                  std::to_string(min_lifetime.count() / 3600) +
                                  " h) would; import a longer-lived intermediate");
    return root;
  }

  // A fresh self-signed P-256 root valid for kRootLifetime from `now`.
  static std::unique_ptr<Root> create(const std::string& trust_domain, pki::TimePoint now,
                                      std::string* error) {
    auto root = std::make_unique<Root>();
    root->key = pki::generateKey(pki::KeyType::kP256);
    root->cert.reset(X509_new());
    X509* c = root->cert.get();
    bool ok = root->key && c && X509_set_version(c, 2) == 1 && setRandomSerial(c) &&
              setTime(X509_getm_notBefore(c), now - kBackdate) &&
              setTime(X509_getm_notAfter(c), now + kRootLifetime);
    if (ok) {
      // The serial's first digits tell two roots of the same trust domain apart in listings.
      const auto info = pki::certificateInfo(c);
      const std::string cn =
          "Meshdeck Root CA " + (info ? info->serial_hex.substr(0, 8) : std::string());
      X509_NAME* name = X509_get_subject_name(c);
      ok = X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(trust_domain.c_str()),
                                      -1, -1, 0) == 1 &&
           X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                      0) == 1 &&
           X509_set_issuer_name(c, name) == 1 && X509_set_pubkey(c, root->key.get()) == 1;
    }
    ok = ok && addExt(c, c, NID_basic_constraints, "critical,CA:TRUE") &&
         addExt(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") &&
         addExt(c, c, NID_subject_key_identifier, "hash") &&
         addExt(c, c, NID_authority_key_identifier, "keyid:always") &&
         addSan(c, {"spiffe://" + trust_domain}, {}, false) &&
         X509_sign(c, root->key.get(), EVP_sha256()) > 0;
    if (!ok) {
      fail(error, "cannot create the root certificate: " + pki::opensslErrors());
      return nullptr;
    }
    root->not_after = now + kRootLifetime;
    if (const auto info = pki::certificateInfo(c)) root->not_after = info->not_after;
    return root;
  }
};

namespace {
// Reads `path` into `out`; a missing or unreadable file is an error naming it.
bool readImportFile(const std::filesystem::path& path, std::string* out, std::string* error) {
  std::string why;
  if (common::readFileLimited(path, common::limits::kMaxPemFileBytes, out, &why)) return true;
  return fail(error, path.string() + ": cannot read it: " + why);
}
}  // namespace

std::unique_ptr<CertificateAuthority::Root> CertificateAuthority::readImportDir(
    const std::filesystem::path& dir, pki::TimePoint now, std::string* error) {
  const std::filesystem::path key_file = dir / kCaKeyFile;
  struct stat st {};
  if (::stat(key_file.c_str(), &st) != 0) {
    fail(error, key_file.string() + ": cannot read it: " + std::strerror(errno));
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    fail(error, key_file.string() + ": not a regular file");
    return nullptr;
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail(error, key_file.string() + ": the CA private key is accessible by group or others (mode " +
                    mode + "); refusing to use it. Run: chmod 600 " + key_file.string());
    return nullptr;
  }
  if (st.st_uid != ::geteuid()) {
    fail(error, key_file.string() + ": the CA private key belongs to another user (uid " +
                    std::to_string(st.st_uid) + "); refusing to use it");
    return nullptr;
  }
  ImportPem pem;
  if (!readImportFile(dir / kRootCertFile, &pem.root_cert, error) ||
      !readImportFile(dir / kCaCertFile, &pem.ca_cert, error) ||
      !readImportFile(key_file, &pem.ca_key, error))
    return nullptr;
  std::error_code ec;
  if (std::filesystem::exists(dir / kCertChainFile, ec) &&
      !readImportFile(dir / kCertChainFile, &pem.cert_chain, error))
    return nullptr;
  auto root = Root::fromImport(pem, (dir / "").string(), now, kDefaultTtl, error);
  OPENSSL_cleanse(pem.ca_key.data(), pem.ca_key.size());
  return root;
}

bool CertificateAuthority::validateImport(const std::filesystem::path& dir, pki::TimePoint now,
                                          std::string* error) {
  return readImportDir(dir, now, error) != nullptr;
}

CertificateAuthority::CertificateAuthority(std::string trust_domain, const common::TimeSource& time,
                                           std::filesystem::path state_file)
    : trust_domain_(std::move(trust_domain)), time_(time), state_file_(std::move(state_file)) {}

CertificateAuthority::~CertificateAuthority() = default;

std::unique_ptr<CertificateAuthority> CertificateAuthority::openOrCreate(
    const std::filesystem::path& state_dir, const std::string& trust_domain,
    const common::TimeSource& time, std::string* error, const CaImport* import) {
  std::string why;
  if (!pki::parseSpiffeId("spiffe://" + trust_domain + "/ns/x/sa/x", &why)) {
    fail(error, "invalid trust domain \"" + trust_domain + "\": " + why);
    return nullptr;
  }
  const std::filesystem::path file =
      state_dir.empty() ? std::filesystem::path() : state_dir / "identity" / "ca.json";
  if (import) return adoptImport(*import, state_dir, file, trust_domain, time, error);
  std::error_code ec;
  if (!file.empty() && std::filesystem::exists(file, ec))
    return loadState(file, trust_domain, time, error);
  std::unique_ptr<CertificateAuthority> ca(new CertificateAuthority(trust_domain, time, file));
  ca->active_ = Root::create(trust_domain, time.systemNow(), error);
  if (!ca->active_) return nullptr;
  std::lock_guard lock(ca->mu_);
  if (!ca->persistNewLocked(error)) return nullptr;
  return ca;
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::adoptImport(
    const CaImport& import, const std::filesystem::path& state_dir,
    const std::filesystem::path& file, const std::string& trust_domain,
    const common::TimeSource& time, std::string* error) {
  // Everything is validated before anything is used or written.
  std::unique_ptr<Root> imported = readImportDir(import.dir, time.systemNow(), error);
  if (!imported) return nullptr;
  std::unique_ptr<CertificateAuthority> ca;
  std::error_code ec;
  if (!file.empty() && std::filesystem::exists(file, ec) && !import.replace) {
    std::string why;
    ca = openOrCreate(state_dir, trust_domain, time, &why);
    if (!ca) {
      fail(error, "cannot read the existing CA state to check the import against it: " + why +
                      " (pass --ca-import-replace to overwrite it)");
      return nullptr;
    }
    if (X509_cmp(ca->active_->trustAnchor(), imported->trustAnchor()) != 0) {
      const RootDescription old = describe(ca->active_->trustAnchor());
      fail(error, file.string() + " already holds a CA with another root (" + old.subject +
                      ", SHA-256 " + old.fingerprint_sha256 + ") than " +
                      (import.dir / kRootCertFile).string() +
                      ". Replacing it makes every certificate issued so far (every proxy's, "
                      "the control plane's) stop verifying for peers that trust only the new "
                      "root, until each proxy has renewed: mTLS between old and new "
                      "certificates fails meanwhile. To do it anyway, pass "
                      "--ca-import-replace (see docs/security.md)");
      return nullptr;
    }
  }
  if (!ca) ca.reset(new CertificateAuthority(trust_domain, time, file));
  std::lock_guard lock(ca->mu_);
  ca->active_ = std::move(imported);
  ca->retiring_.clear();
  if (!ca->persistNewLocked(error)) return nullptr;
  return ca;
}

namespace {

// The CA state file holds the CA's private key: it must be this user's and private (0600).
bool checkPrivateStateFile(const std::filesystem::path& file, std::string* error) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return fail(error, "cannot stat " + file.string());
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(error, file.string() + " holds the CA private key but is accessible by group or " +
                           "others (mode " + mode + "); refusing to use it. Run: chmod 600 " +
                           file.string());
  }
  if (st.st_uid != ::geteuid())
    return fail(error, file.string() +
                           " holds the CA private key but belongs to another user (uid " +
                           std::to_string(st.st_uid) + "); refusing to use it");
  return true;
}

}  // namespace

std::unique_ptr<CertificateAuthority> CertificateAuthority::loadState(
    const std::filesystem::path& file, const std::string& trust_domain,
    const common::TimeSource& time, std::string* error) {
  if (!checkPrivateStateFile(file, error)) return nullptr;
  std::string text;
  if (!common::readFileLimited(file, common::limits::kMaxCaStateFileBytes, &text, error)) {
    fail(error, "CA state: " + *error);
    return nullptr;
  }
  auto corrupt = [&](const std::string& what) {
    fail(error, file.string() + " is not a valid CA state: " + what);
    return nullptr;
  };
  json::error_code jec;
  const json::value doc = json::parse(text, jec);
  if (jec || !doc.is_object()) return corrupt("not a JSON object");
  const json::object& o = doc.as_object();
  auto str = [&](const char* key) -> std::optional<std::string> {
    const json::value* v = o.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  };
  const json::value* version = o.if_contains("version");
  if (!version || !version->is_int64() || version->as_int64() != kStateVersion)
    return corrupt("unknown version (expected 1)");
  const auto td = str("trust_domain");
  if (!td) return corrupt("no trust_domain");
  if (*td != trust_domain) {
    fail(error, file.string() + " is the CA of trust domain \"" + *td + "\", not \"" +
                    trust_domain + "\" (use another --state-dir or --trust-domain)");
    return nullptr;
  }
  std::unique_ptr<Root> root;
  const json::value* imported = o.if_contains("imported");
  if (imported && imported->is_bool() && imported->as_bool()) {
    // Validated again as at import (except the remaining lifetime: a restart near the
    // intermediate's expiry still starts, leaves are capped at its expiry).
    const auto root_pem = str("root_cert_pem");
    const auto ca_pem = str("ca_cert_pem");
    const auto ca_key = str("ca_key_pem");
    const auto chain = str("cert_chain_pem");
    if (!root_pem || !ca_pem || !ca_key || !chain)
      return corrupt("root_cert_pem, ca_cert_pem, ca_key_pem or cert_chain_pem missing");
    root = Root::fromImport({*root_pem, *ca_pem, *ca_key, *chain}, file.string() + ": imported ",
                            time.systemNow(), std::chrono::seconds::zero(), error);
    if (!root) {
      if (error) *error += " (import a valid CA again with --ca-import DIR)";
      return nullptr;
    }
  } else {
    const auto key_pem = str("root_key_pem");
    const auto cert_pem = str("root_cert_pem");
    if (!key_pem || !cert_pem) return corrupt("root_key_pem or root_cert_pem missing");
    root = std::make_unique<Root>();
    root->key = pki::loadPrivateKeyPem(*key_pem);
    root->cert = pki::loadCertPem(*cert_pem);
    if (!root->key || !root->cert) return corrupt("the root key or certificate does not parse");
    if (X509_check_private_key(root->cert.get(), root->key.get()) != 1) {
      pki::opensslErrors();
      return corrupt("the root key does not match the root certificate");
    }
    const auto info = pki::certificateInfo(root->cert.get());
    if (!info) return corrupt("the root certificate has unreadable validity");
    root->not_after = info->not_after;
  }
  std::unique_ptr<CertificateAuthority> ca(new CertificateAuthority(trust_domain, time, file));
  ca->active_ = std::move(root);
  if (const json::value* r = o.if_contains("retiring_root_certs_pem")) {
    if (!r->is_array()) return corrupt("retiring_root_certs_pem is not an array");
    for (const auto& v : r->as_array()) {
      if (!v.is_string()) return corrupt("retiring_root_certs_pem holds a non-string");
      auto cert = pki::loadCertPem(std::string(v.as_string()));
      if (!cert) return corrupt("a retiring root certificate does not parse");
      ca->retiring_.push_back(std::move(cert));
    }
  }
  return ca;
}

bool CertificateAuthority::persistNewLocked(std::string* error) const {
  if (state_file_.empty()) return true;
  const std::filesystem::path dir = state_file_.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    fail(error, "cannot create " + dir.string() + ": " + ec.message());
    return false;
  }
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  return persistLocked(error);
}

bool CertificateAuthority::persistLocked(std::string* error) const {
  if (state_file_.empty()) return true;
  json::object o;
  o["version"] = kStateVersion;
  o["trust_domain"] = trust_domain_;
  if (active_->anchor) {
    o["imported"] = true;
    o["root_cert_pem"] = pki::certPem(active_->anchor.get());
    o["ca_cert_pem"] = pki::certPem(active_->cert.get());
    o["ca_key_pem"] = pki::privateKeyPem(active_->key.get());
    std::string chain;
    if (!active_->extra.empty()) {
      chain = pki::certPem(active_->cert.get());
      for (const auto& c : active_->extra) chain += pki::certPem(c.get());
    }
    o["cert_chain_pem"] = chain;
  } else {
    o["root_key_pem"] = pki::privateKeyPem(active_->key.get());
    o["root_cert_pem"] = pki::certPem(active_->cert.get());
  }
  json::array retiring;
  for (const auto& c : retiring_) retiring.emplace_back(pki::certPem(c.get()));
  o["retiring_root_certs_pem"] = std::move(retiring);
  std::string why;
  if (!common::writeFileAtomically(state_file_, json::serialize(o), &why, 0600))
    return fail(error, "cannot save the CA state: " + why);
  return true;
}

SignResult CertificateAuthority::refuse(SignError kind, std::string text) {
  ++counters_.refused[static_cast<size_t>(kind)];
  SignResult r;
  r.error_kind = kind;
  r.error = std::move(text);
  return r;
}

SignResult CertificateAuthority::sign(std::string_view csr_pem, std::string_view expected_spiffe_id,
                                      std::chrono::seconds ttl, std::string_view proxy_id) {
  std::lock_guard lock(mu_);
  pki::X509ReqPtr req = pki::loadCsrPem(csr_pem);
  if (!req) {
    pki::opensslErrors();
    return refuse(SignError::kMalformedCsr, "the CSR is not a PEM PKCS#10 certificate request");
  }
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (!pub || X509_REQ_verify(req.get(), pub) != 1) {
    pki::opensslErrors();
    return refuse(SignError::kBadSignature,
                  "the CSR's signature does not verify with its own key (tampered or forged)");
  }
  if (!pki::keyTypeOf(pub)) {
    const char* name = EVP_PKEY_get0_type_name(pub);
    return refuse(SignError::kKeyType, std::string("the CSR's key is ") + (name ? name : "?") +
                                           " (" + std::to_string(EVP_PKEY_get_bits(pub)) +
                                           " bits); only EC P-256 and Ed25519 are accepted");
  }
  const pki::SubjectAltNames sans = pki::subjectAltNames(req.get());
  if (!sans.dns.empty() || !sans.ips.empty() || !sans.emails.empty() || sans.other > 0) {
    std::string found;
    if (!sans.dns.empty()) found += " DNS \"" + sans.dns.front() + "\"";
    if (!sans.ips.empty()) found += " IP " + sans.ips.front();
    if (!sans.emails.empty()) found += " e-mail \"" + sans.emails.front() + "\"";
    if (sans.other > 0) found += " " + std::to_string(sans.other) + " other name(s)";
    return refuse(SignError::kSanType,
                  "the CSR may carry only a SPIFFE URI SAN; it also asks for" + found);
  }
  if (sans.uris.size() != 1)
    return refuse(SignError::kSanCount, "the CSR must carry exactly one URI SAN, it has " +
                                            std::to_string(sans.uris.size()));
  if (sans.uris.front() != expected_spiffe_id)
    return refuse(SignError::kWrongIdentity, "the CSR asks for \"" + sans.uris.front() +
                                                 "\" but this caller may only get \"" +
                                                 std::string(expected_spiffe_id) + "\"");
  const auto id = pki::parseSpiffeId(expected_spiffe_id);
  if (!id || id->trust_domain != trust_domain_)
    return refuse(SignError::kWrongIdentity, "\"" + std::string(expected_spiffe_id) +
                                                 "\" is not a SPIFFE id of trust domain " +
                                                 trust_domain_);

  if (ttl <= std::chrono::seconds::zero()) ttl = kDefaultTtl;
  ttl = std::min(ttl, kMaxTtl);
  const auto now = time_.systemNow();
  const auto not_after = std::min(now + ttl, active_->not_after);

  pki::X509Ptr leaf(X509_new());
  X509* c = leaf.get();
  X509* issuer = active_->cert.get();
  const bool ok = c && X509_set_version(c, 2) == 1 && setRandomSerial(c) &&
                  setTime(X509_getm_notBefore(c), now - kBackdate) &&
                  setTime(X509_getm_notAfter(c), not_after) &&
                  X509_set_issuer_name(c, X509_get_subject_name(issuer)) == 1 &&
                  X509_set_pubkey(c, pub) == 1 &&
                  addExt(c, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
                  addExt(c, issuer, NID_key_usage, "critical,digitalSignature") &&
                  addExt(c, issuer, NID_ext_key_usage, "serverAuth,clientAuth") &&
                  addExt(c, issuer, NID_subject_key_identifier, "hash") &&
                  addExt(c, issuer, NID_authority_key_identifier, "keyid:always") &&
                  addSan(c, {std::string(expected_spiffe_id)}, {}, true) &&
                  X509_sign(c, active_->key.get(), signDigest(active_->key.get())) > 0;
  if (!ok) return refuse(SignError::kInternal, "signing failed: " + pki::opensslErrors());
  const auto info = pki::certificateInfo(c);
  if (!info) return refuse(SignError::kInternal, "the issued certificate does not read back");

  SignResult r;
  r.ok = true;
  r.chain_pem = pki::certPem(c) + active_->chainAfterLeaf();
  r.spiffe_id = std::string(expected_spiffe_id);
  r.serial_hex = info->serial_hex;
  r.issuer = info->issuer;
  r.not_before = info->not_before;
  r.not_after = info->not_after;
  ++counters_.signed_ok;
  std::erase_if(issued_, [&](const IssuedCertificate& i) { return i.not_after <= now; });
  if (issued_.size() >= kMaxIssuedRecords) issued_.erase(issued_.begin());
  issued_.push_back(
      {std::string(proxy_id), r.spiffe_id, r.issuer, r.serial_hex, r.not_before, r.not_after});
  return r;
}

std::optional<KeyAndChain> CertificateAuthority::issueServerCertificate(
    const std::string& spiffe_id, const std::vector<std::string>& dns_names,
    std::chrono::seconds ttl, std::string* error) {
  return issueKeyAndChain(spiffe_id, dns_names, ttl, "controlplane", "serverAuth,clientAuth",
                          error);
}

std::optional<KeyAndChain> CertificateAuthority::issueClientCertificate(
    const std::string& spiffe_id, std::chrono::seconds ttl, const std::string& record_as,
    std::string* error) {
  return issueKeyAndChain(spiffe_id, {}, ttl, record_as, "clientAuth", error);
}

std::optional<KeyAndChain> CertificateAuthority::issueKeyAndChain(
    const std::string& spiffe_id, const std::vector<std::string>& dns_names,
    std::chrono::seconds ttl, const std::string& record_as, const char* extended_key_usage,
    std::string* error) {
  const pki::PKey key = pki::generateKey(pki::KeyType::kP256);
  if (!key) {
    fail(error, "cannot generate a key: " + pki::opensslErrors());
    return std::nullopt;
  }
  std::lock_guard lock(mu_);
  const auto now = time_.systemNow();
  const auto not_after = std::min(now + ttl, active_->not_after);
  pki::X509Ptr cert(X509_new());
  X509* c = cert.get();
  X509* issuer = active_->cert.get();
  const bool ok = c && X509_set_version(c, 2) == 1 && setRandomSerial(c) &&
                  setTime(X509_getm_notBefore(c), now - kBackdate) &&
                  setTime(X509_getm_notAfter(c), not_after) &&
                  X509_set_issuer_name(c, X509_get_subject_name(issuer)) == 1 &&
                  X509_set_pubkey(c, key.get()) == 1 &&
                  addExt(c, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
                  addExt(c, issuer, NID_key_usage, "critical,digitalSignature") &&
                  addExt(c, issuer, NID_ext_key_usage, extended_key_usage) &&
                  addExt(c, issuer, NID_subject_key_identifier, "hash") &&
                  addExt(c, issuer, NID_authority_key_identifier, "keyid:always") &&
                  addSan(c, {spiffe_id}, dns_names, true) &&
                  X509_sign(c, active_->key.get(), signDigest(active_->key.get())) > 0;
  const auto info = ok ? pki::certificateInfo(c) : std::nullopt;
  if (!info) {
    fail(error, "cannot issue the certificate: " + pki::opensslErrors());
    return std::nullopt;
  }
  ++counters_.signed_ok;
  if (issued_.size() >= kMaxIssuedRecords) issued_.erase(issued_.begin());
  issued_.push_back(
      {record_as, spiffe_id, info->issuer, info->serial_hex, info->not_before, info->not_after});
  return KeyAndChain{pki::privateKeyPem(key.get()), pki::certPem(c) + active_->chainAfterLeaf()};
}

std::vector<std::string> CertificateAuthority::trustBundlePem() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out{pki::certPem(active_->trustAnchor())};
  for (const auto& r : retiring_) out.push_back(pki::certPem(r.get()));
  return out;
}

std::optional<std::string> CertificateAuthority::verifyPeer(std::string_view chain_pem,
                                                            std::string* error) const {
  const auto chain = pki::loadCertChainPem(chain_pem);
  if (chain.empty()) {
    fail(error, "the peer certificate is not PEM");
    return std::nullopt;
  }
  std::vector<X509*> intermediates;
  for (size_t i = 1; i < chain.size(); ++i) intermediates.push_back(chain[i].get());
  std::lock_guard lock(mu_);
  std::vector<X509*> roots{active_->trustAnchor()};
  for (const auto& r : retiring_) roots.push_back(r.get());
  std::string why;
  if (!pki::verifyCertificate(chain.front().get(), intermediates, roots, time_.systemNow(), &why)) {
    fail(error, "the peer certificate does not verify against the trust bundle: " + why);
    return std::nullopt;
  }
  auto id = pki::spiffeIdOf(chain.front().get());
  if (!id) fail(error, "the peer certificate carries no single SPIFFE id");
  return id;
}

bool CertificateAuthority::beginRootRotation(std::string* error) {
  std::lock_guard lock(mu_);
  if (active_->anchor)
    return fail(error,
                "this CA was imported (--ca-import) and the control plane has no root key; "
                "rotate by importing the new root + intermediate with --ca-import DIR "
                "--ca-import-replace (see \"Rotating an imported CA\" in docs/security.md)");
  if (!retiring_.empty())
    return fail(error, "a root rotation is already in progress; retire the old root first");
  auto next = Root::create(trust_domain_, time_.systemNow(), error);
  if (!next) return false;
  pki::X509Ptr old(X509_dup(active_->cert.get()));
  std::unique_ptr<Root> previous = std::move(active_);
  active_ = std::move(next);
  retiring_.push_back(std::move(old));
  if (!persistLocked(error)) {  // nothing changes unless the new state is durable
    active_ = std::move(previous);
    retiring_.clear();
    return false;
  }
  return true;
}

bool CertificateAuthority::retireOldRoot(std::string* error) {
  std::lock_guard lock(mu_);
  if (retiring_.empty()) return fail(error, "no root rotation in progress");
  std::vector<pki::X509Ptr> kept = std::move(retiring_);
  retiring_.clear();
  if (!persistLocked(error)) {
    retiring_ = std::move(kept);
    return false;
  }
  return true;
}

bool CertificateAuthority::imported() const {
  std::lock_guard lock(mu_);
  return active_->anchor != nullptr;
}

bool CertificateAuthority::rotationInProgress() const {
  std::lock_guard lock(mu_);
  return !retiring_.empty();
}

RootDescription CertificateAuthority::activeRoot() const {
  std::lock_guard lock(mu_);
  return describe(active_->trustAnchor());
}

std::vector<RootDescription> CertificateAuthority::retiringRoots() const {
  std::lock_guard lock(mu_);
  std::vector<RootDescription> out;
  for (const auto& r : retiring_) out.push_back(describe(r.get()));
  return out;
}

std::string CertificateAuthority::activeIssuer() const {
  std::lock_guard lock(mu_);
  const auto info = pki::certificateInfo(active_->cert.get());
  return info ? info->subject : std::string();
}

std::vector<IssuedCertificate> CertificateAuthority::issued() const {
  std::lock_guard lock(mu_);
  const auto now = time_.systemNow();
  std::vector<IssuedCertificate> out;
  for (const auto& i : issued_)
    if (i.not_after > now) out.push_back(i);
  return out;
}

std::string CertificateAuthority::issuedTo(std::string_view serial_hex) const {
  std::lock_guard lock(mu_);
  for (auto it = issued_.rbegin(); it != issued_.rend(); ++it)
    if (it->serial_hex == serial_hex) return it->proxy_id;
  return {};
}

CertificateAuthority::Counters CertificateAuthority::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

}  // namespace meshdeck::cp::identity
