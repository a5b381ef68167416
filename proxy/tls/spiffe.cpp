#include "proxy/tls/spiffe.h"

#include <openssl/x509v3.h>

#include <memory>

namespace meshdeck::proxy::tls {

namespace {
constexpr std::string_view kScheme = "spiffe://";

bool trustDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool pathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}
}  // namespace

bool isSpiffeId(std::string_view id) {
  if (id.substr(0, kScheme.size()) != kScheme) return false;
  const std::string_view rest = id.substr(kScheme.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  for (char c : rest.substr(0, slash))
    if (!trustDomainChar(c)) return false;
  std::string_view path = rest.substr(slash + 1);
  if (path.empty()) return false;
  while (!path.empty()) {
    const auto next = path.find('/');
    const std::string_view segment = path.substr(0, next);
    if (segment.empty() || segment == "." || segment == "..") return false;
    for (char c : segment)
      if (!pathChar(c)) return false;
    if (next == std::string_view::npos) break;
    path = path.substr(next + 1);
    if (path.empty()) return false;  // trailing slash
  }
  return true;
}

std::string_view trustDomainOf(std::string_view id) {
  if (!isSpiffeId(id)) return {};
  const std::string_view rest = id.substr(kScheme.size());
  return rest.substr(0, rest.find('/'));
}

std::string_view serviceOf(std::string_view id) {
  if (!isSpiffeId(id)) return {};
  std::string_view rest = id.substr(kScheme.size());
  rest = rest.substr(rest.find('/') + 1);  // ns/<ns>/sa/<service>
  if (rest.substr(0, 3) != "ns/") return {};
  rest = rest.substr(3);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return {};
  rest = rest.substr(slash + 1);
  if (rest.substr(0, 3) != "sa/") return {};
  rest = rest.substr(3);
  return rest.find('/') == std::string_view::npos ? rest : std::string_view{};
}

std::optional<std::string> spiffeIdOf(X509* cert) {
  if (!cert) return std::nullopt;
  using Names = std::unique_ptr<GENERAL_NAMES, decltype(&GENERAL_NAMES_free)>;
  Names names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)),
      &GENERAL_NAMES_free);
  if (!names) return std::nullopt;
  std::optional<std::string> uri;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    if (uri) return std::nullopt;  // more than one URI SAN: ambiguous, refused
    const ASN1_IA5STRING* value = name->d.uniformResourceIdentifier;
    uri.emplace(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                static_cast<size_t>(ASN1_STRING_length(value)));
  }
  if (!uri || !isSpiffeId(*uri)) return std::nullopt;
  return uri;
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
