#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http/field_allocator.h"
#include "proxy/http/id_generator.h"

namespace meshdeck::proxy {

// Header rules of a proxy hop (RFC 9110 §7.6.1, W3C Trace Context). No I/O.

// Removes the hop-by-hop headers (Connection and every header it names, Keep-Alive,
// Proxy-Connection, TE, Trailer, Upgrade, Proxy-Authenticate/-Authorization). Transfer-Encoding
// and Content-Length are left alone: writeFramingHeaders() (proxy/http/framing.h) states them.
// When `keep_upgrade` is set, Upgrade and "Connection: upgrade" survive for a tunnel.
void removeHopByHopHeaders(Fields& headers, bool keep_upgrade);

// Where the header block of a request starts being too much, and what is wrong with a raw
// header block (the bytes up to and including the blank line). The byte checks here cover what
// Beast's parser accepts but a proxy must refuse: obsolete line folding, over-long request line.
enum class RawHeaderProblem { kNone, kObsFold, kRequestLineTooLong };
RawHeaderProblem checkRawHeader(std::string_view block, size_t max_request_line);

// Whether `data`, the start of a request head whose end has not arrived yet, can still begin a
// valid request line (RFC 9112 §3: optional empty lines, method token, SP, a target without
// controls or spaces, SP, HTTP-version, CRLF). Bytes that cannot are refused at once instead of
// waiting for the rest of a head that will never be valid (binary input, another protocol).
bool isPlausibleRequestPrefix(std::string_view data);

// Index one past the blank line ending the header block in `data`, or npos.
size_t findHeaderEnd(std::string_view data);

// What the bytes received so far for a request head say, before any parser sees them: the
// checks the session's read loop made on every read before the codec took them over, as one pure
// function so that the differential test of the HTTP/1.1 codec
// (tests/unit/proxy/h1_differential_test) runs the proxy's own rules. `scanned` is how much of
// `data` an earlier call had already searched for the blank line (0 the first time). kComplete sets
// `head_size` (the bytes up to and including the blank line); the refusals are answered 431
// (kTooLarge), 400 `obs_fold` and 400 `bad_request_line`.
enum class RequestHeadScan { kIncomplete, kComplete, kTooLarge, kObsFold, kBadRequestLine };
RequestHeadScan scanRequestHead(std::string_view data, size_t scanned, size_t max_request_line,
                                size_t max_header_bytes, size_t* head_size);

// The traceparent to send upstream: the incoming trace id and flags with a new span id when
// `incoming` is a valid version-00 traceparent; otherwise a new trace, sampled. The ids made
// here are lower-case hex and never all zero (W3C Trace Context: such ids are invalid).
// makeTraceparent() is the same without an allocation (the request path uses it).
struct Traceparent {
  char data[55];
  std::string_view view() const { return {data, sizeof data}; }
};
Traceparent makeTraceparent(std::string_view incoming, IdGenerator& rng);
std::string nextTraceparent(std::string_view incoming, IdGenerator& rng);

// The trace id (32 hex digits) of a traceparent produced by nextTraceparent.
std::string_view traceIdOf(std::string_view traceparent);

// A random UUID v4 for x-request-id; makeRequestId() without an allocation.
struct RequestId {
  char data[36];
  std::string_view view() const { return {data, sizeof data}; }
};
RequestId makeRequestId(IdGenerator& rng);
std::string newRequestId(IdGenerator& rng);

// HTTP/1.1 wire form of a head, appended to `out`: the start line, every field in order and
// the blank line — the same bytes Beast's serializer writes, but into one contiguous buffer
// so that a head (and a small body after it) leaves in one send with one iovec. Responses
// without a reason phrase get the standard one for the code.
void appendHead(std::string& out, const RequestHeader& head);
void appendHead(std::string& out, const ResponseHeader& head);
// The line that starts a chunk of `size` bytes ("<hex>\r\n"); the chunk data is followed by
// "\r\n", the body by the last chunk kLastChunk (no trailers).
void appendChunkHeader(std::string& out, size_t size);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace meshdeck::proxy
