#pragma once

#include <cstddef>

#include "proxy/exchange.h"
#include "proxy/session_host.h"

namespace meshdeck::proxy {

// Shadows a replayable request to its route's mirror cluster (Envoy's ShadowWriter): selected
// by the mirror's percentage, a copy of ex.head with the `body_size` bytes at `body` is sent
// in a detached coroutine on the host's io_context, over a pooled or new connection, and its
// response is read and dropped. Nothing of it reaches the client or the exchange's outcome;
// mirror_sent counts the copies. Requires: ex.route has a mirror cluster.
void sendMirror(SessionHost& host, const Exchange& ex, const char* body, size_t body_size);

}  // namespace meshdeck::proxy
