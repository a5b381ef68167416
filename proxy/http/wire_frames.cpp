#include "proxy/http/wire_frames.h"

#include <algorithm>
#include <string_view>

#include "proxy/http/headers.h"

namespace meshdeck::proxy {

namespace asio = boost::asio;

size_t WireFrames::frame(const char* data, size_t size, bool chunked, bool last) {
  static constexpr std::string_view kChunkEnd = "\r\n";
  static constexpr std::string_view kChunkEndLast = "\r\n0\r\n\r\n";
  if (chunked && size > 0) appendChunkHeader(wire_, size);
  if (size <= kCoalesceLimit) {
    if (size > 0) wire_.append(data, size);
    if (chunked && size > 0) wire_.append(kChunkEnd);
    if (chunked && last) wire_.append(kLastChunk);
    buffers_ = {asio::buffer(wire_), asio::const_buffer(), asio::const_buffer()};
  } else {
    const std::string_view tail = !chunked ? std::string_view{} : last ? kChunkEndLast : kChunkEnd;
    buffers_ = {asio::buffer(wire_), asio::buffer(data, size), asio::buffer(tail)};
  }
  return asio::buffer_size(buffers_);
}

bool WireFrames::consume(size_t n) {
  for (auto& b : buffers_) {
    const size_t k = std::min(n, b.size());
    b += k;
    n -= k;
  }
  return asio::buffer_size(buffers_) > 0;
}

void WireFrames::clear() {
  wire_.clear();
  if (wire_.capacity() > 16 * 1024) wire_.shrink_to_fit();  // after an unusually large head
}

}  // namespace meshdeck::proxy
