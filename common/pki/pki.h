#pragma once

// PKI primitives shared by the control plane's CA and the proxy's identity agent: RAII owners
// of OpenSSL objects, key generation, CSR building, SPIFFE ids, PEM I/O, certificate facts,
// chain verification and the renewal time. Everything is built on OpenSSL 3's EVP and X509
// APIs (no hand-written ASN.1). No Qt, no gRPC, no logging: failures are returned as values.
//
// Thread safety: free functions are reentrant; the objects they return are owned by the caller.

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshdeck::pki {

// ---- RAII owners -------------------------------------------------------------------------
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509Deleter {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct X509ReqDeleter {
  void operator()(X509_REQ* p) const noexcept { X509_REQ_free(p); }
};
struct X509StoreDeleter {
  void operator()(X509_STORE* p) const noexcept { X509_STORE_free(p); }
};
struct X509StoreCtxDeleter {
  void operator()(X509_STORE_CTX* p) const noexcept { X509_STORE_CTX_free(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509ReqPtr = std::unique_ptr<X509_REQ, X509ReqDeleter>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509StoreCtxDeleter>;

using TimePoint = std::chrono::system_clock::time_point;

// The text of OpenSSL's thread-local error queue ("" when empty); empties the queue.
std::string opensslErrors();

// ---- Keys --------------------------------------------------------------------------------
// The only workload key types the mesh accepts.
enum class KeyType { kP256, kEd25519 };

// A fresh private key; null only if OpenSSL fails (out of memory, no entropy).
PKey generateKey(KeyType type);
// P-256 or Ed25519; nothing for any other key (RSA, P-384, ...).
std::optional<KeyType> keyTypeOf(const EVP_PKEY* key);
// Unencrypted PKCS#8 PEM of a private key ("" on failure). Handle the result as a secret.
std::string privateKeyPem(const EVP_PKEY* key);
// Parses a PEM private key (PKCS#8 or traditional); null when `pem` is not one.
PKey loadPrivateKeyPem(std::string_view pem);

// ---- SPIFFE ids --------------------------------------------------------------------------
// spiffe://<trust_domain>/ns/<ns>/sa/<service>
struct SpiffeId {
  std::string trust_domain;
  std::string ns;
  std::string service;
  bool operator==(const SpiffeId&) const = default;
};
// Strict parse: lowercase scheme "spiffe", a trust domain of [a-z0-9._-] (no port, user info,
// upper case or percent escapes), exactly the four path segments ns/<ns>/sa/<service> where
// <ns> and <service> are [A-Za-z0-9._-]+ and not "." or "..", no query, fragment or trailing
// slash, at most 2048 bytes. On failure fills `error` (when given) with the reason.
std::optional<SpiffeId> parseSpiffeId(std::string_view text, std::string* error = nullptr);
// The URI form; the parts are not validated (parse the result to check them).
std::string formatSpiffeId(const SpiffeId& id);

// ---- Subject alternative names -----------------------------------------------------------
struct SubjectAltNames {
  std::vector<std::string> uris;
  std::vector<std::string> dns;
  std::vector<std::string> ips;  // textual form, e.g. "127.0.0.1"
  std::vector<std::string> emails;
  size_t other = 0;  // directory names, otherName, RID, ...
  size_t total() const { return uris.size() + dns.size() + ips.size() + emails.size() + other; }
};
// The SANs of a certificate / of a CSR's extension request (empty when it has none).
SubjectAltNames subjectAltNames(const X509* cert);
SubjectAltNames subjectAltNames(const X509_REQ* req);
// The workload identity of a certificate: its single URI SAN when that URI is a valid SPIFFE id
// (parseSpiffeId); nothing when it has no URI SAN, more than one, or an invalid one.
std::optional<std::string> spiffeIdOf(const X509* cert);

// ---- Certificate signing requests --------------------------------------------------------
// A PEM CSR signed by `key` (SHA-256 for P-256, pure Ed25519) with an empty subject and one
// URI SAN `spiffe_id`. "" when `spiffe_id` is not a valid SPIFFE id or OpenSSL fails.
std::string csrPem(const PKey& key, std::string_view spiffe_id);
// A PEM CSR with arbitrary URI and DNS SANs, unvalidated (tests, server certificates). "" on
// failure.
std::string csrPemWithSans(const PKey& key, const std::vector<std::string>& uris,
                           const std::vector<std::string>& dns);
// A new GENERAL_NAMES stack of URI and DNS names (for a subjectAltName extension of a CSR or a
// certificate); null if OpenSSL fails. The caller frees it with GENERAL_NAMES_free.
GENERAL_NAMES* newGeneralNames(const std::vector<std::string>& uris,
                               const std::vector<std::string>& dns);
// Parses a PEM CSR; null when `pem` is not one.
X509ReqPtr loadCsrPem(std::string_view pem);

// ---- Certificates ------------------------------------------------------------------------
std::string certPem(const X509* cert);      // "" on failure
X509Ptr loadCertPem(std::string_view pem);  // the first certificate of `pem`, or null
// Every certificate of a PEM bundle, in order; empty when none parses or any block is broken.
std::vector<X509Ptr> loadCertChainPem(std::string_view pem);

struct CertificateInfo {
  std::string serial_hex;  // upper-case hex, no leading zeros ("0" for zero)
  std::string issuer;      // RFC 2253 form, e.g. "CN=Meshdeck Root CA,O=meshdeck.local"
  std::string subject;     // RFC 2253 form ("" when empty)
  std::optional<std::string> spiffe_id;  // spiffeIdOf()
  TimePoint not_before;
  TimePoint not_after;
};
// Facts of a certificate; nothing when its validity times cannot be read.
std::optional<CertificateInfo> certificateInfo(const X509* cert);

// SHA-256 of the DER encoding, upper-case hex bytes separated by colons ("" on failure).
std::string fingerprintSha256(const X509* cert);

// Verifies `leaf` (with `intermediates` as untrusted helpers) up to one of `roots` at time
// `at`, with OpenSSL's X509_verify_cert (signatures, validity, CA flags, path length).
// Returns false and fills `error` (when given) with OpenSSL's reason.
bool verifyCertificate(X509* leaf, const std::vector<X509*>& intermediates,
                       const std::vector<X509*>& roots, TimePoint at, std::string* error = nullptr);

// ---- Renewal -----------------------------------------------------------------------------
// When to renew a certificate valid over [not_before, not_after]: at half its lifetime, moved
// by up to ±jitter_fraction of the lifetime. `random` (any 64-bit value, e.g. from a seeded
// generator) picks the point uniformly within that band: 0 → earliest, UINT64_MAX → latest.
// jitter_fraction is clamped to [0, 0.5]; the result always lies within [not_before,
// not_after] (not_before when the interval is empty or inverted).
TimePoint renewalTime(TimePoint not_before, TimePoint not_after, double jitter_fraction,
                      uint64_t random);

// How a certificate stands at `now`: not yet valid, valid, expiring (in the last
// `soon_fraction` of its lifetime; renewal should have happened at half life) or expired.
enum class Validity { kNotYetValid, kValid, kExpiringSoon, kExpired };
Validity validityAt(TimePoint not_before, TimePoint not_after, TimePoint now,
                    double soon_fraction = 0.2);

}  // namespace meshdeck::pki
