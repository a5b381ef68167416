#pragma once

#include <cstdint>

// How an edge's requests travelled between the two sidecars over a window: the one rule the
// graph's padlock, the inspector, `meshdeckctl get edges` and anything else that states an
// edge's transport share.
namespace meshdeck::cp {

// kNone: no request of the window said either way. kMixed: some of each (a PERMISSIVE
// migration still in progress).
enum class EdgeTransport { kNone, kMtls, kPlaintext, kMixed };

// From the window's counts of requests carried over mutual TLS and in plaintext (the
// `mtls_requests` and `plaintext_requests` counters of an edge).
EdgeTransport edgeTransport(uint64_t mtls_requests, uint64_t plaintext_requests);

// "none", "mtls", "plaintext", "mixed".
const char* toString(EdgeTransport transport);

}  // namespace meshdeck::cp
