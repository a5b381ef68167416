#include "controlplane/server/peer_info.h"

#include <spdlog/spdlog.h>

#include <string>

namespace meshdeck::cp {

namespace {
// A stream refused before it starts.
class RefusedStream final : public ProxyStreamReactor {
 public:
  explicit RefusedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};
}  // namespace

security::PeerInfo peerInfo(grpc::ServerContextBase* ctx) {
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

std::optional<security::ProxyPeer> admitProxyPeer(grpc::ServerContextBase* ctx,
                                                  security::ProxyAuthenticator* auth,
                                                  std::string_view stream, std::string* why) {
  const auto info = peerInfo(ctx);
  security::ProxyPeer peer;
  peer.tls = info.tls;
  peer.address = info.address;
  if (auth == nullptr) return peer;
  auto admitted = auth->admit(info, stream, why);
  if (!admitted) {
    spdlog::warn("{} ({})", *why, info.address);
    return std::nullopt;
  }
  return admitted;
}

std::variant<security::ProxyPeer, ProxyStreamReactor*> admitProxyStream(
    grpc::CallbackServerContext* ctx, security::ProxyAuthenticator* auth, std::string_view stream) {
  std::string why;
  auto admitted = admitProxyPeer(ctx, auth, stream, &why);
  if (!admitted) return new RefusedStream(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why));
  return std::move(*admitted);
}

}  // namespace meshdeck::cp
