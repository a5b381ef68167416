#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>

#include "proxy/awaitable.h"
#include "proxy/tls/mesh_stream.h"
#include "proxy/upstream_pool.h"

namespace meshdeck::proxy {

// After a 101 Switching Protocols both sides speak another protocol: copies bytes both ways
// until either side closes, then closes both. Bytes already read past the heads
// (`down_buffer`, upstream.buffer) go first. `buf` (`size` bytes, e.g. the exchange's relay
// buffer) carries the client-to-upstream direction. Either side may be TLS; one read and one
// write are outstanding per stream at most. Returns when both directions have ended, so
// `upstream` (owned by the caller) outlives every operation on it.
Awaitable<void> tunnel(tls::MeshStream& down, boost::beast::flat_buffer& down_buffer,
                       UpstreamConnection& upstream, char* buf, size_t size);

}  // namespace meshdeck::proxy
