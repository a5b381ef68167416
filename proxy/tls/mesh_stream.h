#pragma once

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "proxy/timer_wheel.h"

namespace meshdeck::proxy::tls {

namespace detail {

using Clock = std::chrono::steady_clock;
using TcpStream =
    boost::beast::basic_stream<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// What a non-blocking SSL call ended with: done (with an error or not, and the bytes moved so
// far), or waiting for input (received into the connection's input buffer) or for the socket
// to take more output.
enum class Want { kNothing, kRead, kWrite };
struct Step {
  Want want = Want::kNothing;
  boost::system::error_code ec;
  size_t n = 0;
};

// One TLS connection driven by hand, the way HAProxy and nginx do it, instead of asio's
// ssl::stream (memory BIO pair, a copy of each record through the engine's buffers, a composed
// operation per call, the error queue cleared and polled around each): the MeshStream's
// operations call SSL_read / SSL_write / SSL_do_handshake directly on an SSL whose BIO
//  - writes straight to the socket (send(MSG_DONTWAIT | MSG_NOSIGNAL)); only when the socket
//    is full does an operation wait for it to be writable;
//  - reads from the connection's input buffer, which is filled by a plain asio receive on the
//    socket when OpenSSL wants more (a receive, not a readiness wait, which would cost an
//    epoll_ctl each time).
//
// Timeouts: the connection's deadline is an entry in its worker's coarse timer wheel
// (CoarseTimers), like a plain stream's: setting it is a store (or a relink when it moves
// earlier), no asio timer is armed per operation and no clock is read. When the sweep finds the
// deadline past while an operation waits on the socket, it closes the socket and the operation
// ends with beast::error::timeout, as basic_stream does; a deadline found past with nothing
// waiting is noted, and the next operation fails the same way at once. A timeout fires at the
// first sweep at or after the deadline (up to one tick late, never early).
//
// Owned through a shared_ptr: a waiting operation keeps it alive, so the socket object and the
// SSL outlive every wait even if the MeshStream goes first (its destructor closes the socket,
// which ends the waits).
class TlsConnection : public std::enable_shared_from_this<TlsConnection> {
 public:
  // `deadline` carries over from the plain stream (`past`: its sweep already found it past).
  TlsConnection(TcpStream tcp, SSL_CTX* ctx, Clock::time_point deadline, bool past);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  TcpStream tcp;
  SSL* const ssl;

  Step handshake();
  // Decrypts into [data, data + size): at least one byte, more while OpenSSL holds more.
  Step read(void* data, size_t size);
  // Encrypts [data + done, data + size) until all of it is sent or the socket is full; `done`
  // counts what is sent across calls (a retry after a wait passes the same data).
  Step write(const char* data, size_t size, size_t& done);
  // Whether a read would find something without waiting: decrypted or undecrypted bytes, or
  // the end of the input.
  bool inputPending() const noexcept {
    return in_begin_ != in_end_ || in_eof_ || SSL_has_pending(ssl);
  }

  // Copies up to one record of a gathered write into the connection's staging buffer (so the
  // pieces leave as one TLS record) and returns it.
  boost::asio::const_buffer stage(const boost::asio::const_buffer* pieces, size_t count);

  // The input buffer for the next receive (when empty and no receive is pending; else none:
  // the caller waits for readability instead), and what the receive brought.
  boost::asio::mutable_buffer receiveBuffer();
  void received(boost::system::error_code& ec, size_t n);
  // An operation that needs input while another one receives waits for readability, and is
  // woken (its wait cancelled) when that receive completes, whichever comes first. Only the
  // handshake could read from a write in TLS 1.3; this keeps it from ever waiting for input
  // that the other operation has already taken.
  boost::asio::cancellation_slot park() {
    parked_ = true;
    return wake_.slot();
  }
  // Whether the parked operation's wait was cancelled by received(), not by anyone else.
  bool unpark() noexcept {
    parked_ = false;
    return std::exchange(woken_, false);
  }

  // A store in the wheel (Clock::time_point::max(): none); clears a deadline found past.
  void setDeadline(Clock::time_point deadline) {
    past_ = false;
    timers_.arm(deadline_, deadline);
  }
  // Before an operation starts: false (and the socket closed) when the sweep found the deadline
  // past while nothing waited.
  bool beforeStart() {
    if (!past_) return true;
    timeout();
    return false;
  }
  // Before a wait on the socket: as beforeStart(), and counts the wait (the sweep ends it).
  bool beginWait() {
    if (!beforeStart()) return false;
    ++waiting_;
    return true;
  }
  void endWait() noexcept { --waiting_; }
  bool timedOut() const noexcept { return timed_out_; }

  // The BIO's side of the input buffer.
  int takeInput(char* data, int size);
  bool inputEnded() const noexcept { return in_eof_; }

 private:
  // The entry of the connection's deadline in the wheel, and the way back to the connection.
  struct Deadline : CoarseTimers::Timed {
    TlsConnection* owner = nullptr;
  };
  Step failed(int result);
  static void onExpired(CoarseTimers::Timed& t);
  void timeout();

  BIO* bio_ = nullptr;
  CoarseTimers& timers_;
  Deadline deadline_;
  int waiting_ = 0;  // operations waiting on the socket
  bool past_ = false;
  bool timed_out_ = false;
  bool receiving_ = false;
  bool in_eof_ = false;
  bool parked_ = false;
  bool woken_ = false;
  boost::asio::cancellation_signal wake_;
  std::unique_ptr<char[]> in_;  // received, not yet taken by OpenSSL: [in_begin_, in_end_)
  size_t in_begin_ = 0, in_end_ = 0;
  std::unique_ptr<char[]> staging_;
  size_t staging_size_ = 0;
};

// Completes `handler` later, never from inside the initiating call (as asio's own operations),
// with (ec, n) or, for a handshake, (ec).
template <bool kWithSize, typename Handler>
void postCompletion(const TcpStream::executor_type& io, Handler&& handler,
                    boost::system::error_code ec, size_t n) {
  auto ex = boost::asio::get_associated_executor(handler, io);
  if constexpr (kWithSize)
    boost::asio::post(ex, boost::beast::bind_front_handler(std::forward<Handler>(handler), ec, n));
  else
    boost::asio::post(ex, boost::beast::bind_front_handler(std::forward<Handler>(handler), ec));
}

// The part of an operation that waits: one SSL call (the action) per readiness of the socket.
template <typename Handler, typename Action>
class TlsOp {
 public:
  using executor_type = boost::asio::associated_executor_t<Handler, TcpStream::executor_type>;
  using allocator_type = boost::asio::associated_allocator_t<Handler>;
  using cancellation_slot_type = boost::asio::associated_cancellation_slot_t<Handler>;

  TlsOp(std::shared_ptr<TlsConnection> c, Handler&& h, Action a)
      : c_(std::move(c)), h_(std::move(h)), a_(std::move(a)) {}

  executor_type get_executor() const noexcept {
    return boost::asio::get_associated_executor(h_, c_->tcp.get_executor());
  }
  allocator_type get_allocator() const noexcept {
    return boost::asio::get_associated_allocator(h_);
  }
  cancellation_slot_type get_cancellation_slot() const noexcept {
    return boost::asio::get_associated_cancellation_slot(h_);
  }

  // Tries once now; waits only if OpenSSL asks for it.
  static void start(const std::shared_ptr<TlsConnection>& c, Handler&& h, Action a) {
    if (!c->beforeStart())
      return postCompletion<Action::kWithSize>(c->tcp.get_executor(), std::move(h),
                                               boost::beast::error::timeout, 0);
    const Step s = a(*c);
    if (s.want == Want::kNothing)
      return postCompletion<Action::kWithSize>(c->tcp.get_executor(), std::move(h), s.ec, s.n);
    if (!c->beginWait())
      return postCompletion<Action::kWithSize>(c->tcp.get_executor(), std::move(h),
                                               boost::beast::error::timeout, s.n);
    wait(*c, s.want, TlsOp(c, std::move(h), std::move(a)));
  }
  // A read that finds nothing buffered receives first (saves an SSL_read that would only ask
  // for input).
  static void startReceiving(const std::shared_ptr<TlsConnection>& c, Handler&& h, Action a) {
    if (!c->beginWait())
      return postCompletion<Action::kWithSize>(c->tcp.get_executor(), std::move(h),
                                               boost::beast::error::timeout, 0);
    wait(*c, Want::kRead, TlsOp(c, std::move(h), std::move(a)));
  }

  // After a receive into the input buffer.
  void operator()(boost::system::error_code ec, size_t n) {
    c_->received(ec, n);
    (*this)(ec);
  }
  // After a receive, or a wait for the socket.
  void operator()(boost::system::error_code ec) {
    c_->endWait();
    if (parked_ && std::exchange(parked_, false) && c_->unpark() &&
        ec == boost::asio::error::operation_aborted)
      ec = {};
    if (!ec && !c_->tcp.socket().is_open()) ec = boost::asio::error::operation_aborted;
    if (ec) return complete(c_->timedOut() ? boost::beast::error::timeout : ec, a_.progress());
    const Step s = a_(*c_);
    if (s.want == Want::kNothing) return complete(s.ec, s.n);
    if (!c_->beginWait()) return complete(boost::beast::error::timeout, s.n);
    auto& c = *c_;
    wait(c, s.want, std::move(*this));
  }

 private:
  static void wait(TlsConnection& c, Want want, TlsOp&& op) {
    auto& socket = c.tcp.socket();
    if (want == Want::kWrite)
      return socket.async_wait(boost::asio::socket_base::wait_write, std::move(op));
    const auto into = c.receiveBuffer();
    if (into.size() > 0) return socket.async_receive(into, std::move(op));
    op.parked_ = true;
    socket.async_wait(boost::asio::socket_base::wait_read,
                      boost::asio::bind_cancellation_slot(c.park(), std::move(op)));
  }
  void complete(boost::system::error_code ec, size_t n) {
    c_.reset();
    if constexpr (Action::kWithSize)
      std::move(h_)(ec, n);
    else
      std::move(h_)(ec);
  }

  std::shared_ptr<TlsConnection> c_;
  Handler h_;
  Action a_;
  bool parked_ = false;
};

struct HandshakeAction {
  static constexpr bool kWithSize = false;
  Step operator()(TlsConnection& c) const { return c.handshake(); }
  size_t progress() const { return 0; }
};
struct ReadAction {
  static constexpr bool kWithSize = true;
  void* data;
  size_t size;
  Step operator()(TlsConnection& c) const { return c.read(data, size); }
  size_t progress() const { return 0; }
};
struct WriteAction {
  static constexpr bool kWithSize = true;
  const char* data;
  size_t size;
  size_t done = 0;
  Step operator()(TlsConnection& c) { return c.write(data, size, done); }
  size_t progress() const { return done; }
};

// The deadline of a plain stream, on its worker's coarse timer wheel (CoarseTimers), and what
// the sweep needs to end the operations pending at it: it closes the socket and marks each
// pending direction, whose operation then completes with beast::error::timeout, as
// beast::basic_stream's own timer does. A deadline found past with nothing pending is noted,
// and the next operation fails at once with timeout. Shared by the stream and its pending
// operations (a plain count: one thread), so a completion that comes after the stream is gone
// still finds it.
struct PlainDeadline : CoarseTimers::Timed {
  PlainDeadline(CoarseTimers& t, TcpStream* s) : timers(&t), tcp(s) {
    expired = &PlainDeadline::onExpired;
  }
  CoarseTimers* timers;
  TcpStream* tcp;  // null once the stream is gone (or has become TLS)
  uint32_t refs = 1;
  uint32_t reading = 0, writing = 0;
  bool read_timeout = false, write_timeout = false, past = false;

  void release() noexcept {
    if (--refs == 0) delete this;
  }
  // Closes the socket as basic_stream does on timeout (ending both directions).
  void close() noexcept {
    boost::system::error_code ignored;
    if (tcp) tcp->socket().close(ignored);
  }
  static void onExpired(CoarseTimers::Timed& t) {
    auto& d = static_cast<PlainDeadline&>(t);
    if (d.reading == 0 && d.writing == 0) {
      d.past = true;
      return;
    }
    d.read_timeout = d.reading > 0;
    d.write_timeout = d.writing > 0;
    d.close();
  }
};

// Whether a handler runs on the I/O executor's own type (the worker's io_context executor, as
// every coroutine of the proxy does): then TimedHandler does not declare an associated
// executor (below).
template <typename Handler>
inline constexpr bool kOnIoExecutorType =
    std::is_same_v<boost::asio::associated_executor_t<Handler, TcpStream::executor_type>,
                   TcpStream::executor_type>;

// The associated executor TimedHandler declares: the handler's, unless it has the I/O
// executor's type (kOnIoExecutorType).
template <typename Handler, bool kDeclare = !kOnIoExecutorType<Handler>>
struct TimedHandlerExecutor {};
template <typename Handler>
struct TimedHandlerExecutor<Handler, true> {
  using executor_type = boost::asio::associated_executor_t<Handler, TcpStream::executor_type>;
};

// Wraps the handler of a plain operation timed by a PlainDeadline: counts it as pending and
// turns its error into beast::error::timeout when the sweep ended it. Keeps the handler's
// allocator and cancellation slot, and its executor as follows.
//
// A handler on the I/O executor's type is given to the socket with no associated executor, so
// that Asio 1.81 completes it as it completes a plain handler: called at once by the
// io_context's thread that ran the reactor. Declaring the (equal) executor instead makes Asio
// take an outstanding-work-tracked copy of it for every operation and dispatch through it (its
// handler_work compares executors only for the type-erased ones): two atomic updates of the
// scheduler's work count and an executor dispatch per read and per write, about 2 % of the
// proxy's CPU per request (docs/benchmarks.md). A handler whose executor has that type but
// belongs to another io_context (none of the proxy's do) is dispatched to it when called, so
// it still runs there.
template <typename Handler, bool kRead>
class TimedHandler : public TimedHandlerExecutor<Handler> {
  static constexpr bool kDirect = kOnIoExecutorType<Handler>;

 public:
  using allocator_type = boost::asio::associated_allocator_t<Handler>;
  using cancellation_slot_type = boost::asio::associated_cancellation_slot_t<Handler>;

  TimedHandler(Handler&& h, PlainDeadline* d, TcpStream::executor_type io)
      : h_(std::move(h)), d_(d), io_(std::move(io)) {
    ++d_->refs;
    ++(kRead ? d_->reading : d_->writing);
  }
  TimedHandler(TimedHandler&& o) noexcept
      : h_(std::move(o.h_)), d_(std::exchange(o.d_, nullptr)), io_(std::move(o.io_)) {}
  TimedHandler(const TimedHandler&) = delete;
  TimedHandler& operator=(const TimedHandler&) = delete;
  TimedHandler& operator=(TimedHandler&&) = delete;
  // Destroyed without being called (the io_context going away): no longer pending.
  ~TimedHandler() {
    if (d_) finish();
  }

  auto get_executor() const noexcept requires(!kDirect) {
    return boost::asio::get_associated_executor(h_, io_);
  }
  allocator_type get_allocator() const noexcept {
    return boost::asio::get_associated_allocator(h_);
  }
  cancellation_slot_type get_cancellation_slot() const noexcept {
    return boost::asio::get_associated_cancellation_slot(h_);
  }

  template <typename... Args>
  void operator()(boost::system::error_code ec, Args... args) {
    if (finish()) ec = boost::beast::error::timeout;
    if constexpr (kDirect) {
      if (auto ex = boost::asio::get_associated_executor(h_, io_); ex != io_) {
        boost::asio::dispatch(ex, boost::beast::bind_front_handler(std::move(h_), ec, args...));
        return;
      }
    }
    std::move(h_)(ec, args...);
  }

 private:
  // Whether the sweep ended the operation.
  bool finish() noexcept {
    auto* d = std::exchange(d_, nullptr);
    bool timed_out;
    if constexpr (kRead) {
      --d->reading;
      timed_out = std::exchange(d->read_timeout, false);
    } else {
      --d->writing;
      timed_out = std::exchange(d->write_timeout, false);
    }
    d->release();
    return timed_out;
  }

  Handler h_;
  PlainDeadline* d_;
  TcpStream::executor_type io_;
};

}  // namespace detail

// A connection that is either plain TCP or TLS over TCP, with the one interface Beast's HTTP
// algorithms need (AsyncReadStream / AsyncWriteStream), so the request path is written once.
// Both variants sit on a beast::tcp_stream: the plain one does its I/O through it, the TLS one
// (detail::TlsConnection) calls OpenSSL on its socket directly. Expiry (expires_after /
// expires_at / expires_never) works the same for both: an operation pending at the deadline
// ends with beast::error::timeout and the socket is closed. A plain stream's deadline is an
// entry in the coarse timer wheel of its io_context (CoarseTimers, proxy/timer_wheel.h):
// setting it is a store, no timer is armed per operation, and a timeout fires up to one tick
// (10 ms) after the deadline. A TLS connection's deadline is an entry in the same wheel, with
// the same semantics (detail::TlsConnection).
//
// A stream starts plain; startTls() switches it to TLS before the handshake. Not thread-safe
// (like the streams it wraps): one read and one write may be outstanding at a time.
//
// End of a TLS stream: a close_notify from the peer reads as asio::error::eof, a TCP end
// without one as asio::ssl::error::stream_truncated (as with asio's ssl::stream); a TLS error
// is an error_code of asio's SSL category holding OpenSSL's error (handshakeFailureReason()).
class MeshStream {
 public:
  // On the worker's io_context executor itself rather than beast::tcp_stream's
  // any_io_executor: the stream's operations, timer and work guards then skip the type-erased
  // executor (a heap allocation and indirect calls per operation).
  using TcpStream = detail::TcpStream;
  using executor_type = TcpStream::executor_type;
  using Clock = detail::Clock;

  explicit MeshStream(TcpStream tcp) : plain_(std::move(tcp)) {}
  template <typename ExecutionContext>
  explicit MeshStream(ExecutionContext& context) : plain_(std::in_place, context) {}

  // Closes the socket, which ends any wait still pending on it. The SSL goes with the last
  // operation holding it (see TlsConnection), without a close_notify: connections are closed
  // like TCP ones.
  ~MeshStream() {
    dropPlainDeadline();
    if (tls_) {
      tls_->setDeadline(Clock::time_point::max());  // nothing left to time out
      boost::system::error_code ignored;
      tls_->tcp.socket().close(ignored);
    }
  }
  MeshStream(const MeshStream&) = delete;
  MeshStream& operator=(const MeshStream&) = delete;

  executor_type get_executor() noexcept { return tcp().get_executor(); }

  // The TCP stream underneath: socket options, close. Its own expiry applies only to its own
  // operations; use the MeshStream's expires_* and async_connect, which the deadline covers.
  TcpStream& tcp() noexcept { return tls_ ? tls_->tcp : *plain_; }
  TcpStream::socket_type& socket() noexcept { return tcp().socket(); }
  void expires_after(Clock::duration d) { expires_at(Clock::now() + d); }
  void expires_at(Clock::time_point t) {
    deadline_ = t;
    if (tls_) return tls_->setDeadline(t);
    if (t == Clock::time_point::max()) return expires_never();
    if (!plain_deadline_)
      plain_deadline_ = new detail::PlainDeadline(
          boost::asio::use_service<CoarseTimers>(plain_->get_executor().context()), &*plain_);
    plain_deadline_->past = false;
    plain_deadline_->timers->arm(*plain_deadline_, t);
  }
  void expires_never() {
    deadline_ = Clock::time_point::max();
    if (tls_) return tls_->setDeadline(deadline_);
    if (plain_deadline_) {
      plain_deadline_->past = false;
      plain_deadline_->timers->cancel(*plain_deadline_);
    }
  }

  // Connects the plain stream (before startTls()), within the deadline; completes with
  // (error_code), beast::error::timeout when the deadline passed first.
  template <typename ConnectToken = boost::asio::default_completion_token_t<executor_type>>
  auto async_connect(const boost::asio::ip::tcp::endpoint& to,
                     ConnectToken&& token = ConnectToken{}) {
    return boost::asio::async_initiate<ConnectToken, void(boost::system::error_code)>(
        [this](auto&& handler, const boost::asio::ip::tcp::endpoint& ep) {
          using H = std::decay_t<decltype(handler)>;
          auto& socket = tcp().socket();
          if (tls_ || !plain_deadline_)
            return socket.async_connect(ep, std::forward<decltype(handler)>(handler));
          if (plain_deadline_->past) return timedOutNow<false>(std::move(handler));
          socket.async_connect(ep,
                               detail::TimedHandler<H, false>(std::move(handler), plain_deadline_,
                                                              plain_->get_executor()));
        },
        token, to);
  }

  // Switches the connection to TLS with `context` (call before the handshake; the deadline
  // carries over). The SSL object holds its own reference to the context's SSL_CTX.
  void startTls(boost::asio::ssl::context& context) {
    if (tls_) return;
    const bool past = plain_deadline_ && plain_deadline_->past;
    dropPlainDeadline();
    tls_ = std::make_shared<detail::TlsConnection>(std::move(*plain_), context.native_handle(),
                                                   deadline_, past);
    plain_.reset();
  }
  bool isTls() const noexcept { return tls_ != nullptr; }
  SSL* ssl() noexcept { return tls_ ? tls_->ssl : nullptr; }
  // TLS input received and not read yet (records, an alert, a close_notify, the end).
  bool tlsInputPending() const noexcept { return tls_ && tls_->inputPending(); }

  // The TLS handshake (after startTls()); completes with (error_code).
  template <typename HandshakeToken = boost::asio::default_completion_token_t<executor_type>>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type role,
                       HandshakeToken&& token = HandshakeToken{}) {
    return boost::asio::async_initiate<HandshakeToken, void(boost::system::error_code)>(
        [this, role](auto&& handler) {
          using H = std::decay_t<decltype(handler)>;
          if (!tls_)
            return detail::postCompletion<false>(plain_->get_executor(),
                                                 std::forward<decltype(handler)>(handler),
                                                 boost::asio::error::not_connected, 0);
          if (role == boost::asio::ssl::stream_base::server)
            SSL_set_accept_state(tls_->ssl);
          else
            SSL_set_connect_state(tls_->ssl);
          detail::TlsOp<H, detail::HandshakeAction>::start(
              tls_, std::forward<decltype(handler)>(handler), {});
        },
        token);
  }

  template <typename MutableBufferSequence,
            typename ReadToken = boost::asio::default_completion_token_t<executor_type>>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token = ReadToken{}) {
    return boost::asio::async_initiate<ReadToken, void(boost::system::error_code, std::size_t)>(
        [this](auto&& handler, const MutableBufferSequence& b) {
          using H = std::decay_t<decltype(handler)>;
          if (!tls_) {
            auto& socket = plain_->socket();
            if (!plain_deadline_)
              return socket.async_read_some(b, std::forward<decltype(handler)>(handler));
            if (plain_deadline_->past) return timedOutNow<true>(std::move(handler));
            return socket.async_read_some(
                b, detail::TimedHandler<H, true>(std::move(handler), plain_deadline_,
                                                 plain_->get_executor()));
          }
          // Into the first non-empty buffer, as asio's ssl::stream does.
          boost::asio::mutable_buffer first;
          for (auto it = boost::asio::buffer_sequence_begin(b);
               it != boost::asio::buffer_sequence_end(b) && first.size() == 0; ++it)
            first = *it;
          if (first.size() == 0)
            return detail::postCompletion<true>(tls_->tcp.get_executor(),
                                                std::forward<decltype(handler)>(handler), {}, 0);
          using Op = detail::TlsOp<H, detail::ReadAction>;
          if (tls_->inputPending() || !SSL_is_init_finished(tls_->ssl))
            Op::start(tls_, std::forward<decltype(handler)>(handler), {first.data(), first.size()});
          else
            Op::startReceiving(tls_, std::forward<decltype(handler)>(handler),
                               {first.data(), first.size()});
        },
        token, buffers);
  }

  // Sends what the socket takes now, without waiting and without an asio operation: one
  // send/sendmsg(MSG_DONTWAIT) of `buffers` (up to 8 non-empty pieces) on a plain stream. Returns
  // the bytes sent; 0 with `ec` clear when the socket is full, the stream is TLS or there was
  // nothing to send (the caller writes the rest with async_write). A deadline the sweep found
  // past fails it with beast::error::timeout and closes the socket, as an operation would.
  //
  // The proxy's writes are one message each and nearly always fit the socket's buffer: this
  // spares them the operation, its completion's trip through the handler queue and the
  // coroutine's suspension (docs/proxy.md, "Writes").
  template <typename ConstBufferSequence>
  size_t trySend(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    ec = {};
    if (tls_) return 0;
    if (plain_deadline_ && plain_deadline_->past) {
      plain_deadline_->close();
      ec = boost::beast::error::timeout;
      return 0;
    }
    constexpr size_t kMaxPieces = 8;
    iovec iov[kMaxPieces];
    size_t count = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && count < kMaxPieces; ++it) {
      const boost::asio::const_buffer piece(*it);
      if (piece.size() > 0) iov[count++] = {const_cast<void*>(piece.data()), piece.size()};
    }
    if (count == 0) return 0;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    const int fd = plain_->socket().native_handle();
    for (;;) {
      // One piece: send(), which spares the kernel the message header and iovec copies.
      const ssize_t n =
          count == 1 ? ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT)
                     : ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        ec = boost::system::error_code(errno, boost::asio::error::get_system_category());
      return 0;
    }
  }

  template <typename ConstBufferSequence,
            typename WriteToken = boost::asio::default_completion_token_t<executor_type>>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token = WriteToken{}) {
    return boost::asio::async_initiate<WriteToken, void(boost::system::error_code, std::size_t)>(
        [this](auto&& handler, const ConstBufferSequence& b) {
          using H = std::decay_t<decltype(handler)>;
          if (!tls_) {
            auto& socket = plain_->socket();
            if (!plain_deadline_)
              return socket.async_write_some(b, std::forward<decltype(handler)>(handler));
            if (plain_deadline_->past) return timedOutNow<true>(std::move(handler));
            return socket.async_write_some(
                b, detail::TimedHandler<H, false>(std::move(handler), plain_deadline_,
                                                  plain_->get_executor()));
          }
          // The non-empty pieces (the proxy writes up to three): one is written as it is; more
          // are gathered into one record unless the first fills whole records by itself.
          constexpr size_t kMaxPieces = 8;
          boost::asio::const_buffer pieces[kMaxPieces];
          size_t count = 0;
          for (auto it = boost::asio::buffer_sequence_begin(b);
               it != boost::asio::buffer_sequence_end(b) && count < kMaxPieces; ++it) {
            boost::asio::const_buffer piece(*it);
            if (piece.size() > 0) pieces[count++] = piece;
          }
          boost::asio::const_buffer src;
          if (count == 1 || (count > 1 && pieces[0].size() >= kRecord))
            src = count == 1
                      ? pieces[0]
                      : boost::asio::buffer(pieces[0].data(), pieces[0].size() / kRecord * kRecord);
          else if (count > 1)
            src = tls_->stage(pieces, count);
          if (src.size() == 0)
            return detail::postCompletion<true>(tls_->tcp.get_executor(),
                                                std::forward<decltype(handler)>(handler), {}, 0);
          detail::TlsOp<H, detail::WriteAction>::start(
              tls_, std::forward<decltype(handler)>(handler),
              {static_cast<const char*>(src.data()), src.size()});
        },
        token, buffers);
  }

  // The largest TLS record's plaintext.
  static constexpr size_t kRecord = 16384;

 private:
  // An operation started after the sweep found the deadline past: fails at once with timeout
  // and closes the socket, as basic_stream does (with (ec, 0) or, for a connect, (ec)).
  template <bool kWithSize, typename Handler>
  void timedOutNow(Handler&& handler) {
    plain_deadline_->close();
    detail::postCompletion<kWithSize>(plain_->get_executor(), std::forward<Handler>(handler),
                                      boost::beast::error::timeout, 0);
  }
  void dropPlainDeadline() noexcept {
    if (!plain_deadline_) return;
    plain_deadline_->timers->cancel(*plain_deadline_);
    plain_deadline_->tcp = nullptr;
    std::exchange(plain_deadline_, nullptr)->release();
  }

  std::optional<TcpStream> plain_;
  std::shared_ptr<detail::TlsConnection> tls_;
  detail::PlainDeadline* plain_deadline_ = nullptr;  // once a deadline has been set (plain)
  Clock::time_point deadline_ = Clock::time_point::max();
};

}  // namespace meshdeck::proxy::tls
