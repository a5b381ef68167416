#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "controlplane/security/management_security.h"
#include "controlplane/security/proxy_auth.h"

namespace meshdeck::cp {

// What the transport says about the caller of a call or stream: its address, whether it came
// over TLS (the auth context's transport_security_type: "tls" there, "ssl" for gRPC's older
// credentials, "insecure" on the plaintext port) and the client certificate gRPC verified
// against the mesh roots. Nothing the client sends in metadata is trusted.
security::PeerInfo peerInfo(grpc::ServerContextBase* ctx);

// The peer a proxy's stream runs as (`stream`: "discovery" or "telemetry"), or nullopt with the
// reason in `why` (logged with the peer's address; `auth` counts it) when `auth` refuses it.
// Without `auth` every stream is admitted as what its transport says.
std::optional<security::ProxyPeer> admitProxyPeer(grpc::ServerContextBase* ctx,
                                                  security::ProxyAuthenticator* auth,
                                                  std::string_view stream, std::string* why);

using ProxyStreamReactor = grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

// The check at the top of a proxy's stream (`stream`: "discovery" or "telemetry"; docs/
// security.md, "Proxies on the streams"): the peer the stream runs as, or, when `auth` refuses
// it, a reactor that has already finished the stream PERMISSION_DENIED with the reason (logged
// with the peer's address; `auth` counts it). Without `auth` every stream is admitted as what
// its transport says. The returned reactor deletes itself when gRPC is done with it.
std::variant<security::ProxyPeer, ProxyStreamReactor*> admitProxyStream(
    grpc::CallbackServerContext* ctx, security::ProxyAuthenticator* auth, std::string_view stream);

}  // namespace meshdeck::cp
