#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string>

namespace meshdeck::proxy {

// What goes out next on one connection, framed: a serialized head (or nothing) followed by one
// body piece, framed as a chunk when asked, as the buffers of one gathered write. Pieces up to
// kCoalesceLimit are copied behind the head (one iovec); larger ones are sent from where they
// lie as a second iovec of the same send. Pure: the caller writes buffers() itself, then
// clear(). One per downstream connection, reused by every exchange on it.
class WireFrames {
 public:
  static constexpr size_t kCoalesceLimit = 4096;

  // The head is appended here before frame() (appendHead() of proxy/http/headers.h).
  std::string& head() { return wire_; }
  // Frames `size` bytes at `data` behind what head() holds, as a chunk when `chunked` (with
  // the last chunk when `last`); returns the size of buffers(). `data` must stay valid until
  // the write is done.
  size_t frame(const char* data, size_t size, bool chunked, bool last);
  const std::array<boost::asio::const_buffer, 3>& buffers() const { return buffers_; }
  // Takes the first `n` bytes off buffers() (what one send took); true while some are left.
  bool consume(size_t n);
  // The hot path's send: one `stream.trySend()` (MeshStream: a send without an Asio operation),
  // which sends a small message whole; true when some is left for the composed async_write
  // (a full socket buffer, or a TLS stream), false when all went or `ec` is set.
  template <typename Stream>
  bool sendNow(Stream& stream, boost::system::error_code& ec) {
    return consume(stream.trySend(buffers_, ec)) && !ec;
  }
  // Empties the head after a write (and gives back the memory of an unusually large one).
  void clear();

 private:
  std::string wire_;  // serialized head (and small body piece) on its way out
  std::array<boost::asio::const_buffer, 3> buffers_;  // wire_ [, body piece, chunk end]
};

}  // namespace meshdeck::proxy
