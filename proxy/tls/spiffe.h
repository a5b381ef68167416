#pragma once

// SPIFFE identities as the proxy checks them on TLS peers, on top of common/pki (parsing and
// extraction); the checks say what a peer must be on each side of a connection.

#include <openssl/x509.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshdeck::proxy::tls {

// The SPIFFE id of a certificate: its one and only URI SAN when that is a well-formed id;
// nothing when the certificate has no URI SAN, more than one, or another URI (pki::spiffeIdOf).
std::optional<std::string> spiffeIdOf(X509* cert);

// Whether `id` is a mesh workload id, spiffe://<trust-domain>/ns/<ns>/sa/<service>
// (pki::parseSpiffeId: strict syntax).
bool isSpiffeId(std::string_view id);

// The trust domain of a well-formed SPIFFE id, or "" when `id` is not one.
std::string_view trustDomainOf(std::string_view id);

// The service of a well-formed id, or "".
std::string_view serviceOf(std::string_view id);

// Outcome of checking a verified peer certificate's identity.
enum class PeerIdentityCheck {
  kOk,
  kNoIdentity,          // no (single, well-formed) SPIFFE URI SAN
  kWrongTrustDomain,    // a SPIFFE id of another trust domain
  kUnexpectedIdentity,  // in the trust domain, but not one of the expected identities
};

// Server side: any workload of `trust_domain` may connect.
PeerIdentityCheck checkClientIdentity(const std::optional<std::string>& peer,
                                      std::string_view trust_domain);

// Client side: the server must be in `trust_domain` and, when `expected` is not empty, be one
// of `expected` (exact SPIFFE ids).
PeerIdentityCheck checkServerIdentity(const std::optional<std::string>& peer,
                                      std::string_view trust_domain,
                                      const std::vector<std::string>& expected);

// Stable names for stats ("no_identity", "wrong_trust_domain", "unexpected_identity").
const char* toString(PeerIdentityCheck check);

}  // namespace meshdeck::proxy::tls
