#include "controlplane/security/proxy_auth.h"

#include <fmt/format.h>

#include "common/pki/pki.h"

namespace meshdeck::cp::security {

namespace {
constexpr const char* kUseTls =
    "proxies with a workload certificate stream over the TLS port (meshdeck-proxy "
    "--control-plane-tls)";
}  // namespace

ProxyAuthenticator::ProxyAuthenticator(
    std::string trust_domain, ProxyAccess access,
    std::function<std::string(const std::string& serial_hex)> issued_to)
    : trust_domain_(std::move(trust_domain)), access_(access), issued_to_(std::move(issued_to)) {}

std::optional<ProxyPeer> ProxyAuthenticator::admit(const PeerInfo& peer, std::string_view stream,
                                                   std::string* error) {
  ProxyPeer p;
  p.tls = peer.tls;
  p.address = peer.address;
  if (!peer.tls) {
    if (!access_.plaintext_proxies) {
      ++streams_refused_;
      *error = fmt::format(
          "{} stream refused: the plaintext port serves no proxies (--no-plaintext-proxies); {}",
          stream, kUseTls);
      return std::nullopt;
    }
    return p;
  }
  // The TLS port asks for a client certificate but gRPC lets a client without one through
  // (management calls answer it UNAUTHENTICATED); a proxy stream needs one.
  if (peer.cert_pem.empty()) {
    ++streams_refused_;
    *error = fmt::format(
        "{} stream refused: no client certificate; on the TLS port a proxy is authenticated by "
        "its workload certificate",
        stream);
    return std::nullopt;
  }
  const auto leaf = pki::loadCertPem(peer.cert_pem);
  const auto info = leaf ? pki::certificateInfo(leaf.get()) : std::nullopt;
  const auto id = leaf ? pki::spiffeIdOf(leaf.get()) : std::nullopt;
  const auto parsed = id ? pki::parseSpiffeId(*id) : std::nullopt;
  if (!info || !parsed || parsed->trust_domain != trust_domain_) {
    ++streams_refused_;
    const auto sans = leaf ? pki::subjectAltNames(leaf.get()) : pki::SubjectAltNames{};
    *error = fmt::format(
        "{} stream refused: {} is not a workload identity of this mesh "
        "(spiffe://{}/ns/<namespace>/sa/<service>)",
        stream, sans.uris.size() == 1 ? sans.uris.front() : std::string("the client certificate"),
        trust_domain_);
    return std::nullopt;
  }
  p.spiffe_id = *id;
  p.ns = parsed->ns;
  p.service = parsed->service;
  p.serial_hex = info->serial_hex;
  if (issued_to_) p.issued_to = issued_to_(p.serial_hex);
  return p;
}

std::string ProxyAuthenticator::checkNode(const ProxyPeer& peer, const std::string& proxy_id,
                                          const std::string& ns, const std::string& service,
                                          const std::string& claimed_spiffe_id,
                                          const std::optional<RegisteredProxy>& registered) {
  std::string why;
  if (peer.authenticated()) {
    if (service != peer.service || ns != peer.ns)
      why = fmt::format(
          "discovery refused: the node is service {} in namespace {}, but the client "
          "certificate is {}",
          service, ns, peer.spiffe_id);
    else if (!claimed_spiffe_id.empty() && claimed_spiffe_id != peer.spiffe_id)
      why = fmt::format("discovery refused: the node claims {}, but the client certificate is {}",
                        claimed_spiffe_id, peer.spiffe_id);
    else if (!peer.issued_to.empty() && peer.issued_to != proxy_id)
      why = fmt::format(
          "discovery refused: the node is proxy {}, but the client certificate was issued to "
          "proxy {}",
          proxy_id, peer.issued_to);
    else if (registered && registered->authenticated && registered->spiffe_id != peer.spiffe_id)
      why = fmt::format("discovery refused: proxy {} is {}, not {}", proxy_id,
                        registered->spiffe_id, peer.spiffe_id);
  } else if (registered && registered->authenticated) {
    why = fmt::format(
        "discovery refused: proxy {} is {}: it connects over the TLS port with its certificate, "
        "never on the plaintext port",
        proxy_id, registered->spiffe_id);
  }
  if (!why.empty()) ++identity_refused_;
  return why;
}

std::string ProxyAuthenticator::checkReport(const ProxyPeer& peer, const std::string& proxy_id,
                                            const std::optional<RegisteredProxy>& registered,
                                            const std::vector<ReportedEdge>& edges) {
  std::string why;
  if (peer.authenticated()) {
    if (!peer.issued_to.empty() && peer.issued_to != proxy_id) {
      why = fmt::format(
          "telemetry refused: a report for proxy {} with the certificate issued to proxy {}",
          proxy_id, peer.issued_to);
    } else if (registered &&
               (registered->service != peer.service || registered->ns != peer.ns ||
                (registered->authenticated && registered->spiffe_id != peer.spiffe_id))) {
      why = fmt::format(
          "telemetry refused: a report for proxy {} (service {} in namespace {}) "
          "with the certificate of {}",
          proxy_id, registered->service, registered->ns, peer.spiffe_id);
    } else {
      for (const auto& e : edges) {
        const std::string_view own = e.client_side ? e.source : e.destination;
        if (own != peer.service) {
          why = fmt::format(
              "telemetry refused: a {}-side edge {} -> {} reported with the certificate of {}, "
              "whose proxies only report edges of service {}",
              e.client_side ? "client" : "server", e.source, e.destination, peer.spiffe_id,
              peer.service);
          break;
        }
      }
    }
  } else if (registered && registered->authenticated) {
    why = fmt::format(
        "telemetry refused: proxy {} is {}: its reports come over the TLS port with its "
        "certificate, never on the plaintext port",
        proxy_id, registered->spiffe_id);
  }
  if (!why.empty()) ++identity_refused_;
  return why;
}

}  // namespace meshdeck::cp::security
