#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <memory>
#include <optional>
#include <string>

#include "proxy/admission.h"
#include "proxy/awaitable.h"
#include "proxy/config/config.h"
#include "proxy/exchange.h"
#include "proxy/http/beast_head.h"
#include "proxy/http/field_allocator.h"
#include "proxy/http/h1_parser.h"
#include "proxy/http/wire_frames.h"
#include "proxy/relay_buffer_pool.h"
#include "proxy/session_host.h"
#include "proxy/tls/mesh_stream.h"

namespace meshdeck::proxy {

struct ListenerShared;
struct ListenerStats;
struct Attempt;
struct UpstreamConnection;
namespace h2 {
class Connection;
}

// One downstream HTTP/1.1 connection: the transport (plain, or mutual TLS), the read loop,
// the request body, the response relay and the counting of each exchange. What a request is
// allowed and where it goes is decided by admission (proxy/admission.h), the upstream side by
// runAttempt() (proxy/upstream_attempt.h) under RetryState (proxy/retry_state.h); mirroring
// and the upgrade tunnel are in proxy/mirror.h and proxy/tunnel.h. Reads request heads with the
// proxy's own HTTP/1.1 codec (proxy/http/h1_parser.h, docs/h1-codec.md) in place over the
// receive buffer, bodies with Beast's parser, and streams bodies through one relay buffer
// (buffer_body in both directions, so memory stays bounded whatever the body size). Requests on a
// connection are handled one at a time, which answers pipelined requests in order. Lives on one
// worker thread; everything of the worker it uses goes through SessionHost.
//
// A connection that opens with the HTTP/2 preface (h2c prior knowledge, or over TLS) is served
// by h2::Connection (proxy/http2/h2_connection.h) on the same transport instead.
//
// Transport: per the listener's TLS mode the connection is plain, mutual TLS 1.3 (STRICT), or
// either (PERMISSIVE: the first byte decides). The verified peer SPIFFE id of an mTLS
// connection is the request's source identity for authorization; plain peers have none.
class Session : public std::enable_shared_from_this<Session>, private Downstream {
 public:
  using Socket = tls::MeshStream::TcpStream::socket_type;  // on the worker's io_context

  Session(SessionHost& host, Socket socket, std::shared_ptr<ListenerShared> listener);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Closes the connection if it waits for its next request (drain, listener removal); an
  // HTTP/2 connection is sent GOAWAY first and closed once its streams are done.
  void closeIfIdle();

 private:
  // The request being handled. Its head as admission reads and edits it: Beast fields built
  // from the codec's views (takeHead()); what the codec decided about it; and, only when the
  // request has a body, Beast's parser to read that body (given a head of its own that states
  // only the framing the codec decided, so that its chunked decoder, trailer rules and limits
  // are the ones the proxy has always read bodies with).
  struct Request {
    RequestHeader head;
    Framing framing;          // kNone, kContentLength or kChunked
    bool keep_alive = false;  // h1::RequestHead::keepAlive()
    bool upgrade = false;     // Connection: upgrade
    std::optional<BeastRequestParser> body;
    // The whole request is in: no body, or its last byte read.
    bool done() const { return !body || body->is_done(); }
    // The client wants the connection kept and nothing of this request is left to read on it.
    bool reusable() const { return keep_alive && done(); }
    // What admission is told of the codec's reading: its framing decision, checks made.
    CodecFraming codecFraming() const {
      CodecFraming c;
      c.body_done = done();
      c.chunked = framing.kind == BodyFraming::kChunked;
      if (framing.kind == BodyFraming::kContentLength) c.content_length = framing.length;
      c.upgrade = upgrade;
      c.decided = &framing;
      return c;
    }
  };
  enum class HeadResult {
    kOk,  // h1_head_ holds the head
    kClosed,
    kIdleTimeout,
    kHeaderTimeout,
    kMalformed,  // refuse with h1_result_ (status, reason)
    kHttp2       // the HTTP/2 client connection preface (prior knowledge): h2::Connection serves it
  };
  // An HTTP/2 connection serves its streams with this session's transport, config and counters.
  friend class h2::Connection;

  Awaitable<void> run(std::shared_ptr<Session> keep);
  // Takes this session's listener config from `config` if that is a newer config.
  void refreshListenerConfig(const ConfigPtr& config);
  // Peeks the first byte and does the TLS handshake as the listener's mode asks; false when
  // the connection is refused (counted by reason) or gone.
  Awaitable<bool> establishTransport();
  // Reads until the codec has a complete head (h1_head_, views into buffer_) or refuses it.
  Awaitable<HeadResult> readHead(const ListenerConfig& listener, bool first);
  // Fills `rq` from h1_head_ (framing, keep-alive, upgrade); the head's bytes stay in the
  // buffer.
  void buildRequest(Request& rq) const;
  // rq.head: the Beast fields of h1_head_, for what admitView() leaves to admit() (and a tap).
  void buildFields(Request& rq) const;
  // For a request with a body, sets up rq.body. The head's bytes stay in the buffer until
  // admission has read them (handleRequest()).
  void startBody(Request& rq);
  Awaitable<bool> handleRequest(Request& rq, Exchange& ex);
  Awaitable<bool> handleWithWaits(Request& rq, Exchange& ex, Verdict verdict, bool body_pending);
  Awaitable<void> sleepFor(Duration d);
  // Sends ex.head (and the body) upstream, with retries, and relays the response.
  Awaitable<bool> forward(Request& rq, Exchange& ex);
  Awaitable<bool> relayResponse(Request& rq, Exchange& ex, Attempt& at);
  // The response of an HTTP/2 upstream stream (at.h2), framed for this HTTP/1.x client.
  Awaitable<bool> relayH2Response(Request& rq, Exchange& ex, Attempt& at);
  Awaitable<bool> sendLocal(Exchange& ex, unsigned status, const char* code, bool keep_alive,
                            const char* detail = "");
  // Answers a malformed request with `status` and closes. Within an exchange (`ex` set) the
  // request is counted once, by finish(); before one exists, here.
  Awaitable<bool> refuseMalformed(unsigned version, unsigned status, const char* reason,
                                  Exchange* ex = nullptr);
  // Counts the exchange: listener, route, errors and the telemetry edge; offers a tapped
  // request's event.
  void finish(Exchange& ex);
  // `t`, a time read earlier in this run of the coroutine, or the clock when none was (unset).
  std::chrono::steady_clock::time_point orNow(std::chrono::steady_clock::time_point t);
  // Request start of the taps (docs/tap.md): with no tap open, one relaxed atomic load.
  bool tapActive() const { return tap_ && tap_->active(); }
  void tapStart(const RequestHeader& head, Exchange& ex) {
    if (tapActive()) [[unlikely]]
      tapStartMatch(head, ex);
  }
  void tapStartMatch(const RequestHeader& head, Exchange& ex);
  void tapFinish(const Exchange& ex, uint64_t latency_ns, std::optional<uint32_t> grpc_status);

  PeerInfo peer() const { return {peer_ip_, peer_identity_, mtls_}; }

  // Downstream (for upstream attempts)
  Awaitable<BodyPiece> readBody(Exchange& ex) override;
  Awaitable<void> sendInterim(Exchange& ex, const ResponseHeader& interim) override;

  SessionHost& host_;
  TapRegistry* const tap_;
  tls::MeshStream down_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<ListenerShared> listener_;
  ListenerStats& listener_stats_;  // this listener's counters in the host's stats
  std::string peer_ip_;
  bool mtls_ = false;                 // downstream is mutual TLS
  std::string peer_identity_;         // its verified SPIFFE id (empty for plain text)
  ListenerConfig listener_config_;    // last known config of this session's listener
  ConfigPtr listener_config_source_;  // the config listener_config_ was taken from
  bool idle_ = false;
  bool closed_ = false;
  WireFrames wire_;              // what goes out next, framed
  RelayBuffer body_;             // relay buffer, both directions; lent by the host for one exchange
  h1::RequestParser h1_parser_;  // the request-head codec, reset for each head
  h1::RequestHead h1_head_;      // the head it parsed (views into buffer_)
  std::string upstream_head_;    // the upstream head admitView() wrote (Exchange::wire_head)
  h1::Result h1_result_;         // its verdict on the last head
  Request* request_ = nullptr;   // of the exchange being handled
  h2::Connection* h2_ = nullptr;  // serving this connection after an HTTP/2 preface
  BodyPiece first_piece_;         // the request body read before the first attempt (replayable)
  // Clock reads shared by the steps of one request (docs/proxy.md, "Clock reads"): when
  // readHead() had the last head complete (Exchange::start), and when finish() ended the last
  // exchange (the next head's read deadline is set from it, in the same run of the coroutine).
  std::chrono::steady_clock::time_point head_time_{}, finished_at_{};
};

}  // namespace meshdeck::proxy
