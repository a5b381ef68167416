#pragma once

#include <grpcpp/grpcpp.h>

#include "controlplane/security/management_security.h"

namespace meshdeck::cp {

// What the transport says about the caller of a call or stream: its address, whether it came
// over TLS (the auth context's transport_security_type: "tls" there, "ssl" for gRPC's older
// credentials, "insecure" on the plaintext port) and the client certificate gRPC verified
// against the mesh roots. Nothing the client sends in metadata is trusted.
security::PeerInfo peerInfo(grpc::CallbackServerContext* ctx);

}  // namespace meshdeck::cp
