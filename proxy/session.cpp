#include "proxy/session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <cerrno>
#include <tuple>

#include "proxy/http/framing.h"
#include "proxy/http/headers.h"
#include "proxy/policy/authorization.h"
#include "proxy/policy/router.h"
#include "proxy/tls/spiffe.h"
#include "proxy/worker.h"

namespace meshdeck::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Counts one authorization decision: by the config's dense slot table (compileConfig() builds
// one), or by rule id for a hand-built config without it. Shared by the worker's totals and
// the telemetry edge.
void countDecision(const SecurityConfig& security, const AuthorizationDecision& decision,
                   AuthzSlotCounters& slots, AuthzCounterMap& by_id) {
  if (const auto& table = security.authorization_slots) {
    if (slots.table != table) slots.bind(table, by_id);
    countAuthorization(decision, slots.counts);
  } else {
    countAuthorization(security.authorization, decision, by_id);
  }
}

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable_t<Executor>{});
constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxRequestLine = 16 * 1024;
constexpr size_t kMaxHeaderCount = 100;
constexpr std::string_view kSourceHeader = "x-meshdeck-source";
constexpr std::string_view kErrorHeader = "x-meshdeck-error";

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether Beast's parser reads the body as `f` says: the session reads by the decision
// through Beast, so a message on which they could differ is refused instead.
template <bool isRequest>
bool parserAgrees(const http::basic_parser<isRequest>& p, const Framing& f) {
  switch (f.kind) {
    case BodyFraming::kNone:
      return p.is_done();
    case BodyFraming::kContentLength:
      return !p.chunked() && p.content_length() == f.length;
    case BodyFraming::kChunked:
      return p.chunked() && !p.content_length();
    case BodyFraming::kCloseDelimited:
      return !isRequest && !p.is_done() && !p.chunked() && !p.content_length();
    case BodyFraming::kRefuse:
      break;
  }
  return false;
}

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

// The idle-pool key of connections to endpoint `ep` of cluster `cc` (TLS ones apart).
std::string poolKey(const EndpointConfig& ep, const ClusterConfig& cc) {
  return cc.tls.mutual ? ep.address() + "|tls" : ep.address();
}

// A connection back in the pool for less than this is reused without asking the kernel
// whether the peer closed it. Servers close idle keep-alive connections after seconds, not
// milliseconds, and a connection that did die in between fails its attempt as a reset on a
// reused connection, which is retried once on a fresh connection (see forward()). Under load
// connections come back within microseconds, so the hot path saves one recv() per request.
constexpr auto kTrustRecentlyIdle = std::chrono::milliseconds(200);

// Whether a pooled connection still looks usable: no EOF and no unexpected bytes waiting
// (for TLS, neither input already received by the stream nor records on the socket, which
// would be a close_notify or an alert at this point).
bool stillOpen(UpstreamConnection& c) {
  if (c.buffer.size() > 0) return false;
  if (c.stream.tlsInputPending()) return false;
  if (Clock::now() - c.idle_since < kTrustRecentlyIdle) return true;
  char byte;
  const auto r = ::recv(c.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// The trust domain peers must be in: the configured one, else that of our own certificate.
const std::string& trustDomain(const Worker& w, const tls::TlsContexts& contexts) {
  const auto& config = w.config();
  if (config && !config->security.trust_domain.empty()) return config->security.trust_domain;
  return contexts.trustDomain();
}

enum class ConnectOutcome { kOk, kConnectFailed, kTimeout, kTlsFailed, kIdentityMismatch };

// Opens `conn` to endpoint `ep` of cluster `cc` before `deadline`. For a MUTUAL_TLS cluster it
// then does the TLS 1.3 handshake with the worker's current identity (offering the last
// session of that endpoint, so most handshakes are resumptions) and checks the server's SPIFFE
// id against the trust domain and the cluster's expected identities.
Awaitable<ConnectOutcome> connectUpstream(Worker& w, UpstreamConnection& conn,
                                          const EndpointConfig& ep, const ClusterConfig& cc,
                                          Clock::time_point deadline, ClusterStats& cs) {
  conn.address = ep.address();
  conn.pool_key = poolKey(ep, cc);
  beast::error_code ec;
  const tcp::endpoint target(asio::ip::make_address(ep.host, ec), ep.port);
  if (ec) co_return ConnectOutcome::kConnectFailed;
  conn.stream.expires_at(deadline);
  auto [cec] = co_await conn.stream.tcp().async_connect(target, kNoThrow);
  if (cec)
    co_return cec == beast::error::timeout ? ConnectOutcome::kTimeout
                                           : ConnectOutcome::kConnectFailed;
  conn.stream.socket().set_option(tcp::no_delay(true), ec);
  if (!cc.tls.mutual) co_return ConnectOutcome::kOk;

  auto contexts = w.tls();
  if (!contexts) {
    ++cs.tls_failures;
    spdlog::debug("cluster {}: MUTUAL_TLS but this proxy has no identity yet", cc.name);
    co_return ConnectOutcome::kTlsFailed;
  }
  conn.stream.startTls(contexts->client());
  w.tlsSessions().prepare(conn.stream.ssl(), conn.address, contexts->generation());
  auto [hec] = co_await conn.stream.async_handshake(asio::ssl::stream_base::client, kNoThrow);
  if (hec) {
    ++cs.tls_failures;
    spdlog::debug("cluster {}: TLS handshake with {} failed: {}", cc.name, conn.address,
                  hec.message());
    co_return hec == beast::error::timeout ? ConnectOutcome::kTimeout : ConnectOutcome::kTlsFailed;
  }
  const auto id = tls::spiffeIdOf(SSL_get0_peer_certificate(conn.stream.ssl()));
  const auto check =
      tls::checkServerIdentity(id, trustDomain(w, *contexts), cc.tls.expected_identities);
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

}  // namespace

// Everything known about the request being handled.
struct Session::Exchange {
  ConfigPtr config;
  const ListenerConfig* listener = nullptr;
  const VirtualHostConfig* vhost = nullptr;
  const RouteConfig* route = nullptr;
  std::shared_ptr<ClusterRuntime> cluster;
  std::string cluster_name;
  std::string destination_version;  // version of the endpoint that answered
  Clock::time_point start;
  Clock::time_point deadline = Clock::time_point::max();
  bool is_head = false;
  unsigned version = 11;
  unsigned status = 0;
  const char* error_code = nullptr;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint32_t retries = 0;
  bool timeout = false, circuit_open = false, rate_limited = false, fault = false, denied = false;
  std::string source_service, source_version;
  std::optional<AuthorizationDecision> authz;  // set when inbound authorization ran
  bool upgrade = false;
  Framing framing;  // of the request: how its body is read and framed upstream
  // Set when a connection to the upstream carried the request: whether it was mutual TLS.
  std::optional<bool> upstream_tls;
  RequestHeader head;  // the request head as it goes upstream
};

// What admitRequest() / prepareUpstreamRequest() decided about a request.
struct Session::Verdict {
  enum Kind { kAdmit, kRefuse, kLocal };
  Kind kind = kAdmit;
  unsigned version = 11;          // kRefuse: HTTP version of the refusal
  unsigned status = 0;            // kRefuse, kLocal
  const char* code = nullptr;     // kRefuse: malformed reason; kLocal: error code
  std::string detail;             // kLocal
  std::optional<Duration> delay;  // kAdmit: fault delay, then prepareUpstreamRequest()
  bool expect_continue = false;   // kAdmit: answer 100 Continue before reading the body
};

// The state of one upstream attempt.
struct Session::Attempt {
  AttemptFailure failure = AttemptFailure::kNone;
  const char* local_code = nullptr;  // set when the attempt ended in a local reply (UH, UO)
  unsigned local_status = 0;
  std::unique_ptr<UpstreamConnection> conn;
  std::optional<ResponseParser> response;
  Framing framing;  // of the response head
  int endpoint = -1;
  bool reused = false;
  bool request_sent = false;
  bool downstream_failed = false;
  const char* malformed = nullptr;  // downstream_failed by a malformed body: the reason
  std::shared_ptr<ClusterRuntime> cluster;
  const char* tls_code = nullptr;  // TLS / UI when the connect failure was about TLS
};

Session::Session(Worker& worker, Socket socket, std::shared_ptr<ListenerShared> listener)
    : worker_(worker),
      down_(tls::MeshStream::TcpStream(std::move(socket))),
      listener_(std::move(listener)) {
  beast::error_code ec;
  const auto ep = down_.socket().remote_endpoint(ec);
  if (!ec) peer_ip_ = ep.address().to_string();
  buffer_.max_size(kMaxHeaderBytes + 64 * 1024);
  worker_.registerSession(this);
  worker_.active_sessions.fetch_add(1, std::memory_order_relaxed);
  auto& ls = worker_.stats().listeners[listener_->name];
  ++ls.cx_total;
  ++ls.cx_active;
}

Session::~Session() {
  // An exchange ended by an exception (or a frame destroyed at shutdown) still has its loan.
  if (body_) worker_.returnRelayBuffer(std::move(body_));
  worker_.unregisterSession(this);
  worker_.active_sessions.fetch_sub(1, std::memory_order_relaxed);
  listener_->connections.fetch_sub(1, std::memory_order_relaxed);
  --worker_.stats().listeners[listener_->name].cx_active;
}

void Session::start() {
  asio::co_spawn(worker_.io().get_executor(), run(shared_from_this()), asio::detached);
}

void Session::closeIfIdle() {
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
    refreshListenerConfig(worker_.config());
    bool first = true;
    if (!co_await establishTransport()) closed_ = true;
    while (!closed_) {
      refreshListenerConfig(worker_.config());
      idle_ = true;
      if (worker_.draining() && !first && buffer_.size() == 0) break;
      size_t head_size = 0;
      const HeadResult head = co_await readHead(listener_config_, first, &head_size);
      idle_ = false;
      first = false;
      auto& ls = worker_.stats().listeners[listener_->name];
      if (head == HeadResult::kClosed) break;
      if (head == HeadResult::kIdleTimeout) {
        ++ls.idle_timeouts;
        break;
      }
      if (head == HeadResult::kHeaderTimeout) {
        ++ls.header_timeouts;
        // Beast's tcp_stream has closed the socket on timeout: there is no one to send a 408 to.
        ++worker_.stats().malformed["header_timeout"];
        break;
      }
      if (head == HeadResult::kTooLarge) {
        co_await refuseMalformed(11, 431, "header_too_large");
        break;
      }
      if (head == HeadResult::kObsFold) {
        co_await refuseMalformed(11, 400, "obs_fold");
        break;
      }
      if (head == HeadResult::kBadRequestLine) {
        co_await refuseMalformed(11, 400, "bad_request_line");
        break;
      }
      RequestParser parser;
      parser.header_limit(kMaxHeaderBytes);
      parser.body_limit(boost::none);
      beast::error_code ec;
      size_t used = 0;
      while (!ec && !parser.is_header_done() && used < head_size) {
        const auto* data = static_cast<const char*>(buffer_.data().data());
        used += parser.put(asio::buffer(data + used, head_size - used), ec);
      }
      if (ec || !parser.is_header_done()) {
        const bool too_large = ec == http::error::header_limit;
        const char* reason = "bad_request";
        if (ec == http::error::bad_content_length)
          reason = "bad_content_length";
        else if (ec == http::error::multiple_content_length)
          reason = "multiple_content_length";
        else if (ec == http::error::bad_transfer_encoding)
          reason = "bad_transfer_encoding";
        else if (ec == http::error::bad_field)
          reason = "bad_header_name";
        else if (ec == http::error::bad_value)
          reason = "bad_header_value";
        else if (ec == http::error::bad_method)
          reason = "bad_method";
        else if (ec == http::error::bad_target)
          reason = "bad_target";
        else if (ec == http::error::bad_version)
          reason = "bad_version";
        else if (too_large)
          reason = "header_too_large";
        unsigned status = too_large ? 431 : ec == http::error::bad_version ? 505 : 400;
        if (ec == http::error::bad_content_length || ec == http::error::multiple_content_length ||
            ec == http::error::bad_transfer_encoding) {
          // Named by the framing decision, so that a head is refused for the same reason
          // whichever parser met the problem first.
          RequestHeader raw;
          Framing refusal;
          const auto* data = static_cast<const char*>(buffer_.data().data());
          if (parseRequestHead({data, head_size}, raw, refusal) > 0)
            refusal = decideRequestFraming(raw);
          if (refusal.refused()) {
            status = refusal.status;
            reason = refusal.reason;
          }
        }
        co_await refuseMalformed(11, status, reason);
        break;
      }
      buffer_.consume(used);
      // The config in force when the request arrived, not when the connection began waiting
      // for it: a kept-alive connection may have waited through a push.
      refreshListenerConfig(worker_.config());
      Exchange ex;
      ex.config = worker_.config();
      ex.listener = &listener_config_;
      ex.start = Clock::now();
      // The relay buffer is lent for this exchange only: a kept-alive connection waiting for
      // its next request holds none.
      body_ = worker_.takeRelayBuffer();
      const bool keep_alive = co_await handleRequest(parser, ex);
      finish(ex);
      worker_.returnRelayBuffer(std::move(body_));
      if (!keep_alive || closed_) break;
    }
  } catch (const std::exception& e) {
    spdlog::warn("session on listener {} ended by exception: {}", listener_->name, e.what());
  }
  beast::error_code ec;
  down_.socket().shutdown(tcp::socket::shutdown_send, ec);
  down_.socket().close(ec);
}

void Session::refreshListenerConfig(const ConfigPtr& config) {
  // Looked up again only when the worker's config changed; the config is held, so its address
  // cannot be reused by a later one.
  if (!config || config == listener_config_source_) return;
  listener_config_source_ = config;
  for (const auto& l : config->listeners)
    if (l.name == listener_->name) listener_config_ = l;
}

Awaitable<bool> Session::establishTransport() {
  const TlsMode mode = listener_config_.tls_mode;
  if (mode == TlsMode::kPlaintext) co_return true;
  auto& ls = worker_.stats().listeners[listener_->name];

  // Wait for the first byte (at most the header timeout) and peek at it.
  unsigned char first = 0;
  for (;;) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(worker_.io());
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

  auto contexts = worker_.tls();
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
  const auto check = tls::checkClientIdentity(id, trustDomain(worker_, *contexts));
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

Awaitable<Session::HeadResult> Session::readHead(const ListenerConfig& listener, bool first,
                                                 size_t* head_size) {
  Clock::time_point header_deadline = Clock::time_point::max();
  size_t scanned = 0;
  for (;;) {
    const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    if (!data.empty() && header_deadline == Clock::time_point::max())
      header_deadline = Clock::now() + listener.header_timeout;
    const size_t from = scanned > 3 ? scanned - 3 : 0;
    const auto end = findHeaderEnd(data.substr(from));
    if (end != std::string_view::npos) {
      *head_size = from + end;
      switch (checkRawHeader(data.substr(0, *head_size), kMaxRequestLine)) {
        case RawHeaderProblem::kNone:
          co_return HeadResult::kOk;
        case RawHeaderProblem::kObsFold:
          co_return HeadResult::kObsFold;
        case RawHeaderProblem::kRequestLineTooLong:
          co_return HeadResult::kTooLarge;
      }
    }
    scanned = data.size();
    if (!isPlausibleRequestPrefix(data.substr(0, std::min(data.size(), kMaxRequestLine + 2))))
      co_return HeadResult::kBadRequestLine;
    if (data.size() >= kMaxHeaderBytes) co_return HeadResult::kTooLarge;
    if (data.size() > kMaxRequestLine && data.find("\r\n") == std::string_view::npos)
      co_return HeadResult::kTooLarge;
    if (data.empty())
      down_.expires_after(first ? listener.header_timeout : listener.idle_timeout);
    else
      down_.expires_at(header_deadline);
    // A connection starts with a small buffer (heads are usually well under 4 KiB); it grows
    // for larger heads and request bodies.
    auto [ec, n] = co_await down_.async_read_some(
        buffer_.prepare(std::max<size_t>(4096, buffer_.capacity() - buffer_.size())), kNoThrow);
    buffer_.commit(n);
    if (ec == beast::error::timeout)
      co_return buffer_.size() == 0 && !first ? HeadResult::kIdleTimeout
                                              : HeadResult::kHeaderTimeout;
    if (ec) co_return HeadResult::kClosed;
  }
}

Awaitable<bool> Session::refuseMalformed(unsigned version, unsigned status, const char* reason,
                                         Exchange* ex) {
  ++worker_.stats().malformed[reason];
  if (ex) {
    ex->status = status;
    ex->error_code = error_code::kBadRequest;
  } else {
    ++worker_.stats().errors[error_code::kBadRequest];
    auto& ls = worker_.stats().listeners[listener_->name];
    ++ls.rq_total;
    ++ls.responses[statusClass(status)];
  }
  http::response<http::string_body> res{static_cast<http::status>(status), version};
  res.set(kErrorHeader, error_code::kBadRequest);
  res.set(http::field::content_type, "text/plain");
  res.body() = fmt::format("{} {}\n", status, reason);
  res.prepare_payload();
  res.keep_alive(false);
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
  keep_alive = keep_alive && !worker_.draining();
  res.keep_alive(keep_alive);
  down_.expires_after(ex.listener->idle_timeout);
  auto [ec, n] = co_await http::async_write(down_, res, kNoThrow);
  ex.bytes_out += res.body().size();
  co_return keep_alive && !ec;
}

Awaitable<bool> Session::handleRequest(RequestParser& parser, Exchange& ex) {
  // The checks, routing and the upstream head are built by plain functions; only the waits
  // are here, which keeps this coroutine's frame small (frames over 1 KiB are never recycled by
  // asio and cost a large-bin malloc each).
  const bool body_pending = !parser.is_done();
  Verdict verdict = admitRequest(parser, ex);
  if (verdict.kind == Verdict::kAdmit && verdict.delay) {
    co_await sleepFor(*verdict.delay);
    verdict = prepareUpstreamRequest(parser, ex);
  }
  switch (verdict.kind) {
    case Verdict::kRefuse:
      co_return co_await refuseMalformed(verdict.version, verdict.status, verdict.code, &ex);
    case Verdict::kLocal:
      co_return co_await sendLocal(ex, verdict.status, verdict.code, !body_pending,
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
  co_return co_await forward(parser, ex);
}

Awaitable<void> Session::sleepFor(Duration d) {
  asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor> timer(worker_.io());
  timer.expires_after(d);
  co_await timer.async_wait(kNoThrow);
}

Session::Verdict Session::admitRequest(RequestParser& parser, Exchange& ex) {
  auto refuse = [](unsigned version, unsigned status, const char* reason) {
    Verdict v;
    v.kind = Verdict::kRefuse;
    v.version = version;
    v.status = status;
    v.code = reason;
    return v;
  };
  auto local = [](unsigned status, const char* code, std::string detail = {}) {
    Verdict v;
    v.kind = Verdict::kLocal;
    v.status = status;
    v.code = code;
    v.detail = std::move(detail);
    return v;
  };
  auto& req = parser.get();
  ex.version = req.version() == 10 ? 10 : 11;
  ex.is_head = req.method() == http::verb::head;
  const size_t header_count = static_cast<size_t>(std::distance(req.begin(), req.end()));
  if (header_count > kMaxHeaderCount) return refuse(ex.version, 431, "too_many_headers");
  if (req.version() != 10 && req.version() != 11) return refuse(11, 505, "bad_version");
  // Framing and Host: one decision, by which the body is read and the upstream head framed.
  ex.framing = decideRequestFraming(req);
  if (ex.framing.refused()) return refuse(ex.version, ex.framing.status, ex.framing.reason);
  if (!parserAgrees(parser, ex.framing)) return refuse(ex.version, 400, "framing_mismatch");
  if (req.method() == http::verb::unknown || req.method() == http::verb::connect)
    return refuse(ex.version, 501, "unsupported_method");

  // The authority comes from an absolute-form target (HTTP-proxy mode) or the Host header.
  std::string authority;
  const std::string_view target = sv(req.target());
  if (target.size() > 7 && beast::iequals(target.substr(0, 7), "http://")) {
    auto url = boost::urls::parse_absolute_uri(target);
    // The authority replaces Host (RFC 9112 §3.2.2); userinfo in it is an error (RFC 9110
    // §4.2.4).
    if (!url || url->encoded_host().empty() || url->has_userinfo() ||
        !isValidHost(sv(url->encoded_host_and_port()), false))
      return refuse(ex.version, 400, "bad_target");
    authority = lower(sv(url->encoded_host_and_port()));
    std::string origin(sv(url->encoded_path()));
    if (origin.empty()) origin = "/";
    if (url->has_query()) origin += "?" + std::string(sv(url->encoded_query()));
    req.target(origin);
    req.set(http::field::host, authority);
  } else if (!target.empty() &&
             (target[0] == '/' || (target == "*" && req.method() == http::verb::options))) {
    // Presence and syntax of Host were checked with the framing.
    auto host = req.find(http::field::host);
    if (host != req.end()) authority = lower(sv(host->value()));
  } else {
    return refuse(ex.version, 400, "bad_target");
  }

  const bool outbound = ex.listener->direction == Direction::kOutbound;

  // Source of the request for telemetry: our own workload on the way out, the peer's outbound
  // proxy's label on the way in. The label is only trusted on inbound listeners.
  if (!outbound) {
    auto src = req.find(kSourceHeader);
    if (src != req.end()) {
      const std::string_view v = sv(src->value());
      const auto slash = v.find('/');
      ex.source_service = std::string(v.substr(0, slash));
      if (slash != std::string_view::npos) ex.source_version = std::string(v.substr(slash + 1));
    }
  } else if (ex.config) {
    ex.source_service = ex.config->workload.service;
    ex.source_version = ex.config->workload.version;
  }
  req.erase(kSourceHeader);

  if (!ex.config) return local(503, error_code::kNoRoute, "no configuration yet");
  auto table = ex.config->route_tables.find(ex.listener->route_table);
  if (table == ex.config->route_tables.end()) return local(404, error_code::kNoRoute);
  ex.vhost = matchVirtualHost(table->second, authority);
  if (!ex.vhost) return local(404, error_code::kNoRoute, "no virtual host");
  std::string_view path = sv(req.target());
  path = path.substr(0, path.find('?'));
  ex.route = matchRoute(*ex.vhost, sv(req.method_string()), path, req.base());
  if (!ex.route) return local(404, error_code::kNoRoute, "no route");

  // Authorization (inbound only). The source identity is the verified SPIFFE id of an mTLS
  // peer; plain peers have none (a label header proves nothing).
  const auto& security = ex.config->security;
  if (!outbound && (!security.authorization.empty() || security.default_deny)) {
    const AuthorizationRequest request{peer_identity_, sv(req.method_string()), path, &req.base()};
    auto& decision =
        ex.authz.emplace(authorize(security.authorization, security.default_deny, request));
    // Counted by the rule's dense slot (the telemetry edge's count is added in finish(), where
    // the edge is looked up anyway); a config without slot table is counted by id.
    auto& stats = worker_.stats();
    countDecision(security, decision, stats.authz_slots, stats.authz);
    logDryRunDenials(security.authorization, decision, request);
    if (!decision.allowed) {
      ex.denied = true;
      const auto rule = authorizationRuleId(security.authorization, decision.rule);
      return local(403, error_code::kDenied,
                   rule.policy.empty() ? std::string("no rule allows the request")
                                       : fmt::format("policy {} rule {}", rule.policy, rule.rule));
    }
  }

  const auto now = Clock::now();
  for (const RateLimitConfig* limit : {&ex.vhost->rate_limit, &ex.route->rate_limit}) {
    if (limit->enabled() && !worker_.bucket(limit).tryTake(now)) {
      ex.rate_limited = true;
      return local(429, error_code::kRateLimited);
    }
  }

  const FaultConfig& fault = ex.route->fault;
  if (fault.enabled() && selectPercent(fault.delay_percent, worker_.rng()())) {
    ex.fault = true;
    Verdict delayed;
    delayed.delay = fault.delay;  // handleRequest() waits, then prepareUpstreamRequest()
    return delayed;
  }
  return prepareUpstreamRequest(parser, ex);
}

Session::Verdict Session::prepareUpstreamRequest(RequestParser& parser, Exchange& ex) {
  auto& req = parser.get();
  const FaultConfig& fault = ex.route->fault;
  if (fault.enabled() && selectPercent(fault.abort_percent, worker_.rng()())) {
    ex.fault = true;
    Verdict v;
    v.kind = Verdict::kLocal;
    v.status = fault.abort_status;
    v.code = error_code::kFault;
    return v;
  }

  const auto& dest = pickDestination(*ex.route, worker_.rng()());
  ex.cluster_name = dest.cluster;
  if (ex.route->timeout.count() > 0) ex.deadline = ex.start + ex.route->timeout;

  // The request head as it goes upstream.
  ex.upgrade = parser.upgrade();
  Verdict v;
  v.expect_continue =
      req.version() == 11 && beast::iequals(sv(req[http::field::expect]), "100-continue");
  // Moved, not copied: the request's own header is not looked at again (the parser keeps
  // its framing flags; trailers of a chunked body go into the emptied fields).
  auto& head = ex.head;
  head = std::move(req.base());
  // An HTTP/2 upgrade is never passed on (the backend would switch protocols under us).
  if (ex.framing.h2c && !removeH2c(head)) ex.upgrade = false;
  removeHopByHopHeaders(head, ex.upgrade);
  head.erase(http::field::expect);
  head.version(11);
  // A header known to be absent is inserted rather than set (set() looks it up again to erase).
  if (!peer_ip_.empty()) {
    auto xff = head.find("x-forwarded-for");
    if (xff == head.end())
      head.insert("x-forwarded-for", peer_ip_);
    else
      head.set("x-forwarded-for", std::string(sv(xff->value())) + ", " + peer_ip_);
  }
  if (!head.count("x-forwarded-proto")) head.insert("x-forwarded-proto", mtls_ ? "https" : "http");
  if (!head.count("x-request-id")) head.insert("x-request-id", makeRequestId(worker_.rng()).view());
  const auto incoming_trace = head.find("traceparent");
  const bool has_trace = incoming_trace != head.end();
  const auto trace =
      makeTraceparent(has_trace ? sv(incoming_trace->value()) : std::string_view{}, worker_.rng());
  if (has_trace)
    head.set("traceparent", trace.view());
  else
    head.insert("traceparent", trace.view());
  const auto& edits = ex.route->request_headers;
  for (const auto& name : edits.remove) head.erase(name);
  for (const auto& [k, v] : edits.set) head.set(k, v);
  for (const auto& [k, v] : edits.add) head.insert(k, v);
  if (ex.listener->direction == Direction::kOutbound && !ex.source_service.empty())
    head.set(kSourceHeader, ex.source_service + "/" + ex.source_version);
  // Last: the forwarded head states exactly the framing the body is read and sent with,
  // whatever the client or the route's edits wrote.
  if (ex.framing.rewrite || !edits.set.empty() || !edits.add.empty() || !edits.remove.empty())
    writeFramingHeaders(head, ex.framing.declared, ex.framing.length);
  return v;
}

Awaitable<bool> Session::forward(RequestParser& parser, Exchange& ex) {
  // Read the first piece of the body before anything goes upstream: a malformed chunked body
  // is refused without the upstream ever seeing the request, and a body that fits entirely
  // can be replayed by retries.
  prefetched_ = 0;
  if (!parser.is_done()) {
    buffer_.reserve(16 * 1024);  // Beast reads at most the free capacity at a time
    parser.get().body().data = body_->data();
    parser.get().body().size = body_->size();
    down_.expires_after(ex.listener->idle_timeout);
    auto [ec, n] = co_await http::async_read(down_, buffer_, parser, kNoThrow);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      if (const char* reason = bodyErrorReason(ec))
        co_return co_await refuseMalformed(ex.version, 400, reason, &ex);
      co_return false;
    }
    prefetched_ = body_->size() - parser.get().body().size;
    ex.bytes_in += prefetched_;
    // The trailer section of a chunked body is never forwarded; one that tries to frame or
    // route the message refuses it. (The request's head was moved out: the parser's fields
    // hold only the trailer.)
    if (parser.is_done() && ex.framing.kind == BodyFraming::kChunked) {
      if (const char* reason = checkTrailer(parser.get()))
        co_return co_await refuseMalformed(ex.version, 400, reason, &ex);
    }
  }
  const bool replayable = parser.is_done() && !ex.upgrade;

  // Mirror a copy (replayable requests only; the body is in hand) and forget about it.
  if (replayable && !ex.route->mirror.cluster.empty()) sendMirror(ex);

  uint32_t retries = 0;
  bool fresh_retry_used = false;
  for (;;) {
    Attempt at;
    co_await runAttempt(parser, ex, replayable, !replayable || fresh_retry_used, at);
    if (at.downstream_failed)
      co_return at.malformed ? co_await refuseMalformed(ex.version, 400, at.malformed, &ex) : false;
    if (at.local_code) {
      co_return co_await sendLocal(ex, at.local_status, at.local_code, parser.is_done());
    }
    auto& cs = worker_.stats().clusters[ex.cluster_name];
    // A pooled connection the upstream had already closed: retry once on a fresh connection;
    // this is not a failure of the endpoint.
    if (at.reused && at.failure == AttemptFailure::kReset && replayable && !fresh_retry_used) {
      fresh_retry_used = true;
      continue;
    }
    const unsigned status = at.response ? at.response->get().result_int() : 0;
    const auto& retry = ex.route->retry;
    const bool retriable = replayable && retries < retry.attempts &&
                           isRetriable(retry.retry_on, at.failure, status) &&
                           Clock::now() < ex.deadline;
    if (retriable && at.cluster) {
      if (at.cluster->retry_budget.tryAcquire(retry, at.cluster->active_requests + 1)) {
        ++retries;
        ++ex.retries;
        ++cs.rq_retry;
        at.conn.reset();  // the failed response's body is not wanted: drop the connection
        const auto wait = retryBackoff(retry, retries, worker_.rng()());
        co_await sleepFor(std::min<Duration>(wait, ex.deadline - Clock::now()));
        at.cluster->retry_budget.release();
        continue;
      }
      ++cs.rq_retry_budget_exhausted;
    }
    switch (at.failure) {
      case AttemptFailure::kConnectFailure:
        co_return co_await sendLocal(
            ex, 502, at.tls_code ? at.tls_code : error_code::kUpstreamConnect, parser.is_done());
      case AttemptFailure::kReset:
        co_return co_await sendLocal(ex, 502, error_code::kUpstreamReset, parser.is_done());
      case AttemptFailure::kTimeout:
        ex.timeout = true;
        co_return co_await sendLocal(ex, 504, error_code::kTimeout, parser.is_done());
      case AttemptFailure::kNone:
        break;
    }
    co_return co_await relayResponse(parser, ex, at);
  }
}

void Session::sendMirror(Exchange& ex) {
  const MirrorConfig& mirror = ex.route->mirror;
  if (!selectPercent(mirror.percent, worker_.rng()())) return;
  auto cluster = worker_.cluster(mirror.cluster);
  if (!cluster) return;
  auto shadow = std::make_shared<http::request<http::string_body, Fields>>(ex.head);
  shadow->body().assign(body_->data(), prefetched_);
  shadow->chunked(false);
  shadow->prepare_payload();
  ++worker_.stats().clusters[mirror.cluster].mirror_sent;
  Worker* w = &worker_;
  asio::co_spawn(
      worker_.io().get_executor(),
      [w, cluster, shadow]() -> Awaitable<void> {
        std::vector<EndpointView> views = cluster->endpoints;
        const int i = cluster->lb.pick(views, w->rng()(), nullptr);
        if (i < 0) co_return;
        const auto& ep = cluster->config->endpoints[static_cast<size_t>(i)];
        const auto& cc = *cluster->config;
        auto conn = w->takeIdle(poolKey(ep, cc));
        if (!conn || !stillOpen(*conn)) {
          conn = std::make_unique<UpstreamConnection>(w->io());
          auto& cs = w->stats().clusters[cc.name];
          const auto outcome =
              co_await connectUpstream(*w, *conn, ep, cc, Clock::now() + cc.connect_timeout, cs);
          if (outcome != ConnectOutcome::kOk) co_return;
        }
        conn->stream.expires_after(std::chrono::seconds(5));
        auto [wec, wn] = co_await http::async_write(conn->stream, *shadow, kNoThrow);
        if (wec) co_return;
        http::response_parser<http::string_body> rp;
        rp.body_limit(1024 * 1024);
        if (shadow->method() == http::verb::head) rp.skip(true);
        auto [rec, rn] = co_await http::async_read(conn->stream, conn->buffer, rp, kNoThrow);
        if (!rec && rp.keep_alive())
          w->returnIdle(std::move(conn), cluster->config->max_idle_connections);
      },
      asio::detached);
}

Awaitable<void> Session::runAttempt(RequestParser& parser, Exchange& ex, bool replayable,
                                    bool fresh_only, Attempt& at) {
  const RequestHeader& head = ex.head;
  (void)replayable;  // the caller decides about replays; a fresh connection is asked for instead
  auto cluster = worker_.cluster(ex.cluster_name);
  at.cluster = cluster;
  auto& cs = worker_.stats().clusters[ex.cluster_name];
  if (!cluster) {
    at.local_status = 503;
    at.local_code = error_code::kNoHealthy;
    co_return;
  }
  const ClusterConfig& cc = *cluster->config;
  const auto& cb = cc.circuit_breaker;
  if (cb.max_requests && cluster->active_requests >= cb.max_requests) {
    ++cs.cb_overflow;
    ex.circuit_open = true;
    at.local_status = 503;
    at.local_code = error_code::kOverflow;
    co_return;
  }
  const auto now = Clock::now();
  for (size_t i = 0; i < cluster->endpoints.size(); ++i)
    cluster->endpoints[i].available = !cluster->outlier.isEjected(i, now);
  uint64_t hash = 0;
  const uint64_t* hash_ptr = nullptr;
  if (cc.lb_policy == LbPolicy::kRingHash) {
    auto it = head.find(cc.hash_header);
    if (it != head.end()) {
      hash = LoadBalancer::hashKey(sv(it->value()));
      hash_ptr = &hash;
    }
  }
  at.endpoint = cluster->lb.pick(cluster->endpoints, worker_.rng()(), hash_ptr);
  if (at.endpoint < 0) {
    ++cs.no_healthy;
    at.local_status = 503;
    at.local_code = error_code::kNoHealthy;
    co_return;
  }
  const size_t idx = static_cast<size_t>(at.endpoint);
  const EndpointConfig& ep = cc.endpoints[idx];
  ex.destination_version = ep.version.empty() ? cc.version : ep.version;

  // Active-request accounting for least-request balancing, the circuit breaker and the
  // retry budget; undone when the attempt's scope ends.
  ++cluster->active_requests;
  ++cluster->endpoints[idx].active_requests;
  struct Release {
    std::shared_ptr<ClusterRuntime> c;
    size_t i;
    ~Release() {
      --c->active_requests;
      if (i < c->endpoints.size() && c->endpoints[i].active_requests > 0)
        --c->endpoints[i].active_requests;
    }
  } release{cluster, idx};

  const auto attempt_start = Clock::now();
  auto attempt_deadline = ex.deadline;
  if (ex.route->retry.per_try_timeout.count() > 0)
    attempt_deadline = std::min(attempt_deadline, attempt_start + ex.route->retry.per_try_timeout);
  if (attempt_deadline == Clock::time_point::max())
    attempt_deadline = attempt_start + ex.listener->idle_timeout;

  auto onFailure = [&](AttemptFailure f) {
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
    if (cluster->outlier.onFailure(idx, Clock::now())) {
      ++cs.outlier_ejections;
      spdlog::info("cluster {}: endpoint {} ejected", cc.name, ep.address());
    }
  };

  if (!fresh_only) {
    const std::string pool_key = poolKey(ep, cc);
    while (auto idle = worker_.takeIdle(pool_key)) {
      // A pooled TLS connection was verified against the expectations of its time: check them
      // again in case the cluster's expected identities changed since.
      if (cc.tls.mutual && !cc.tls.expected_identities.empty() &&
          std::find(cc.tls.expected_identities.begin(), cc.tls.expected_identities.end(),
                    idle->peer_identity) == cc.tls.expected_identities.end())
        continue;
      if (stillOpen(*idle)) {
        at.conn = std::move(idle);
        at.reused = true;
        ++cs.cx_reused;
        break;
      }
    }
  }
  if (!at.conn) {
    if (cb.max_connections && cluster->counters->connections >= cb.max_connections) {
      ++cs.cb_overflow;
      ex.circuit_open = true;
      at.local_status = 503;
      at.local_code = error_code::kOverflow;
      co_return;
    }
    if (cb.max_pending_requests && cluster->pending_requests >= cb.max_pending_requests) {
      ++cs.cb_overflow;
      ex.circuit_open = true;
      at.local_status = 503;
      at.local_code = error_code::kOverflow;
      co_return;
    }
    at.conn = std::make_unique<UpstreamConnection>(worker_.io());
    at.conn->counters = cluster->counters;
    ++cluster->counters->connections;
    ++cluster->pending_requests;
    const auto outcome =
        co_await connectUpstream(worker_, *at.conn, ep, cc,
                                 std::min(attempt_deadline, Clock::now() + cc.connect_timeout), cs);
    --cluster->pending_requests;
    switch (outcome) {
      case ConnectOutcome::kOk:
        break;
      case ConnectOutcome::kTimeout:
        onFailure(Clock::now() >= attempt_deadline ? AttemptFailure::kTimeout
                                                   : AttemptFailure::kConnectFailure);
        co_return;
      case ConnectOutcome::kConnectFailed:
        onFailure(AttemptFailure::kConnectFailure);
        co_return;
      case ConnectOutcome::kTlsFailed:
        at.tls_code = error_code::kUpstreamTls;
        onFailure(AttemptFailure::kConnectFailure);
        co_return;
      case ConnectOutcome::kIdentityMismatch:
        at.tls_code = error_code::kUpstreamIdentity;
        onFailure(AttemptFailure::kConnectFailure);
        co_return;
    }
    ++cs.cx_connect;
  }
  ex.upstream_tls = at.conn->stream.isTls();

  // Request head and body. The head is serialized into one buffer and leaves together with
  // the first piece of the body: one send, one iovec for a small request.
  auto& stream = at.conn->stream;
  const bool chunked = ex.framing.kind == BodyFraming::kChunked;
  wire_.clear();
  appendHead(wire_, head);
  const char* piece = prefetched_ ? body_->data() : nullptr;
  size_t piece_size = prefetched_;
  bool more = !parser.is_done();
  for (;;) {
    stream.expires_at(at.request_sent ? Clock::now() + ex.listener->idle_timeout
                                      : attempt_deadline);
    beast::error_code ec;
    if (framePiece(piece, piece_size, chunked, !more) > 0)
      std::tie(ec, std::ignore) = co_await asio::async_write(stream, wire_buffers_, kNoThrow);
    clearWire();
    if (ec) {
      onFailure(ec == beast::error::timeout ? AttemptFailure::kTimeout : AttemptFailure::kReset);
      co_return;
    }
    at.request_sent = true;
    if (!more) break;
    parser.get().body().data = body_->data();
    parser.get().body().size = body_->size();
    down_.expires_after(ex.listener->idle_timeout);
    auto [rec, rn] = co_await http::async_read(down_, buffer_, parser, kNoThrow);
    if (rec == http::error::need_buffer) rec = {};
    // The client went away, or sent a malformed chunk or trailer mid-body: the upstream
    // connection is dropped (the last chunk is not sent yet) so it never sees a complete
    // request, and a malformed request is answered by forward().
    if (!rec && parser.is_done() && chunked) at.malformed = checkTrailer(parser.get());
    if (rec || at.malformed) {
      if (rec) at.malformed = bodyErrorReason(rec);
      at.downstream_failed = true;
      at.conn.reset();
      ex.status = 400;
      co_return;
    }
    const size_t got = body_->size() - parser.get().body().size;
    ex.bytes_in += got;
    piece = got ? body_->data() : nullptr;
    piece_size = got;
    more = !parser.is_done();
  }

  // Response head; interim 1xx responses other than 101 are passed on (HTTP/1.1 clients only).
  for (;;) {
    at.response.emplace();
    at.response->body_limit(boost::none);
    at.response->header_limit(kMaxHeaderBytes);
    if (ex.is_head) at.response->skip(true);
    stream.expires_at(attempt_deadline);
    auto [ec, n] =
        co_await http::async_read_header(stream, at.conn->buffer, *at.response, kNoThrow);
    if (ec) {
      at.response.reset();
      if (ec.category() == http::make_error_code(http::error::bad_field).category()) {
        // A head Beast's parser refused (CL with TE, differing lengths, bad syntax).
        ++worker_.stats().malformed_responses[ec == http::error::bad_content_length ||
                                                      ec == http::error::multiple_content_length ||
                                                      ec == http::error::bad_transfer_encoding
                                                  ? "bad_framing"
                                                  : "bad_response"];
        at.reused = false;  // not a pooled connection the upstream had closed
      }
      onFailure(ec == beast::error::timeout ? AttemptFailure::kTimeout : AttemptFailure::kReset);
      co_return;
    }
    const unsigned status = at.response->get().result_int();
    if (status >= 100 && status < 200 && status != 101) {
      if (status != 100 && ex.version == 11) {
        http::response<http::empty_body> interim;
        interim.version(11);
        interim.result(status);  // result() would map codes Beast has no name for to 0
        for (const auto& f : at.response->get()) {
          if (f.name() == http::field::content_length || f.name() == http::field::transfer_encoding)
            continue;  // a 1xx has no body and declares none
          interim.insert(f.name_string(), f.value());
        }
        down_.expires_after(ex.listener->idle_timeout);
        co_await http::async_write(down_, interim, kNoThrow);
      }
      continue;
    }
    break;
  }
  // The response's framing: one decision for reading its body and framing what the client
  // gets. A malformed one is a failed attempt (502 UR), and its connection is not reused.
  at.framing = decideResponseFraming(at.response->get(), ex.is_head);
  if (!at.framing.refused() && !parserAgrees(*at.response, at.framing)) {
    at.framing.kind = BodyFraming::kRefuse;
    at.framing.reason = "framing_mismatch";
  }
  if (at.framing.refused()) {
    ++worker_.stats().malformed_responses[at.framing.reason];
    at.response.reset();
    at.conn.reset();
    at.reused = false;
    onFailure(AttemptFailure::kReset);
    co_return;
  }
  const unsigned status = at.response->get().result_int();
  ++cs.rq_total;
  ++cs.responses[statusClass(status)];
  cs.latency->record(static_cast<uint64_t>((Clock::now() - attempt_start).count()));
  if (status >= 500) {
    if (cluster->outlier.onFailure(idx, Clock::now())) {
      ++cs.outlier_ejections;
      spdlog::info("cluster {}: endpoint {} ejected after 5xx", cc.name, ep.address());
    }
  } else {
    cluster->outlier.onSuccess(idx);
  }
}

Awaitable<bool> Session::relayResponse(RequestParser& parser, Exchange& ex, Attempt& at) {
  auto& rp = *at.response;
  const unsigned status = rp.get().result_int();
  ex.status = status;
  const bool upgraded = status == 101 && ex.upgrade;
  const Framing& in = at.framing;
  const bool close_delimited = in.kind == BodyFraming::kCloseDelimited;

  http::response<http::buffer_body, Fields> out{std::move(rp.get().base())};
  removeHopByHopHeaders(out.base(), upgraded);
  for (const auto& name : ex.route->response_headers.remove) out.erase(name);
  for (const auto& [k, v] : ex.route->response_headers.set) out.set(k, v);
  for (const auto& [k, v] : ex.route->response_headers.add) out.insert(k, v);
  out.version(ex.version);
  bool keep_alive = parser.keep_alive() && parser.is_done() && !worker_.draining();
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
  if (in.rewrite || wire != in.declared || !edits.set.empty() || !edits.add.empty() ||
      !edits.remove.empty())
    writeFramingHeaders(out.base(), wire, in.length);
  if (!upgraded) out.keep_alive(keep_alive);

  wire_.clear();
  appendHead(wire_, out.base());
  const bool chunked = wire == BodyFraming::kChunked && in.kind != BodyFraming::kNone;
  if (upgraded || rp.is_done()) {
    // No body (HEAD, 1xx, 204, 304, empty) or a tunnel: the head alone.
    down_.expires_after(ex.listener->idle_timeout);
    framePiece(nullptr, 0, false, false);
    auto [ec, n] = co_await asio::async_write(down_, wire_buffers_, kNoThrow);
    clearWire();
    if (ec) co_return false;
    if (upgraded) {
      co_await tunnel(*at.conn);
      co_return false;
    }
  } else {
    // The head leaves with the first piece of the body: one send for a small response.
    bool head_sent = false;
    for (;;) {
      rp.get().body().data = body_->data();
      rp.get().body().size = body_->size();
      at.conn->stream.expires_after(ex.listener->idle_timeout);
      auto [ec, n] = co_await http::async_read(at.conn->stream, at.conn->buffer, rp, kNoThrow);
      if (ec == http::error::need_buffer) ec = {};
      if (ec == http::error::end_of_stream && close_delimited) ec = {};
      if (ec) {
        // Mid-body upstream failure: the client sees a truncated message and a closed
        // connection, which is the only honest signal left once the head may be out.
        ++worker_.stats().clusters[ex.cluster_name].rq_reset;
        if (!head_sent) co_return co_await sendLocal(ex, 502, error_code::kUpstreamReset, false);
        co_return false;
      }
      const size_t got = body_->size() - rp.get().body().size;
      ex.bytes_out += got;
      head_sent = true;
      const bool more = !rp.is_done() && !(close_delimited && got == 0);
      down_.expires_after(ex.listener->idle_timeout);
      beast::error_code wec;
      if (framePiece(got ? body_->data() : nullptr, got, chunked, !more) > 0)
        std::tie(wec, std::ignore) = co_await asio::async_write(down_, wire_buffers_, kNoThrow);
      clearWire();
      if (wec) co_return false;
      if (!more) break;
    }
  }
  if (rp.keep_alive() && rp.is_done() && !close_delimited && at.conn && at.cluster)
    worker_.returnIdle(std::move(at.conn), at.cluster->config->max_idle_connections);
  co_return keep_alive;
}

size_t Session::framePiece(const char* data, size_t size, bool chunked, bool last) {
  // Pieces up to this size are copied behind the head; larger ones are sent from the relay
  // buffer as a second iovec of the same send.
  constexpr size_t kCoalesceLimit = 4096;
  static constexpr std::string_view kChunkEnd = "\r\n";
  static constexpr std::string_view kChunkEndLast = "\r\n0\r\n\r\n";
  if (chunked && size > 0) appendChunkHeader(wire_, size);
  if (size <= kCoalesceLimit) {
    if (size > 0) wire_.append(data, size);
    if (chunked && size > 0) wire_.append(kChunkEnd);
    if (chunked && last) wire_.append(kLastChunk);
    wire_buffers_ = {asio::buffer(wire_), asio::const_buffer(), asio::const_buffer()};
  } else {
    const std::string_view tail = !chunked ? std::string_view{} : last ? kChunkEndLast : kChunkEnd;
    wire_buffers_ = {asio::buffer(wire_), asio::buffer(data, size), asio::buffer(tail)};
  }
  return asio::buffer_size(wire_buffers_);
}

void Session::clearWire() {
  wire_.clear();
  if (wire_.capacity() > 16 * 1024) wire_.shrink_to_fit();  // after an unusually large head
}

Awaitable<void> Session::tunnel(UpstreamConnection& upstream) {
  // After a 101 both sides speak another protocol: copy bytes until either side closes. Either
  // side may be TLS; one read and one write are outstanding per stream at most.
  auto& up = upstream.stream;
  auto& down = down_;
  down_.expires_never();
  upstream.stream.expires_never();
  if (upstream.buffer.size() > 0) {
    co_await asio::async_write(down, upstream.buffer.data(), kNoThrow);
    upstream.buffer.consume(upstream.buffer.size());
  }
  if (buffer_.size() > 0) {
    co_await asio::async_write(up, buffer_.data(), kNoThrow);
    buffer_.consume(buffer_.size());
  }
  // Both directions run in this coroutine and it returns only when both have ended, so the
  // upstream connection (owned by the caller) outlives every operation on it. The direction
  // that ends first closes both sockets, which ends the other.
  auto pump = [](tls::MeshStream& from, tls::MeshStream& to, char* buf,
                 size_t size) -> Awaitable<void> {
    for (;;) {
      auto [ec, n] = co_await from.async_read_some(asio::buffer(buf, size), kNoThrow);
      if (ec) break;
      auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf, n), kNoThrow);
      if (wec) break;
    }
    beast::error_code ignored;
    from.socket().close(ignored);
    to.socket().close(ignored);
  };
  auto up_buf = std::make_unique<std::array<char, 16384>>();
  using namespace asio::experimental::awaitable_operators;
  co_await (pump(down, up, body_->data(), body_->size()) &&
            pump(up, down, up_buf->data(), up_buf->size()));
}

void Session::finish(Exchange& ex) {
  auto& stats = worker_.stats();
  auto& ls = stats.listeners[listener_->name];
  ++ls.rq_total;
  ++ls.responses[statusClass(ex.status)];
  ls.bytes_in += ex.bytes_in;
  ls.bytes_out += ex.bytes_out;
  ++(mtls_ ? ls.rq_mtls : ls.rq_plaintext);
  const auto latency = static_cast<uint64_t>((Clock::now() - ex.start).count());
  ls.latency->record(latency);
  if (ex.error_code) ++stats.errors[ex.error_code];
  if (!ex.route) return;
  auto& rs = stats.routes[ex.route->name];
  ++rs.rq_total;
  ++rs.responses[statusClass(ex.status)];

  // Telemetry edge.
  if (!ex.config || ex.config->workload.service.empty()) return;
  EdgeId id;
  id.route = ex.route->name;
  if (ex.listener->direction == Direction::kOutbound) {
    id.client_side = true;
    id.source_service = ex.config->workload.service;
    id.source_version = ex.config->workload.version;
    const ClusterConfig* cc = ex.config->findCluster(ex.cluster_name);
    id.destination_service = cc && !cc->service.empty() ? cc->service : ex.vhost->name;
    id.destination_version =
        !ex.destination_version.empty() ? ex.destination_version : (cc ? cc->version : "");
  } else {
    id.source_service = ex.source_service;
    id.source_version = ex.source_version;
    id.destination_service = ex.config->workload.service;
    id.destination_version = ex.config->workload.version;
  }
  auto& e = worker_.edges()[id];
  ++e.requests;
  ++e.responses_by_code[ex.status];
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

}  // namespace meshdeck::proxy
