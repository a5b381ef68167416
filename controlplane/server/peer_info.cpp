#include "controlplane/server/peer_info.h"

namespace meshdeck::cp {

security::PeerInfo peerInfo(grpc::CallbackServerContext* ctx) {
  security::PeerInfo p;
  p.address = ctx->peer();
  if (const auto auth = ctx->auth_context()) {
    const auto type = auth->FindPropertyValues("transport_security_type");
    // Anything but plaintext counts as TLS.
    p.tls =
        !type.empty() && std::string_view(type.front().data(), type.front().size()) != "insecure";
    if (p.tls) {
      const auto cert = auth->FindPropertyValues("x509_pem_cert");
      if (!cert.empty()) p.cert_pem.assign(cert.front().data(), cert.front().size());
    }
  }
  return p;
}

}  // namespace meshdeck::cp
