#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/awaitable.h"
#include "proxy/exchange.h"
#include "proxy/http/wire_frames.h"
#include "proxy/http2/h2_codec.h"
#include "proxy/relay_buffer_pool.h"

namespace meshdeck::proxy {

class Session;
struct ListenerStats;
struct Attempt;

namespace h2 {

// Counts one refusal of the HTTP/2 codec (Events::onRefused reasons) into the listener's
// h2_* counters (common/telemetry/counter_fields.h).
void countRefusal(ListenerStats& stats, const char* reason);

// A wake-up for one waiting coroutine on one thread: notify() ends a pending wait(); the waiter
// checks its condition again, so a notify with nobody waiting is not lost.
class Signal {
 public:
  explicit Signal(const Executor& ex) : timer_(ex) {}
  // Cancels the timer only when a wait may be pending (the reactor's lock and timer queue are
  // not touched for a notify nobody waits for).
  void notify() {
    if (armed_) {
      armed_ = false;
      timer_.cancel();
    }
  }
  // wait(), ending at `deadline` too. The timer's own awaitable, not a coroutine around it:
  // one coroutine frame less per wait.
  auto waitUntil(std::chrono::steady_clock::time_point deadline) {
    armed_ = true;
    timer_.expires_at(deadline);
    return timer_.async_wait(kNoThrow);
  }
  auto wait() { return waitUntil(std::chrono::steady_clock::time_point::max()); }

 private:
  boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                    boost::asio::wait_traits<std::chrono::steady_clock>, Executor>
      timer_;
  bool armed_ = false;  // waitUntil() was called and no notify() came since
};

// One downstream HTTP/2 connection over the Session's transport (plain TCP or mTLS), after
// the client's connection preface: ServerCodec (nghttp2) frames the bytes, each stream becomes
// an Exchange that goes through the same admission, upstream attempts, retries and counting as
// an HTTP/1.1 request (docs/http2.md). Lives on the session's worker thread; run() returns
// when the connection and every stream handler are done.
class IoBufferPool;

class Connection final : public std::enable_shared_from_this<Connection>, private Events {
 public:
  Connection(Session& session, const Limits& limits);
  ~Connection() override;
  // Serves the connection; `already` holds the bytes read before the protocol was known (the
  // preface and whatever followed it).
  Awaitable<void> run(std::string already);
  // The proxy drains (called again and again until the session ends): the first call sends
  // GOAWAY (NO_ERROR, the last stream seen: no new streams), a later one closes the connection
  // once no stream is left and the GOAWAY is out.
  void drain();

 private:
  struct Stream;

  // Bytes the read loop waits for arrive into a small buffer in its frame; more than that
  // are read by readPending() into buffers of the worker's IoBufferPool.
  static constexpr size_t kPeekSize = 512;
  // Reads and parses what is already there (in the socket, or held by OpenSSL) into borrowed
  // buffers, given back before it returns. False when the connection must end.
  Awaitable<bool> readPending(IoBufferPool& pool);
  Awaitable<void> writeLoop(std::shared_ptr<Connection> self);
  Awaitable<void> idleWatch(std::shared_ptr<Connection> self);
  Awaitable<void> closeWatch(std::shared_ptr<Connection> self);
  Awaitable<void> serveStream(std::shared_ptr<Connection> self, std::shared_ptr<Stream> st);
  Awaitable<void> forward(Stream& st);
  // The response of an HTTP/1.1 upstream (at.response): head, body, trailers of a chunked body.
  Awaitable<void> relayResponse(Stream& st, Attempt& at);
  // relayResponse()'s common case without a coroutine: no edits, no tap, not gRPC, and the
  // head with no body or a content-length body already read whole (up to a relay buffer). The
  // upstream connection goes back to the pool at once. False (nothing done): relayResponse().
  bool relayBuffered(Stream& st, Attempt& at);
  // The response of an HTTP/2 upstream stream (at.h2): head, body, trailers.
  Awaitable<void> relayH2Response(Stream& st, Attempt& at);
  // Answers the stream with a response the proxy generates (as Session::sendLocal does); a
  // gRPC call gets a trailers-only gRPC error, of `grpc_status` when it is not -1.
  void sendLocal(Stream& st, unsigned status, const char* code, const char* detail = "",
                 int grpc_status = -1);
  Executor executor();

  // Events
  void onRequestHead(int32_t stream, RequestHeader& head, bool end_stream, bool too_large) override;
  void onRequestData(int32_t stream, const char* data, size_t size) override;
  void onRequestEnd(int32_t stream) override;
  void onStreamClosed(int32_t stream, uint32_t error_code) override;
  void onDrained(int32_t stream) override;
  void onRefused(const char* reason) override;

  Session& session_;
  Limits limits_;
  ServerCodec codec_;
  Signal write_signal_;  // frames may be ready to go
  Signal done_signal_;   // a handler or the writer ended
  Signal read_signal_;   // a handler ended (the read loop may be waiting for one)
  boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                    boost::asio::wait_traits<std::chrono::steady_clock>, Executor>
      idle_timer_;
  std::map<int32_t, std::shared_ptr<Stream>> streams_;  // handlers running
  // Streams whose handler ended, for the next ones (no allocation per stream while busy).
  static constexpr size_t kSpareStreams = 64;
  std::vector<std::shared_ptr<Stream>> spare_streams_;
  size_t handlers_ = 0;
  bool closing_ = false;  // the read side ended: streams finish, then the connection closes
  bool writer_done_ = false;
  bool writing_ = false;        // a write is under way
  bool goaway_queued_ = false;  // drain() sent the GOAWAY
  std::chrono::steady_clock::time_point last_activity_;
  // Scratch of relayResponse() between two waits: the lower-cased names of a response head
  // and its fields as views (kept for their capacity).
  std::string head_arena_;
  std::vector<ServerCodec::HeaderView> head_views_;
};

}  // namespace h2
}  // namespace meshdeck::proxy
