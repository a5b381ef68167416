#pragma once

#include <array>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/pki/pki.h"

namespace meshdeck::common {
class TimeSource;
}

namespace meshdeck::cp::identity {

// Why a signing request was refused (also the index of its refusal counter).
enum class SignError {
  kMalformedCsr,   // not a PEM PKCS#10 request
  kBadSignature,   // the CSR's self-signature does not verify (tampered or forged)
  kKeyType,        // a key other than P-256 or Ed25519
  kSanType,        // a DNS, IP, e-mail or other non-URI SAN
  kSanCount,       // not exactly one URI SAN
  kWrongIdentity,  // the URI SAN is not the identity the caller may get
  kInternal,       // OpenSSL failed while building or signing
};
inline constexpr size_t kSignErrorCount = 7;

// The outcome of CertificateAuthority::sign().
struct SignResult {
  bool ok = false;
  SignError error_kind = SignError::kInternal;  // meaningful when !ok
  std::string error;                            // readable reason when !ok
  std::string chain_pem;  // leaf first, then the intermediates (imported CA; none otherwise)
  std::string spiffe_id;
  std::string serial_hex;
  std::string issuer;
  pki::TimePoint not_before;
  pki::TimePoint not_after;
};

// One certificate the CA issued, for ListCertificates / `meshdeckctl get certs`.
struct IssuedCertificate {
  std::string proxy_id;  // who asked ("" for certificates the control plane made for itself)
  std::string spiffe_id;
  std::string issuer;
  std::string serial_hex;
  pki::TimePoint not_before;
  pki::TimePoint not_after;
};

// A private key and its certificate chain, both PEM (the control plane's own TLS identity).
struct KeyAndChain {
  std::string key_pem;
  std::string chain_pem;
};

// One root of the CA, as shown to operators.
struct RootDescription {
  std::string fingerprint_sha256;
  std::string subject;  // RFC 2253
  pki::TimePoint not_before;
  pki::TimePoint not_after;
};

// An operator's CA to import (meshdeck-controlplane --ca-import DIR), Istio's "plug-in CA
// certificates" layout: DIR/root-cert.pem (the trust anchor), DIR/ca-cert.pem (the
// intermediate that signs), DIR/ca-key.pem (its unencrypted PEM private key, a regular file of
// this user with mode 0600 or stricter) and optionally DIR/cert-chain.pem (ca-cert first, then
// any further intermediates, optionally the root; default: ca-cert + root).
struct CaImport {
  std::filesystem::path dir;
  // Allow replacing a CA state whose trust anchor differs from root-cert.pem (every proxy's
  // certificate, issued under the old root, stops verifying for peers with the new bundle).
  bool replace = false;
};

// CertificateAuthority is the mesh's CA: a self-signed EC P-256 root (10 years) that signs
// short-lived workload certificates with one SPIFFE URI SAN; or an imported root plus an
// intermediate (CaImport): the intermediate signs, leaves are returned with the intermediate
// chain after them, and the trust bundle is the imported root only.
//
// State: with a state directory, `<state_dir>/identity/ca.json` (mode 0600, in a 0700
// directory, written atomically) holds the active root's key and certificate and, during a
// rotation, the retiring root's certificate; for an imported CA, the intermediate's key and
// certificate, the further intermediates and the root certificate (no root key). A key file
// readable by group or others, or owned by another user, is refused at load. The key is never
// logged. Without a state directory the CA lives in memory only. Issued certificates are recorded
// in memory only (they are short lived; proxies renew after a restart).
//
// Thread-safe: every method may be called from any thread.
class CertificateAuthority {
 public:
  static constexpr std::chrono::seconds kDefaultTtl{24 * 3600};
  static constexpr std::chrono::seconds kMaxTtl{7 * 24 * 3600};
  static constexpr std::chrono::seconds kBackdate{60};  // notBefore = now - 60 s (clock skew)
  static constexpr std::chrono::hours kRootLifetime{10 * 365 * 24};
  static constexpr size_t kMaxIssuedRecords = 10000;

  // Loads the CA of `state_dir` (creating it on first use), or an in-memory CA when
  // `state_dir` is empty. Null with a reason in `error` on failure: unreadable or corrupted
  // state, an unsafe key file, a state made for another trust domain, an invalid trust domain.
  //
  // With `import`, the imported material is validated completely first (validateImport) and
  // then replaces the state: allowed when there is no state yet, or when the state's trust
  // anchor is the same root (a new intermediate under the same root); any other state (a
  // self-generated root, another imported root) is refused unless import->replace.
  static std::unique_ptr<CertificateAuthority> openOrCreate(const std::filesystem::path& state_dir,
                                                            const std::string& trust_domain,
                                                            const common::TimeSource& time,
                                                            std::string* error,
                                                            const CaImport* import = nullptr);

  // Checks an import directory without using it: the key file's owner and mode, that every
  // file parses, that ca-key.pem matches ca-cert.pem, that ca-cert.pem (with cert-chain.pem's
  // intermediates) chains to root-cert.pem (X509_verify_cert at `now`), that root and
  // intermediate are CAs (basicConstraints CA:TRUE, keyUsage keyCertSign) valid at `now`, and
  // that the intermediate is valid for at least kDefaultTtl more (a leaf issued now must not
  // outlive its issuer). On failure `error` names the file and the reason.
  static bool validateImport(const std::filesystem::path& dir, pki::TimePoint now,
                             std::string* error);
  ~CertificateAuthority();
  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;

  const std::string& trustDomain() const { return trust_domain_; }

  // Validates `csr_pem` and signs it with the active root. The CSR must verify under its own
  // key, hold a P-256 or Ed25519 key and carry exactly one SAN, a URI equal to
  // `expected_spiffe_id`. Any other requested extension is ignored: the leaf gets
  // basicConstraints CA:FALSE, keyUsage digitalSignature, extKeyUsage serverAuth+clientAuth
  // (all critical except EKU), the SAN (critical; the subject is empty), SKI and AKI, a random
  // 128-bit serial, notBefore = now - 60 s and notAfter = now + ttl (ttl <= 0 → 24 h, capped at
  // 7 days and at the root's expiry). `proxy_id` is recorded in issued(). Refusals are counted.
  SignResult sign(std::string_view csr_pem, std::string_view expected_spiffe_id,
                  std::chrono::seconds ttl = kDefaultTtl, std::string_view proxy_id = {});

  // A new P-256 key and a certificate for the control plane's TLS port: `spiffe_id` as its URI
  // SAN plus `dns_names` (a server certificate is the one place where more than one SAN is
  // issued: clients check the DNS name, or a target-name override, on the gRPC channel).
  // `ttl` is capped only by the root's expiry, not by kMaxTtl.
  std::optional<KeyAndChain> issueServerCertificate(const std::string& spiffe_id,
                                                    const std::vector<std::string>& dns_names,
                                                    std::chrono::seconds ttl, std::string* error);
  // A new P-256 key and a client certificate (extKeyUsage clientAuth only) with `spiffe_id` as
  // its one SAN: an operator's identity (spiffe://<td>/operator/<name>). `ttl` is capped only
  // by the root's expiry. Recorded in issued() with `record_as` as the proxy id.
  std::optional<KeyAndChain> issueClientCertificate(const std::string& spiffe_id,
                                                    std::chrono::seconds ttl,
                                                    const std::string& record_as,
                                                    std::string* error);

  // The roots to trust, PEM, newest first (two during a rotation).
  std::vector<std::string> trustBundlePem() const;
  // Verifies a peer's PEM chain (leaf first) against the trust bundle at the current time and
  // returns the leaf's SPIFFE id; nothing with a reason in `error`.
  std::optional<std::string> verifyPeer(std::string_view chain_pem, std::string* error) const;

  // Root rotation, step 1: a new root becomes active (new leaves are signed by it) and the
  // bundle holds old + new, so leaves of either verify. Fails if a rotation is in progress, and
  // for an imported CA (see imported()).
  bool beginRootRotation(std::string* error);
  // Step 2: the old root leaves the bundle; its leaves no longer verify. Fails if no rotation
  // is in progress.
  bool retireOldRoot(std::string* error);
  bool rotationInProgress() const;
  // True for an imported root + intermediate (--ca-import); such a CA is not rotated by
  // beginRootRotation (it has no root key): import the new material instead.
  bool imported() const;
  // The active root and the retiring ones (empty unless a rotation is in progress).
  RootDescription activeRoot() const;
  std::vector<RootDescription> retiringRoots() const;
  // The issuer name (RFC 2253) of certificates signed now; compare with
  // IssuedCertificate::issuer to tell leaves of the active root from older ones.
  std::string activeIssuer() const;

  // Issued certificates that have not expired, oldest first (at most kMaxIssuedRecords).
  std::vector<IssuedCertificate> issued() const;
  // The proxy id the certificate with this serial was issued to ("" when this CA has no record
  // of it: issued before a restart, or dropped beyond kMaxIssuedRecords).
  std::string issuedTo(std::string_view serial_hex) const;

  struct Counters {
    uint64_t signed_ok = 0;
    std::array<uint64_t, kSignErrorCount> refused{};  // indexed by SignError
  };
  Counters counters() const;

 private:
  struct Root;
  static std::unique_ptr<Root> readImportDir(const std::filesystem::path& dir, pki::TimePoint now,
                                             std::string* error);
  // openOrCreate() with --ca-import: validated, checked against a stored CA, then stored.
  static std::unique_ptr<CertificateAuthority> adoptImport(const CaImport& import,
                                                           const std::filesystem::path& state_dir,
                                                           const std::filesystem::path& file,
                                                           const std::string& trust_domain,
                                                           const common::TimeSource& time,
                                                           std::string* error);
  // openOrCreate() of an existing state file: private, well-formed, of this trust domain.
  static std::unique_ptr<CertificateAuthority> loadState(const std::filesystem::path& file,
                                                         const std::string& trust_domain,
                                                         const common::TimeSource& time,
                                                         std::string* error);
  CertificateAuthority(std::string trust_domain, const common::TimeSource& time,
                       std::filesystem::path state_file);
  std::optional<KeyAndChain> issueKeyAndChain(const std::string& spiffe_id,
                                              const std::vector<std::string>& dns_names,
                                              std::chrono::seconds ttl,
                                              const std::string& record_as,
                                              const char* extended_key_usage, std::string* error);
  bool persistLocked(std::string* error) const;
  // persistLocked() for a new state: first makes the state file's directory, owner-only (0700).
  bool persistNewLocked(std::string* error) const;
  SignResult refuse(SignError kind, std::string text);

  const std::string trust_domain_;
  const common::TimeSource& time_;
  const std::filesystem::path state_file_;  // empty: in memory
  mutable std::mutex mu_;
  std::unique_ptr<Root> active_;
  std::vector<pki::X509Ptr> retiring_;  // roots still trusted during a rotation
  std::vector<IssuedCertificate> issued_;
  Counters counters_;
};

}  // namespace meshdeck::cp::identity
