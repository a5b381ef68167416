#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/awaitable.h"
#include "proxy/http2/h2_client_codec.h"
#include "proxy/http2/h2_connection.h"
#include "proxy/upstream_pool.h"

namespace meshdeck::proxy::h2 {

class ClientConnection;

// One request on an upstream HTTP/2 connection (Envoy's upstream stream): the response head,
// body and trailers as they arrive, and the request body on its way out. Held by the attempt
// and the relay of one exchange (and by a request body pump, for an HTTP/2 downstream); the
// connection keeps a weak reference. Destroyed before the response ended, it resets the
// stream (CANCEL), which is how cancellation reaches the upstream.
class UpstreamStream {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Header = ClientCodec::Header;

  UpstreamStream(std::shared_ptr<ClientConnection> conn, int32_t id);
  ~UpstreamStream();
  UpstreamStream(const UpstreamStream&) = delete;
  UpstreamStream& operator=(const UpstreamStream&) = delete;

  // Waits for the final response head until `deadline`; false (timed out: `timedOut()`, or
  // the stream failed) when none came.
  Awaitable<bool> waitHead(TimePoint deadline);
  // Queues a piece of the request body and waits until it has gone into frames (the server's
  // windows allow it) or `deadline`; false when the stream failed or the time ran out.
  Awaitable<bool> send(const char* data, size_t size, bool last, TimePoint deadline);
  // Reads up to `max` bytes of the response body into `buf` by `deadline`. The bytes read by
  // the previous call open the window again now (the caller passed them on). `*last`: the
  // body is complete. Returns the size, or -1 when the stream failed or timed out.
  Awaitable<long> read(char* buf, size_t max, bool* last, TimePoint deadline);
  // Resets the stream (CANCEL) unless it is done: the client gave up, or the time ran out.
  void cancel();

  unsigned status() const { return status_; }
  std::vector<Header>& headers() { return headers_; }
  std::vector<Header>& trailers() { return trailers_; }
  // The response head came with END_STREAM: no body.
  bool headEnded() const { return head_ended_; }
  bool failed() const { return closed_ && !ended_; }
  bool timedOut() const { return timed_out_; }
  // The server refused the stream before processing it (REFUSED_STREAM, or a GOAWAY that did
  // not cover it): safe to retry whatever the request.
  bool refused() const { return refused_; }
  // Why the response was malformed ("header_too_large", ...), or nullptr.
  const char* malformed() const { return malformed_; }
  bool tls() const;
  const std::string& peerIdentity() const;

  // A request body pump runs for this stream (HTTP/2 downstream): it ends at pumpDone.
  bool pumping = false;
  Signal pump_done;

 private:
  friend class ClientConnection;
  std::shared_ptr<ClientConnection> conn_;
  int32_t id_;
  Signal signal_;       // response events (one waiter: the attempt or the relay)
  Signal send_signal_;  // request body drained (one waiter: the sender)
  unsigned status_ = 0;
  std::vector<Header> headers_, trailers_;
  std::string in_;         // response body bytes received, not yet read
  size_t unconsumed_ = 0;  // read, window not yet opened again
  bool head_ = false;      // the final head arrived
  bool head_ended_ = false;
  bool ended_ = false;   // END_STREAM received
  bool closed_ = false;  // the stream is gone
  bool refused_ = false;
  bool timed_out_ = false;
  const char* malformed_ = nullptr;
};

// One multiplexed connection to an upstream endpoint: the transport (an UpstreamConnection,
// plain or mutual TLS, connected by connectUpstream()), ClientCodec, a read loop and a writer
// on the worker. Many UpstreamStreams at once, up to the server's
// SETTINGS_MAX_CONCURRENT_STREAMS (capped at ClientLimits::max_concurrent_streams). Closes
// itself when the server goes away or the connection fails (failing the streams still open:
// the attempts see a reset), and after `idle_timeout` without a stream.
class ClientConnection final : public std::enable_shared_from_this<ClientConnection>,
                               private ClientEvents {
 public:
  ClientConnection(std::unique_ptr<UpstreamConnection> transport, const ClientLimits& limits,
                   std::chrono::steady_clock::duration idle_timeout);
  ~ClientConnection() override;

  // Starts the read loop, the writer and the idle watch.
  void start();
  // Still open and not going away: new streams may start on it.
  bool usable() const { return !closed_ && !codec_.goingAway(); }
  // usable() with room for one more stream.
  bool hasCapacity() const;
  size_t openStreams() const { return streams_.size(); }
  // Starts a request; nullptr when no stream could start (the connection is going away).
  std::shared_ptr<UpstreamStream> open(const std::vector<ClientCodec::Header>& headers,
                                       bool end_stream);
  const UpstreamConnection& transport() const { return *transport_; }
  // Ends the connection now (tests, config changes): every open stream fails.
  void close();

 private:
  friend class UpstreamStream;
  Awaitable<void> readLoop(std::shared_ptr<ClientConnection> self);
  Awaitable<void> writeLoop(std::shared_ptr<ClientConnection> self);
  Awaitable<void> idleWatch(std::shared_ptr<ClientConnection> self);
  void failAll();
  UpstreamStream* find(int32_t id);

  // ClientEvents
  void onResponseHead(int32_t stream, unsigned status, std::vector<Header>& headers,
                      bool end_stream) override;
  void onResponseData(int32_t stream, const char* data, size_t size) override;
  void onResponseEnd(int32_t stream, std::vector<Header>& trailers) override;
  void onStreamClosed(int32_t stream, uint32_t error_code) override;
  void onDrained(int32_t stream) override;
  void onMalformed(int32_t stream, const char* reason) override;

  std::unique_ptr<UpstreamConnection> transport_;
  ClientCodec codec_;
  std::chrono::steady_clock::duration idle_timeout_;
  Signal write_signal_;
  boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                    boost::asio::wait_traits<std::chrono::steady_clock>, Executor>
      idle_timer_;
  std::unordered_map<int32_t, UpstreamStream*> streams_;
  std::chrono::steady_clock::time_point last_active_;
  bool closed_ = false;
};

}  // namespace meshdeck::proxy::h2
