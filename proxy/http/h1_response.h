#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http/h1_parser.h"

namespace meshdeck::proxy::h1 {

// The proxy's own HTTP/1.1 response-head parser (docs/h1-codec.md, "Response heads"), built as
// the request parser is: in place over the upstream connection's receive buffer, the reason
// phrase and fields are views into it (no allocation per field), and the body framing is
// decided in the same pass.
//
// Its verdict is the one upstream_attempt.cpp reached with Beast before it read heads with this
// codec (tests/unit/proxy/h1_response_reference.h keeps that path): Beast's response parser
// (64 KiB header limit, skip() for a HEAD request) with its errors counted as `bad_framing`
// (Content-Length / Transfer-Encoding) or `bad_response` (everything else, header limit
// included), then decideResponseFraming() (proxy/http/framing.h) and parserAgrees() (Beast's
// framing must agree with the decision: `framing_mismatch`). One deliberate difference: an
// obs-fold (a field line continued on the next line, RFC 9112 §5.2) is refused (`obs_fold`)
// where Beast joins the lines; a proxy may refuse it with 502. No field count limit (none today).
// tests/unit/proxy/h1_response_differential_test.cpp and the proxy_h1_response fuzz target
// compare the two.

// How the response's body is read (Framing::kind of proxy/http/framing.h, without kRefuse).
enum class ResponseBody : uint8_t { kNone, kContentLength, kChunked, kCloseDelimited };

// The framing of a response head as decideResponseFraming() decides it.
struct ResponseFraming {
  ResponseBody body = ResponseBody::kNone;
  // What the forwarded head states (Framing::declared): `body`, except for a HEAD response or a
  // 304, which keep the length or chunked coding they declare; 1xx and 204 declare nothing.
  ResponseBody declared = ResponseBody::kNone;
  uint64_t length = 0;   // kContentLength, or the declared length of a bodiless response
  bool rewrite = false;  // the TE / CL lines are not the one canonical line (Framing::rewrite)
};

// A parsed response head: views into the buffer it was parsed from.
class ResponseHead : public FieldList {
 public:
  unsigned version = 0;  // 10 or 11
  unsigned status = 0;   // the three digits (000-999, as Beast reads them)
  std::string_view reason;
  size_t size = 0;  // bytes of the head, blank line included
  ResponseFraming framing;
  // Connection tokens (Connection and Proxy-Connection lines) and whether Upgrade is present.
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool connection_upgrade = false;
  bool has_upgrade = false;

  // Facts the parser notes for the relay (appendEditedResponseHead() in
  // proxy/http/response_head.h), so that a head passed on unchanged is copied as bytes without
  // looking at its fields again. Valid when `data` is set (by a parse that returned kDone) and
  // fieldCount() == described_fields; bits of fields past the 64th are not kept.
  const char* data = nullptr;  // the head's first byte (size bytes)
  size_t described_fields = 0;
  uint64_t hop_fields = 0;        // Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
                                  // Proxy-Authenticate, Proxy-Authorization, Upgrade
  uint64_t rebuilt_fields = 0;    // lines that are not exactly "name: value CRLF"
  bool connection_other = false;  // a Connection / Proxy-Connection token other than close,
                                  // keep-alive, upgrade (it may name fields to remove)
  bool maybe_same_names = false;  // two fields may have the same name (a 64-bit filter: when
                                  // false, every name differs from every other)

  // An interim response (1xx other than 101), which a final response follows.
  bool interim() const { return status >= 100 && status < 200 && status != 101; }
  // Whether the upstream connection may carry another request after this response (Beast's
  // keep_alive(): HTTP/1.1 without close, HTTP/1.0 with keep-alive; never for a body that ends
  // at the close).
  bool keepAlive() const {
    if (framing.body == ResponseBody::kCloseDelimited) return false;
    return version >= 11 ? !connection_close : connection_keep_alive;
  }

  void clear();
};

// Incremental parser of one response head. parse() is given every byte received so far for
// this head (more appended between calls, none consumed). It searches for the blank line from
// where it stopped and parses the head in one pass once it is there. While the head is
// incomplete it also parses the bytes so far as Beast's read does (on the first call, whenever
// they have doubled since, and on every call past 64 KiB), so that a head that can never be
// valid is refused before the rest arrives: at the latest once the bytes buffered have doubled
// (Beast reparses on every read; the verdict is the same, it may come a read later). A
// refusal has http_status 502 and one of the reasons above; kDone's `consumed` is the head size.
class ResponseParser {
 public:
  Result parse(std::string_view data, ResponseHead& head, bool request_was_head);
  // For the next head (after an interim response, or the next request on the connection).
  void reset() {
    scanned_ = 0;
    checked_ = 0;
  }

 private:
  size_t scanned_ = 0;
  size_t checked_ = 0;  // bytes the last parse of an incomplete head saw
};

// Parses `data` as received at once: ResponseParser{}.parse(data, head, request_was_head).
Result parseResponseHead(std::string_view data, ResponseHead& head, bool request_was_head);

}  // namespace meshdeck::proxy::h1
