#include "proxy/tls/spiffe.h"

#include "common/pki/pki.h"

namespace meshdeck::proxy::tls {

namespace {
constexpr std::string_view kScheme = "spiffe://";
}  // namespace

bool isSpiffeId(std::string_view id) { return pki::parseSpiffeId(id).has_value(); }

std::string_view trustDomainOf(std::string_view id) {
  const auto parsed = pki::parseSpiffeId(id);
  if (!parsed) return {};
  return id.substr(kScheme.size(), parsed->trust_domain.size());
}

std::string_view serviceOf(std::string_view id) {
  const auto parsed = pki::parseSpiffeId(id);
  if (!parsed) return {};
  return id.substr(id.size() - parsed->service.size());
}

std::optional<std::string> spiffeIdOf(X509* cert) {
  if (!cert) return std::nullopt;
  return pki::spiffeIdOf(cert);
}

PeerIdentityCheck checkClientIdentity(const std::optional<std::string>& peer,
                                      std::string_view trust_domain) {
  if (!peer || !isSpiffeId(*peer)) return PeerIdentityCheck::kNoIdentity;
  if (trustDomainOf(*peer) != trust_domain) return PeerIdentityCheck::kWrongTrustDomain;
  return PeerIdentityCheck::kOk;
}

PeerIdentityCheck checkServerIdentity(const std::optional<std::string>& peer,
                                      std::string_view trust_domain,
                                      const std::vector<std::string>& expected) {
  const auto base = checkClientIdentity(peer, trust_domain);
  if (base != PeerIdentityCheck::kOk) return base;
  if (expected.empty()) return PeerIdentityCheck::kOk;
  for (const auto& e : expected)
    if (e == *peer) return PeerIdentityCheck::kOk;
  return PeerIdentityCheck::kUnexpectedIdentity;
}

const char* toString(PeerIdentityCheck check) {
  switch (check) {
    case PeerIdentityCheck::kOk:
      return "ok";
    case PeerIdentityCheck::kNoIdentity:
      return "no_identity";
    case PeerIdentityCheck::kWrongTrustDomain:
      return "wrong_trust_domain";
    case PeerIdentityCheck::kUnexpectedIdentity:
      return "unexpected_identity";
  }
  return "unknown";
}

}  // namespace meshdeck::proxy::tls
