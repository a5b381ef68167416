#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/http/field_allocator.h"

struct nghttp2_session;

namespace meshdeck::proxy::h2 {

// The 24-byte client connection preface of HTTP/2 (RFC 9113 §3.4).
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// The limits of one downstream HTTP/2 connection (docs/http2.md, "Hardening").
struct Limits {
  uint32_t max_concurrent_streams = 100;     // SETTINGS_MAX_CONCURRENT_STREAMS
  uint32_t initial_window = 64 * 1024;       // SETTINGS_INITIAL_WINDOW_SIZE (per stream)
  uint32_t connection_window = 1024 * 1024;  // the connection's receive window
  size_t max_header_list = 64 * 1024;        // SETTINGS_MAX_HEADER_LIST_SIZE; past it: 431
  // Decoded header bytes of one block past which the connection is closed (an HPACK bomb:
  // small indexed references to a large table entry).
  size_t max_decoded_header_block = 1024 * 1024;
  size_t max_continuations = 16;                // CONTINUATION frames of one header block
  uint32_t rapid_reset_limit = 100;             // streams reset by the client before a response...
  std::chrono::seconds rapid_reset_window{10};  // ...within this window: GOAWAY
  uint32_t max_empty_frames = 100;  // DATA frames without payload nor END_STREAM, in a row
  size_t max_settings = 32;         // settings entries in one SETTINGS frame
  size_t max_outbound_ack = 1000;   // queued SETTINGS/PING acks (a flood of either)
};

// What the codec tells the connection above it. Called from inside receive() and pendingOutput().
class Events {
 public:
  virtual ~Events() = default;
  // A request head is complete (pseudo-headers turned into method, target and Host; cookies
  // joined). `too_large`: the header list passed max_header_list (its fields were dropped),
  // answer 431.
  virtual void onRequestHead(int32_t stream, RequestHeader& head, bool end_stream,
                             bool too_large) = 0;
  virtual void onRequestData(int32_t stream, const char* data, size_t size) = 0;
  virtual void onRequestEnd(int32_t stream) = 0;
  // The stream is gone (reset by either side, or done); nothing more may be sent on it.
  virtual void onStreamClosed(int32_t stream, uint32_t error_code) = 0;
  // Everything queued on the stream by queueData() has gone into frames.
  virtual void onDrained(int32_t stream) = 0;
  // Something was refused and counted by its reason (the connection counts it):
  // "rapid_reset", "continuation_flood", "hpack_bomb", "empty_frames", "frame_flood",
  // "header_list_too_large", "stream_limit", "bad_preface", "protocol_error".
  virtual void onRefused(const char* reason) = 0;
};

// The server side of one HTTP/2 connection on libnghttp2, with no I/O (Envoy's codec shape):
// bytes in through receive(), frames out through pendingOutput(); requests and their bodies go
// up as Events, responses come down through respond() / queueData() / sendTrailers(). Flow
// control is manual: request body bytes open the window again only when consumed() says the
// upstream took them. Used by H2Connection (Asio) and the proxy_http2 fuzzer.
class ServerCodec {
 public:
  using Header = std::pair<std::string, std::string>;
  // A field by views (valid until the call that takes it returns: nghttp2 copies them).
  using HeaderView = std::pair<std::string_view, std::string_view>;

  ServerCodec(Events& events, const Limits& limits);
  ~ServerCodec();
  ServerCodec(const ServerCodec&) = delete;
  ServerCodec& operator=(const ServerCodec&) = delete;

  // Feeds bytes from the client. False when the connection must end (a GOAWAY may still be
  // waiting in pendingOutput()).
  bool receive(const char* data, size_t size);
  // Appends the frames ready to go to `out` (at most about `max` bytes); false when none.
  bool pendingOutput(std::string& out, size_t max = 64 * 1024);
  // Frames are waiting to go out.
  bool wantsWrite() const;
  // Neither side wants anything more (after GOAWAY, or a fatal error).
  bool finished() const;
  // Starts a graceful end: GOAWAY with `error_code` (0: NO_ERROR) and the last stream seen.
  void goAway(uint32_t error_code);

  // The response head: `status` and `headers` (lower-case names, no connection-specific
  // fields). Without `end_stream` the body follows through queueData().
  bool respond(int32_t stream, unsigned status, const std::vector<Header>& headers,
               bool end_stream);
  // respond() of fields given as views (no std::string per field).
  bool respond(int32_t stream, unsigned status, const HeaderView* headers, size_t count,
               bool end_stream);
  // An interim (1xx) response.
  void sendInterim(int32_t stream, unsigned status, const std::vector<Header>& headers);
  // Queues body bytes (copied) of a response begun without end_stream; `last` ends the body
  // (with the trailers given by sendTrailers() before, if any).
  void queueData(int32_t stream, const char* data, size_t size, bool last);
  // queueData() without the copy: the bytes stay the caller's, and must stay valid until
  // queued() says they went into frames (Events::onDrained) or keepQueued() copied them.
  void queueDataBorrowed(int32_t stream, const char* data, size_t size, bool last);
  // Copies the borrowed bytes not framed yet into the codec (their buffer is about to go).
  void keepQueued(int32_t stream);
  void sendTrailers(int32_t stream, std::vector<Header> trailers);
  // Body bytes queued and not yet framed.
  size_t queued(int32_t stream) const;
  // `size` request body bytes of `stream` were passed upstream: the window opens again.
  void consumed(int32_t stream, size_t size);
  void resetStream(int32_t stream, uint32_t error_code);

  // Drops the states kept for the next streams. While nothing waits to go out: gives the pages of
  // nghttp2's output frame buffer (16 KiB, kept for the session's life, dirty once a large frame
  // went through it) back to the kernel; they come back zero-filled when the next frame is written.
  // Returns the bytes given back (0 with nghttp2's own allocator, i.e. under AddressSanitizer, or
  // with output pending).
  size_t releaseIdleMemory();

  // For the nghttp2 callbacks (h2_codec.cpp).
  struct StreamState;
  struct Callbacks;

 private:
  void refuse(const char* reason, uint32_t goaway_code);

  Events& events_;
  Limits limits_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<StreamState>> streams_;
  // States of closed streams, for the next ones (releaseIdleMemory() drops them).
  static constexpr size_t kSpareStreams = 64;
  std::vector<std::unique_ptr<StreamState>> spare_;
  bool fatal_ = false;
  const char* refused_ = nullptr;  // the reason of the GOAWAY we sent, once counted
  void* frame_buffer_ = nullptr;   // nghttp2's output frame buffer, when known
  size_t frame_buffer_size_ = 0;
  size_t continuations_ = 0;
  uint32_t empty_frames_ = 0;
  uint32_t resets_in_window_ = 0;
  std::chrono::steady_clock::time_point reset_window_start_{};
};

}  // namespace meshdeck::proxy::h2
