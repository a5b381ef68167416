#include "proxy/http2/h2_connection.h"

#include <fmt/format.h>
#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cstring>

#include "proxy/admission.h"
#include "proxy/http/grpc.h"
#include "proxy/http/h1_response.h"
#include "proxy/http/headers.h"
#include "proxy/http2/h2_upstream.h"
#include "proxy/http2/io_buffer_pool.h"
#include "proxy/mesh/on_demand_hold.h"
#include "proxy/mirror.h"
#include "proxy/retry_state.h"
#include "proxy/session.h"
#include "proxy/stats.h"
#include "proxy/upstream_attempt.h"

namespace meshdeck::proxy::h2 {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::string_view kErrorHeader = "x-meshdeck-error";
constexpr auto kCloseGrace = std::chrono::seconds(2);
// How long a connection without traffic waits before it gives its frame buffer's pages back.
constexpr auto kQuiet = std::chrono::seconds(1);

// ASCII lower case (field names are tokens); std::tolower is a locale-aware call per byte.
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Fields an HTTP/2 message must not carry (RFC 9113 §8.2.2), besides those Connection names
// (removeHopByHopHeaders() took them out already).
bool connectionSpecific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "te";
}

// The fields removeHopByHopHeaders() drops by name (without keeping Upgrade) and those
// connectionSpecific() adds; a Connection field's own list is handled by the slow path. By
// length first: most names of a head are compared with nothing.
bool hopByHopName(std::string_view name) {
  switch (name.size()) {
    case 2:
      return name == "te";
    case 7:
      return name == "upgrade" || name == "trailer";
    case 10:
      return name == "connection" || name == "keep-alive";
    case 16:
      return name == "proxy-connection";
    case 17:
      return name == "transfer-encoding";
    case 18:
      return name == "proxy-authenticate";
    case 19:
      return name == "proxy-authorization";
    default:
      return false;
  }
}

// An HTTP/2 head whose hop-by-hop fields hopByHopName() finds alone: names in lower case
// (nghttp2 checks that of an HTTP/2 server's) and no Connection field naming others.
bool plainH2Fields(const std::vector<ServerCodec::Header>& fields) {
  for (const auto& [name, value] : fields) {
    if (name == "connection") return false;
    for (const char c : name)
      if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Whether every token of a Connection field's value is one removeHopByHopHeaders() names no
// field by (close, keep-alive, upgrade, transfer-encoding: the fields of the last three are
// dropped anyway). Anything else (another token, a malformed list) is left to Beast's rules.
bool plainConnectionTokens(std::string_view value) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t end = value.find(',', pos);
    if (end == std::string_view::npos) end = value.size();
    auto token = value.substr(pos, end - pos);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (!token.empty() && !iequal(token, "close") && !iequal(token, "keep-alive") &&
        !iequal(token, "upgrade") && !iequal(token, "transfer-encoding"))
      return false;
    pos = end + 1;
  }
  return true;
}

// The HTTP/2 fields of an HTTP/1.1 upstream's head as removeHopByHopHeaders() then h2Fields()
// make them, without Beast fields: names lower-cased into `arena` (sized once, so the views
// into it stay put), values views into the head's buffer. False (and nothing to use) when a
// Connection field names other fields: the caller takes Beast's path.
bool plainH1Fields(const h1::ResponseHead& head, std::string& arena,
                   std::vector<ServerCodec::HeaderView>& out) {
  out.clear();
  size_t names = 0;
  for (size_t i = 0; i < head.fieldCount(); ++i) names += head.field(i).name.size();
  arena.resize(names);
  char* p = arena.data();
  for (size_t i = 0; i < head.fieldCount(); ++i) {
    const auto& f = head.field(i);
    for (size_t j = 0; j < f.name.size(); ++j) {
      const char c = f.name[j];
      p[j] = static_cast<unsigned char>(c - 'A') < 26 ? static_cast<char>(c | 0x20) : c;
    }
    const std::string_view name(p, f.name.size());
    p += f.name.size();
    if (!hopByHopName(name)) {
      out.emplace_back(name, f.value);
    } else if (name == "connection" && !plainConnectionTokens(f.value)) {
      out.clear();
      return false;
    }
  }
  return true;
}

std::vector<ServerCodec::Header> h2Fields(const Fields& fields, size_t skip = 0) {
  std::vector<ServerCodec::Header> out;
  out.reserve(8);
  size_t i = 0;
  for (const auto& f : fields) {
    if (i++ < skip) continue;
    auto name = lower(f.name_string());
    if (connectionSpecific(name)) continue;
    out.emplace_back(std::move(name), std::string(f.value()));
  }
  return out;
}

}  // namespace

void countRefusal(ListenerStats& ls, const char* reason) {
  const std::string_view r = reason;
  if (r == "rapid_reset")
    ++ls.h2_rapid_reset;
  else if (r == "continuation_flood")
    ++ls.h2_continuation_flood;
  else if (r == "hpack_bomb")
    ++ls.h2_hpack_bomb;
  else if (r == "empty_frames")
    ++ls.h2_empty_frames;
  else if (r == "frame_flood")
    ++ls.h2_frame_flood;
  else if (r == "header_list_too_large")
    ++ls.h2_header_list_too_large;
  else if (r == "stream_limit")
    ++ls.h2_stream_limit;
  else if (r == "bad_preface")
    ++ls.h2_bad_preface;
  else
    ++ls.h2_protocol_error;
}

// One stream's request and response: the Downstream of its upstream attempts.
struct Connection::Stream final : Downstream {
  Stream(Connection& c, int32_t stream_id)
      : conn(c), id(stream_id), signal(c.executor()), body_signal(c.executor()) {}

  Connection& conn;
  int32_t id;
  RequestHeader head;
  bool too_large = false;
  bool end_stream = false;    // the request body is complete (END_STREAM seen)
  bool body_at_head = false;  // the request had no body beyond its head
  bool grpc = false;          // content-type application/grpc*: local replies are gRPC errors
  std::string in;             // request body bytes received, not yet read
  size_t unconsumed = 0;      // read and passed upstream, window not yet opened again
  bool closed = false;        // reset (or the connection ended): nothing more goes out
  Signal signal;              // the handler: its response pieces went out, or the stream closed
  Signal body_signal;         // readBody(): request body bytes came, or the stream closed
  Exchange ex;
  RelayBuffer body;
  WireFrames wire;
  BodyPiece first;

  Awaitable<BodyPiece> readBody(Exchange&) override {
    // The previous piece went upstream: its bytes may come again.
    if (unconsumed) {
      conn.codec_.consumed(id, unconsumed);
      unconsumed = 0;
      conn.write_signal_.notify();
    }
    BodyPiece piece;
    for (;;) {
      if (closed) {
        piece.failed = true;
        co_return piece;
      }
      if (!in.empty()) {
        const size_t n = std::min(in.size(), kRelayBufferSize);
        std::memcpy(body->data(), in.data(), n);
        in.erase(0, n);
        unconsumed = n;
        piece.data = body->data();
        piece.size = n;
        piece.last = end_stream && in.empty();
        co_return piece;
      }
      if (end_stream) {
        piece.last = true;
        co_return piece;
      }
      co_await body_signal.wait();
    }
  }

  // Ready for the next stream of the connection (Connection::spare_streams_): the state of the
  // last one dropped, the timers, the frame buffer's capacity and the object itself kept.
  void recycle() {
    id = 0;
    head = RequestHeader{};
    too_large = end_stream = body_at_head = grpc = closed = false;
    in.clear();
    if (in.capacity() > kRelayBufferSize) std::string().swap(in);
    unconsumed = 0;
    ex = Exchange{};
    wire.clear();
    first = BodyPiece{};
    on_cancel = nullptr;
    pump.reset();
  }

  bool concurrentBody() const override { return true; }
  bool cancelled() const override { return closed; }

  // The stream is done for the client (reset, or the connection ended).
  void close() {
    closed = true;
    signal.notify();
    body_signal.notify();
    if (on_cancel) on_cancel();
  }

  Awaitable<void> sendInterim(Exchange&, const ResponseHeader& interim) override {
    if (!closed) {
      conn.codec_.sendInterim(id, interim.result_int(), h2Fields(interim));
      conn.write_signal_.notify();
    }
    co_return;
  }
};

Connection::Connection(Session& session, const Limits& limits)
    : session_(session),
      limits_(limits),
      codec_(*this, limits),
      write_signal_(session.host_.io().get_executor()),
      done_signal_(session.host_.io().get_executor()),
      read_signal_(session.host_.io().get_executor()),
      idle_timer_(session.host_.io().get_executor()) {}

Connection::~Connection() = default;

Executor Connection::executor() { return session_.host_.io().get_executor(); }

Awaitable<void> Connection::run(std::string already) {
  auto self = shared_from_this();
  auto& down = session_.down_;
  ++session_.listener_stats_.h2_connections;
  last_activity_ = session_.host_.now();
  down.expires_never();  // the idle watch below ends an idle connection
  asio::co_spawn(executor(), writeLoop(self), asio::detached);
  asio::co_spawn(executor(), idleWatch(self), asio::detached);

  bool ok = codec_.receive(already.data(), already.size());
  // Neither the bytes read before the protocol was known nor the session's HTTP/1.1 read
  // buffer are needed again: their capacity would stay for the connection's life.
  std::string().swap(already);
  session_.buffer_.clear();
  session_.buffer_.shrink_to_fit();
  write_signal_.notify();
  // An idle connection holds no read buffer (docs/http2.md, "Memory per idle connection"): it
  // waits with a read into `peek` (a few bytes in this frame), and only when more bytes are
  // there than that holds does it borrow a buffer of the worker's pool, read them into it,
  // parse them and give it back.
  auto& pool = IoBufferPool::local();
  std::array<char, kPeekSize> peek;
  while (ok && !closing_) {
    // Handlers still at work for streams already closed (reset by the client) hold no slot
    // of SETTINGS_MAX_CONCURRENT_STREAMS: past twice that, stop reading until some end.
    while (handlers_ >= 2 * limits_.max_concurrent_streams && !closing_)
      co_await read_signal_.wait();
    auto [ec, n] = co_await down.async_read_some(asio::buffer(peek), kNoThrow);
    if (ec || closing_) break;
    last_activity_ = session_.host_.now();
    ok = codec_.receive(peek.data(), n);
    if (ok && (n == peek.size() || down.tlsInputPending())) ok = co_await readPending(pool);
    write_signal_.notify();
  }
  closing_ = true;
  // Nobody reads the responses now: every handler ends at its next wait.
  for (auto& [id, st] : streams_) st->close();
  write_signal_.notify();
  // The last frames (a GOAWAY) get a moment to leave; a client that reads nothing (a flood of
  // PINGs whose acks pile up) does not keep the connection open.
  idle_timer_.expires_after(kCloseGrace);
  asio::co_spawn(executor(), closeWatch(self), asio::detached);
  while (handlers_ > 0 || !writer_done_) co_await done_signal_.wait();
  idle_timer_.cancel();
}

Awaitable<bool> Connection::readPending(IoBufferPool& pool) {
  auto& down = session_.down_;
  bool ok = true;
  if (down.isTls()) {
    // What OpenSSL holds (decrypted, or records received and not decrypted yet) is read
    // without waiting for the socket, except for the rest of a record received in part.
    while (ok && !closing_ && down.tlsInputPending()) {
      auto buf = pool.takeRead();
      auto [ec, n] =
          co_await down.async_read_some(asio::buffer(buf.get(), IoBufferPool::kReadSize), kNoThrow);
      if (!ec && !closing_) ok = codec_.receive(buf.get(), n);
      pool.giveRead(std::move(buf));
      if (ec) break;  // the next read in run() sees the end or the error again
    }
    co_return ok;
  }
  // Plain TCP: what the socket holds now, without waiting (the socket is non-blocking for
  // asio's own operations already).
  const int fd = down.socket().native_handle();
  while (ok && !closing_) {
    auto buf = pool.takeRead();
    const ssize_t n = ::recv(fd, buf.get(), IoBufferPool::kReadSize, MSG_DONTWAIT);
    if (n > 0) ok = codec_.receive(buf.get(), static_cast<size_t>(n));
    pool.giveRead(std::move(buf));
    // Less than a full buffer: the socket is empty (for now). The end, an error or EAGAIN:
    // the next read in run() waits for, or reports, them.
    if (n < static_cast<ssize_t>(IoBufferPool::kReadSize)) break;
  }
  co_return ok;
}

Awaitable<void> Connection::closeWatch(std::shared_ptr<Connection> self) {
  (void)self;
  co_await idle_timer_.async_wait(kNoThrow);
  if (writer_done_) co_return;  // run() may have returned: the session may be gone
  beast::error_code ec;
  session_.down_.socket().close(ec);
}

Awaitable<void> Connection::writeLoop(std::shared_ptr<Connection> self) {
  (void)self;
  // The frames go out of a buffer of the worker's pool, borrowed while there is something to
  // write: an idle connection holds none.
  auto& pool = IoBufferPool::local();
  for (;;) {
    if (codec_.wantsWrite()) {
      std::string out = pool.takeOutput();
      if (codec_.pendingOutput(out)) {
        writing_ = true;
        auto [ec, n] = co_await asio::async_write(session_.down_, asio::buffer(out), kNoThrow);
        writing_ = false;
        pool.giveOutput(std::move(out));
        if (ec) break;
        last_activity_ = session_.host_.now();
        continue;
      }
      pool.giveOutput(std::move(out));
    }
    if (closing_ || codec_.finished()) break;
    co_await write_signal_.wait();
  }
  writer_done_ = true;
  if (!closing_) {
    // The codec has nothing more to say (GOAWAY sent): end the read side too.
    closing_ = true;
    beast::error_code ec;
    session_.down_.socket().cancel(ec);
  }
  done_signal_.notify();
}

void Connection::drain() {
  if (closing_) return;
  if (!goaway_queued_) {
    goaway_queued_ = true;
    codec_.goAway(NGHTTP2_NO_ERROR);
    write_signal_.notify();
    return;
  }
  if (handlers_ == 0 && !writing_ && !codec_.wantsWrite()) {
    closing_ = true;
    beast::error_code ec;
    session_.down_.socket().cancel(ec);
  }
}

Awaitable<void> Connection::idleWatch(std::shared_ptr<Connection> self) {
  (void)self;
  // The activity after which the frame buffer was last given back (never: min()).
  auto released_after = std::chrono::steady_clock::time_point::min();
  while (!closing_) {
    const Duration idle = session_.listener_config_.idle_timeout;
    // A connection quiet for kQuiet gives nghttp2's frame buffer back once (docs/http2.md,
    // "Memory per idle connection"); a busy one is woken at most once per kQuiet for it.
    auto wake = last_activity_ + idle;
    if (released_after != last_activity_) wake = std::min(wake, last_activity_ + kQuiet);
    idle_timer_.expires_at(wake);
    co_await idle_timer_.async_wait(kNoThrow);
    if (closing_) break;
    if (released_after != last_activity_ && handlers_ == 0 && !writing_ &&
        session_.host_.now() - last_activity_ >= kQuiet) {
      codec_.releaseIdleMemory();
      spare_streams_.clear();
      spare_streams_.shrink_to_fit();
      released_after = last_activity_;
    }
    if (handlers_ == 0 && session_.host_.now() - last_activity_ >= idle) {
      ++session_.listener_stats_.idle_timeouts;
      closing_ = true;
      beast::error_code ec;
      session_.down_.socket().cancel(ec);
      break;
    }
    if (handlers_ > 0) last_activity_ = session_.host_.now();
  }
}

void Connection::onRequestHead(int32_t id, RequestHeader& head, bool end_stream, bool too_large) {
  std::shared_ptr<Stream> st;
  if (!spare_streams_.empty()) {
    st = std::move(spare_streams_.back());
    spare_streams_.pop_back();
    st->id = id;
  } else {
    st = std::make_shared<Stream>(*this, id);
  }
  st->head = std::move(head);
  st->end_stream = end_stream;
  st->body_at_head = end_stream;
  st->too_large = too_large;
  streams_[id] = st;
  ++handlers_;
  asio::co_spawn(executor(), serveStream(shared_from_this(), std::move(st)), asio::detached);
}

void Connection::onRequestData(int32_t id, const char* data, size_t size) {
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second->closed) {
    codec_.consumed(id, size);  // nobody will read it
    return;
  }
  it->second->in.append(data, size);
  it->second->body_signal.notify();
}

void Connection::onRequestEnd(int32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  it->second->end_stream = true;
  it->second->body_signal.notify();
}

void Connection::onStreamClosed(int32_t id, uint32_t) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  it->second->close();
}

void Connection::onDrained(int32_t id) {
  auto it = streams_.find(id);
  if (it != streams_.end()) it->second->signal.notify();
}

void Connection::onRefused(const char* reason) {
  countRefusal(session_.listener_stats_, reason);
  spdlog::debug("listener {}: HTTP/2 connection from {}: refused ({})",
                session_.listener_config_.name, session_.peer_ip_, reason);
}

Awaitable<void> Connection::serveStream(std::shared_ptr<Connection> self,
                                        std::shared_ptr<Stream> st) {
  (void)self;
  auto& host = session_.host_;
  session_.refreshListenerConfig(host.config());
  Exchange& ex = st->ex;
  ex.config = host.config();
  ex.listener = &session_.listener_config_;
  ex.start = host.now();
  st->body = host.takeRelayBuffer();
  {
    const auto ct = st->head[http::field::content_type];
    st->grpc = isGrpcContentType({ct.data(), ct.size()});
  }
  ex.protocol = st->grpc ? Exchange::Protocol::kGrpc : Exchange::Protocol::kHttp2;
  try {
    if (st->too_large) {
      countRefusal(session_.listener_stats_, "header_list_too_large");
      ++host.stats().malformed["header_too_large"];
      sendLocal(*st, 431, error_code::kBadRequest, "header_too_large");
    } else {
      // HTTP/2 frames the body itself; to an HTTP/1.1 upstream a body of unknown length goes
      // chunked (the client cannot have sent Transfer-Encoding: nghttp2 refuses it).
      CodecFraming codec;
      codec.body_done = st->body_at_head;
      if (const auto cl = st->head.find(http::field::content_length); cl != st->head.end()) {
        // nghttp2 checked that it is a number and that the DATA frames add up to it.
        uint64_t v = 0;
        const auto text = cl->value();
        if (std::from_chars(text.data(), text.data() + text.size(), v).ec == std::errc{})
          codec.content_length = v;
      } else if (!codec.body_done) {
        st->head.set(http::field::transfer_encoding, "chunked");
        codec.chunked = true;
      }
      session_.tapStart(st->head, ex);
      Verdict verdict = admit(st->head, codec, session_.peer(), ex, host);
      // A host outside a scoped sidecar's scope: held while it is asked for (on_demand.h).
      // (Not `a && co_await b`: GCC makes the coroutine of `b`, a frame and a copy of the
      // name, even when `a` is false.)
      if (!verdict.missing_host.empty()) {
        if (co_await holdForService(host.onDemand(), verdict.missing_host, &verdict.detail) &&
            !st->closed) {
          session_.refreshListenerConfig(host.config());
          ex.config = host.config();
          verdict = admit(st->head, codec, session_.peer(), ex, host);
        }
      }
      if (verdict.kind == Verdict::kAdmit && verdict.delay) {
        asio::basic_waitable_timer<std::chrono::steady_clock,
                                   asio::wait_traits<std::chrono::steady_clock>, Executor>
            timer(executor());
        timer.expires_after(*verdict.delay);
        co_await timer.async_wait(kNoThrow);
        if (!st->closed)
          verdict = prepareUpstreamRequest(st->head, codec, session_.peer(), ex, host);
      }
      if (!st->closed) {
        switch (verdict.kind) {
          case Verdict::kRefuse:
            ++host.stats().malformed[verdict.code];
            sendLocal(*st, verdict.status, error_code::kBadRequest, verdict.code);
            break;
          case Verdict::kLocal:
            sendLocal(*st, verdict.status, verdict.code, verdict.detail.c_str(),
                      verdict.grpc_status);
            break;
          case Verdict::kAdmit:
            if (verdict.expect_continue && !st->end_stream) {
              codec_.sendInterim(st->id, 100, {});
              write_signal_.notify();
            }
            co_await forward(*st);
            break;
        }
      }
    }
  } catch (const std::exception& e) {
    spdlog::warn("HTTP/2 stream on listener {} ended by exception: {}",
                 session_.listener_config_.name, e.what());
  }
  // A request body pump to an HTTP/2 upstream still running (the response ended before the
  // request did, or failed): both streams are reset and the pump ends before the exchange.
  if (auto pump = std::move(st->pump); pump && pump->pumping) {
    if (!st->closed) {
      codec_.resetStream(st->id, NGHTTP2_NO_ERROR);
      write_signal_.notify();
    }
    pump->cancel();
    while (pump->pumping) co_await pump->pump_done.wait();
  }
  st->on_cancel = nullptr;
  session_.finish(ex);
  // A piece of the response still queued (the stream closed for us before it was framed)
  // leaves the relay buffer before the buffer goes back.
  codec_.keepQueued(st->id);
  host.returnRelayBuffer(std::move(st->body));
  // What the client sent and nobody read opens the window again.
  codec_.consumed(st->id, st->in.size() + st->unconsumed);
  st->in.clear();
  streams_.erase(st->id);
  // Kept for the next stream unless the connection ends (idleWatch() drops the spares of a
  // quiet connection).
  if (!closing_ && st.use_count() == 1 && spare_streams_.size() < kSpareStreams) {
    st->recycle();
    spare_streams_.push_back(std::move(st));
  }
  --handlers_;
  write_signal_.notify();
  read_signal_.notify();
  if (closing_ && handlers_ == 0) done_signal_.notify();
}

void Connection::sendLocal(Stream& st, unsigned status, const char* code, const char* detail,
                           int grpc_status) {
  Exchange& ex = st.ex;
  ex.status = status;
  ex.error_code = code;
  if (st.grpc) {
    // A gRPC caller gets a gRPC error: HTTP 200 with grpc-status and grpc-message in one
    // trailers-only HEADERS frame. The exchange keeps the HTTP status it stands for (listener
    // and route counters); the edge counts the call by its gRPC status.
    const uint32_t gs =
        grpc_status >= 0 ? static_cast<uint32_t>(grpc_status) : grpcStatusOfLocalReply(status);
    ex.grpc_status = static_cast<uint8_t>(gs);
    if (st.closed) return;
    std::vector<ServerCodec::Header> headers{
        {std::string(kErrorHeader), code},
        {"content-type", "application/grpc"},
        {"grpc-status", std::to_string(gs)},
        {"grpc-message", fmt::format("{} {}{}{}", status, code, *detail ? ": " : "", detail)}};
    if (ex.tap) ex.tap->addResponseHead(headers);
    codec_.respond(st.id, 200, headers, true);
    write_signal_.notify();
    return;
  }
  if (st.closed) return;
  const std::string body = fmt::format("{} {}{}{}\n", status, code, *detail ? ": " : "", detail);
  std::vector<ServerCodec::Header> headers{{std::string(kErrorHeader), code},
                                           {"content-type", "text/plain"},
                                           {"content-length", std::to_string(body.size())}};
  if (ex.route)
    for (const auto& [k, v] : ex.route->response_headers.set) headers.emplace_back(lower(k), v);
  if (ex.tap) ex.tap->addResponseHead(headers);
  codec_.respond(st.id, status, headers, false);
  codec_.queueData(st.id, body.data(), body.size(), true);
  ex.bytes_out += body.size();
  write_signal_.notify();
}

namespace {

// The grpc-status in the field list of an HTTP/2 upstream's head or trailers; nullopt without
// one (a malformed value is UNKNOWN, as headerGrpcStatus() has it).
std::optional<uint32_t> grpcStatusIn(const std::vector<h2::UpstreamStream::Header>& fields) {
  for (const auto& [name, value] : fields)
    if (name == "grpc-status") return parseGrpcStatus(value).value_or(common::kGrpcUnknown);
  return std::nullopt;
}

// The grpc-status of an attempt's response head (a trailers-only answer), whichever protocol
// the upstream spoke.
std::optional<uint32_t> headGrpcStatus(Attempt& at) {
  if (at.h2) return grpcStatusIn(at.h2->headers());
  if (at.has_head) {
    if (const auto* v = at.head.find("grpc-status"))
      return parseGrpcStatus(*v).value_or(common::kGrpcUnknown);
  }
  return std::nullopt;
}

}  // namespace

Awaitable<void> Connection::forward(Stream& st) {
  auto& host = session_.host_;
  Exchange& ex = st.ex;
  // As for HTTP/1.1 (Session::forward): the first piece of the body is in hand before the
  // first attempt, so a body that fits can be replayed by retries.
  st.first = BodyPiece{};
  st.first.last = st.body_at_head;
  if (!st.first.last) {
    st.first = co_await st.readBody(ex);
    if (st.first.failed) co_return;
    ex.bytes_in += st.first.size;
  }
  const bool replayable = st.first.last && !ex.upgrade;
  if (replayable && !ex.route->mirror.cluster.empty())
    sendMirror(host, ex, st.body->data(), st.first.size);

  RetryState retry(ex.route->retry, replayable, ex.deadline);
  // A gRPC call's grpc-timeout (admission kept only a valid one) tells the upstream the time
  // left of the call's deadline, at each attempt.
  const bool grpc_timeout = st.grpc && ex.deadline != Exchange::TimePoint::max() &&
                            ex.head.find("grpc-timeout") != ex.head.end();
  for (;;) {
    if (grpc_timeout) ex.head.set("grpc-timeout", formatGrpcTimeout(ex.deadline - host.now()));
    Attempt at;
    co_await runAttempt(host, st, st.wire, ex, st.first, retry.freshOnly(), at);
    if (st.closed || at.downstream_failed) co_return;  // reset by the client: nobody to answer
    if (at.local_code) {
      sendLocal(st, at.local_status, at.local_code);
      co_return;
    }
    AttemptOutcome outcome{at.failure, at.status(), at.reused};
    // A trailers-only gRPC answer (its status in the head, nothing relayed yet) may be retried
    // by its status; one whose body or trailers follow never is.
    if (st.grpc) {
      if (const auto gs = headGrpcStatus(at)) outcome.grpc_status = static_cast<int>(*gs);
    }
    RetryBudget* budget = at.cluster ? &at.cluster->retry_budget : nullptr;
    const auto decision = retry.next(outcome, budget, at.cluster ? at.cluster->active_requests : 0,
                                     host.now(), [&host] { return host.random(); });
    if (decision.action == RetryState::Action::kRetryFresh) continue;
    if (decision.action == RetryState::Action::kRetry) {
      ++ex.retries;
      ++at.cluster->statsIn(host.stats()).rq_retry;
      at.conn.reset();
      asio::basic_waitable_timer<std::chrono::steady_clock,
                                 asio::wait_traits<std::chrono::steady_clock>, Executor>
          timer(executor());
      timer.expires_after(decision.backoff);
      co_await timer.async_wait(kNoThrow);
      at.cluster->retry_budget.release();
      if (st.closed) co_return;
      continue;
    }
    if (decision.budget_exhausted) ++at.cluster->statsIn(host.stats()).rq_retry_budget_exhausted;
    switch (at.failure) {
      case AttemptFailure::kConnectFailure:
        sendLocal(st, 502, at.tls_code ? at.tls_code : error_code::kUpstreamConnect);
        co_return;
      case AttemptFailure::kReset:
        sendLocal(st, 502, error_code::kUpstreamReset);
        co_return;
      case AttemptFailure::kTimeout:
        ex.timeout = true;
        sendLocal(st, 504, error_code::kTimeout);
        co_return;
      case AttemptFailure::kNone:
        break;
    }
    if (at.h2) {
      co_await relayH2Response(st, at);
    } else if (relayBuffered(st, at)) {
      // The whole answer is framed from the relay buffer: wait until it went into frames.
      while (codec_.queued(st.id) > 0 && !st.closed) co_await st.signal.wait();
    } else {
      co_await relayResponse(st, at);
    }
    co_return;
  }
}

Awaitable<void> Connection::relayH2Response(Stream& st, Attempt& at) {
  auto& host = session_.host_;
  Exchange& ex = st.ex;
  auto& up = *at.h2;
  const unsigned status = up.status();
  ex.status = status;
  const bool no_body = up.headEnded() || ex.is_head;
  // A gRPC call's status: in a trailers-only response, in the head; else in the trailers below.
  if (st.grpc) {
    if (const auto gs = grpcStatusIn(up.headers())) ex.grpc_status = static_cast<uint8_t>(*gs);
  }
  if (st.closed) co_return;
  if (ex.route->response_headers.empty() && plainH2Fields(up.headers())) {
    // The common case: no edits of the route and lower-case names without a Connection field
    // (an HTTP/2 server's head). Dropping the hop-by-hop fields in place gives what the Beast
    // field list below gives, without building it and converting it back.
    std::erase_if(up.headers(), [](const auto& f) { return hopByHopName(f.first); });
    if (ex.tap) ex.tap->addResponseHead(up.headers());
    codec_.respond(st.id, status, up.headers(), no_body);
  } else {
    ResponseHeader fields;
    for (const auto& [k, v] : up.headers()) fields.insert(k, v);
    removeHopByHopHeaders(fields, false);
    for (const auto& name : ex.route->response_headers.remove) fields.erase(name);
    for (const auto& [k, v] : ex.route->response_headers.set) fields.set(k, v);
    for (const auto& [k, v] : ex.route->response_headers.add) fields.insert(k, v);
    if (ex.tap) ex.tap->addResponseHead(fields);
    codec_.respond(st.id, status, h2Fields(fields), no_body);
  }
  write_signal_.notify();
  if (no_body) co_return;
  for (;;) {
    bool last = false;
    const long n = co_await up.read(st.body->data(), kRelayBufferSize, &last,
                                    host.now() + ex.listener->idle_timeout);
    if (st.closed) co_return;
    if (n < 0) {
      // Mid-body upstream failure (reset, GOAWAY, the connection lost, no byte for the idle
      // timeout): the stream is reset, the client sees it end unfinished.
      ++at.cluster->statsIn(host.stats()).rq_reset;
      codec_.resetStream(st.id, NGHTTP2_INTERNAL_ERROR);
      write_signal_.notify();
      co_return;
    }
    ex.bytes_out += static_cast<uint64_t>(n);
    if (last) {
      if (st.grpc) {
        if (const auto gs = grpcStatusIn(up.trailers())) ex.grpc_status = static_cast<uint8_t>(*gs);
      }
      std::vector<ServerCodec::Header> trailers;
      for (auto& [k, v] : up.trailers())
        if (!connectionSpecific(k)) trailers.emplace_back(k, v);
      if (!trailers.empty()) codec_.sendTrailers(st.id, std::move(trailers));
    }
    // Framed from the relay buffer unless a request body pump still runs: it reads the
    // client's next piece into the same buffer (a bidirectional call), so the piece is copied.
    if (st.pump && st.pump->pumping)
      codec_.queueData(st.id, st.body->data(), static_cast<size_t>(n), last);
    else
      codec_.queueDataBorrowed(st.id, st.body->data(), static_cast<size_t>(n), last);
    write_signal_.notify();
    while (codec_.queued(st.id) > 0 && !st.closed) co_await st.signal.wait();
    if (last || st.closed) co_return;
  }
}

bool Connection::relayBuffered(Stream& st, Attempt& at) {
  Exchange& ex = st.ex;
  const auto& hf = at.head.framing;
  const size_t buffered = at.conn->buffer.size() - at.head.size;
  const bool no_body = hf.body == h1::ResponseBody::kNone ||
                       (hf.body == h1::ResponseBody::kContentLength && hf.length == 0) ||
                       ex.is_head;
  const bool whole_body = hf.body == h1::ResponseBody::kContentLength &&
                          hf.length <= kRelayBufferSize && buffered >= hf.length;
  if (st.closed || (!no_body && !whole_body) || !ex.route->response_headers.empty() || ex.tap ||
      st.grpc || !plainH1Fields(at.head, head_arena_, head_views_))
    return false;
  ex.status = at.head.status;
  codec_.respond(st.id, at.head.status, head_views_.data(), head_views_.size(), no_body);
  at.consumeHead();
  if (!no_body) {
    // As readResponseBody() takes the bytes read past the head, without its coroutine.
    const auto n = static_cast<size_t>(hf.length);
    std::memcpy(st.body->data(), at.conn->buffer.data().data(), n);
    at.conn->buffer.consume(n);
    at.body_left = 0;
    at.body_done = true;
    ex.bytes_out += n;
    codec_.queueDataBorrowed(st.id, st.body->data(), n, true);
  }
  write_signal_.notify();
  // The body is in the relay buffer: the upstream connection serves the next stream while this
  // one's frames wait for the writer (and the client's window).
  if (reusableAfterBody(at) && at.cluster)
    session_.host_.pool().give(std::move(at.conn), at.cluster->config->max_idle_connections,
                               session_.host_.now());
  return true;
}

Awaitable<void> Connection::relayResponse(Stream& st, Attempt& at) {
  auto& host = session_.host_;
  Exchange& ex = st.ex;
  // The head as the proxy's HTTP/1.1 codec read it (at.head: views into the upstream
  // connection's buffer, docs/h1-codec.md), turned into HTTP/2 fields before consumeHead()
  // takes its bytes out; the body read by readResponseBody(), as the HTTP/1.1 relay does.
  const unsigned status = at.head.status;
  ex.status = status;
  const bool close_delimited = at.framing.kind == BodyFraming::kCloseDelimited;
  const auto& hf = at.head.framing;
  const bool no_body = hf.body == h1::ResponseBody::kNone ||
                       (hf.body == h1::ResponseBody::kContentLength && hf.length == 0) ||
                       ex.is_head;
  const auto& edits = ex.route->response_headers;
  if (edits.empty() && !ex.tap && plainH1Fields(at.head, head_arena_, head_views_)) {
    // The common case (no edits of the route, no tap, a Connection field naming nothing but
    // hop-by-hop fields): the fields go to nghttp2 as views, names lower-cased once into the
    // connection's arena; what removeHopByHopHeaders() and h2Fields() drop is left out.
    if (st.grpc) {
      if (const auto* v = at.head.find("grpc-status"))
        ex.grpc_status = static_cast<uint8_t>(parseGrpcStatus(*v).value_or(common::kGrpcUnknown));
    }
    if (!st.closed) codec_.respond(st.id, status, head_views_.data(), head_views_.size(), no_body);
  } else {
    ResponseHeader fields;
    for (size_t i = 0; i < at.head.fieldCount(); ++i) {
      const auto& f = at.head.field(i);
      fields.insert(beast::string_view(f.name.data(), f.name.size()),
                    beast::string_view(f.value.data(), f.value.size()));
    }
    removeHopByHopHeaders(fields, false);
    for (const auto& name : edits.remove) fields.erase(name);
    for (const auto& [k, v] : edits.set) fields.set(k, v);
    for (const auto& [k, v] : edits.add) fields.insert(k, v);
    // A gRPC call's status: in a trailers-only response, in the head; else in the trailers
    // below. Without one the call failed (finish() counts UNKNOWN, or the HTTP status's mapping).
    if (st.grpc) {
      if (const auto gs = headerGrpcStatus(fields)) ex.grpc_status = static_cast<uint8_t>(*gs);
    }
    if (!st.closed) {
      if (ex.tap) ex.tap->addResponseHead(fields);
      codec_.respond(st.id, status, h2Fields(fields), no_body);
    }
  }
  at.consumeHead();
  if (st.closed) co_return;
  write_signal_.notify();
  if (!no_body) {
    for (;;) {
      const auto piece = co_await readResponseBody(at, st.body->data(), kRelayBufferSize,
                                                   ex.listener->idle_timeout);
      if (piece.ec) {
        // Mid-body upstream failure: the stream is reset, the client sees it end unfinished.
        ++at.cluster->statsIn(host.stats()).rq_reset;
        if (!st.closed) codec_.resetStream(st.id, NGHTTP2_INTERNAL_ERROR);
        write_signal_.notify();
        co_return;
      }
      const size_t got = piece.size;
      ex.bytes_out += got;
      const bool more = !piece.last && !(close_delimited && got == 0);
      if (st.closed) co_return;
      // Trailers of a chunked upstream body: Beast's chunked decoder (readResponseBody()) keeps
      // them after the one field of the head it was set up with.
      if (!more && at.framing.kind == BodyFraming::kChunked && at.response) {
        auto trailers = h2Fields(at.response->get().base(), 1);
        if (st.grpc) {
          for (const auto& [name, value] : trailers)
            if (name == "grpc-status")
              ex.grpc_status =
                  static_cast<uint8_t>(parseGrpcStatus(value).value_or(common::kGrpcUnknown));
        }
        if (!trailers.empty()) codec_.sendTrailers(st.id, std::move(trailers));
      }
      codec_.queueDataBorrowed(st.id, st.body->data(), got, !more);
      write_signal_.notify();
      // The last piece is in the relay buffer: the upstream connection goes back before the
      // wait below (the stream closes once its last frame is out: that is no reset).
      if (!more) break;
      // Back-pressure: the next piece is read from the upstream only once this one is framed
      // (which the client's flow-control window allows).
      while (codec_.queued(st.id) > 0 && !st.closed) co_await st.signal.wait();
      if (st.closed) co_return;
    }
  }
  if (reusableAfterBody(at) && at.cluster)
    host.pool().give(std::move(at.conn), at.cluster->config->max_idle_connections, host.now());
  while (codec_.queued(st.id) > 0 && !st.closed) co_await st.signal.wait();
}

}  // namespace meshdeck::proxy::h2
