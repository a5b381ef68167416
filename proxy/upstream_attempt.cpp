#include "proxy/upstream_attempt.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/read.hpp>
#include <cassert>
#include <cctype>
#include <cstring>
#include <tuple>

#include "proxy/http/headers.h"
#include "proxy/http2/h2_upstream.h"
#include "proxy/tls/spiffe.h"

namespace meshdeck::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// Active-request accounting for least-request balancing, the circuit breaker and the retry
// budget, for the length of one attempt.
class ActiveRequest {
 public:
  ActiveRequest(std::shared_ptr<ClusterRuntime> c, size_t i) : c_(std::move(c)), i_(i) {
    ++c_->active_requests;
    ++c_->endpoints[i_].active_requests;
  }
  ~ActiveRequest() {
    assert(c_->active_requests > 0 && "cluster active requests underflow");
    --c_->active_requests;
    if (i_ < c_->endpoints.size() && c_->endpoints[i_].active_requests > 0)
      --c_->endpoints[i_].active_requests;
  }
  ActiveRequest(const ActiveRequest&) = delete;
  ActiveRequest& operator=(const ActiveRequest&) = delete;

 private:
  std::shared_ptr<ClusterRuntime> c_;
  size_t i_;
};

// The circuit breaker's request limit, then an endpoint by the balancer with the outlier
// detector's ejections left out. false (at.local_* set) when the attempt ends here.
bool pickEndpoint(SessionHost& host, Exchange& ex, ClusterRuntime& cluster, ClusterStats& cs,
                  Attempt& at, SessionHost::TimePoint now) {
  const ClusterConfig& cc = *cluster.config;
  const auto& cb = cc.circuit_breaker;
  if (cb.max_requests && cluster.active_requests >= cb.max_requests) {
    ++cs.cb_overflow;
    ex.circuit_open = true;
    at.local_status = 503;
    at.local_code = error_code::kOverflow;
    return false;
  }
  for (size_t i = 0; i < cluster.endpoints.size(); ++i)
    cluster.endpoints[i].available = !cluster.outlier.isEjected(i, now);
  uint64_t hash = 0;
  const uint64_t* hash_ptr = nullptr;
  if (cc.lb_policy == LbPolicy::kRingHash) {
    auto it = ex.head.find(cc.hash_header);
    if (it != ex.head.end()) {
      hash = LoadBalancer::hashKey(sv(it->value()));
      hash_ptr = &hash;
    }
  }
  at.endpoint = cluster.lb.pick(cluster.endpoints, host.random(), hash_ptr);
  if (at.endpoint < 0) {
    ++cs.no_healthy;
    at.local_status = 503;
    at.local_code = error_code::kNoHealthy;
    return false;
  }
  return true;
}

// Counts a failed attempt on endpoint `idx` (and tells the outlier detector).
void recordFailure(SessionHost& host, ClusterRuntime& cluster, ClusterStats& cs, size_t idx,
                   Attempt& at, AttemptFailure f) {
  const ClusterConfig& cc = *cluster.config;
  const EndpointConfig& ep = cc.endpoints[idx];
  spdlog::debug("cluster {}: attempt to {} failed ({}, {} connection)", cc.name, ep.address(),
                f == AttemptFailure::kConnectFailure ? "connect"
                : f == AttemptFailure::kReset        ? "reset"
                                                     : "timeout",
                at.reused ? "pooled" : "new");
  at.failure = f;
  if (f == AttemptFailure::kConnectFailure)
    ++cs.cx_connect_fail;
  else if (f == AttemptFailure::kReset)
    ++cs.rq_reset;
  else if (f == AttemptFailure::kTimeout)
    ++cs.rq_timeout;
  ++cs.rq_total;
  ++cs.responses[0];
  at.ended_at = host.now();
  if (cluster.outlier.onFailure(idx, at.ended_at)) {
    ++cs.outlier_ejections;
    spdlog::info("cluster {}: endpoint {} ejected", cc.name, ep.address());
  }
}

BodyFraming bodyFraming(h1::ResponseBody b) {
  switch (b) {
    case h1::ResponseBody::kContentLength:
      return BodyFraming::kContentLength;
    case h1::ResponseBody::kChunked:
      return BodyFraming::kChunked;
    case h1::ResponseBody::kCloseDelimited:
      return BodyFraming::kCloseDelimited;
    case h1::ResponseBody::kNone:
      break;
  }
  return BodyFraming::kNone;
}

// Counts a final response of `status` from endpoint `idx` (HTTP/1.1 or HTTP/2): the cluster's
// responses and the attempt's latency (at.ended_at, read here), and the outlier detector's
// verdict (a 5xx is a failure).
void countResponse(SessionHost& host, ClusterRuntime& cluster, ClusterStats& cs, size_t idx,
                   Attempt& at, unsigned status,
                   std::chrono::steady_clock::time_point attempt_start) {
  ++cs.rq_total;
  ++cs.responses[statusClass(status)];
  at.ended_at = host.now();
  cs.latency->record(static_cast<uint64_t>((at.ended_at - attempt_start).count()));
  if (status >= 500) {
    if (cluster.outlier.onFailure(idx, at.ended_at)) {
      ++cs.outlier_ejections;
      spdlog::info("cluster {}: endpoint {} ejected after 5xx", cluster.config->name,
                   cluster.config->endpoints[idx].address());
    }
  } else {
    cluster.outlier.onSuccess(idx);
  }
}

// Takes the framing the codec decided for the final response head (one decision for reading
// its body and framing what the client gets) and counts the response. The codec refused a
// malformed head already (Beast's rules, decideResponseFraming(), parserAgrees()).
void acceptResponseHead(SessionHost& host, ClusterRuntime& cluster, ClusterStats& cs, size_t idx,
                        Attempt& at, std::chrono::steady_clock::time_point attempt_start) {
  const h1::ResponseFraming& hf = at.head.framing;
  at.framing = Framing{};
  at.framing.kind = bodyFraming(hf.body);
  at.framing.declared = bodyFraming(hf.declared);
  at.framing.length = hf.length;
  at.framing.rewrite = hf.rewrite;
  at.has_head = true;
  countResponse(host, cluster, cs, idx, at, at.head.status, attempt_start);
}

// An interim head as the Beast header Downstream::sendInterim() takes (rare: 102, 103, ...).
ResponseHeader interimHeader(const h1::ResponseHead& h) {
  ResponseHeader out;
  out.version(h.version);
  out.result(h.status);
  for (size_t i = 0; i < h.fieldCount(); ++i) {
    const auto& f = h.field(i);
    out.insert(beast::string_view(f.name.data(), f.name.size()),
               beast::string_view(f.value.data(), f.value.size()));
  }
  return out;
}

std::string_view bufferView(const beast::flat_buffer& b) {
  return {static_cast<const char*>(b.data().data()), b.size()};
}

// The request head of `ex` as HTTP/2 fields: the pseudo-headers first, lower-case names, no
// connection-specific fields (RFC 9113 §8.2.2); `te: trailers` when the client reads trailers
// and always to a gRPC cluster.
std::vector<h2::ClientCodec::Header> h2RequestFields(const Exchange& ex, bool tls, bool grpc) {
  std::vector<h2::ClientCodec::Header> out;
  const RequestHeader& head = ex.head;
  out.reserve(5 + static_cast<size_t>(std::distance(head.begin(), head.end())));
  out.emplace_back(":method", std::string(sv(head.method_string())));
  out.emplace_back(":scheme", tls ? "https" : "http");
  if (auto host = head.find(http::field::host); host != head.end())
    out.emplace_back(":authority", std::string(sv(host->value())));
  out.emplace_back(":path", std::string(sv(head.target())));
  for (const auto& f : head) {
    if (f.name() == http::field::host) continue;
    std::string name(sv(f.name_string()));
    for (auto& c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII: a token
    if (name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
        name == "transfer-encoding" || name == "upgrade" || name == "te")
      continue;
    out.emplace_back(std::move(name), std::string(sv(f.value())));
  }
  if (ex.te_trailers || grpc) out.emplace_back("te", "trailers");
  return out;
}

// A new upstream connection to endpoint `idx` for an attempt, under the cluster's circuit
// breaker (HTTP/1.1 and HTTP/2 alike). nullptr when the breaker refused it (a local 503 on
// `at`) or the connect failed (recorded on `at`: a TLS failure keeps its own code for the
// 502; a connect timeout is the attempt's timeout once its deadline has passed).
Awaitable<std::unique_ptr<UpstreamConnection>> connectForAttempt(
    SessionHost& host, Exchange& ex, Attempt& at, ClusterRuntime& cluster, ClusterStats& cs,
    size_t idx, std::chrono::steady_clock::time_point attempt_deadline, bool h2) {
  const ClusterConfig& cc = *cluster.config;
  const auto& cb = cc.circuit_breaker;
  if ((cb.max_connections && cluster.counters->connections >= cb.max_connections) ||
      (cb.max_pending_requests && cluster.pending_requests >= cb.max_pending_requests)) {
    ++cs.cb_overflow;
    ex.circuit_open = true;
    at.local_status = 503;
    at.local_code = error_code::kOverflow;
    co_return nullptr;
  }
  auto conn = std::make_unique<UpstreamConnection>(host.io());
  conn->counters = cluster.counters;
  ++cluster.counters->connections;
  ++cluster.pending_requests;
  const auto outcome =
      co_await connectUpstream(host, *conn, cc.endpoints[idx], cc,
                               std::min(attempt_deadline, host.now() + cc.connect_timeout), cs, h2);
  assert(cluster.pending_requests > 0 && "cluster pending requests underflow");
  --cluster.pending_requests;
  if (outcome != ConnectOutcome::kOk) {
    at.tls_code = outcome == ConnectOutcome::kTlsFailed          ? error_code::kUpstreamTls
                  : outcome == ConnectOutcome::kIdentityMismatch ? error_code::kUpstreamIdentity
                                                                 : nullptr;
    recordFailure(host, cluster, cs, idx, at,
                  outcome == ConnectOutcome::kTimeout && host.now() >= attempt_deadline
                      ? AttemptFailure::kTimeout
                      : AttemptFailure::kConnectFailure);
    co_return nullptr;
  }
  ++cs.cx_connect;
  co_return conn;
}

// Sends the rest of a request body to an HTTP/2 upstream while the response is relayed (an
// HTTP/2 downstream: Downstream::concurrentBody()). Ends when the body is complete, the client
// gave up (the upstream stream is reset) or the upstream stream ended.
Awaitable<void> pumpRequestBody(Downstream& downstream, Exchange& ex,
                                std::shared_ptr<h2::UpstreamStream> st, Duration idle) {
  for (;;) {
    const BodyPiece next = co_await downstream.readBody(ex);
    if (next.failed) {
      st->cancel();
      break;
    }
    ex.bytes_in += next.size;
    if (!co_await st->send(next.data, next.size, next.last,
                           std::chrono::steady_clock::now() + idle))
      break;
    if (next.last) break;
  }
  st->pumping = false;
  st->pump_done.notify();
}

// runAttempt() to an HTTP/2 or gRPC cluster, past the breaker and the endpoint's choice: a
// stream on a multiplexed connection of the endpoint with room for one (a new connection when
// none has), the request head and body, the final response head (see docs/http2.md).
Awaitable<void> runH2Attempt(SessionHost& host, Downstream& downstream, Exchange& ex,
                             const BodyPiece& first, Attempt& at, ClusterRuntime& cluster,
                             ClusterStats& cs, size_t idx,
                             std::chrono::steady_clock::time_point attempt_deadline,
                             std::chrono::steady_clock::time_point attempt_start) {
  const ClusterConfig& cc = *cluster.config;
  auto onFailure = [&](AttemptFailure f) { recordFailure(host, cluster, cs, idx, at, f); };
  // A live multiplexed connection is known to be open (its read loop would have seen the
  // end), so unlike an idle HTTP/1.1 one it is used even for a request that cannot be
  // replayed.
  auto& conns = cluster.h2_connections[idx];
  std::erase_if(conns, [](const auto& c) { return !c->usable(); });
  std::shared_ptr<h2::ClientConnection> conn;
  for (auto& c : conns)
    if (c->hasCapacity()) {
      conn = c;
      break;
    }
  if (conn) {
    at.reused = true;
    ++cs.cx_reused;
  } else {
    auto transport =
        co_await connectForAttempt(host, ex, at, cluster, cs, idx, attempt_deadline, true);
    if (!transport) co_return;
    conn = std::make_shared<h2::ClientConnection>(std::move(transport), h2::ClientLimits{},
                                                  ex.listener->idle_timeout);
    conn->start();
    conns.push_back(conn);
  }
  const bool tls = conn->transport().stream.isTls();
  ex.upstream_tls = tls;
  ex.upstream_identity = conn->transport().peer_identity;

  const bool no_body = first.last && first.size == 0;
  auto st = conn->open(h2RequestFields(ex, tls, cc.protocol == UpstreamProtocol::kGrpc), no_body);
  if (!st) {
    onFailure(AttemptFailure::kReset);
    co_return;
  }
  at.request_sent = true;
  // The client giving the request up resets the upstream stream (cancellation reaches the
  // server); the hook holds no reference, so it may outlive the stream.
  downstream.on_cancel = [w = std::weak_ptr<h2::UpstreamStream>(st)] {
    if (auto s = w.lock()) s->cancel();
  };
  if (downstream.cancelled()) {
    at.downstream_failed = true;
    co_return;
  }

  // The request body: the piece in hand, then the rest, inline (one thing at a time, as an
  // HTTP/1.1 downstream reads) or by a pump that runs while the response is relayed.
  bool sent = true;
  if (!no_body) sent = co_await st->send(first.data, first.size, first.last, attempt_deadline);
  if (sent && !first.last) {
    if (downstream.concurrentBody()) {
      st->pumping = true;
      downstream.pump = st;
      asio::co_spawn(host.io().get_executor(),
                     pumpRequestBody(downstream, ex, st, ex.listener->idle_timeout),
                     asio::detached);
    } else {
      for (bool more = true; more && sent;) {
        const BodyPiece next = co_await downstream.readBody(ex);
        if (next.failed) {
          st->cancel();
          at.malformed = next.malformed;
          at.downstream_failed = true;
          ex.status = 400;
          co_return;
        }
        ex.bytes_in += next.size;
        more = !next.last;
        sent = co_await st->send(next.data, next.size, next.last,
                                 host.now() + ex.listener->idle_timeout);
      }
    }
  }

  const bool head = co_await st->waitHead(attempt_deadline);
  if (downstream.cancelled()) {
    at.downstream_failed = true;
    co_return;
  }
  if (!head) {
    if (const char* reason = st->malformed()) ++host.stats().malformed_responses[reason];
    if (st->timedOut()) {
      st->cancel();
      onFailure(AttemptFailure::kTimeout);
    } else {
      // A stream the server refused untouched (REFUSED_STREAM, or past a GOAWAY's last
      // stream) is safe to send again: it counts as a reset on a reused connection.
      at.reused = at.reused || st->refused();
      onFailure(AttemptFailure::kReset);
    }
    co_return;
  }
  countResponse(host, cluster, cs, idx, at, st->status(), attempt_start);
  at.h2 = std::move(st);
}

}  // namespace

unsigned Attempt::status() const {
  if (h2) return h2->status();
  return has_head ? head.status : 0u;
}

void Attempt::consumeHead() {
  if (head_consumed) return;
  head_consumed = true;
  conn->buffer.consume(head.size);
  const auto& f = head.framing;
  body_left = f.body == h1::ResponseBody::kContentLength ? f.length : 0;
  body_done = f.body == h1::ResponseBody::kNone ||
              (f.body == h1::ResponseBody::kContentLength && f.length == 0);
}

bool reusableAfterBody(const Attempt& at) {
  if (!at.conn || at.framing.kind == BodyFraming::kCloseDelimited) return false;
  if (at.response)
    return at.head.keepAlive() && at.response->keep_alive() && at.response->is_done();
  return at.head.keepAlive() && at.body_done;
}

std::optional<ResponseBodyPiece> bufferedResponseBody(Attempt& at, char* buf, size_t size) {
  if (at.framing.kind == BodyFraming::kChunked || at.framing.kind == BodyFraming::kCloseDelimited)
    return std::nullopt;
  at.consumeHead();
  ResponseBodyPiece piece;
  if (!at.body_done) {
    // What readResponseBody() copies from the buffer before it reads; it reads nothing more
    // when that fills `buf` or ends the body.
    auto& buffered = at.conn->buffer;
    const auto want = static_cast<size_t>(std::min<uint64_t>(size, at.body_left));
    if (buffered.size() < want) return std::nullopt;
    std::memcpy(buf, buffered.data().data(), want);
    buffered.consume(want);
    at.body_left -= want;
    piece.size = want;
    if (at.body_left == 0) at.body_done = true;
  }
  piece.last = at.body_done;
  return piece;
}

Awaitable<ResponseBodyPiece> readResponseBody(Attempt& at, char* buf, size_t size, Duration idle) {
  ResponseBodyPiece piece;
  if (at.framing.kind == BodyFraming::kChunked) {
    // Chunked: Beast's decoder, as before the codec (its chunk and trailer rules, its limits),
    // set up by a head that states only the framing (the real head was read by the codec; a
    // chunked response is HTTP/1.1, and Connection: close in it is head.keepAlive()'s).
    if (!at.response) {
      at.consumeHead();
      at.response.emplace();
      at.response->body_limit(boost::none);
      at.response->header_limit(kMaxHeaderBytes);
      static constexpr std::string_view kChunkedHead =
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      beast::error_code ec;
      at.response->put(asio::buffer(kChunkedHead.data(), kChunkedHead.size()), ec);
      assert(!ec && at.response->is_header_done() && at.response->chunked());
    }
    auto* rp = &*at.response;
    rp->get().body().data = buf;
    rp->get().body().size = size;
    at.conn->stream.expires_after(idle);
    auto [ec, n] = co_await http::async_read(at.conn->stream, at.conn->buffer, *rp, kNoThrowOp);
    if (ec == http::error::need_buffer) ec = {};
    piece.ec = ec;
    piece.size = size - rp->get().body().size;
    piece.last = rp->is_done();
    co_return piece;
  }
  // Content-length or close-delimited: the bytes read past the head first, then reads into
  // `buf` until it is full or the body complete (a content-length body never reads past its
  // end, so a response that follows stays unread).
  at.consumeHead();
  const bool close_delimited = at.framing.kind == BodyFraming::kCloseDelimited;
  auto want = [&] {
    const size_t room = size - piece.size;
    return close_delimited ? room : static_cast<size_t>(std::min<uint64_t>(room, at.body_left));
  };
  auto& buffered = at.conn->buffer;
  if (buffered.size() && !at.body_done) {
    const size_t n = std::min(want(), buffered.size());
    std::memcpy(buf, buffered.data().data(), n);
    buffered.consume(n);
    piece.size = n;
    if (!close_delimited) at.body_left -= n;
  }
  if (!close_delimited && at.body_left == 0) at.body_done = true;
  if (!at.body_done && want() > 0) {
    at.conn->stream.expires_after(idle);
    while (!at.body_done && want() > 0) {
      auto [ec, n] = co_await at.conn->stream.async_read_some(
          asio::buffer(buf + piece.size, want()), kNoThrowOp);
      piece.size += n;
      if (!close_delimited) at.body_left -= n;
      if (ec == asio::error::eof && close_delimited) {
        at.body_done = true;  // the end of a close-delimited body
        break;
      }
      if (ec) {
        // Beast's partial_message: an end of stream before the length was read.
        piece.ec = ec == asio::error::eof ? beast::error_code(http::error::partial_message) : ec;
        co_return piece;
      }
      if (!close_delimited && at.body_left == 0) at.body_done = true;
    }
  }
  piece.last = at.body_done;
  co_return piece;
}

bool parserAgrees(const ResponseParser& p, const Framing& f) {
  switch (f.kind) {
    case BodyFraming::kNone:
      return p.is_done();
    case BodyFraming::kContentLength:
      return !p.chunked() && p.content_length() == f.length;
    case BodyFraming::kChunked:
      return p.chunked() && !p.content_length();
    case BodyFraming::kCloseDelimited:
      return !p.is_done() && !p.chunked() && !p.content_length();
    case BodyFraming::kRefuse:
      break;
  }
  return false;
}

Awaitable<ConnectOutcome> connectUpstream(SessionHost& host, UpstreamConnection& conn,
                                          const EndpointConfig& ep, const ClusterConfig& cc,
                                          std::chrono::steady_clock::time_point deadline,
                                          ClusterStats& cs, bool h2) {
  conn.address = ep.address();
  conn.pool_key = poolKey(ep, cc);
  beast::error_code ec;
  const tcp::endpoint target(asio::ip::make_address(ep.host, ec), ep.port);
  if (ec) co_return ConnectOutcome::kConnectFailed;
  conn.stream.expires_at(deadline);
  auto [cec] = co_await conn.stream.async_connect(target, kNoThrowOp);
  if (cec)
    co_return cec == beast::error::timeout ? ConnectOutcome::kTimeout
                                           : ConnectOutcome::kConnectFailed;
  conn.stream.socket().set_option(tcp::no_delay(true), ec);
  if (!cc.tls.mutual) co_return ConnectOutcome::kOk;

  auto contexts = host.tls();
  if (!contexts) {
    ++cs.tls_failures;
    spdlog::debug("cluster {}: MUTUAL_TLS but this proxy has no identity yet", cc.name);
    co_return ConnectOutcome::kTlsFailed;
  }
  conn.stream.startTls(contexts->client());
  if (h2) {
    // The HTTP/2 the connection will speak is offered by ALPN too (a peer proxy serves HTTP/2
    // by the preface either way).
    static constexpr unsigned char kH2[] = {2, 'h', '2'};
    SSL_set_alpn_protos(conn.stream.ssl(), kH2, sizeof kH2);
  }
  host.tlsSessions().prepare(conn.stream.ssl(), conn.address, contexts->generation());
  auto [hec] = co_await conn.stream.async_handshake(asio::ssl::stream_base::client, kNoThrowOp);
  if (hec) {
    ++cs.tls_failures;
    spdlog::debug("cluster {}: TLS handshake with {} failed: {}", cc.name, conn.address,
                  hec.message());
    co_return hec == beast::error::timeout ? ConnectOutcome::kTimeout : ConnectOutcome::kTlsFailed;
  }
  const auto id = tls::spiffeIdOf(SSL_get0_peer_certificate(conn.stream.ssl()));
  const auto check =
      tls::checkServerIdentity(id, trustDomain(host, *contexts), cc.tls.expected_identities);
  if (check != tls::PeerIdentityCheck::kOk) {
    ++cs.tls_identity_mismatch;
    spdlog::warn("cluster {}: endpoint {} presented {} ({})", cc.name, conn.address,
                 id ? *id : std::string("no SPIFFE id"), tls::toString(check));
    co_return ConnectOutcome::kIdentityMismatch;
  }
  conn.peer_identity = *id;
  if (SSL_session_reused(conn.stream.ssl()))
    ++cs.tls_resumed;
  else
    ++cs.tls_handshakes;
  co_return ConnectOutcome::kOk;
}

// GCC 12 reports -Wmismatched-new-delete at the end of this coroutine since its operations are
// co_awaited as deferred operations: a false positive about the coroutine frame, which Asio's
// promise allocates and frees with its own operator new and delete (awaitable_frame_base).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
Awaitable<void> runAttempt(SessionHost& host, Downstream& downstream, WireFrames& wire,
                           Exchange& ex, const BodyPiece& first, bool fresh_only, Attempt& at) {
  assert(ex.destination && ex.route && "an attempt needs a destination");
  const RequestHeader& head = ex.head;
  auto cluster = host.cluster(*ex.config, ex.destination->cluster_slot, ex.destination->cluster);
  at.cluster = cluster;
  if (!cluster) {
    (void)host.stats().clusters[ex.destination->cluster];  // listed, with no requests
    at.local_status = 503;
    at.local_code = error_code::kNoHealthy;
    co_return;
  }
  auto& cs = cluster->statsIn(host.stats());
  const ClusterConfig& cc = *cluster->config;
  // When the attempt began: its latency is measured from here, and the outlier detector's
  // ejections are checked at it.
  const auto attempt_start = host.now();
  if (!pickEndpoint(host, ex, *cluster, cs, at, attempt_start)) co_return;
  const size_t idx = static_cast<size_t>(at.endpoint);
  assert(idx < cc.endpoints.size() && idx < cluster->pool_keys.size());
  const EndpointConfig& ep = cc.endpoints[idx];
  ex.destination_version = ep.version.empty() ? cc.version : ep.version;

  // Undone when the attempt's scope ends.
  const ActiveRequest active(cluster, idx);

  auto attempt_deadline = ex.deadline;
  if (ex.route->retry.per_try_timeout.count() > 0)
    attempt_deadline = std::min(attempt_deadline, attempt_start + ex.route->retry.per_try_timeout);
  if (attempt_deadline == Exchange::TimePoint::max())
    attempt_deadline = attempt_start + ex.listener->idle_timeout;

  // An HTTP/2 or gRPC cluster, or the sidecar hop as HTTP/2 for a request it can carry
  // (ClusterConfig::streamsRequest(); docs/http2.md, "The sidecar hop as HTTP/2").
  if (cc.streamsRequest(ex.upgrade)) {
    co_await runH2Attempt(host, downstream, ex, first, at, *cluster, cs, idx, attempt_deadline,
                          attempt_start);
    co_return;
  }

  auto onFailure = [&](AttemptFailure f) { recordFailure(host, *cluster, cs, idx, at, f); };

  if (!fresh_only) {
    at.conn = host.pool().takeUsable(cluster->poolEntry(host.pool(), idx), cc.tls, attempt_start);
    if (at.conn) {
      at.reused = true;
      ++cs.cx_reused;
    }
  }
  if (!at.conn) {
    // The endpoint's connection limit: an HTTP/2 client's stream may wait for a connection
    // another exchange releases (proxy/upstream_queue.h).
    SlotHold slot;
    if (!co_await admitUpstreamConnection(host, downstream, ex, *cluster, cs, idx,
                                          downstream.concurrentBody() && !fresh_only,
                                          attempt_deadline, at, slot))
      co_return;
    if (!at.conn) {
      at.conn =
          co_await connectForAttempt(host, ex, at, *cluster, cs, idx, attempt_deadline, false);
      if (!at.conn) co_return;
      slot.attachTo(*at.conn);
    }
  }
  ex.upstream_tls = at.conn->stream.isTls();
  ex.upstream_identity = at.conn->peer_identity;

  // Request head and body. The head is serialized into one buffer and leaves together with
  // the first piece of the body: one send, one iovec for a small request.
  auto& stream = at.conn->stream;
  const bool chunked = ex.framing.kind == BodyFraming::kChunked;
  wire.clear();
  if (!ex.wire_head.empty())
    wire.head().append(ex.wire_head);
  else
    appendHead(wire.head(), head);
  const char* piece = first.size ? first.data : nullptr;
  size_t piece_size = first.size;
  bool more = !first.last;
  for (;;) {
    stream.expires_at(at.request_sent ? host.now() + ex.listener->idle_timeout : attempt_deadline);
    beast::error_code ec;
    if (wire.frame(piece, piece_size, chunked, !more) > 0) {
      if (wire.sendNow(stream, ec))  // the socket took part of it
        std::tie(ec, std::ignore) = co_await asio::async_write(stream, wire.buffers(), kNoThrowOp);
    }
    wire.clear();
    if (ec) {
      onFailure(ec == beast::error::timeout ? AttemptFailure::kTimeout : AttemptFailure::kReset);
      co_return;
    }
    at.request_sent = true;
    if (!more) break;
    // The client went away, or sent a malformed chunk or trailer mid-body: the upstream
    // connection is dropped (the last chunk is not sent yet) so it never sees a complete
    // request, and a malformed request is answered by the caller.
    const BodyPiece next = co_await downstream.readBody(ex);
    if (next.failed) {
      at.malformed = next.malformed;
      at.downstream_failed = true;
      at.conn.reset();
      ex.status = 400;
      co_return;
    }
    ex.bytes_in += next.size;
    piece = next.size ? next.data : nullptr;
    piece_size = next.size;
    more = !next.last;
  }

  // Response head, read by the codec in place over the connection's buffer (the views in
  // at.head point into it); interim 1xx responses other than 101 are passed on (HTTP/1.1
  // clients only).
  h1::ResponseParser parser;
  auto& buffer = at.conn->buffer;
  bool interim_seen = false;  // an interim head of this attempt was passed on or dropped
  for (;;) {
    parser.reset();
    stream.expires_at(attempt_deadline);
    h1::Result r;
    for (;;) {
      // Nothing buffered yet (the usual case right after the request went out): read first.
      if (buffer.size() > 0) {
        r = parser.parse(bufferView(buffer), at.head, ex.is_head);
        if (r.status != h1::Status::kNeedMore) break;
      }
      const size_t room = beast::read_size(buffer, 65536);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(room), kNoThrowOp);
      buffer.commit(n);
      if (ec) {
        // An end of stream before any byte of the response on a pooled connection is the
        // connection the upstream had closed after its last response (the FIN inside
        // UpstreamPool::kTrustRecentlyIdle, so no probe saw it): a reset on a reused
        // connection, sent again once on a fresh one (RetryState::next()), counted as the
        // cluster's reset, as ECONNRESET is. Otherwise, as Beast's header read: an end of
        // stream inside the head, after an interim head or on a fresh connection is a head
        // the upstream cut short (bad_response); other errors are the transport's.
        if (ec == asio::error::eof && !(at.reused && buffer.size() == 0 && !interim_seen)) {
          ++host.stats().malformed_responses["bad_response"];
          at.reused = false;
        }
        at.conn.reset();
        onFailure(ec == beast::error::timeout ? AttemptFailure::kTimeout : AttemptFailure::kReset);
        co_return;
      }
    }
    if (r.status == h1::Status::kError) {
      // A malformed head (Beast's rules, the framing decision): a failed attempt (502 UR), and
      // its connection is not reused.
      ++host.stats().malformed_responses[r.reason];
      at.conn.reset();
      at.reused = false;
      onFailure(AttemptFailure::kReset);
      co_return;
    }
    if (at.head.interim()) {
      if (at.head.status != 100 && ex.version == 11)
        co_await downstream.sendInterim(ex, interimHeader(at.head));
      buffer.consume(at.head.size);
      interim_seen = true;
      continue;
    }
    break;
  }
  acceptResponseHead(host, *cluster, cs, idx, at, attempt_start);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace meshdeck::proxy
