#include "common/pki/pki.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <ctime>

namespace meshdeck::pki {
namespace {

struct BioDeleter {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

// Never prompt for a pass phrase: an encrypted PEM simply fails to load.
int noPassword(char*, int, int, void*) { return 0; }

BioPtr memBio(std::string_view data) {
  if (data.size() > static_cast<size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string asn1Text(const ASN1_STRING* s) {
  if (!s) return {};
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

SubjectAltNames fromGeneralNames(const GENERAL_NAMES* names) {
  SubjectAltNames out;
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    switch (gn->type) {
      case GEN_URI:
        out.uris.push_back(asn1Text(gn->d.uniformResourceIdentifier));
        break;
      case GEN_DNS:
        out.dns.push_back(asn1Text(gn->d.dNSName));
        break;
      case GEN_EMAIL:
        out.emails.push_back(asn1Text(gn->d.rfc822Name));
        break;
      case GEN_IPADD: {
        const std::string raw = asn1Text(gn->d.iPAddress);
        char text[INET6_ADDRSTRLEN] = {};
        const int family = raw.size() == 4 ? AF_INET : raw.size() == 16 ? AF_INET6 : 0;
        if (family && inet_ntop(family, raw.data(), text, sizeof text))
          out.ips.emplace_back(text);
        else
          out.ips.emplace_back("<malformed>");
        break;
      }
      default:
        ++out.other;
        break;
    }
  }
  return out;
}

std::optional<TimePoint> toTimePoint(const ASN1_TIME* t) {
  if (!t) return std::nullopt;
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  const time_t seconds = timegm(&tm);
  return std::chrono::system_clock::from_time_t(seconds);
}

std::string nameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !name) return {};
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  return bioText(bio.get());
}

bool segmentOk(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

bool trustDomainOk(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

bool fail(std::string* error, std::string text) {
  if (error) *error = std::move(text);
  return false;
}

std::string signedCsrPem(X509_REQ* req, const PKey& key) {
  const auto type = keyTypeOf(key.get());
  if (!type) return {};
  if (X509_REQ_set_pubkey(req, key.get()) != 1) return {};
  const EVP_MD* md = *type == KeyType::kEd25519 ? nullptr : EVP_sha256();
  if (X509_REQ_sign(req, key.get(), md) <= 0) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req) != 1) return {};
  return bioText(bio.get());
}

}  // namespace

std::string opensslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

PKey generateKey(KeyType type) {
  switch (type) {
    case KeyType::kP256:
      return PKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    case KeyType::kEd25519:
      return PKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  }
  return nullptr;
}

std::optional<KeyType> keyTypeOf(const EVP_PKEY* key) {
  if (!key) return std::nullopt;
  if (EVP_PKEY_is_a(key, "ED25519")) return KeyType::kEd25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1)
      return std::nullopt;
    const std::string_view g(group, len);
    if (g == "prime256v1" || g == "P-256" || g == "secp256r1") return KeyType::kP256;
  }
  return std::nullopt;
}

std::string privateKeyPem(const EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !key) return {};
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return {};
  return bioText(bio.get());
}

PKey loadPrivateKeyPem(std::string_view pem) {
  BioPtr bio = memBio(pem);
  if (!bio) return nullptr;
  return PKey(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassword, nullptr));
}

std::optional<SpiffeId> parseSpiffeId(std::string_view text, std::string* error) {
  constexpr std::string_view kScheme = "spiffe://";
  if (text.size() > 2048) return fail(error, "SPIFFE id longer than 2048 bytes"), std::nullopt;
  if (text.substr(0, kScheme.size()) != kScheme)
    return fail(error, "SPIFFE id must start with \"spiffe://\""), std::nullopt;
  std::string_view rest = text.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string_view td = rest.substr(0, slash);
  if (!trustDomainOk(td))
    return fail(error,
                "trust domain \"" + std::string(td) + "\" must be 1-255 characters of [a-z0-9._-]"),
           std::nullopt;
  if (slash == std::string_view::npos)
    return fail(error, "SPIFFE id has no path (expected /ns/<ns>/sa/<service>)"), std::nullopt;
  std::string_view path = rest.substr(slash + 1);
  std::vector<std::string_view> segs;
  while (true) {
    const size_t p = path.find('/');
    segs.push_back(path.substr(0, p));
    if (p == std::string_view::npos) break;
    path = path.substr(p + 1);
  }
  if (segs.size() != 4 || segs[0] != "ns" || segs[2] != "sa")
    return fail(error, "SPIFFE id path must be exactly /ns/<ns>/sa/<service>"), std::nullopt;
  if (!segmentOk(segs[1]) || !segmentOk(segs[3]))
    return fail(error,
                "namespace and service must be non-empty [A-Za-z0-9._-], not \".\" or \"..\""),
           std::nullopt;
  return SpiffeId{std::string(td), std::string(segs[1]), std::string(segs[3])};
}

std::string formatSpiffeId(const SpiffeId& id) {
  return "spiffe://" + id.trust_domain + "/ns/" + id.ns + "/sa/" + id.service;
}

SubjectAltNames subjectAltNames(const X509* cert) {
  if (!cert) return {};
  int crit = 0;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr));
  SubjectAltNames out = fromGeneralNames(names);
  GENERAL_NAMES_free(names);
  return out;
}

SubjectAltNames subjectAltNames(const X509_REQ* req) {
  if (!req) return {};
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(const_cast<X509_REQ*>(req));
  SubjectAltNames out;
  if (exts) {
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
      X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
      if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
      auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
      if (!names) {
        ++out.other;  // an undecodable SAN extension still counts against "exactly one"
        continue;
      }
      SubjectAltNames part = fromGeneralNames(names);
      GENERAL_NAMES_free(names);
      out.uris.insert(out.uris.end(), part.uris.begin(), part.uris.end());
      out.dns.insert(out.dns.end(), part.dns.begin(), part.dns.end());
      out.ips.insert(out.ips.end(), part.ips.begin(), part.ips.end());
      out.emails.insert(out.emails.end(), part.emails.begin(), part.emails.end());
      out.other += part.other;
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  ERR_clear_error();
  return out;
}

std::optional<std::string> spiffeIdOf(const X509* cert) {
  const SubjectAltNames sans = subjectAltNames(cert);
  if (sans.uris.size() != 1) return std::nullopt;
  if (!parseSpiffeId(sans.uris.front())) return std::nullopt;
  return sans.uris.front();
}

GENERAL_NAMES* newGeneralNames(const std::vector<std::string>& uris,
                               const std::vector<std::string>& dns) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  bool ok = names != nullptr;
  auto add = [&](int type, const std::string& value) {
    if (!ok) return;
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (!s || !gn || value.size() > INT_MAX ||
        ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(s);
      GENERAL_NAME_free(gn);
      ok = false;
      return;
    }
    GENERAL_NAME_set0_value(gn, type, s);
    if (sk_GENERAL_NAME_push(names, gn) <= 0) {
      GENERAL_NAME_free(gn);
      ok = false;
    }
  };
  for (const auto& u : uris) add(GEN_URI, u);
  for (const auto& d : dns) add(GEN_DNS, d);
  if (!ok) {
    GENERAL_NAMES_free(names);
    return nullptr;
  }
  return names;
}

std::string csrPemWithSans(const PKey& key, const std::vector<std::string>& uris,
                           const std::vector<std::string>& dns) {
  if (!key) return {};
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1) return {};
  GENERAL_NAMES* names = newGeneralNames(uris, dns);
  bool ok = names != nullptr;
  if (ok && sk_GENERAL_NAME_num(names) > 0) {
    X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    ok = ext && exts && sk_X509_EXTENSION_push(exts, ext) > 0;
    if (ok) {
      ext = nullptr;  // owned by exts now
      ok = X509_REQ_add_extensions(req.get(), exts) == 1;
    }
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  GENERAL_NAMES_free(names);
  if (!ok) return {};
  return signedCsrPem(req.get(), key);
}

std::string csrPem(const PKey& key, std::string_view spiffe_id) {
  if (!parseSpiffeId(spiffe_id)) return {};
  return csrPemWithSans(key, {std::string(spiffe_id)}, {});
}

X509ReqPtr loadCsrPem(std::string_view pem) {
  BioPtr bio = memBio(pem);
  if (!bio) return nullptr;
  return X509ReqPtr(PEM_read_bio_X509_REQ(bio.get(), nullptr, noPassword, nullptr));
}

std::string certPem(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !cert || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  return bioText(bio.get());
}

X509Ptr loadCertPem(std::string_view pem) {
  BioPtr bio = memBio(pem);
  if (!bio) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, noPassword, nullptr));
}

std::vector<X509Ptr> loadCertChainPem(std::string_view pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = memBio(pem);
  if (!bio) return out;
  ERR_clear_error();
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, noPassword, nullptr)) out.emplace_back(c);
  const unsigned long e = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  if (!clean_end) out.clear();
  return out;
}

std::optional<CertificateInfo> certificateInfo(const X509* cert) {
  if (!cert) return std::nullopt;
  CertificateInfo info;
  const auto nb = toTimePoint(X509_get0_notBefore(cert));
  const auto na = toTimePoint(X509_get0_notAfter(cert));
  if (!nb || !na) return std::nullopt;
  info.not_before = *nb;
  info.not_after = *na;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      info.serial_hex = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  info.issuer = nameText(X509_get_issuer_name(cert));
  info.subject = nameText(X509_get_subject_name(cert));
  info.spiffe_id = spiffeIdOf(cert);
  return info;
}

bool verifyCertificate(X509* leaf, const std::vector<X509*>& intermediates,
                       const std::vector<X509*>& roots, TimePoint at, std::string* error) {
  if (!leaf) return fail(error, "no certificate");
  if (roots.empty()) return fail(error, "empty trust bundle");
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  STACK_OF(X509)* chain = sk_X509_new_null();
  bool ok = store && ctx && chain;
  for (X509* r : roots) ok = ok && X509_STORE_add_cert(store.get(), r) == 1;
  for (X509* i : intermediates) ok = ok && sk_X509_push(chain, i) > 0;  // not owned
  if (!ok) {
    sk_X509_free(chain);
    return fail(error, "out of memory: " + opensslErrors());
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, chain) != 1) {
    sk_X509_free(chain);
    return fail(error, "cannot set up verification: " + opensslErrors());
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(at));
  const int rc = X509_verify_cert(ctx.get());
  const int code = X509_STORE_CTX_get_error(ctx.get());
  sk_X509_free(chain);
  ERR_clear_error();
  if (rc == 1) return true;
  return fail(error, X509_verify_cert_error_string(code));
}

TimePoint renewalTime(TimePoint not_before, TimePoint not_after, double jitter_fraction,
                      uint64_t random) {
  if (not_after <= not_before) return not_before;
  const double jitter = std::clamp(jitter_fraction, 0.0, 0.5);
  const auto lifetime = not_after - not_before;
  // u in [-1, 1]: 0 → -1 (earliest), UINT64_MAX → +1 (latest).
  const long double u =
      static_cast<long double>(random) / static_cast<long double>(UINT64_MAX) * 2.0L - 1.0L;
  const long double offset = u * jitter * static_cast<long double>(lifetime.count());
  const auto t = not_before + lifetime / 2 +
                 TimePoint::duration(static_cast<TimePoint::duration::rep>(offset));
  return std::clamp(t, not_before, not_after);
}

Validity validityAt(TimePoint not_before, TimePoint not_after, TimePoint now,
                    double soon_fraction) {
  if (now < not_before) return Validity::kNotYetValid;
  if (now >= not_after) return Validity::kExpired;
  const auto lifetime = std::chrono::duration<double>(not_after - not_before).count();
  const auto left = std::chrono::duration<double>(not_after - now).count();
  return left <= lifetime * std::clamp(soon_fraction, 0.0, 1.0) ? Validity::kExpiringSoon
                                                                : Validity::kValid;
}

std::string fingerprintSha256(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &n) != 1) return {};
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    if (i) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace meshdeck::pki
