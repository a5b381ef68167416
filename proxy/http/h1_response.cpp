#include "proxy/http/h1_response.h"

#include <algorithm>
#include <cstring>

#include "proxy/http/h1_syntax.h"

namespace meshdeck::proxy::h1 {

namespace {

using namespace detail;

Result refuse(const char* reason) {
  Result r;
  r.status = Status::kError;
  r.http_status = 502;
  r.reason = reason;
  return r;
}

// decideResponseFraming() (proxy/http/framing.cpp) over the noted fields, then parserAgrees()
// (proxy/upstream_attempt.cpp) with what Beast's parser would hold.
const char* decide(ResponseHead& h, const Scan& s, const BeastState& beast, bool request_was_head) {
  ResponseFraming& f = h.framing;
  f = {};
  const unsigned status = h.status;
  const bool no_body_status = (status >= 100 && status < 200) || status == 204;
  if (no_body_status) {
    // RFC 9110 §8.6, RFC 9112 §6.3 (1): no body, nothing declared.
    f.rewrite = s.te_lines > 0 || s.cl_lines > 0;
  } else {
    const DeclaredFraming d = framingOf(s, h.version);
    if (d.refusal) return d.refusal;
    f.declared = d.kind == Declared::kChunked         ? ResponseBody::kChunked
                 : d.kind == Declared::kContentLength ? ResponseBody::kContentLength
                                                      : ResponseBody::kNone;
    f.length = d.length;
    f.rewrite = d.rewrite;
    if (request_was_head || status == 304)
      f.body = ResponseBody::kNone;  // the head describes the representation, no body follows
    else if (f.declared == ResponseBody::kNone)
      f.body = f.declared = ResponseBody::kCloseDelimited;  // RFC 9112 §6.3 (8)
    else
      f.body = f.declared;
  }
  // Beast's view after the head (finish_header): done when skipping the body (HEAD, 1xx, 204,
  // 304) or for Content-Length: 0; it must read the body as the decision says.
  const bool done = request_was_head || status / 100 == 1 || status == 204 || status == 304 ||
                    (!beast.chunked && beast.has_length && beast.length == 0);
  bool agrees = false;
  switch (f.body) {
    case ResponseBody::kNone:
      agrees = done;
      break;
    case ResponseBody::kContentLength:
      agrees = !beast.chunked && beast.has_length && beast.length == f.length;
      break;
    case ResponseBody::kChunked:
      agrees = beast.chunked && !beast.has_length;
      break;
    case ResponseBody::kCloseDelimited:
      agrees = !done && !beast.chunked && !beast.has_length;
      break;
  }
  return agrees ? nullptr : "framing_mismatch";
}

// Parses the response head at the start of `b` (every byte received so far) as Beast's parser
// does when given `b` at once: kNeedMore when nothing refuses the bytes yet. `head_end` is where
// the first CRLF CRLF ends, npos when there is none yet.
Result parseHead(std::string_view b, size_t head_end, ResponseHead& h, bool request_was_head) {
  h.clear();
  const size_t n = b.size();
  // Beast runs out of bytes: the 64 KiB header limit when it has that many, else it reads more.
  const auto needMore = [&](size_t available) {
    if (available >= kMaxHeadBytes) return refuse("bad_response");
    return Result{};
  };
  // --- status line: HTTP-version SP 3DIGIT SP reason CRLF (within the first 64 KiB) ---
  const size_t last0 = std::min(n, kMaxHeadBytes);
  if (last0 < 8) return needMore(n);
  const char* v = b.data();
  if (std::memcmp(v, "HTTP/", 5) != 0 || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]))
    return refuse("bad_response");
  h.version = static_cast<unsigned>((v[5] - '0') * 10 + (v[7] - '0'));
  if (h.version != 10 && h.version != 11) return refuse("bad_response");
  if (last0 < 9) return needMore(n);
  if (v[8] != ' ') return refuse("bad_response");
  if (last0 < 13) return needMore(n);
  if (!isDigit(v[9]) || !isDigit(v[10]) || !isDigit(v[11]) || v[12] != ' ')
    return refuse("bad_response");
  h.status = static_cast<unsigned>((v[9] - '0') * 100 + (v[10] - '0') * 10 + (v[11] - '0'));
  size_t i = skipPlain(b.data(), 13, last0, 0x20);
  for (;; ++i) {
    if (i >= last0) return needMore(n);
    if (!is(b[i], kValue)) break;
  }
  if (b[i] != '\r') return refuse("bad_response");
  if (i + 1 >= last0) return needMore(n);
  if (b[i + 1] != '\n') return refuse("bad_response");
  h.reason = b.substr(13, i - 13);
  i += 2;
  if (i >= n) return {};  // Beast checks no limit here

  // --- fields, by Beast's rules, over at most 64 KiB of them ---
  const size_t remaining = n - i;
  const size_t last = i + std::min(remaining, kMaxHeadBytes);
  BeastState beast;
  Scan s;
  size_t p = i;
  for (;;) {
    if (p + 2 > last) return needMore(remaining);
    if (b[p] == '\r') {
      if (b[p + 1] != '\n') return refuse("bad_response");
      p += 2;
      break;
    }
    // name ":"
    const size_t name_start = p;
    while (b[p] != ':') {
      if (!is(b[p], kTchar)) return refuse("bad_response");
      if (++p >= last) return needMore(remaining);
    }
    if (p == name_start) return refuse("bad_response");
    const std::string_view name(b.data() + name_start, p - name_start);
    ++p;
    // OWS value OWS CRLF
    for (;; ++p) {
      if (p + 1 > last) return needMore(remaining);
      if (!isOws(b[p])) break;
    }
    const size_t value_start = p;
    p = skipPlain(b.data(), p, last, 0x20);
    for (;; ++p) {
      if (p >= last) return needMore(remaining);
      if (!is(b[p], kValue)) break;
    }
    if (b[p] != '\r') return refuse("bad_response");
    if (p + 1 >= last) return needMore(remaining);
    if (b[p + 1] != '\n') return refuse("bad_response");
    size_t value_end = p;
    p += 2;
    if (p + 1 > last) return needMore(remaining);
    // A line continued on the next one: refused (Beast would join them with one SP).
    if (isOws(b[p])) return refuse("obs_fold");
    while (value_end > value_start && isOws(b[value_end - 1])) --value_end;
    const std::string_view value(b.data() + value_start, value_end - value_start);
    const Name kind = classify(name);
    if (kind != Name::kOther) {
      const char* framing_error = nullptr;
      if (beastField(kind, value, beast, h, &framing_error)) return refuse("bad_response");
      if (framing_error) return refuse("bad_framing");
      if (kind == Name::kTransferEncoding) {
        ++s.te_lines;
        scanTransferEncoding(value, s);
      } else if (kind == Name::kContentLength) {
        ++s.cl_lines;
        scanContentLength(value, s);
      }
    }
    h.add({name, value});
  }
  if (p != head_end) return refuse("bad_response");  // cannot happen: the first CRLF CRLF
  h.size = p;
  if (const char* reason = decide(h, s, beast, request_was_head)) return refuse(reason);
  Result r;
  r.status = Status::kDone;
  r.consumed = p;
  return r;
}

}  // namespace

void ResponseHead::clear() {
  version = status = 0;
  reason = {};
  size = 0;
  framing = {};
  connection_close = connection_keep_alive = connection_upgrade = has_upgrade = false;
  clearFields();
}

Result ResponseParser::parse(std::string_view data, ResponseHead& head, bool request_was_head) {
  const size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
  const size_t end = data.find("\r\n\r\n", from);
  if (end != std::string_view::npos) return parseHead(data, end + 4, head, request_was_head);
  scanned_ = data.size();
  // The bytes so far are parsed again each time they have doubled (amortised O(n) for a head
  // arriving in small pieces), and on every read once 64 KiB are buffered (Beast's limit).
  if (data.size() < 2 * checked_ && data.size() < kMaxHeadBytes) return {};
  checked_ = data.size();
  return parseHead(data, std::string_view::npos, head, request_was_head);
}

Result parseResponseHead(std::string_view data, ResponseHead& head, bool request_was_head) {
  ResponseParser parser;
  return parser.parse(data, head, request_was_head);
}

}  // namespace meshdeck::proxy::h1
