#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/config/config.h"
#include "proxy/exchange.h"
#include "proxy/http/h1_parser.h"
#include "proxy/session_host.h"

namespace meshdeck::proxy {

// Admission of one request: validation, routing, authorization, rate limits, fault injection,
// the destination and the head that goes upstream. Pure functions of the request head, the
// peer, the compiled config (Exchange::config, Exchange::listener) and the services injected
// (clock, random values, token buckets, counters): no I/O, no sockets, no real time, so they
// are unit-tested with fakes (tests/unit/proxy/admission_test.cpp). The same steps serve any
// protocol that delivers a request head.

// What the codec found about the request's body while it parsed the head (for HTTP/1.1,
// Beast's parser). Admission refuses a request whose framing the codec reads otherwise.
struct CodecFraming {
  bool body_done = false;  // no body, or the whole body arrived with the head
  bool chunked = false;
  std::optional<uint64_t> content_length;
  bool upgrade = false;  // Connection: upgrade with an Upgrade header
  // Set by a codec that made checkRequestHead()'s checks itself (the HTTP/1.1 codec,
  // proxy/http/h1_parser.h: field count, framing and Host, agreement): its framing decision,
  // which admission then takes as it is.
  const Framing* decided = nullptr;
};

// Who sent the request.
struct PeerInfo {
  std::string_view ip;        // "" when unknown
  std::string_view identity;  // verified SPIFFE id of a mutual TLS peer, else ""
  bool mtls = false;
};

// What admission decided about a request.
struct Verdict {
  enum Kind {
    kAdmit,   // forward it (after `delay`, when set, and prepareUpstreamRequest())
    kRefuse,  // malformed: answer `status` with reason `code` and close
    kLocal    // answer `status` with error code `code` and `detail`, without the upstream
  };
  Kind kind = kAdmit;
  unsigned version = 11;          // kRefuse: HTTP version of the refusal
  unsigned status = 0;            // kRefuse, kLocal
  const char* code = nullptr;     // kRefuse: malformed reason; kLocal: error code
  std::string detail;             // kLocal
  int grpc_status = -1;           // kLocal: the gRPC status of a fault abort (-1: of `status`)
  std::optional<Duration> delay;  // kAdmit: fault delay, then prepareUpstreamRequest()
  bool expect_continue = false;   // kAdmit: answer 100 Continue before reading the body
  // kLocal 404 NR "no virtual host" on an outbound listener: the authority nothing routes,
  // which a scoped sidecar may fetch on demand (proxy/mesh/on_demand.h). Else empty.
  std::string missing_host;
};

// Largest number of header fields a request may have (431 above).
inline constexpr size_t kMaxHeaderCount = 100;
// The header carrying the source workload between sidecars ("service/version").
inline constexpr std::string_view kSourceHeader = "x-meshdeck-source";

// The first checks of admit(), on the head alone: header count (431), version (505), the
// framing and Host decision (decideRequestFraming()) and its agreement with the codec
// (`framing_mismatch`). Sets ex.version and ex.framing; kAdmit when the head passes. With
// `codec.decided` set, the codec has made these checks: ex.framing is its decision.
Verdict checkRequestHead(const RequestHeader& req, const CodecFraming& codec, Exchange& ex);

// Checks and routes `req` (validation, route, authorization, rate limits, fault delay), writing
// what it learns into `ex` (version, framing, route, flags counted by finish()). For a request
// admitted without fault delay it goes on with prepareUpstreamRequest(). `req` is changed: an
// absolute-form target becomes origin-form with Host set, the source header is removed.
// Requires: ex.listener set (ex.config may be null: 503 NR).
Verdict admit(RequestHeader& req, const CodecFraming& codec, const PeerInfo& peer, Exchange& ex,
              AdmissionServices& services);

// The second half of admission, after a fault delay: fault abort, the destination (by weight),
// the route's deadline and the upstream head (moved out of `req` into ex.head, with
// hop-by-hop headers removed, X-Forwarded-*, request id, traceparent, the route's header
// edits and the framing headers). Requires: admit() returned kAdmit, so ex.route is set.
Verdict prepareUpstreamRequest(RequestHeader& req, const CodecFraming& codec, const PeerInfo& peer,
                               Exchange& ex, AdmissionServices& services);

// admit() and prepareUpstreamRequest() of a request read by the proxy's HTTP/1.1 codec, on its
// views (issue 20): no Beast fields; the upstream head is written into `wire` in one pass (the
// request line, the received lines that stay, copied as byte ranges, then the added ones), the
// same bytes appendHead() writes of the head admit() and prepareUpstreamRequest() build.
// Returns false, having changed nothing that counts (no counter, token, random value or id
// drawn), for a request only the Beast path handles: no decided framing, a framing rewrite, an
// upgrade or h2c, more than h1::kInlineFields fields, a name repeated apart (Beast's field
// order differs from the received one), a target not in origin-form, an unsupported method, no
// config, route table, virtual host or route, a route `add` edit of a name the head has,
// a fault or a mirror, a destination whose cluster reads ex.head (HTTP/2, ring hash by a
// header). Then the caller builds the Beast head and calls admit(). Otherwise `verdict` is
// admit()'s (kAdmit with `wire` written and ex filled as prepareUpstreamRequest() fills it, or
// kLocal 403 / 429) and ex.head stays empty. `verdict` must be a fresh Verdict.
bool admitView(const h1::RequestHead& h, const CodecFraming& codec, const PeerInfo& peer,
               Exchange& ex, AdmissionServices& services, std::string& wire, Verdict& verdict);

// Counts one authorization decision: by the config's dense slot table (compileConfig() builds
// one), or by rule id for a hand-built config without it.
void countDecision(const SecurityConfig& security, const AuthorizationDecision& decision,
                   AuthzSlotCounters& slots, AuthzCounterMap& by_id);

}  // namespace meshdeck::proxy
