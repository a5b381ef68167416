#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/security/management_security.h"

namespace meshdeck::cp::security {

// Who may open the discovery and telemetry streams on the plaintext port (ControlPlaneOptions).
struct ProxyAccess {
  // False (--no-plaintext-proxies): proxies must come over the TLS port with their workload
  // certificate; a stream on the plaintext port is refused.
  bool plaintext_proxies = true;
};

// The identity one proxy stream is bound to, fixed when the stream opens.
struct ProxyPeer {
  bool tls = false;
  std::string address;  // gRPC's peer()
  // From the verified client certificate on the TLS port (empty on the plaintext port).
  std::string spiffe_id, ns, service, serial_hex;
  // The proxy id the CA issued this certificate to ("" when this process did not issue it:
  // issued before a restart).
  std::string issued_to;
  bool authenticated() const { return tls && !spiffe_id.empty(); }
};

// What the registry knows of a connected proxy.
struct RegisteredProxy {
  std::string ns, service;
  std::string spiffe_id;       // the identity it was authenticated with ("" plaintext)
  bool authenticated = false;  // its discovery stream came over TLS with its certificate
};

// One edge of a telemetry report: the proxy's own side is the source of a client-side edge and
// the destination of a server-side one.
struct ReportedEdge {
  bool client_side = false;
  std::string_view source, destination;
};

// ProxyAuthenticator binds each discovery and telemetry stream to the identity of its peer
// (docs/security.md, "Proxies on the streams"): on the TLS port the workload certificate gRPC
// verified against the mesh roots; the node a discovery stream announces and every telemetry
// report must then be of that identity (service and namespace of the SPIFFE id, and the proxy
// id the certificate was issued to when the CA knows it). A stream on the plaintext port is
// refused with --no-plaintext-proxies, and may never speak for a proxy that connected with an
// identity. Refusals are counted and logged by the caller. No gRPC here. Thread-safe.
class ProxyAuthenticator {
 public:
  // `issued_to(serial)`: the proxy id the mesh CA issued the certificate with that serial to, or
  // "" when unknown.
  ProxyAuthenticator(std::string trust_domain, ProxyAccess access,
                     std::function<std::string(const std::string& serial_hex)> issued_to);

  // A stream opens (`stream`: "discovery" or "telemetry", for the message). The peer, or
  // nothing with the reason in `error` (PERMISSION_DENIED).
  std::optional<ProxyPeer> admit(const PeerInfo& peer, std::string_view stream, std::string* error);
  // The node a discovery stream announces. "" when allowed, else why (counted).
  std::string checkNode(const ProxyPeer& peer, const std::string& proxy_id, const std::string& ns,
                        const std::string& service, const std::string& claimed_spiffe_id,
                        const std::optional<RegisteredProxy>& registered);
  // A telemetry report for `proxy_id` with these edges. "" when allowed, else why (counted).
  std::string checkReport(const ProxyPeer& peer, const std::string& proxy_id,
                          const std::optional<RegisteredProxy>& registered,
                          const std::vector<ReportedEdge>& edges);

  // Streams refused on the plaintext port (--no-plaintext-proxies) or with a certificate that is
  // not a workload's; nodes and reports refused for another proxy's identity.
  uint64_t streamsRefused() const { return streams_refused_.load(); }
  uint64_t identityRefused() const { return identity_refused_.load(); }

 private:
  const std::string trust_domain_;
  const ProxyAccess access_;
  const std::function<std::string(const std::string&)> issued_to_;
  std::atomic<uint64_t> streams_refused_{0}, identity_refused_{0};
};

}  // namespace meshdeck::cp::security
