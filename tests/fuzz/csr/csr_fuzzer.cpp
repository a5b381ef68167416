// csr: certificate signing requests from a peer into the mesh CA (CertificateAuthority::sign,
// i.e. Identity.Sign without gRPC), with pki's CSR and SAN readers under it.
// Input: a DER PKCS#10 request (wrapped into PEM here, so that mutations hit the ASN.1 and not
// the base64), or PEM as is when it starts with "-----BEGIN". The identity the caller may get
// is always spiffe://meshdeck.local/ns/default/sa/reviews.
// Oracle: no crash, hang or sanitizer report, and a certificate the CA issues carries exactly
// that identity, verifies against the CA's own trust bundle, and has notBefore < notAfter.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/pki/pki.h"
#include "controlplane/identity/certificate_authority.h"

namespace {

namespace identity = meshdeck::cp::identity;
constexpr std::string_view kIdentity = "spiffe://meshdeck.local/ns/default/sa/reviews";

void check(bool ok, const char* what, const std::string& detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "csr: %s %s\n", what, detail.c_str());
  __builtin_trap();
}

std::string toPem(const uint8_t* der, size_t size) {
  std::string b64(4 * ((size + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der, static_cast<int>(size));
  b64.resize(static_cast<size_t>(n));
  std::string pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
  return pem + "-----END CERTIFICATE REQUEST-----\n";
}

identity::CertificateAuthority& ca() {
  static meshdeck::common::RealTimeSource& time = meshdeck::common::RealTimeSource::instance();
  static identity::CertificateAuthority* authority = [] {
    std::string error;
    auto created = identity::CertificateAuthority::openOrCreate("", "meshdeck.local", time, &error);
    if (!created) {
      std::fprintf(stderr, "csr: CA: %s\n", error.c_str());
      std::abort();
    }
    return created.release();
  }();
  return *authority;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const std::string pem = raw.starts_with("-----BEGIN") ? std::string(raw) : toPem(data, size);

  if (auto req = meshdeck::pki::loadCsrPem(pem)) {
    for (const auto& uri : meshdeck::pki::subjectAltNames(req.get()).uris)
      (void)meshdeck::pki::parseSpiffeId(uri);
  }

  const auto result = ca().sign(pem, kIdentity, std::chrono::hours(1), "fuzz");
  if (!result.ok) return 0;
  check(result.spiffe_id == kIdentity, "issued for another identity:", result.spiffe_id);
  const auto leaf = meshdeck::pki::loadCertPem(result.chain_pem);
  check(leaf != nullptr, "the issued chain does not parse");
  const auto id = meshdeck::pki::spiffeIdOf(leaf.get());
  check(id && *id == kIdentity, "the leaf's SAN is not the identity:", id.value_or("(none)"));
  std::string error;
  check(ca().verifyPeer(result.chain_pem, &error).has_value(), "the leaf does not verify:", error);
  check(result.not_before < result.not_after, "notBefore is not before notAfter");
  const auto req = meshdeck::pki::loadCsrPem(pem);
  check(req && meshdeck::pki::subjectAltNames(req.get()).total() == 1,
        "signed a CSR that does not have exactly one SAN");
  return 0;
}
