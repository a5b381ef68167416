#include "proxy/session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cassert>
#include <cerrno>
#include <tuple>
#include <vector>

#include "proxy/admission.h"
#include "proxy/http/beast_head.h"
#include "proxy/http/framing.h"
#include "proxy/http/grpc.h"
#include "proxy/http/headers.h"
#include "proxy/http/response_head.h"
#include "proxy/http2/h2_connection.h"
#include "proxy/http2/h2_upstream.h"
#include "proxy/mesh/on_demand_hold.h"
#include "proxy/mirror.h"
#include "proxy/retry_state.h"
#include "proxy/tls/spiffe.h"
#include "proxy/tunnel.h"
#include "proxy/upstream_attempt.h"
#include "proxy/worker.h"

namespace meshdeck::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kErrorHeader = "x-meshdeck-error";

// The malformed-request reason of a parse error found while reading a request body (a bad chunk
// or a bad trailer section), or nullptr when the client went away or timed out.
const char* bodyErrorReason(const beast::error_code& ec) {
  if (ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension) return "bad_chunk";
  if (ec == http::error::bad_field || ec == http::error::bad_value ||
      ec == http::error::bad_content_length || ec == http::error::multiple_content_length ||
      ec == http::error::bad_transfer_encoding || ec == http::error::bad_line_ending ||
      ec == http::error::header_limit || ec == http::error::bad_obs_fold)
    return "bad_trailer";
  return nullptr;
}

beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

// The heads Beast's body parser is given instead of the request's (Session::startBody()).
constexpr std::string_view kChunkedBodyHead =
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";

// An Attempt is ~1.1 KiB (the response head's inline fields): held in forward()'s frame it
// made that frame larger than the 1 KiB Asio's recycling allocator reuses, so every request
// paid a memalign/free for it (issue 20). Attempts are instead kept per worker thread and
// reused; forward()'s frame holds only the holder below.
class PooledAttempt {
 public:
  PooledAttempt() {
    auto& spare = pool();
    if (spare.empty()) {
      slot_ = std::make_unique<std::optional<Attempt>>();
    } else {
      slot_ = std::move(spare.back());
      spare.pop_back();
    }
  }
  ~PooledAttempt() {
    slot_->reset();
    auto& spare = pool();
    if (spare.size() < kMaxSpare) spare.push_back(std::move(slot_));
  }
  PooledAttempt(const PooledAttempt&) = delete;
  PooledAttempt& operator=(const PooledAttempt&) = delete;

  // A new Attempt, in place of the last one (destroyed first).
  Attempt& fresh() { return slot_->emplace(); }

 private:
  static constexpr size_t kMaxSpare = 64;
  using Spare = std::vector<std::unique_ptr<std::optional<Attempt>>>;
  static Spare& pool() {
    thread_local Spare spare;
    return spare;
  }
  std::unique_ptr<std::optional<Attempt>> slot_;
};

}  // namespace

Session::Session(SessionHost& host, Socket socket, std::shared_ptr<ListenerShared> listener)
    : host_(host),
      tap_(host.tapRegistry()),
      down_(tls::MeshStream::TcpStream(std::move(socket))),
      listener_(std::move(listener)),
      listener_stats_(host.stats().listeners[listener_->name]) {
  beast::error_code ec;
  const auto ep = down_.socket().remote_endpoint(ec);
  if (!ec) peer_ip_ = ep.address().to_string();
  buffer_.max_size(kMaxHeaderBytes + 64 * 1024);
  host_.sessionOpened(this);
  ++listener_stats_.cx_total;
  ++listener_stats_.cx_active;
}

Session::~Session() {
  // An exchange ended by an exception (or a frame destroyed at shutdown) still has its loan.
  if (body_) host_.returnRelayBuffer(std::move(body_));
  host_.sessionClosed(this);
  listener_->connections.fetch_sub(1, std::memory_order_relaxed);
  assert(listener_stats_.cx_active > 0 && "active connection count underflow");
  --listener_stats_.cx_active;
}

void Session::start() {
  asio::co_spawn(host_.io().get_executor(), run(shared_from_this()), asio::detached);
}

void Session::closeIfIdle() {
  if (h2_) {
    h2_->drain();
    return;
  }
  if (idle_ && buffer_.size() == 0 && !closed_) {
    closed_ = true;
    beast::error_code ec;
    down_.socket().shutdown(tcp::socket::shutdown_both, ec);
    down_.socket().close(ec);
  }
}

Awaitable<void> Session::run(std::shared_ptr<Session> keep) {
  (void)keep;
  try {
    refreshListenerConfig(host_.config());
    bool first = true;
    if (!co_await establishTransport()) closed_ = true;
    while (!closed_) {
      refreshListenerConfig(host_.config());
      idle_ = true;
      if (host_.draining() && !first && buffer_.size() == 0) break;
      const HeadResult head = co_await readHead(listener_config_, first);
      idle_ = false;
      first = false;
      auto& ls = listener_stats_;
      if (head == HeadResult::kClosed) break;
      if (head == HeadResult::kHttp2) {
        std::string already(static_cast<const char*>(buffer_.data().data()), buffer_.size());
        buffer_.consume(buffer_.size());
        auto h2 = std::make_shared<h2::Connection>(*this, h2::Limits{});
        h2_ = h2.get();
        co_await h2->run(std::move(already));
        h2_ = nullptr;
        break;
      }
      if (head == HeadResult::kIdleTimeout) {
        ++ls.idle_timeouts;
        break;
      }
      if (head == HeadResult::kHeaderTimeout) {
        ++ls.header_timeouts;
        // The stream's timeout has closed the socket: there is no one to send a 408 to.
        ++host_.stats().malformed["header_timeout"];
        break;
      }
      if (head == HeadResult::kMalformed && !h1_result_.head_checks) {
        // Refused by the read loop's checks or the parser, before an exchange exists.
        co_await refuseMalformed(11, h1_result_.http_status, h1_result_.reason);
        break;
      }
      Request rq;
      buildRequest(rq);
      // The config in force when the request arrived, not when the connection began waiting
      // for it: a kept-alive connection may have waited through a push.
      refreshListenerConfig(host_.config());
      Exchange ex;
      ex.config = host_.config();
      ex.listener = &listener_config_;
      ex.start = head_time_;
      if (head == HeadResult::kMalformed) {
        // Refused by admission's head checks (field count, framing, Host), which the codec
        // made: answered within the exchange, in the request's version, as admit() would.
        ex.version = h1_head_.version == 10 ? 10 : 11;
        if (tapActive()) buildFields(rq);
        tapStart(rq.head, ex);
        co_await refuseMalformed(ex.version, h1_result_.http_status, h1_result_.reason, &ex);
        finish(ex);
        break;
      }
      startBody(rq);
      // The relay buffer is lent for this exchange only: a kept-alive connection waiting for
      // its next request holds none.
      assert(!body_ && !request_ && "relay buffer lent twice");
      body_ = host_.takeRelayBuffer();
      request_ = &rq;
      const bool keep_alive = co_await handleRequest(rq, ex);
      request_ = nullptr;
      finish(ex);
      host_.returnRelayBuffer(std::move(body_));
      if (!keep_alive || closed_) break;
    }
  } catch (const std::exception& e) {
    spdlog::warn("session on listener {} ended by exception: {}", listener_->name, e.what());
  }
  request_ = nullptr;
  beast::error_code ec;
  down_.socket().shutdown(tcp::socket::shutdown_send, ec);
  down_.socket().close(ec);
}

void Session::buildFields(Request& rq) const {
  const h1::RequestHead& h = h1_head_;
  auto& req = rq.head;
  // The same calls Beast's parser makes for a head (on_request_impl, on_field_impl): the
  // fields in the order received, each after the last of its name.
  req.method_string(bsv(h.method));
  req.target(bsv(h.target));
  req.version(h.version);
  for (size_t i = 0; i < h.fieldCount(); ++i) {
    const h1::Field& f = h.field(i);
    req.insert(bsv(f.name), bsv(f.value));
  }
}

void Session::buildRequest(Request& rq) const {
  const h1::RequestHead& h = h1_head_;
  Framing& f = rq.framing;
  f.kind = f.declared = h.body == h1::BodyFraming::kChunked         ? BodyFraming::kChunked
                        : h.body == h1::BodyFraming::kContentLength ? BodyFraming::kContentLength
                                                                    : BodyFraming::kNone;
  f.length = h.content_length;
  f.rewrite = h.rewrite_framing;
  f.h2c = h.h2c;
  rq.keep_alive = h.keepAlive();
  rq.upgrade = h.connection_upgrade;
}

void Session::startBody(Request& rq) {
  const Framing& f = rq.framing;
  if (f.kind != BodyFraming::kChunked && !(f.kind == BodyFraming::kContentLength && f.length > 0))
    return;
  // Beast's parser reads the body, after a head that states the framing the codec decided
  // (so its flags are those the request's own head gave it); the fields that head leaves are
  // cleared, so that the parser's fields hold a chunked body's trailer section only.
  auto& parser = rq.body.emplace();
  parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
  parser.body_limit(boost::none);
  char length_head[64];
  std::string_view head = kChunkedBodyHead;
  if (f.kind == BodyFraming::kContentLength) {
    const auto end = fmt::format_to_n(length_head, sizeof length_head,
                                      "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", f.length);
    head = {length_head, end.out};
  }
  beast::error_code ec;
  parser.put(asio::buffer(head.data(), head.size()), ec);
  if (ec || !parser.is_header_done())
    throw std::logic_error("the body parser refused its own head: " + ec.message());
  parser.get().clear();
}

void Session::refreshListenerConfig(const ConfigPtr& config) {
  // Looked up again only when the worker's config changed; the config is held, so its address
  // cannot be reused by a later one.
  if (!config || config == listener_config_source_) return;
  listener_config_source_ = config;
  for (const auto& l : config->listeners)
    if (l.name == listener_->name) listener_config_ = l;
}

Awaitable<bool> Session::handleRequest(Request& rq, Exchange& ex) {
  // Not a coroutine: the checks, routing and the upstream head are decided by admission's
  // plain functions here, at the call (run() awaits the result at once), and a request admitted
  // with nothing to wait for goes straight to forward()'s coroutine, with no frame of its own
  // (issue 20). The waits are in handleWithWaits().
  const bool body_pending = !rq.done();
  // On the codec's views, the upstream head written at once (admission.h); the Beast fields
  // only for what admitView() leaves to admit(), or for a tap.
  Verdict verdict;
  if (!tapActive() &&
      admitView(h1_head_, rq.codecFraming(), peer(), ex, host_, upstream_head_, verdict)) {
    ex.wire_head = upstream_head_;
  } else {
    buildFields(rq);
    tapStart(rq.head, ex);
    verdict = admit(rq.head, rq.codecFraming(), peer(), ex, host_);
  }
  buffer_.consume(h1_head_.size);  // the views of h1_head_ are gone from here on
  if (verdict.kind == Verdict::kAdmit && verdict.missing_host.empty() && !verdict.delay &&
      !(body_pending && verdict.expect_continue))
    return forward(rq, ex);
  return handleWithWaits(rq, ex, std::move(verdict), body_pending);
}

Awaitable<bool> Session::handleWithWaits(Request& rq, Exchange& ex, Verdict verdict,
                                         bool body_pending) {
  // Only the waits are here, which keeps this coroutine's frame small (frames over 1 KiB are
  // never recycled by asio and cost a large-bin malloc each).
  // (The codec's view and the peer are made afresh for each call rather than kept across the
  // delay: what lives across a co_await grows the frame.)
  // A host outside a scoped sidecar's scope: held while it is asked for (on_demand.h).
  // (Not `a && co_await b`: GCC makes the coroutine of `b`, a frame and a copy of the name,
  // even when `a` is false.)
  if (!verdict.missing_host.empty()) {
    if (co_await holdForService(host_.onDemand(), verdict.missing_host, &verdict.detail)) {
      refreshListenerConfig(host_.config());
      ex.config = host_.config();
      verdict = admit(rq.head, rq.codecFraming(), peer(), ex, host_);
    }
  }
  if (verdict.kind == Verdict::kAdmit && verdict.delay) {
    co_await sleepFor(*verdict.delay);
    verdict = prepareUpstreamRequest(rq.head, rq.codecFraming(), peer(), ex, host_);
  }
  switch (verdict.kind) {
    case Verdict::kRefuse:
      co_return co_await refuseMalformed(verdict.version, verdict.status, verdict.code, &ex);
    case Verdict::kLocal:
      co_return co_await sendLocal(ex, verdict.status, verdict.code, rq.reusable(),
                                   verdict.detail.c_str());
    case Verdict::kAdmit:
      break;
  }
  if (body_pending && verdict.expect_continue) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    down_.expires_after(ex.listener->idle_timeout);
    auto [ec, n] = co_await asio::async_write(down_, asio::buffer(kContinue), kNoThrow);
    if (ec) co_return false;
  }
  co_return co_await forward(rq, ex);
}

Awaitable<void> Session::sleepFor(Duration d) {
  asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor> timer(host_.io());
  timer.expires_after(d);
  co_await timer.async_wait(kNoThrow);
}

Awaitable<BodyPiece> Session::readBody(Exchange& ex) {
  assert(request_ && request_->body && body_ && "a body is read within an exchange only");
  auto& parser = *request_->body;
  parser.get().body().data = body_->data();
  parser.get().body().size = body_->size();
  down_.expires_after(ex.listener->idle_timeout);
  auto [ec, n] = co_await http::async_read(down_, buffer_, parser, kNoThrowOp);
  if (ec == http::error::need_buffer) ec = {};
  BodyPiece piece;
  if (ec) {
    piece.failed = true;
    piece.malformed = bodyErrorReason(ec);
    co_return piece;
  }
  piece.size = body_->size() - parser.get().body().size;
  piece.data = piece.size ? body_->data() : nullptr;
  piece.last = parser.is_done();
  // The trailer section of a chunked body is never forwarded; one that tries to frame or route
  // the message refuses it. (The parser's fields hold only the trailer: startBody().)
  if (piece.last && ex.framing.kind == BodyFraming::kChunked) {
    if (const char* reason = checkTrailer(parser.get())) {
      piece.failed = true;
      piece.malformed = reason;
    }
  }
  co_return piece;
}

Awaitable<void> Session::sendInterim(Exchange& ex, const ResponseHeader& upstream) {
  http::response<http::empty_body> interim;
  interim.version(11);
  interim.result(upstream.result_int());  // result() would map codes Beast has no name for to 0
  for (const auto& f : upstream) {
    if (f.name() == http::field::content_length || f.name() == http::field::transfer_encoding)
      continue;  // a 1xx has no body and declares none
    interim.insert(f.name_string(), f.value());
  }
  down_.expires_after(ex.listener->idle_timeout);
  co_await http::async_write(down_, interim, kNoThrow);
}

Awaitable<bool> Session::forward(Request& rq, Exchange& ex) {
  // Read the first piece of the body before anything goes upstream: a malformed chunked body
  // is refused without the upstream ever seeing the request, and a body that fits entirely
  // can be replayed by retries.
  // The piece in hand is a member (first_piece_), not a local: what lives across a co_await
  // grows this coroutine's frame, which is allocated for every request.
  first_piece_ = BodyPiece{};
  first_piece_.last = rq.done();
  if (!first_piece_.last) {
    buffer_.reserve(16 * 1024);  // Beast reads at most the free capacity at a time
    first_piece_ = co_await readBody(ex);
    if (first_piece_.failed && !first_piece_.malformed) co_return false;
    ex.bytes_in += first_piece_.size;  // counted even when its trailer is refused
    if (first_piece_.failed)
      co_return co_await refuseMalformed(ex.version, 400, first_piece_.malformed, &ex);
  }
  const bool replayable = rq.done() && !ex.upgrade;

  // Mirror a copy (replayable requests only; the body is in hand) and forget about it.
  if (replayable && !ex.route->mirror.cluster.empty())
    sendMirror(host_, ex, body_->data(), first_piece_.size);

  RetryState retry(ex.route->retry, replayable, ex.deadline);
  PooledAttempt attempt;
  for (;;) {
    Attempt& at = attempt.fresh();
    co_await runAttempt(host_, *this, wire_, ex, first_piece_, retry.freshOnly(), at);
    if (at.downstream_failed)
      co_return at.malformed ? co_await refuseMalformed(ex.version, 400, at.malformed, &ex) : false;
    if (at.local_code)
      co_return co_await sendLocal(ex, at.local_status, at.local_code, rq.reusable());
    const AttemptOutcome outcome{at.failure, at.status(), at.reused};
    RetryBudget* budget = at.cluster ? &at.cluster->retry_budget : nullptr;
    const auto decision = retry.next(outcome, budget, at.cluster ? at.cluster->active_requests : 0,
                                     orNow(at.ended_at), [this] { return host_.random(); });
    if (decision.action == RetryState::Action::kRetryFresh) continue;
    if (decision.action == RetryState::Action::kRetry) {
      ++ex.retries;
      ++at.cluster->statsIn(host_.stats()).rq_retry;
      at.conn.reset();  // the failed response's body is not wanted: drop the connection
      co_await sleepFor(decision.backoff);
      at.cluster->retry_budget.release();
      continue;
    }
    if (decision.budget_exhausted) ++at.cluster->statsIn(host_.stats()).rq_retry_budget_exhausted;
    switch (at.failure) {
      case AttemptFailure::kConnectFailure:
        co_return co_await sendLocal(
            ex, 502, at.tls_code ? at.tls_code : error_code::kUpstreamConnect, rq.reusable());
      case AttemptFailure::kReset:
        co_return co_await sendLocal(ex, 502, error_code::kUpstreamReset, rq.reusable());
      case AttemptFailure::kTimeout:
        ex.timeout = true;
        co_return co_await sendLocal(ex, 504, error_code::kTimeout, rq.reusable());
      case AttemptFailure::kNone:
        break;
    }
    co_return co_await relayResponse(rq, ex, at);
  }
}

Awaitable<bool> Session::establishTransport() {
  const TlsMode mode = listener_config_.tls_mode;
  if (mode == TlsMode::kPlaintext) co_return true;
  auto& ls = listener_stats_;

  // Wait for the first byte (at most the header timeout) and peek at it.
  unsigned char first = 0;
  for (;;) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(host_.io());
    timer.expires_after(listener_config_.header_timeout);
    auto ready = co_await (down_.socket().async_wait(tcp::socket::wait_read, kNoThrow) ||
                           timer.async_wait(kNoThrow));
    if (ready.index() == 1) {
      ++ls.header_timeouts;
      co_return false;
    }
    if (std::get<0>(std::get<0>(ready))) co_return false;
    const auto r = ::recv(down_.socket().native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 1) break;
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) co_return false;
  }
  if (!tls::looksLikeTlsHandshake(first)) {
    if (mode == TlsMode::kPermissive) co_return true;
    ++ls.tls_refused["plaintext"];
    co_return false;
  }

  auto contexts = host_.tls();
  if (!contexts) {
    ++ls.tls_refused["no_identity"];
    co_return false;
  }
  down_.startTls(contexts->server());
  down_.expires_after(listener_config_.header_timeout);
  auto [ec] = co_await down_.async_handshake(asio::ssl::stream_base::server, kNoThrow);
  if (ec) {
    const char* reason = tls::handshakeFailureReason(ec, down_.ssl());
    ++ls.tls_refused[reason];
    spdlog::debug("listener {}: TLS handshake from {} refused: {} ({})", listener_->name, peer_ip_,
                  reason, ec.message());
    co_return false;
  }
  const auto id = tls::spiffeIdOf(SSL_get0_peer_certificate(down_.ssl()));
  const auto check = tls::checkClientIdentity(id, trustDomain(host_, *contexts));
  if (check != tls::PeerIdentityCheck::kOk) {
    ++ls.tls_refused[tls::toString(check)];
    spdlog::debug("listener {}: peer {} refused: {}", listener_->name,
                  id ? *id : std::string("(no SPIFFE id)"), tls::toString(check));
    co_return false;
  }
  peer_identity_ = *id;
  mtls_ = true;
  if (SSL_session_reused(down_.ssl()))
    ++ls.tls_resumed;
  else
    ++ls.tls_handshakes;
  co_return true;
}

Awaitable<Session::HeadResult> Session::readHead(const ListenerConfig& listener, bool first) {
  Clock::time_point header_deadline = Clock::time_point::max();
  // The clock is read when the head's first bytes are seen; a head that is complete before the
  // coroutine waits again (the usual case: it came in one read) started then, too.
  Clock::time_point seen{};
  bool waited = false;
  auto headDone = [&](HeadResult r) {
    head_time_ = waited ? host_.now() : seen;
    return r;
  };
  h1_parser_.reset();
  for (;;) {
    const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    if (!data.empty() && header_deadline == Clock::time_point::max()) {
      seen = host_.now();
      waited = false;
      header_deadline = seen + listener.header_timeout;
    }
    // HTTP/2 with prior knowledge opens with its preface instead of a request.
    if (first && !data.empty()) {
      const auto n = std::min(data.size(), h2::kClientPreface.size());
      if (data.substr(0, n) == h2::kClientPreface.substr(0, n)) {
        if (n == h2::kClientPreface.size()) co_return HeadResult::kHttp2;
        h1_parser_.reset();
        down_.expires_at(header_deadline);
        auto [ec, got] = co_await down_.async_read_some(buffer_.prepare(4096), kNoThrowOp);
        buffer_.commit(got);
        if (ec == beast::error::timeout) co_return HeadResult::kHeaderTimeout;
        if (ec) co_return HeadResult::kClosed;
        continue;
      }
    }
    // The codec applies the read loop's checks to an incomplete head on every read (a request
    // line that cannot be valid, the size limits) and parses the head once its blank line is in.
    if (!data.empty()) {
      h1_result_ = h1_parser_.parse(data, h1_head_);
      if (h1_result_.status == h1::Status::kDone) co_return headDone(HeadResult::kOk);
      if (h1_result_.status == h1::Status::kError) co_return headDone(HeadResult::kMalformed);
    }
    if (data.empty()) {
      // Waiting for a connection's first request, or for the next one right after finish()
      // ended the last exchange (in this same run of the coroutine: its time is still now).
      const auto now = first ? host_.now() : orNow(finished_at_);
      down_.expires_at(now + (first ? listener.header_timeout : listener.idle_timeout));
    } else {
      down_.expires_at(header_deadline);
    }
    // A connection starts with a small buffer (heads are usually well under 4 KiB); it grows
    // for larger heads and request bodies.
    auto [ec, n] = co_await down_.async_read_some(
        buffer_.prepare(std::max<size_t>(4096, buffer_.capacity() - buffer_.size())), kNoThrowOp);
    buffer_.commit(n);
    waited = true;
    if (ec == beast::error::timeout)
      co_return buffer_.size() == 0 && !first ? HeadResult::kIdleTimeout
                                              : HeadResult::kHeaderTimeout;
    if (ec) co_return HeadResult::kClosed;
  }
}

Awaitable<bool> Session::refuseMalformed(unsigned version, unsigned status, const char* reason,
                                         Exchange* ex) {
  ++host_.stats().malformed[reason];
  if (ex) {
    ex->status = status;
    ex->error_code = error_code::kBadRequest;
  } else {
    ++host_.stats().errors[error_code::kBadRequest];
    ++listener_stats_.rq_total;
    ++listener_stats_.responses[statusClass(status)];
  }
  http::response<http::string_body> res{static_cast<http::status>(status), version};
  res.set(kErrorHeader, error_code::kBadRequest);
  res.set(http::field::content_type, "text/plain");
  res.body() = fmt::format("{} {}\n", status, reason);
  res.prepare_payload();
  res.keep_alive(false);
  if (ex && ex->tap) ex->tap->addResponseHead(res.base());
  down_.expires_after(std::chrono::seconds(5));
  co_await http::async_write(down_, res, kNoThrow);
  co_return false;
}

Awaitable<bool> Session::sendLocal(Exchange& ex, unsigned status, const char* code, bool keep_alive,
                                   const char* detail) {
  ex.status = status;
  ex.error_code = code;
  http::response<http::string_body> res{static_cast<http::status>(status), ex.version};
  res.set(kErrorHeader, code);
  res.set(http::field::content_type, "text/plain");
  res.body() = fmt::format("{} {}{}{}\n", status, code, *detail ? ": " : "", detail);
  if (ex.route) {
    for (const auto& [k, v] : ex.route->response_headers.set) res.set(k, v);
  }
  res.prepare_payload();
  keep_alive = keep_alive && !host_.draining();
  res.keep_alive(keep_alive);
  if (ex.tap) ex.tap->addResponseHead(res.base());
  down_.expires_after(ex.listener->idle_timeout);
  auto [ec, n] = co_await http::async_write(down_, res, kNoThrow);
  ex.bytes_out += res.body().size();
  co_return keep_alive && !ec;
}

Awaitable<bool> Session::relayH2Response(Request& rq, Exchange& ex, Attempt& at) {
  auto& up = *at.h2;
  const unsigned status = up.status();
  ex.status = status;
  http::response<http::empty_body, Fields> out;
  out.result(status);
  out.version(ex.version);
  for (const auto& [k, v] : up.headers()) out.insert(k, v);
  removeHopByHopHeaders(out, false);
  for (const auto& name : ex.route->response_headers.remove) out.erase(name);
  for (const auto& [k, v] : ex.route->response_headers.set) out.set(k, v);
  for (const auto& [k, v] : ex.route->response_headers.add) out.insert(k, v);
  bool keep_alive = rq.reusable() && !host_.draining();
  // HTTP/2 frames the body itself: the HTTP/1.1 client gets the content-length the upstream
  // gave (nghttp2 checked the DATA frames against it), else a chunked body (HTTP/1.0: one
  // delimited by the connection's end).
  const bool bodiless_status = status == 204 || status == 304;
  const bool no_body = up.headEnded() || ex.is_head || bodiless_status;
  const bool has_length = out.count(http::field::content_length) > 0;
  bool chunked = false;
  if (!no_body && !has_length) {
    if (ex.version == 11) {
      out.set(http::field::transfer_encoding, "chunked");
      chunked = true;
    } else {
      keep_alive = false;
    }
  } else if (no_body && !ex.is_head && !bodiless_status && !has_length) {
    out.set(http::field::content_length, "0");
  }
  out.keep_alive(keep_alive);
  if (ex.tap) ex.tap->addResponseHead(out.base());
  wire_.clear();
  appendHead(wire_.head(), out.base());
  if (no_body) {
    down_.expires_after(ex.listener->idle_timeout);
    wire_.frame(nullptr, 0, false, false);
    auto [ec, n] = co_await asio::async_write(down_, wire_.buffers(), kNoThrow);
    wire_.clear();
    co_return keep_alive && !ec;
  }
  // Trailers go to a client that said it reads them (te: trailers), in the last chunk.
  std::string trailer_section;
  bool head_sent = false;
  for (;;) {
    bool last = false;
    const long got = co_await up.read(body_->data(), body_->size(), &last,
                                      host_.now() + ex.listener->idle_timeout);
    if (got < 0) {
      ++at.cluster->statsIn(host_.stats()).rq_reset;
      if (!head_sent) co_return co_await sendLocal(ex, 502, error_code::kUpstreamReset, false);
      co_return false;
    }
    const auto n = static_cast<size_t>(got);
    ex.bytes_out += n;
    head_sent = true;
    const bool trailers = last && chunked && ex.te_trailers && !up.trailers().empty();
    down_.expires_after(ex.listener->idle_timeout);
    beast::error_code wec;
    if (wire_.frame(n ? body_->data() : nullptr, n, chunked, last && !trailers) > 0)
      std::tie(wec, std::ignore) = co_await asio::async_write(down_, wire_.buffers(), kNoThrow);
    wire_.clear();
    if (wec) co_return false;
    if (trailers) {
      trailer_section = "0\r\n";
      for (const auto& [k, v] : up.trailers()) {
        if (k.find_first_of("\r\n:") != std::string::npos ||
            v.find_first_of("\r\n") != std::string::npos)
          continue;
        trailer_section.append(k).append(": ").append(v).append("\r\n");
      }
      trailer_section.append("\r\n");
      std::tie(wec, std::ignore) =
          co_await asio::async_write(down_, asio::buffer(trailer_section), kNoThrow);
      if (wec) co_return false;
    }
    if (last) break;
  }
  co_return keep_alive;
}

Awaitable<bool> Session::relayResponse(Request& rq, Exchange& ex, Attempt& at) {
  if (at.h2) co_return co_await relayH2Response(rq, ex, at);
  const unsigned status = at.head.status;
  ex.status = status;
  const bool upgraded = status == 101 && ex.upgrade;
  const Framing& in = at.framing;
  const bool close_delimited = in.kind == BodyFraming::kCloseDelimited;

  bool keep_alive = rq.reusable() && !host_.draining();
  // What the client reads: the upstream's framing, re-framed where the client needs it. A
  // close-delimited body goes out chunked to HTTP/1.1 clients; HTTP/1.0 clients know no
  // chunked coding and read to the end of the connection.
  BodyFraming wire = in.declared;
  if (ex.version == 11) {
    if (wire == BodyFraming::kCloseDelimited) wire = BodyFraming::kChunked;
  } else if (wire == BodyFraming::kChunked || wire == BodyFraming::kCloseDelimited) {
    wire = BodyFraming::kCloseDelimited;
    if (in.kind != BodyFraming::kNone) keep_alive = false;
  }
  const auto& edits = ex.route->response_headers;
  // The head the client gets, written from the codec's views (the received lines copied, the
  // edits applied: proxy/http/response_head.h); then its bytes leave the upstream buffer.
  wire_.clear();
  appendEditedResponseHead(
      wire_.head(), at.head,
      {.version = ex.version,
       .upgraded = upgraded,
       .remove = &edits.remove,
       .set = &edits.set,
       .add = &edits.add,
       .rewrite_framing = in.rewrite || wire != in.declared || !edits.set.empty() ||
                          !edits.add.empty() || !edits.remove.empty(),
       .wire = wire,
       .length = in.length,
       .keep_alive = keep_alive});
  if (ex.tap) ex.tap->addResponseHead(headFields(wire_.head()));
  at.consumeHead();
  const bool chunked = wire == BodyFraming::kChunked && in.kind != BodyFraming::kNone;
  // The time for the first write's deadline: the response head's arrival, in this same run of
  // the coroutine (a later write reads the clock again).
  Clock::time_point now = orNow(at.ended_at);
  if (upgraded || at.body_done) {
    // No body (HEAD, 1xx, 204, 304, empty) or a tunnel: the head alone.
    down_.expires_at(now + ex.listener->idle_timeout);
    wire_.frame(nullptr, 0, false, false);
    beast::error_code ec;
    if (wire_.sendNow(down_, ec))  // the socket took part of it
      std::tie(ec, std::ignore) = co_await asio::async_write(down_, wire_.buffers(), kNoThrowOp);
    wire_.clear();
    if (ec) co_return false;
    if (upgraded) {
      co_await tunnel(down_, buffer_, *at.conn, body_->data(), body_->size());
      co_return false;
    }
  } else {
    // The head leaves with the first piece of the body: one send for a small response.
    bool head_sent = false;
    for (;;) {
      // A body already buffered with the head is taken without a coroutine.
      ResponseBodyPiece piece;
      if (auto ready = bufferedResponseBody(at, body_->data(), body_->size())) {
        piece = *ready;
        if (head_sent) now = host_.now();  // a write came in between
      } else {
        piece =
            co_await readResponseBody(at, body_->data(), body_->size(), ex.listener->idle_timeout);
        now = host_.now();
      }
      if (piece.ec) {
        // Mid-body upstream failure: the client sees a truncated message and a closed
        // connection, which is the only honest signal left once the head may be out.
        ++at.cluster->statsIn(host_.stats()).rq_reset;
        if (!head_sent) co_return co_await sendLocal(ex, 502, error_code::kUpstreamReset, false);
        co_return false;
      }
      const size_t got = piece.size;
      ex.bytes_out += got;
      head_sent = true;
      const bool more = !piece.last && !(close_delimited && got == 0);
      down_.expires_at(now + ex.listener->idle_timeout);
      beast::error_code wec;
      if (wire_.frame(got ? body_->data() : nullptr, got, chunked, !more) > 0) {
        if (wire_.sendNow(down_, wec))  // the socket took part of it
          std::tie(wec, std::ignore) =
              co_await asio::async_write(down_, wire_.buffers(), kNoThrowOp);
      }
      wire_.clear();
      if (wec) co_return false;
      if (!more) break;
    }
  }
  // The response is out: the exchange's end (finish() measures its latency to it) and the
  // upstream connection's idle-since.
  ex.end = host_.now();
  if (reusableAfterBody(at) && at.cluster)
    host_.pool().give(std::move(at.conn), at.cluster->config->max_idle_connections, ex.end);
  co_return keep_alive;
}

Clock::time_point Session::orNow(Clock::time_point t) {
  return t != Clock::time_point{} ? t : host_.now();
}

void Session::finish(Exchange& ex) {
  auto& stats = host_.stats();
  auto& ls = listener_stats_;
  ++ls.rq_total;
  ++ls.responses[statusClass(ex.status)];
  ls.bytes_in += ex.bytes_in;
  ls.bytes_out += ex.bytes_out;
  ++(mtls_ ? ls.rq_mtls : ls.rq_plaintext);
  // The end relayResponse() read, or now (a local reply, a failure).
  finished_at_ = orNow(ex.end);
  const auto latency = static_cast<uint64_t>((finished_at_ - ex.start).count());
  ls.latency->record(latency);
  if (ex.error_code) ++stats.errors[ex.error_code];
  // A gRPC call succeeds or fails by its grpc-status, not by its HTTP status (200 for nearly
  // every call). A call without a status failed: CANCELLED when the client reset it before any
  // answer, else UNKNOWN or the HTTP status's mapping (docs/http2.md#grpc).
  const bool grpc = ex.protocol == Exchange::Protocol::kGrpc;
  uint32_t grpc_status = 0;
  if (grpc) {
    grpc_status = ex.grpc_status != Exchange::kNoGrpcStatus ? ex.grpc_status
                  : ex.status == 0                          ? common::kGrpcCancelled
                                   : grpcCallStatus(ex.status, std::nullopt);
    ++ls.grpc_statuses[grpc_status];
  }
  if (ex.tap) tapFinish(ex, latency, grpc ? std::optional<uint32_t>(grpc_status) : std::nullopt);
  if (!ex.route) return;
  auto& rs = stats.routes[ex.route->name];
  ++rs.rq_total;
  ++rs.responses[statusClass(ex.status)];

  // Telemetry edge.
  if (!ex.config || ex.config->workload.service.empty()) return;
  EdgeId id;
  id.route = ex.route->name;
  id.protocol = static_cast<uint8_t>(ex.protocol);
  if (ex.listener->direction == Direction::kOutbound) {
    id.client_side = true;
    id.source_service = ex.config->workload.service;
    id.source_version = ex.config->workload.version;
    const ClusterConfig* cc = ex.clusterConfig();
    id.destination_service = cc && !cc->service.empty() ? cc->service : ex.vhost->name;
    id.destination_version =
        !ex.destination_version.empty() ? ex.destination_version : (cc ? cc->version : "");
  } else {
    id.source_service = ex.source_service;
    id.source_version = ex.source_version;
    id.destination_service = ex.config->workload.service;
    id.destination_version = ex.config->workload.version;
  }
  auto& e = host_.edges()[id];
  ++e.requests;
  if (grpc) {
    // Counted by status, and by code as the HTTP status it stands for, so that the edge's
    // classes and success rate see its server errors.
    ++e.grpc_statuses[grpc_status];
    ++e.responses_by_code[common::grpcStatusHttpEquivalent(grpc_status)];
  } else {
    ++e.responses_by_code[ex.status];
  }
  e.bytes_in += ex.bytes_in;
  e.bytes_out += ex.bytes_out;
  e.retries += ex.retries;
  e.timeouts += ex.timeout ? 1 : 0;
  e.circuit_breaker_rejections += ex.circuit_open ? 1 : 0;
  e.rate_limited += ex.rate_limited ? 1 : 0;
  e.faults_injected += ex.fault ? 1 : 0;
  e.denied += ex.denied ? 1 : 0;
  if (ex.authz && !id.client_side)
    countDecision(ex.config->security, *ex.authz, e.authz_slots, e.authz);
  // Transport of the edge's hop between the two sidecars: the upstream connection on the
  // client side, the downstream connection on the server side. A request that never reached
  // the upstream (connect failure, local reply) crossed no hop and is counted as neither:
  // a peer that just died must not make an mTLS edge look "mixed".
  const std::optional<bool> mtls = id.client_side ? ex.upstream_tls : mtls_;
  if (mtls) ++(*mtls ? e.mtls_requests : e.plaintext_requests);
  e.latency->record(latency);
}

void Session::tapStartMatch(const RequestHeader& head, Exchange& ex) {
  TapStartFacts f;
  f.outbound = listener_config_.direction == Direction::kOutbound;
  if (ex.config) {
    f.workload_service = ex.config->workload.service;
    f.workload_version = ex.config->workload.version;
  }
  const auto method = head.method_string();
  const auto target = head.target();
  const auto host = head[http::field::host];
  f.method = {method.data(), method.size()};
  f.target = {target.data(), target.size()};
  f.host = {host.data(), host.size()};
  f.peer_identity = peer_identity_;
  f.from_mesh_proxy = !f.outbound && head.find(kSourceHeader) != head.end();
  ex.tap = tap_->start(f);
  if (ex.tap && ex.tap->wants_headers)
    for (const auto& field : head) {
      const auto name = field.name_string();
      const auto value = field.value();
      ex.tap->addHeader({name.data(), name.size()}, {value.data(), value.size()});
    }
}

void Session::tapFinish(const Exchange& ex, uint64_t latency_ns,
                        std::optional<uint32_t> grpc_status) {
  TapEndFacts f;
  f.client_side = listener_config_.direction == Direction::kOutbound;
  // The edge's two ends, as the telemetry edge names them (finish()).
  static const std::string kNone;
  const std::string& workload = ex.config ? ex.config->workload.service : kNone;
  const std::string& workload_version = ex.config ? ex.config->workload.version : kNone;
  if (f.client_side) {
    f.source_service = workload;
    f.source_version = workload_version;
    const ClusterConfig* cc = ex.clusterConfig();
    f.destination_service = cc && !cc->service.empty() ? std::string_view(cc->service)
                            : ex.vhost                 ? std::string_view(ex.vhost->name)
                                                       : std::string_view(ex.tap->authority);
    f.destination_version = !ex.destination_version.empty()
                                ? std::string_view(ex.destination_version)
                            : cc ? std::string_view(cc->version)
                                 : std::string_view();
    f.mtls = ex.upstream_tls.value_or(false);
  } else {
    f.source_service = ex.source_service;
    f.source_version = ex.source_version;
    f.destination_service = workload;
    f.destination_version = workload_version;
    f.mtls = mtls_;
  }
  static constexpr std::string_view kProtocols[] = {"http/1.1", "h2", "grpc"};
  f.protocol = kProtocols[static_cast<size_t>(ex.protocol)];
  if (ex.route) f.route = ex.route->name;
  if (ex.error_code) f.error_code = ex.error_code;
  if (ex.authz && ex.config) {
    const auto& rules = ex.config->security.authorization;
    if (ex.authz->rule >= 0 && static_cast<size_t>(ex.authz->rule) < rules.size()) {
      f.authorization_policy = rules[static_cast<size_t>(ex.authz->rule)].policy;
      f.authorization_rule = rules[static_cast<size_t>(ex.authz->rule)].rule;
    } else {
      f.authorization_rule = "default";
    }
  }
  const auto trace = ex.head["traceparent"];
  f.traceparent = {trace.data(), trace.size()};
  f.status = ex.status;
  f.grpc_status = grpc_status;
  f.latency_us = latency_ns / 1000;
  f.bytes_in = ex.bytes_in;
  f.bytes_out = ex.bytes_out;
  f.retries = ex.retries;
  const tls::TlsContextsPtr own = host_.tls();
  if (own) f.own_identity = own->identity();
  if (f.client_side) f.upstream_identity = ex.upstream_identity;
  tap_->finish(*ex.tap, f, host_.now());
}

}  // namespace meshdeck::proxy
