#include "proxy/http/h1_response.h"

#include <algorithm>
#include <bit>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// The first position in [p, end) of a byte that is not a field-value byte (kValue: HTAB,
// SP-~, obs-text), or `end`. Eight bytes at a time: the lowest byte a word flags (below 0x20 or
// DEL, by "Bit Twiddling Hacks"' hasless / haszero) is exact on a little-endian machine, so the
// scan jumps to it; a HTAB there is a value byte and the scan goes on after it.
[[gnu::always_inline]] inline size_t firstNonValue(const char* d, size_t p, size_t end) {
#if defined(__SSE2__)
  // Sixteen bytes at a time first: most values and reason phrases end within one step.
  {
    const __m128i below = _mm_set1_epi8(0x1f);
    const __m128i del = _mm_set1_epi8(0x7f);
    while (p + 16 <= end) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + p));
      // x <= 0x1f (unsigned) or DEL.
      const __m128i bad =
          _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, below), x), _mm_cmpeq_epi8(x, del));
      const auto mask = static_cast<unsigned>(_mm_movemask_epi8(bad));
      if (mask == 0) {
        p += 16;
        continue;
      }
      p += static_cast<size_t>(std::countr_zero(mask));
      if (d[p] != '\t') return p;
      ++p;
    }
  }
#endif
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  constexpr uint64_t kLess = kOnes * 0x20;
  constexpr uint64_t kDel = kOnes * 0x7f;
  while (p + 8 <= end) {
    uint64_t x;
    std::memcpy(&x, d + p, 8);
    const uint64_t y = x ^ kDel;
    const uint64_t hit = (((x - kLess) & ~x) | ((y - kOnes) & ~y)) & kHigh;
    if (hit == 0) {
      p += 8;
      continue;
    }
    if constexpr (std::endian::native != std::endian::little) break;  // the byte loop below
    p += static_cast<size_t>(std::countr_zero(hit)) / 8;
    if (d[p] != '\t') return p;
    ++p;
  }
  while (p < end && is(d[p], kValue)) ++p;
  return p;
}

// The first position in [p, end) of a byte that is not a tchar, or `end`.
inline size_t firstNonTchar(const char* d, size_t p, size_t end) {
  while (p + 4 <= end) {
    if (!is(d[p], kTchar)) return p;
    if (!is(d[p + 1], kTchar)) return p + 1;
    if (!is(d[p + 2], kTchar)) return p + 2;
    if (!is(d[p + 3], kTchar)) return p + 3;
    p += 4;
  }
  while (p < end && is(d[p], kTchar)) ++p;
  return p;
}

// Whether the N - 1 bytes at `p` equal the lower-case literal, ASCII case-insensitively, for
// bytes that are tchars or field-value bytes (no CR): the literals are letters and '-', for
// which OR-ing 0x20 maps exactly the upper- and lower-case letter to the letter (and only '-'
// and CR to '-'). Whole words at a time; the caller has the bytes in the buffer.
template <size_t N>
inline bool equalsFolded(const char* p, const char (&lit)[N]) {
  constexpr size_t n = N - 1;
  constexpr uint64_t kFold = 0x2020202020202020ull;
  if constexpr (n < 8) {
    constexpr uint64_t mask = kFold & ((uint64_t{1} << (8 * n)) - 1);
    uint64_t x = 0, y = 0;
    std::memcpy(&x, p, n);
    std::memcpy(&y, lit, n);
    return (x | mask) == y;
  } else {
    uint64_t x, y;
    for (size_t i = 0; i + 8 <= n; i += 8) {
      std::memcpy(&x, p + i, 8);
      std::memcpy(&y, lit + i, 8);
      if ((x | kFold) != y) return false;
    }
    if constexpr (n % 8 != 0) {
      std::memcpy(&x, p + n - 8, 8);
      std::memcpy(&y, lit + n - 8, 8);
      if ((x | kFold) != y) return false;
    }
    return true;
  }
}

// The field names a response head treats specially: the framing and connection fields
// Beast's parser reads, and the hop-by-hop names the relay drops (removeHopByHopHeaders()).
enum class RName : uint8_t {
  kOther,
  kContentLength,
  kTransferEncoding,
  kConnection,  // also Proxy-Connection
  kUpgrade,
  kHop,  // Keep-Alive, TE, Trailer, Proxy-Authenticate, Proxy-Authorization
};

// By length, then the first letter, then the whole name; `n` is a validated field name.
inline RName responseName(std::string_view n) {
  const char* p = n.data();
  const char c = static_cast<char>(p[0] | 0x20);
  switch (n.size()) {
    case 2:
      return equalsFolded(p, "te") ? RName::kHop : RName::kOther;
    case 7:
      if (c == 'u') return equalsFolded(p, "upgrade") ? RName::kUpgrade : RName::kOther;
      if (c == 't') return equalsFolded(p, "trailer") ? RName::kHop : RName::kOther;
      return RName::kOther;
    case 10:
      if (c == 'c') return equalsFolded(p, "connection") ? RName::kConnection : RName::kOther;
      if (c == 'k') return equalsFolded(p, "keep-alive") ? RName::kHop : RName::kOther;
      return RName::kOther;
    case 14:
      return c == 'c' && equalsFolded(p, "content-length") ? RName::kContentLength : RName::kOther;
    case 16:
      return c == 'p' && equalsFolded(p, "proxy-connection") ? RName::kConnection : RName::kOther;
    case 17:
      return c == 't' && equalsFolded(p, "transfer-encoding") ? RName::kTransferEncoding
                                                              : RName::kOther;
    case 18:
      return c == 'p' && equalsFolded(p, "proxy-authenticate") ? RName::kHop : RName::kOther;
    case 19:
      return c == 'p' && equalsFolded(p, "proxy-authorization") ? RName::kHop : RName::kOther;
    default:
      return RName::kOther;
  }
}

// A Connection / Proxy-Connection value: Beast's token list (false when malformed), its tokens
// noted. The usual value is one token: compared whole.
inline bool connectionTokens(std::string_view v, ResponseHead& h) {
  switch (v.size()) {
    case 5:
      if (equalsFolded(v.data(), "close")) {
        h.connection_close = true;
        return true;
      }
      break;
    case 7:
      if (equalsFolded(v.data(), "upgrade")) {
        h.connection_upgrade = true;
        return true;
      }
      break;
    case 10:
      if (equalsFolded(v.data(), "keep-alive")) {
        h.connection_keep_alive = true;
        return true;
      }
      break;
    default:
      break;
  }
  return beastTokenList(v, [&](std::string_view t) {
    if (iequals(t, "close"))
      h.connection_close = true;
    else if (iequals(t, "keep-alive"))
      h.connection_keep_alive = true;
    else if (iequals(t, "upgrade"))
      h.connection_upgrade = true;
    else
      h.connection_other = true;
  });
}

// A Content-Length of 1 to 19 digits (no overflow), the usual value: its number, else false.
inline bool plainLength(std::string_view v, uint64_t& out) {
  if (v.empty() || v.size() > 19) return false;
  uint64_t n = 0;
  for (char c : v) {
    const auto d = static_cast<unsigned>(static_cast<unsigned char>(c) - '0');
    if (d > 9) return false;
    n = n * 10 + d;
  }
  out = n;
  return true;
}

// Parses the response head at the start of `b` (every byte received so far) as Beast's parser
// does when given `b` at once: kNeedMore when nothing refuses the bytes yet. The head ends at
// the first blank line, which is the first CRLF CRLF of `b` (no value holds a CR, a line ends
// CRLF, an obs-fold is refused), so the parse finds the end itself in its one pass.
Result parseHead(std::string_view b, ResponseHead& h, bool request_was_head) {
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
  const char* d = b.data();
  if (std::memcmp(d, "HTTP/", 5) != 0 || !isDigit(d[5]) || d[6] != '.' || !isDigit(d[7]))
    return refuse("bad_response");
  h.version = static_cast<unsigned>((d[5] - '0') * 10 + (d[7] - '0'));
  if (h.version != 10 && h.version != 11) return refuse("bad_response");
  if (last0 < 9) return needMore(n);
  if (d[8] != ' ') return refuse("bad_response");
  if (last0 < 13) return needMore(n);
  if (!isDigit(d[9]) || !isDigit(d[10]) || !isDigit(d[11]) || d[12] != ' ')
    return refuse("bad_response");
  h.status = static_cast<unsigned>((d[9] - '0') * 100 + (d[10] - '0') * 10 + (d[11] - '0'));
  size_t i = firstNonValue(d, 13, last0);
  if (i >= last0) return needMore(n);
  if (d[i] != '\r') return refuse("bad_response");
  if (i + 1 >= last0) return needMore(n);
  if (d[i + 1] != '\n') return refuse("bad_response");
  h.reason = b.substr(13, i - 13);
  i += 2;
  if (i >= n) return {};  // Beast checks no limit here

  // --- fields, by Beast's rules, over at most 64 KiB of them ---
  const size_t remaining = n - i;
  const size_t last = i + std::min(remaining, kMaxHeadBytes);
  BeastState beast;
  Scan s;
  uint64_t hop = 0, rebuilt = 0, names = 0;
  bool same_names = false;
  size_t p = i;
  for (;;) {
    if (p + 2 > last) return needMore(remaining);
    if (d[p] == '\r') {
      if (d[p + 1] != '\n') return refuse("bad_response");
      p += 2;
      break;
    }
    // name ":"
    const size_t name_start = p;
    p = firstNonTchar(d, p, last);
    if (p >= last) return needMore(remaining);
    if (d[p] != ':' || p == name_start) return refuse("bad_response");
    const size_t name_end = p;
    // OWS value OWS CRLF: the value bytes (OWS are value bytes) up to the CR.
    const size_t cr = firstNonValue(d, name_end + 1, last);
    if (cr >= last) return needMore(remaining);
    if (d[cr] != '\r') return refuse("bad_response");
    if (cr + 1 >= last) return needMore(remaining);
    if (d[cr + 1] != '\n') return refuse("bad_response");
    p = cr + 2;
    if (p >= last) return needMore(remaining);
    // A line continued on the next one: refused (Beast would join them with one SP).
    if (isOws(d[p])) return refuse("obs_fold");
    // The usual line is "name: value CRLF": one SP, no trailing OWS (copied as is by the relay).
    size_t value_start = name_end + 2;
    size_t value_end = cr;
    bool plain =
        cr > value_start && d[name_end + 1] == ' ' && !isOws(d[value_start]) && !isOws(d[cr - 1]);
    if (!plain) {
      value_start = name_end + 1;
      while (value_start < cr && isOws(d[value_start])) ++value_start;
      while (value_end > value_start && isOws(d[value_end - 1])) --value_end;
      plain = value_start == name_end + 2 && d[name_end + 1] == ' ' && value_end == cr;
    }
    const std::string_view name(d + name_start, name_end - name_start);
    const std::string_view value(d + value_start, value_end - value_start);
    const RName kind = responseName(name);
    switch (kind) {
      case RName::kOther:
      case RName::kHop:
        break;
      case RName::kConnection:
        if (!connectionTokens(value, h)) return refuse("bad_response");
        break;
      case RName::kUpgrade:
        h.has_upgrade = true;
        break;
      case RName::kContentLength: {
        uint64_t length = 0;
        if (!beast.chunked && plainLength(value, length)) {
          // beastField() and scanContentLength() for a single number.
          if (beast.has_length && beast.length != length) return refuse("bad_framing");
          beast.has_length = true;
          beast.length = length;
          ++s.cl_lines;
          if (s.cl_seen && length != s.cl) s.cl_differ = true;
          s.cl_seen = true;
          s.cl = length;
          s.cl_canonical = value.size() == 1 || value[0] != '0';
          break;
        }
        const char* framing_error = nullptr;
        if (beastField(Name::kContentLength, value, beast, h, &framing_error))
          return refuse("bad_response");
        if (framing_error) return refuse("bad_framing");
        ++s.cl_lines;
        scanContentLength(value, s);
        break;
      }
      case RName::kTransferEncoding: {
        const char* framing_error = nullptr;
        if (beastField(Name::kTransferEncoding, value, beast, h, &framing_error))
          return refuse("bad_response");
        if (framing_error) return refuse("bad_framing");
        ++s.te_lines;
        scanTransferEncoding(value, s);
        break;
      }
    }
    // What the relay needs to copy the line as received.
    const size_t index = h.fieldCount();
    if (index < 64) {
      const uint64_t bit = uint64_t{1} << index;
      if (kind >= RName::kConnection) hop |= bit;
      if (!plain) rebuilt |= bit;
    }
    // Names that differ in length or first letter (case-folded) land on different bits mostly;
    // equal names always on the same one.
    const auto first = static_cast<unsigned>(static_cast<unsigned char>(d[name_start]) | 0x20);
    const uint64_t name_bit = uint64_t{1} << ((name.size() * 5 + first) & 63);
    same_names = same_names || (names & name_bit) != 0;
    names |= name_bit;
    h.add({name, value});
  }
  h.size = p;
  if (const char* reason = decide(h, s, beast, request_was_head)) return refuse(reason);
  h.data = d;
  h.described_fields = h.fieldCount();
  h.hop_fields = hop;
  h.rebuilt_fields = rebuilt;
  h.maybe_same_names = same_names;
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
  data = nullptr;
  described_fields = 0;
  hop_fields = rebuilt_fields = 0;
  connection_other = maybe_same_names = false;
  clearFields();
}

Result ResponseParser::parse(std::string_view data, ResponseHead& head, bool request_was_head) {
  // The bytes so far are parsed on the first call, again each time they have doubled (amortised
  // O(n) for a head arriving in small pieces), and on every read once 64 KiB are buffered
  // (Beast's limit). Such a parse finds the blank line itself: a complete head read at once (the
  // usual case) is gone over once, with no separate search.
  const size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
  if (data.size() >= 2 * checked_ || data.size() >= kMaxHeadBytes) {
    if (data.empty()) return {};
    const Result r = parseHead(data, head, request_was_head);
    // Need more: the search goes on from here, unless a CRLF CRLF is there already (before the
    // status line is long enough to judge, e.g. "X\r\n\r\n": the whole head is parsed again on
    // the next call, as when the search finds it).
    if (r.status == Status::kNeedMore && data.find("\r\n\r\n", from) == std::string_view::npos)
      scanned_ = checked_ = data.size();
    return r;
  }
  // Otherwise only the search for the blank line, from where it stopped.
  if (data.find("\r\n\r\n", from) != std::string_view::npos)
    return parseHead(data, head, request_was_head);
  scanned_ = data.size();
  return {};
}

Result parseResponseHead(std::string_view data, ResponseHead& head, bool request_was_head) {
  ResponseParser parser;
  return parser.parse(data, head, request_was_head);
}

}  // namespace meshdeck::proxy::h1
