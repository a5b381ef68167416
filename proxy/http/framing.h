#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/field_allocator.h"
#include "proxy/http/host_syntax.h"

namespace meshdeck::proxy {

// HTTP/1.1 message framing (RFC 9112 §6, §7) and Host rules (RFC 9112 §3.2, RFC 9110 §7.2):
// the one place that decides how long a message body is. The session reads the body by this
// decision (Beast's parser must agree with it, else the message is refused) and writes the
// forwarded head from it (writeFramingHeaders), so what goes out can never be framed
// differently from what was read. Pure functions, no I/O; the decisions do not allocate.
// docs/http1-framing.md maps every rule to its test row.

enum class BodyFraming : uint8_t {
  kNone,            // no body
  kContentLength,   // exactly `length` bytes
  kChunked,         // chunked transfer coding, the only one supported
  kCloseDelimited,  // responses only: the body ends when the connection closes
  kRefuse,          // malformed: answer `status` (requests) or 502 (responses), then close
};

struct Framing {
  BodyFraming kind = BodyFraming::kNone;
  uint64_t length = 0;  // kContentLength; also the declared length of a bodiless response
  // What the forwarded head states: `kind`, except for responses that have no body whatever
  // their head says (HEAD, 304), which keep the Content-Length or chunked coding they declared
  // for the representation. 1xx and 204 declare nothing.
  BodyFraming declared = BodyFraming::kNone;
  unsigned status = 0;           // kRefuse: 400, 501 (requests) or 502 (responses)
  const char* reason = nullptr;  // kRefuse: stable reason, counted in `malformed[...]`
  // The head's Transfer-Encoding / Content-Length lines are not exactly the single line
  // writeFramingHeaders() would write (duplicates, lists, leading zeros, other codings).
  bool rewrite = false;
  // Requests: an Upgrade naming h2c or an HTTP2-Settings field is present (removeH2c()).
  bool h2c = false;

  bool refused() const { return kind == BodyFraming::kRefuse; }
};

// The framing of a request head (any version; the caller refuses versions other than 1.0 and
// 1.1 first). Also checks Host: one at most, valid syntax, present and non-empty in HTTP/1.1
// origin-form requests (an absolute-form target names the authority instead, RFC 9112 §3.2.2).
Framing decideRequestFraming(const RequestHeader& head);

// The framing of an upstream response head to a request that was HEAD or not. Malformed
// framing is refused with status 502.
Framing decideResponseFraming(const ResponseHeader& head, bool request_was_head);

// Removes every Transfer-Encoding and Content-Length line of `fields` and writes the one line
// that states `declared` (`Transfer-Encoding: chunked`, `Content-Length: <length>`, nothing).
void writeFramingHeaders(Fields& fields, BodyFraming declared, uint64_t length);

// Removes the h2c token from Upgrade (the field goes when nothing remains) and every
// HTTP2-Settings field: an HTTP/2 upgrade is never passed to a backend. Returns whether an
// Upgrade field remains.
bool removeH2c(Fields& fields);

// The reason to refuse a chunked body's trailer section, or nullptr when it is acceptable.
// Trailers are never forwarded (the proxy ends bodies with a bare last chunk); fields that
// would frame, route, authenticate or control the message (RFC 9110 §6.5.1) refuse the request.
const char* checkTrailer(const Fields& trailer);

// Differential oracle for fuzzing: the same rules applied to a raw byte stream.

// Parses a request head (request line, fields, blank line; leading blank lines are skipped)
// with the proxy's syntax rules. Returns the bytes consumed, 0 when the head is incomplete; on
// a syntax error sets `refusal` (kRefuse, 400 or 505) and returns the bytes up to the error.
size_t parseRequestHead(std::string_view data, RequestHeader& head, Framing& refusal);

// One request split out of a stream.
struct SplitMessage {
  RequestHeader head;  // as received (not normalised)
  std::string body;    // de-chunked body bytes
  Fields trailer;      // trailer fields of a chunked body
  Framing framing;
};

struct SplitResult {
  std::vector<SplitMessage> messages;  // complete, accepted requests, in order
  Framing refusal;                     // kRefuse when the stream stopped at a refused request
  size_t consumed = 0;                 // bytes of the complete messages
  bool incomplete = false;             // the stream ended inside a message
};

// Splits a stream of HTTP/1.1 requests (as one keep-alive connection carries them) into
// messages by decideRequestFraming() and the chunked coding of RFC 9112 §7.1; stops at the
// first refused request, like the proxy (which answers it and closes), after `max_messages`, or
// after a request that ends the connection (HTTP/1.0 without keep-alive, Connection: close).
SplitResult splitRequests(std::string_view stream, size_t max_messages = 1000);

}  // namespace meshdeck::proxy
