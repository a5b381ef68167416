#include "controlplane/api/edge_transport.h"

#include <cassert>

namespace meshdeck::cp {

EdgeTransport edgeTransport(uint64_t mtls_requests, uint64_t plaintext_requests) {
  if (mtls_requests > 0 && plaintext_requests > 0) return EdgeTransport::kMixed;
  if (mtls_requests > 0) return EdgeTransport::kMtls;
  if (plaintext_requests > 0) return EdgeTransport::kPlaintext;
  return EdgeTransport::kNone;
}

const char* toString(EdgeTransport transport) {
  switch (transport) {
    case EdgeTransport::kNone:
      return "none";
    case EdgeTransport::kMtls:
      return "mtls";
    case EdgeTransport::kPlaintext:
      return "plaintext";
    case EdgeTransport::kMixed:
      return "mixed";
  }
  assert(false && "EdgeTransport out of range");
  return "none";
}

}  // namespace meshdeck::cp
