// What both HTTP/2 codecs (h2_codec.*, the server side; h2_client_codec.*, the client side) do
// with libnghttp2 the same way: views of its bytes, header entries, and draining its output.
// Internal to proxy/http2/; include only from the codecs' .cpp files.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace meshdeck::proxy::h2::detail {

inline std::string_view view(const uint8_t* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

// A header entry pointing into `name` and `value` (nghttp2 copies them when it submits).
inline nghttp2_nv nv(std::string_view name, std::string_view value) {
  return {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
          const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

// Appends up to about `max` bytes of the frames the session has to send to `out`; a session
// error sets `fatal`. True when anything was appended.
inline bool drainOutput(nghttp2_session* session, std::string& out, size_t max, bool& fatal) {
  const size_t before = out.size();
  while (out.size() - before < max) {
    const uint8_t* p = nullptr;
    const auto n = nghttp2_session_mem_send(session, &p);
    if (n <= 0) {
      if (n < 0) fatal = true;
      break;
    }
    out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }
  return out.size() > before;
}

}  // namespace meshdeck::proxy::h2::detail
