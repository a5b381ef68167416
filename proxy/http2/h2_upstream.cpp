#include "proxy/http2/h2_upstream.h"

#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

namespace meshdeck::proxy::h2 {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

UpstreamStream::UpstreamStream(std::shared_ptr<ClientConnection> conn, int32_t id)
    : pump_done(conn->transport_->stream.tcp().get_executor()),
      conn_(std::move(conn)),
      id_(id),
      signal_(conn_->transport_->stream.tcp().get_executor()),
      send_signal_(conn_->transport_->stream.tcp().get_executor()) {}

UpstreamStream::~UpstreamStream() {
  auto& c = *conn_;
  if (!closed_) c.codec_.resetStream(id_, NGHTTP2_CANCEL);
  // What arrived and nobody will read opens the connection's window again.
  c.codec_.consumed(id_, unconsumed_ + in_.size());
  c.streams_.erase(id_);
  c.last_active_ = Clock::now();
  c.write_signal_.notify();
}

bool UpstreamStream::tls() const { return conn_->transport_->stream.isTls(); }

const std::string& UpstreamStream::peerIdentity() const { return conn_->transport_->peer_identity; }

Awaitable<bool> UpstreamStream::waitHead(TimePoint deadline) {
  for (;;) {
    if (head_) co_return true;
    if (closed_) co_return false;
    if (Clock::now() >= deadline) {
      timed_out_ = true;
      co_return false;
    }
    co_await signal_.waitUntil(deadline);
  }
}

Awaitable<bool> UpstreamStream::send(const char* data, size_t size, bool last, TimePoint deadline) {
  if (closed_) co_return false;
  conn_->codec_.queueData(id_, data, size, last);
  conn_->write_signal_.notify();
  while (conn_->codec_.queued(id_) > 0) {
    if (closed_) co_return false;
    if (Clock::now() >= deadline) {
      timed_out_ = true;
      co_return false;
    }
    co_await send_signal_.waitUntil(deadline);
  }
  co_return !closed_ || ended_;
}

Awaitable<long> UpstreamStream::read(char* buf, size_t max, bool* last, TimePoint deadline) {
  if (unconsumed_) {
    conn_->codec_.consumed(id_, unconsumed_);
    unconsumed_ = 0;
    conn_->write_signal_.notify();
  }
  for (;;) {
    if (!in_.empty()) {
      const size_t n = std::min(max, in_.size());
      std::memcpy(buf, in_.data(), n);
      in_.erase(0, n);
      unconsumed_ = n;
      *last = ended_ && in_.empty();
      co_return static_cast<long>(n);
    }
    if (ended_) {
      *last = true;
      co_return 0;
    }
    if (closed_) co_return -1;
    if (Clock::now() >= deadline) {
      timed_out_ = true;
      co_return -1;
    }
    co_await signal_.waitUntil(deadline);
  }
}

void UpstreamStream::cancel() {
  if (closed_) return;
  conn_->codec_.resetStream(id_, NGHTTP2_CANCEL);
  conn_->write_signal_.notify();
}

ClientConnection::ClientConnection(std::unique_ptr<UpstreamConnection> transport,
                                   const ClientLimits& limits, Clock::duration idle_timeout)
    : transport_(std::move(transport)),
      codec_(*this, limits),
      idle_timeout_(idle_timeout),
      write_signal_(transport_->stream.tcp().get_executor()),
      idle_timer_(transport_->stream.tcp().get_executor()),
      last_active_(Clock::now()) {}

ClientConnection::~ClientConnection() = default;

void ClientConnection::start() {
  auto ex = transport_->stream.tcp().get_executor();
  transport_->stream.expires_never();
  asio::co_spawn(ex, readLoop(shared_from_this()), asio::detached);
  asio::co_spawn(ex, writeLoop(shared_from_this()), asio::detached);
  asio::co_spawn(ex, idleWatch(shared_from_this()), asio::detached);
}

bool ClientConnection::hasCapacity() const {
  return usable() && codec_.openStreams() < codec_.maxConcurrentStreams();
}

std::shared_ptr<UpstreamStream> ClientConnection::open(
    const std::vector<ClientCodec::Header>& headers, bool end_stream) {
  if (!usable()) return nullptr;
  const int32_t id = codec_.submitRequest(headers, end_stream);
  if (id < 0) return nullptr;
  auto st = std::make_shared<UpstreamStream>(shared_from_this(), id);
  streams_[id] = st.get();
  last_active_ = Clock::now();
  write_signal_.notify();
  return st;
}

void ClientConnection::close() {
  if (closed_) return;
  closed_ = true;
  failAll();
  boost::system::error_code ec;
  transport_->stream.socket().close(ec);
  write_signal_.notify();
  idle_timer_.cancel();
}

void ClientConnection::failAll() {
  for (auto& [id, st] : streams_) {
    st->closed_ = true;
    st->signal_.notify();
    st->send_signal_.notify();
  }
}

UpstreamStream* ClientConnection::find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second;
}

Awaitable<void> ClientConnection::readLoop(std::shared_ptr<ClientConnection> self) {
  (void)self;
  std::array<char, 16 * 1024> buf;
  while (!closed_) {
    auto [ec, n] = co_await transport_->stream.async_read_some(asio::buffer(buf), kNoThrow);
    if (ec || closed_) break;
    const bool ok = codec_.receive(buf.data(), n);
    write_signal_.notify();
    if (!ok) break;
  }
  if (!closed_) {
    spdlog::debug("upstream HTTP/2 connection to {} ended ({} streams open)", transport_->address,
                  streams_.size());
    // A GOAWAY of ours may be queued: the writer gets it out before the socket closes.
    std::string out;
    if (codec_.pendingOutput(out))
      co_await asio::async_write(transport_->stream, asio::buffer(out), kNoThrow);
    close();
  }
}

Awaitable<void> ClientConnection::writeLoop(std::shared_ptr<ClientConnection> self) {
  (void)self;
  std::string out;
  while (!closed_) {
    out.clear();
    if (codec_.pendingOutput(out)) {
      auto [ec, n] = co_await asio::async_write(transport_->stream, asio::buffer(out), kNoThrow);
      if (ec) {
        close();
        break;
      }
      continue;
    }
    if (codec_.finished()) {
      close();
      break;
    }
    co_await write_signal_.wait();
  }
}

Awaitable<void> ClientConnection::idleWatch(std::shared_ptr<ClientConnection> self) {
  (void)self;
  while (!closed_) {
    idle_timer_.expires_at(last_active_ + idle_timeout_);
    co_await idle_timer_.async_wait(kNoThrow);
    if (closed_) break;
    if (streams_.empty() && Clock::now() - last_active_ >= idle_timeout_) {
      codec_.goAway(NGHTTP2_NO_ERROR);
      write_signal_.notify();
      break;
    }
    if (!streams_.empty()) last_active_ = Clock::now();
  }
}

void ClientConnection::onResponseHead(int32_t id, unsigned status, std::vector<Header>& headers,
                                      bool end_stream) {
  UpstreamStream* st = find(id);
  if (!st) return;
  st->status_ = status;
  st->headers_ = std::move(headers);
  st->head_ = true;
  st->head_ended_ = end_stream;
  st->signal_.notify();
}

void ClientConnection::onResponseData(int32_t id, const char* data, size_t size) {
  UpstreamStream* st = find(id);
  if (!st) {
    codec_.consumed(id, size);
    return;
  }
  st->in_.append(data, size);
  last_active_ = Clock::now();
  st->signal_.notify();
}

void ClientConnection::onResponseEnd(int32_t id, std::vector<Header>& trailers) {
  UpstreamStream* st = find(id);
  if (!st) return;
  st->trailers_ = std::move(trailers);
  st->ended_ = true;
  st->signal_.notify();
}

void ClientConnection::onStreamClosed(int32_t id, uint32_t error_code) {
  UpstreamStream* st = find(id);
  if (!st) return;
  st->closed_ = true;
  if (!st->head_ && error_code == NGHTTP2_REFUSED_STREAM) st->refused_ = true;
  st->signal_.notify();
  st->send_signal_.notify();
}

void ClientConnection::onDrained(int32_t id) {
  if (UpstreamStream* st = find(id)) st->send_signal_.notify();
}

void ClientConnection::onMalformed(int32_t id, const char* reason) {
  if (UpstreamStream* st = find(id); st && !st->malformed_) st->malformed_ = reason;
}

}  // namespace meshdeck::proxy::h2
