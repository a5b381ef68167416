#include "proxy/tls/mesh_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/ssl/error.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <climits>
#include <cstring>

namespace meshdeck::proxy::tls::detail {

namespace asio = boost::asio;

namespace {

// The BIO of a TlsConnection: output goes to the socket at once (MSG_NOSIGNAL: a peer gone
// away is EPIPE, not SIGPIPE; MSG_DONTWAIT: a full socket is a retry, whatever the descriptor's
// mode); input comes from the connection's input buffer. The descriptor is looked up on every
// send, so a closed socket fails (EBADF) instead of writing to a descriptor number that may
// already belong to another connection.
TlsConnection& connectionOf(BIO* b) { return *static_cast<TlsConnection*>(BIO_get_data(b)); }

int bioRead(BIO* b, char* data, int size) {
  BIO_clear_retry_flags(b);
  auto& c = connectionOf(b);
  const int n = c.takeInput(data, size);
  if (n == 0 && !c.inputEnded()) {
    BIO_set_retry_read(b);
    return -1;
  }
  return n;
}

int bioWrite(BIO* b, const char* data, int size) {
  BIO_clear_retry_flags(b);
  ssize_t n;
  do
    n = ::send(connectionOf(b).tcp.socket().native_handle(), data, static_cast<size_t>(size),
               MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

long bioCtrl(BIO* b, int cmd, long, void* ptr) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_EOF:
      return connectionOf(b).inputEnded() ? 1 : 0;
    case BIO_C_GET_FD: {
      const int fd = connectionOf(b).tcp.socket().native_handle();
      if (ptr) *static_cast<int*>(ptr) = fd;
      return fd;
    }
    default:
      return 0;
  }
}

BIO_METHOD* socketBioMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "meshdeck socket");
    if (!m || BIO_meth_set_read(m, &bioRead) != 1 || BIO_meth_set_write(m, &bioWrite) != 1 ||
        BIO_meth_set_ctrl(m, &bioCtrl) != 1)
      return static_cast<BIO_METHOD*>(nullptr);
    return m;
  }();
  return method;
}

int clampInt(size_t n) { return static_cast<int>(std::min<size_t>(n, INT_MAX)); }

SSL* newSsl(SSL_CTX* ctx) {
  SSL* ssl = SSL_new(ctx);
  if (!ssl) {
    ERR_clear_error();
    throw boost::system::system_error(asio::error::no_memory, "SSL_new");
  }
  return ssl;
}

}  // namespace

TlsConnection::TlsConnection(TcpStream stream, SSL_CTX* ctx, Clock::time_point deadline, bool past)
    : tcp(std::move(stream)),
      ssl(newSsl(ctx)),
      timers_(asio::use_service<CoarseTimers>(tcp.get_executor().context())),
      past_(past) {
  deadline_.owner = this;
  deadline_.expired = &TlsConnection::onExpired;
  BIO_METHOD* method = socketBioMethod();
  bio_ = method ? BIO_new(method) : nullptr;
  if (!bio_) {
    SSL_free(ssl);
    ERR_clear_error();
    throw boost::system::system_error(asio::error::no_memory, "BIO_new");
  }
  BIO_set_data(bio_, this);
  BIO_set_init(bio_, 1);
  SSL_set_bio(ssl, bio_, bio_);  // one reference, for both directions
  // Partial writes: SSL_write returns after each record; a retry after a full socket may come
  // from another address (the same bytes, e.g. from the staging buffer).
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // OpenSSL takes all it can from the input buffer at once instead of a header and then a
  // body per record.
  SSL_set_read_ahead(ssl, 1);
  if (!past) timers_.arm(deadline_, deadline);
}

TlsConnection::~TlsConnection() {
  timers_.cancel(deadline_);
  // An SSL freed without a shutdown has its session marked not resumable by OpenSSL, which
  // would defeat ClientSessionCache: connections are closed without close_notify (like TCP
  // ones), so the shutdown state is set by hand. Fatal TLS errors still mark the session.
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl);
}

Step TlsConnection::failed(int result) {
  const int sys = errno;
  Step s;
  // Waiting, as the BIO said when OpenSSL last used it (what SSL_get_error() would find too,
  // after looking at the thread's error queue first).
  if (BIO_should_retry(bio_)) {
    if (BIO_should_read(bio_)) {
      s.want = Want::kRead;
      return s;
    }
    if (BIO_should_write(bio_)) {
      s.want = Want::kWrite;
      return s;
    }
  }
  switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ:
      s.want = Want::kRead;
      return s;
    case SSL_ERROR_WANT_WRITE:
      s.want = Want::kWrite;
      return s;
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      s.ec = asio::error::eof;
      return s;
    case SSL_ERROR_SYSCALL: {
      const unsigned long code = ERR_get_error();
      ERR_clear_error();
      if (code)
        s.ec.assign(static_cast<int>(code), asio::error::get_ssl_category());
      else if (sys)
        s.ec.assign(sys, boost::system::system_category());
      else
        s.ec = asio::ssl::error::stream_truncated;
      return s;
    }
    case SSL_ERROR_SSL: {
      const unsigned long code = ERR_get_error();
      ERR_clear_error();
      // The TCP connection ended without a close_notify.
      if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
          ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        s.ec = asio::ssl::error::stream_truncated;
      else
        s.ec.assign(static_cast<int>(code), asio::error::get_ssl_category());
      return s;
    }
    default:
      ERR_clear_error();
      s.ec = asio::ssl::error::unexpected_result;
      return s;
  }
}

// Only the handshake empties the thread's error queue first, so that the reason it reports for
// a refused peer is its own. Reads and writes do not (ERR_clear_error() was a noticeable part of
// each): waiting is decided from the BIO's retry state without the queue, and every error
// taken from the queue empties it.
Step TlsConnection::handshake() {
  ERR_clear_error();
  errno = 0;
  const int r = SSL_do_handshake(ssl);
  if (r == 1) return {};
  return failed(r);
}

Step TlsConnection::read(void* data, size_t size) {
  errno = 0;
  int r = SSL_read(ssl, data, clampInt(size));
  if (r <= 0) return failed(r);
  size_t total = static_cast<size_t>(r);
  // More records already read from the socket: take them too. Whatever stops this (no more
  // data, an alert, a close_notify) is found again by the next read.
  while (total < size && (in_begin_ != in_end_ || SSL_has_pending(ssl))) {
    r = SSL_read(ssl, static_cast<char*>(data) + total, clampInt(size - total));
    if (r <= 0) {
      ERR_clear_error();
      break;
    }
    total += static_cast<size_t>(r);
  }
  return {Want::kNothing, {}, total};
}

Step TlsConnection::write(const char* data, size_t size, size_t& done) {
  while (done < size) {
    errno = 0;
    const int r = SSL_write(ssl, data + done, clampInt(size - done));
    if (r <= 0) {
      Step s = failed(r);
      s.n = done;
      return s;
    }
    done += static_cast<size_t>(r);
  }
  return {Want::kNothing, {}, done};
}

asio::const_buffer TlsConnection::stage(const asio::const_buffer* pieces, size_t count) {
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += pieces[i].size();
  total = std::min(total, MeshStream::kRecord);
  if (staging_size_ < total) {
    staging_size_ = std::max<size_t>(total, 4096);
    staging_ = std::make_unique<char[]>(staging_size_);
  }
  size_t used = 0;
  for (size_t i = 0; i < count && used < total; ++i) {
    const size_t n = std::min(pieces[i].size(), total - used);
    std::memcpy(staging_.get() + used, pieces[i].data(), n);
    used += n;
  }
  return {staging_.get(), used};
}

namespace {
constexpr size_t kInputSize = 16 * 1024 + 512;  // a full record with its header and tag
}  // namespace

asio::mutable_buffer TlsConnection::receiveBuffer() {
  if (receiving_ || in_begin_ != in_end_ || in_eof_) return {};
  if (!in_) in_ = std::make_unique<char[]>(kInputSize);
  in_begin_ = in_end_ = 0;
  receiving_ = true;
  return {in_.get(), kInputSize};
}

void TlsConnection::received(boost::system::error_code& ec, size_t n) {
  receiving_ = false;
  in_end_ = n;
  if (parked_) {
    parked_ = false;
    woken_ = true;
    wake_.emit(asio::cancellation_type::all);
  }
  // The end of the TCP stream is OpenSSL's to judge (after a close_notify or not).
  if (ec == asio::error::eof) {
    in_eof_ = true;
    ec = {};
  }
}

int TlsConnection::takeInput(char* data, int size) {
  const size_t n = std::min(in_end_ - in_begin_, static_cast<size_t>(size));
  if (n == 0) return 0;
  std::memcpy(data, in_.get() + in_begin_, n);
  in_begin_ += n;
  return static_cast<int>(n);
}

void TlsConnection::onExpired(CoarseTimers::Timed& t) {
  TlsConnection& c = *static_cast<Deadline&>(t).owner;
  if (c.waiting_ == 0) {
    c.past_ = true;
    return;
  }
  c.timeout();
}

void TlsConnection::timeout() {
  timed_out_ = true;
  boost::system::error_code ignored;
  tcp.socket().close(ignored);
}

}  // namespace meshdeck::proxy::tls::detail
