#include "tools/load/h2_load.h"

#include <boost/asio/write.hpp>
#include <charconv>

#include "common/telemetry/grpc_status.h"
#include "tools/load/load_generator.h"

namespace meshdeck::tools {

namespace net = boost::asio;
namespace beast = boost::beast;
using Header = proxy::h2::ClientCodec::Header;

namespace {

constexpr uint32_t kCancel = 0x8;  // RST_STREAM CANCEL

void appendVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::optional<uint32_t> findGrpcStatus(const std::vector<Header>& fields) {
  for (const auto& [name, value] : fields) {
    if (name != "grpc-status") continue;
    uint32_t code = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), code);
    if (ec != std::errc{} || end != value.data() + value.size()) return common::kGrpcUnknown;
    return code;
  }
  return std::nullopt;
}

}  // namespace

H2Request buildH2Request(const LoadOptions& o) {
  H2Request r;
  const bool grpc = o.protocol == LoadProtocol::kGrpc;
  std::string path = o.url.target;
  if (grpc && path == "/") path = "/meshdeck.demo.v1.Demo/Call";
  r.headers = {{":method", grpc ? "POST" : o.method},
               {":scheme", "http"},
               {":authority", o.url.authority},
               {":path", path},
               {"user-agent", "meshdeck-load"}};
  if (grpc) {
    r.headers.emplace_back("content-type", "application/grpc");
    r.headers.emplace_back("te", "trailers");
    // meshdeck.demo.v1.CallRequest{payload = body_size bytes}: field 2, length-delimited.
    std::string message;
    if (o.body_size > 0) {
      message.push_back(0x12);
      appendVarint(message, o.body_size);
      message.append(o.body_size, 'x');
    }
    const auto n = static_cast<uint32_t>(message.size());
    r.body = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
              static_cast<char>(n)};
    r.body += message;
  } else if (o.body_size > 0) {
    r.body.assign(o.body_size, 'x');
    r.headers.emplace_back("content-type", "application/octet-stream");
  }
  for (const auto& [name, value] : o.headers) {
    std::string lower = name;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    r.headers.emplace_back(lower, value);
  }
  return r;
}

unsigned grpcResponseStatus(const std::vector<Header>& head, const std::vector<Header>& trailers) {
  auto code = findGrpcStatus(head);
  if (!code) code = findGrpcStatus(trailers);
  return common::grpcStatusHttpEquivalent(code.value_or(common::kGrpcUnknown));
}

H2LoadConnection::H2LoadConnection(net::io_context& ioc, const LoadOptions& options,
                                   const H2Request& request,
                                   const net::ip::tcp::resolver::results_type& endpoints,
                                   OnDone on_done)
    : ioc_(ioc),
      options_(options),
      request_(request),
      endpoints_(endpoints),
      on_done_(std::move(on_done)),
      socket_(ioc) {}

H2LoadConnection::~H2LoadConnection() = default;

void H2LoadConnection::connect(std::function<void(bool)> done) {
  on_connected_ = std::move(done);
  start();
}

void H2LoadConnection::start() {
  connecting_ = true;
  socket_.expires_after(options_.timeout);
  socket_.async_connect(
      endpoints_, [this, gen = generation_](const beast::error_code& ec, const auto&) {
        if (gen != generation_) return;
        connecting_ = false;
        if (ec) {
          socket_.close();
          if (auto cb = std::exchange(on_connected_, nullptr)) cb(false);
          // Everything waiting for this connection fails to connect.
          auto waiting = std::exchange(waiting_, {});
          for (const auto t : waiting)
            finish(t, Outcome{t, std::nullopt,
                              ec == beast::error::timeout ? TransportError::kTimeout
                                                          : TransportError::kConnect});
          return;
        }
        socket_.expires_never();
        socket_.socket().set_option(net::ip::tcp::no_delay(true));
        connected_ = true;
        proxy::h2::ClientLimits limits;
        limits.max_concurrent_streams = 1000;
        proxy::h2::ClientEvents& events = *this;
        codec_ = std::make_unique<proxy::h2::ClientCodec>(events, limits);
        read();
        auto waiting = std::exchange(waiting_, {});
        for (const auto t : waiting) submitNow(t);
        flush();
        if (auto cb = std::exchange(on_connected_, nullptr)) cb(true);
      });
}

void H2LoadConnection::submit(Clock::time_point scheduled) {
  ++in_flight_;
  if (!connected_) {
    waiting_.push_back(scheduled);
    if (!connecting_) start();
    return;
  }
  submitNow(scheduled);
  flush();
}

void H2LoadConnection::submitNow(Clock::time_point scheduled) {
  if (!codec_ || codec_->goingAway()) {
    // The server said GOAWAY: this connection takes no new stream (the next one reconnects
    // once this one is gone).
    return finish(scheduled, Outcome{scheduled, std::nullopt, TransportError::kReset});
  }
  const bool has_body = !request_.body.empty();
  const int32_t id = codec_->submitRequest(request_.headers, !has_body);
  if (id < 0) return finish(scheduled, Outcome{scheduled, std::nullopt, TransportError::kProtocol});
  if (has_body) codec_->queueData(id, request_.body.data(), request_.body.size(), true);
  streams_[id].scheduled = scheduled;
}

void H2LoadConnection::read() {
  socket_.async_read_some(net::buffer(in_),
                          [this, gen = generation_](const beast::error_code& ec, size_t n) {
                            if (gen != generation_) return;
                            if (ec) return lost(TransportError::kReset);
                            const bool ok = codec_->receive(in_.data(), n);
                            afterCodec();
                            if (gen != generation_) return;
                            if (!ok || codec_->finished()) {
                              flush();
                              return lost(TransportError::kProtocol);
                            }
                            flush();
                            read();
                          });
}

void H2LoadConnection::flush() {
  if (writing_ || !codec_) return;
  out_.clear();
  const bool any = codec_->pendingOutput(out_);
  if (any) {
    writing_ = true;
    net::async_write(socket_, net::buffer(out_),
                     [this, gen = generation_](const beast::error_code& ec, size_t) {
                       if (gen != generation_) return;
                       writing_ = false;
                       if (ec) return lost(TransportError::kReset);
                       flush();
                     });
  }
  // Framing can close streams (a reset sent): report them.
  afterCodec();
}

void H2LoadConnection::afterCodec() {
  if (codec_)
    for (const auto& [id, size] : std::exchange(consumed_, {})) codec_->consumed(id, size);
  consumed_.clear();
  auto done = std::exchange(done_, {});
  for (const auto& o : done) finish(o.scheduled, o);
}

void H2LoadConnection::lost(TransportError error) {
  // Every stream on the connection fails; the next request opens a new one.
  auto done = std::exchange(done_, {});
  auto streams = std::exchange(streams_, {});
  ++generation_;
  codec_.reset();
  connected_ = false;
  writing_ = false;
  beast::error_code ignored;
  socket_.socket().close(ignored);
  for (const auto& o : done) finish(o.scheduled, o);
  for (const auto& [id, s] : streams)
    finish(s.scheduled,
           Outcome{s.scheduled, std::nullopt, s.timed_out ? TransportError::kTimeout : error});
}

void H2LoadConnection::finish(Clock::time_point, const Outcome& outcome) {
  --in_flight_;
  on_done_(this, outcome);
}

void H2LoadConnection::sweep(Clock::time_point now) {
  if (!codec_) return;
  bool any = false;
  for (auto& [id, s] : streams_) {
    if (!s.timed_out && now >= s.scheduled + options_.timeout) {
      s.timed_out = true;
      codec_->resetStream(id, kCancel);
      any = true;
    }
  }
  if (any) flush();
}

size_t H2LoadConnection::abandon() {
  const size_t dropped = in_flight_;
  in_flight_ = 0;
  streams_.clear();
  waiting_.clear();
  done_.clear();
  close();
  return dropped;
}

void H2LoadConnection::close() {
  ++generation_;
  codec_.reset();
  connected_ = connecting_ = writing_ = false;
  beast::error_code ignored;
  socket_.socket().close(ignored);
}

void H2LoadConnection::onResponseHead(int32_t stream, unsigned status, std::vector<Header>& headers,
                                      bool) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  it->second.status = status;
  if (options_.protocol == LoadProtocol::kGrpc) it->second.head = std::move(headers);
}

void H2LoadConnection::onResponseData(int32_t stream, const char*, size_t size) {
  consumed_.emplace_back(stream, size);
}

void H2LoadConnection::onResponseEnd(int32_t stream, std::vector<Header>& trailers) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  it->second.ended = true;
  if (options_.protocol == LoadProtocol::kGrpc && it->second.status == 200)
    it->second.status = grpcResponseStatus(it->second.head, trailers);
}

void H2LoadConnection::onStreamClosed(int32_t stream, uint32_t) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  const Stream s = std::move(it->second);
  streams_.erase(it);
  Outcome o{s.scheduled, std::nullopt, TransportError::kReset};
  if (s.timed_out)
    o.error = TransportError::kTimeout;
  else if (s.ended && s.status != 0)
    o.status = s.status;
  done_.push_back(o);
}

}  // namespace meshdeck::tools
