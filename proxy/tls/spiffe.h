#pragma once

// SPIFFE identities as the proxy checks them on TLS peers. The extraction is a thin layer over
// OpenSSL's X509v3 API; it moves to common/pki (spiffeIdOf) once that library lands.

#include <openssl/x509.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshdeck::proxy::tls {

// The SPIFFE id of a certificate: the value of its one and only URI SAN when that URI is a
// well-formed "spiffe://<trust-domain>/<path>"; nothing when the certificate has no URI SAN,
// more than one, or a URI of another scheme.
std::optional<std::string> spiffeIdOf(X509* cert);

// Whether `id` is "spiffe://<trust-domain>/<path>" with a trust domain of lower-case letters,
// digits, '.', '-' and '_' and a non-empty path without empty segments, "." or "..".
bool isSpiffeId(std::string_view id);

// The trust domain of a well-formed SPIFFE id, or "" when `id` is not one.
std::string_view trustDomainOf(std::string_view id);

// The service of an id of the form spiffe://<td>/ns/<ns>/sa/<service>, or "".
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
