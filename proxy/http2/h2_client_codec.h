#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

struct nghttp2_session;

namespace meshdeck::proxy::h2 {

// The limits of one upstream HTTP/2 connection (docs/http2.md, "Upstream HTTP/2").
struct ClientLimits {
  uint32_t initial_window = 256 * 1024;          // SETTINGS_INITIAL_WINDOW_SIZE (per stream)
  uint32_t connection_window = 4 * 1024 * 1024;  // the connection's receive window
  size_t max_header_list = 64 * 1024;            // a response head or trailers past it: reset
  uint32_t max_concurrent_streams = 100;         // our own cap, below the peer's setting
};

// What the client codec tells the connection above it, from inside receive() and
// pendingOutput(). Stream ids are those submitRequest() returned.
class ClientEvents {
 public:
  using Header = std::pair<std::string, std::string>;
  virtual ~ClientEvents() = default;
  // The final response head (interim 1xx heads are skipped). `end_stream`: no body follows.
  virtual void onResponseHead(int32_t stream, unsigned status, std::vector<Header>& headers,
                              bool end_stream) = 0;
  virtual void onResponseData(int32_t stream, const char* data, size_t size) = 0;
  // The response ended (END_STREAM), with `trailers` (empty when none came).
  virtual void onResponseEnd(int32_t stream, std::vector<Header>& trailers) = 0;
  // The stream is gone (done, or reset by either side: `error_code` then says why).
  virtual void onStreamClosed(int32_t stream, uint32_t error_code) = 0;
  // Everything queued on the stream by queueData() has gone into frames.
  virtual void onDrained(int32_t stream) = 0;
  // The response was malformed ("header_too_large", "bad_status"): the stream is reset.
  virtual void onMalformed(int32_t stream, const char* reason) = 0;
};

// The client side of one HTTP/2 connection on libnghttp2, with no I/O: the same shape as
// ServerCodec (bytes in through receive(), frames out through pendingOutput()), requests down
// through submitRequest() / queueData(), responses up as ClientEvents. Flow control is manual
// both ways: response body bytes open the window again only when consumed() says the
// downstream took them; request bodies go out as the peer's windows allow (queued() tells).
// Used by h2::ClientConnection (proxy/http2/h2_upstream.h) and the unit tests.
class ClientCodec {
 public:
  using Header = ClientEvents::Header;

  ClientCodec(ClientEvents& events, const ClientLimits& limits);
  ~ClientCodec();
  ClientCodec(const ClientCodec&) = delete;
  ClientCodec& operator=(const ClientCodec&) = delete;

  // Feeds bytes from the server. False when the connection must end (a GOAWAY of ours may
  // still wait in pendingOutput()).
  bool receive(const char* data, size_t size);
  // Appends the frames ready to go (the connection preface first) to `out`; false when none.
  bool pendingOutput(std::string& out, size_t max = 64 * 1024);
  bool wantsWrite() const;
  // Neither side wants anything more (after a GOAWAY, or a fatal error).
  bool finished() const;
  // The server sent GOAWAY (or we did, or the codec failed): no new stream may start.
  bool goingAway() const;
  // Streams open (submitted and not closed).
  size_t openStreams() const { return streams_.size(); }
  // How many streams may be open at once: the server's SETTINGS_MAX_CONCURRENT_STREAMS,
  // capped by ours.
  uint32_t maxConcurrentStreams() const;

  // Starts a request: `headers` with the pseudo-headers first (:method, :scheme, :authority,
  // :path), lower-case names. Without `end_stream` the body follows through queueData().
  // Returns the stream id, or a negative value when no stream can start.
  int32_t submitRequest(const std::vector<Header>& headers, bool end_stream);
  // Queues request body bytes (copied); `last` ends the body.
  void queueData(int32_t stream, const char* data, size_t size, bool last);
  // Request body bytes queued and not yet framed.
  size_t queued(int32_t stream) const;
  // `size` response body bytes of `stream` were passed downstream: the window opens again.
  void consumed(int32_t stream, size_t size);
  void resetStream(int32_t stream, uint32_t error_code);
  // Starts a graceful end: GOAWAY with `error_code`.
  void goAway(uint32_t error_code);

  // For the nghttp2 callbacks (h2_client_codec.cpp).
  struct StreamState;
  struct Callbacks;

 private:
  ClientEvents& events_;
  ClientLimits limits_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<StreamState>> streams_;
  bool fatal_ = false;
  bool goaway_received_ = false;
};

}  // namespace meshdeck::proxy::h2
