#include "proxy/http/h1_response.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <new>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "proxy/http/ascii_fold.h"
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

// What the framing fields of a head said so far, to Beast's parser and to the decision. The
// usual head has at most one Content-Length line, of 1 to 19 digits, and no Transfer-Encoding:
// while only such lines came (all equal, else Beast refuses the head), they are counted in
// `plain_lengths` (their number in `beast`), and the decision's Scan is not made. The first other
// framing line makes it, with those lines in it.
struct FramingNotes {
  FramingNotes() {}  // `scan_` only by fullScan(): no 64 bytes zeroed per head

  BeastState beast;
  unsigned plain_lengths = 0;
  bool plain_canonical = false;  // the last of them has no leading 0 (or is "0")
  bool scanned = false;          // `scan_` is made

  Scan& fullScan() {
    if (!scanned) {
      Scan& s = *new (&scan_) Scan();
      scanned = true;
      s.cl_lines = plain_lengths;
      s.cl_seen = plain_lengths > 0;
      if (plain_lengths > 0) s.cl = beast.length;
      s.cl_canonical = plain_canonical;
    }
    return scan_;
  }
  Scan* madeScan() { return scanned ? &scan_ : nullptr; }
  bool anyFramingLine() const {
    return scanned ? scan_.te_lines > 0 || scan_.cl_lines > 0 : plain_lengths > 0;
  }
  DeclaredFraming declared(unsigned version) const {
    if (scanned) return framingOf(scan_, version);
    // framingOf() of the Scan these lines would make: no TE, cl_lines = plain_lengths, all
    // values equal and well-formed.
    DeclaredFraming f;
    if (plain_lengths > 0) {
      f.kind = Declared::kContentLength;
      f.length = beast.length;
      f.rewrite = plain_lengths != 1 || !plain_canonical;
    }
    return f;
  }

 private:
  union {
    Scan scan_;  // trivially destructible
  };
};

// decideResponseFraming() (proxy/http/framing.cpp) over the noted fields, then parserAgrees()
// (proxy/upstream_attempt.cpp) with what Beast's parser would hold.
const char* decide(ResponseHead& h, const FramingNotes& notes, bool request_was_head) {
  const BeastState& beast = notes.beast;
  ResponseFraming& f = h.framing;
  f = {};
  const unsigned status = h.status;
  const bool no_body_status = (status >= 100 && status < 200) || status == 204;
  if (no_body_status) {
    // RFC 9110 §8.6, RFC 9112 §6.3 (1): no body, nothing declared.
    f.rewrite = notes.anyFramingLine();
  } else {
    const DeclaredFraming d = notes.declared(h.version);
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

#if defined(__SSE2__)
// Bit i: the byte at p + i is below 0x20 or DEL (not a field-value byte, or HTAB).
[[gnu::always_inline]] inline unsigned valueFlags16(const char* p) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // x <= 0x1f (unsigned) or DEL.
  const __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x),
                                   _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
  return static_cast<unsigned>(_mm_movemask_epi8(bad));
}

// Bit i: the byte at p + i is not a letter, a digit or '-' (the usual bytes of a name).
[[gnu::always_inline]] inline unsigned otherNameBytes16(const char* p) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // A letter: x | 0x20 in 'a'..'z', moved to 0x80..0x99 (the lowest signed bytes); a digit: x in
  // '0'..'9', moved to 0x80..0x89. Signed compares are all SSE2 has.
  const __m128i letter =
      _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8(0x80 - 'a')),
                     _mm_set1_epi8(static_cast<char>(0x80 + 26)));
  const __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(0x80 - '0')),
                                       _mm_set1_epi8(static_cast<char>(0x80 + 10)));
  const __m128i usual =
      _mm_or_si128(_mm_or_si128(letter, digit), _mm_cmpeq_epi8(x, _mm_set1_epi8('-')));
  return ~static_cast<unsigned>(_mm_movemask_epi8(usual)) & 0xffffu;
}
#endif

// The first position in [p, end) of a byte that is not a field-value byte (kValue: HTAB,
// SP-~, obs-text), or `end`. Sixteen bytes at a time (SSE2): the lowest byte a step flags (below
// 0x20 or DEL) is where the scan jumps; a HTAB there is a value byte and the scan goes on after
// it. Fewer than 16 bytes before `end` are one step over the 16 bytes that end there (the bytes
// before `p` are in the buffer too when `end` >= 16), their flags shifted out. Without SSE2,
// eight bytes at a time by "Bit Twiddling Hacks"' hasless / haszero (the lowest flagged byte is
// exact on a little-endian machine).
[[gnu::always_inline]] inline size_t firstNonValue(const char* d, size_t p, size_t end) {
#if defined(__SSE2__)
  while (p + 16 <= end) {
    const unsigned mask = valueFlags16(d + p);
    if (mask == 0) {
      p += 16;
      continue;
    }
    p += static_cast<size_t>(std::countr_zero(mask));
    if (d[p] != '\t') return p;
    ++p;
  }
  if (end >= 16) {
    while (p < end) {
      const unsigned mask = valueFlags16(d + end - 16) >> (p + 16 - end);
      if (mask == 0) return end;
      p += static_cast<size_t>(std::countr_zero(mask));
      if (d[p] != '\t') return p;
      ++p;
    }
    return p;
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

// The first position in [p, end) of a byte that is not a tchar, or `end`. With SSE2, sixteen
// bytes at a time over the usual name bytes (letters, digits, '-'; the steps as in
// firstNonValue()); the first other byte is looked up in the table: a tchar there (one of
// "!#$%&'*+.^_`|~") is passed over, any other byte ends the name.
[[gnu::always_inline]] inline size_t firstNonTchar(const char* d, size_t p, size_t end) {
#if defined(__SSE2__)
  while (p + 16 <= end) {
    const unsigned mask = otherNameBytes16(d + p);
    if (mask == 0) {
      p += 16;
      continue;
    }
    p += static_cast<size_t>(std::countr_zero(mask));
    if (d[p] == ':' || !is(d[p], kTchar)) return p;  // the usual end first
    ++p;
  }
  if (end >= 16) {
    while (p < end) {
      const unsigned mask = otherNameBytes16(d + end - 16) >> (p + 16 - end);
      if (mask == 0) return end;
      p += static_cast<size_t>(std::countr_zero(mask));
      if (!is(d[p], kTchar)) return p;
      ++p;
    }
    return p;
  }
#endif
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

// The lengths a special name of each first letter has (bit n: length n), by the letter's low
// five bits (OR 0x20 folds the case): "te", "trailer", "transfer-encoding"; "upgrade";
// "connection", "content-length"; "keep-alive"; "proxy-connection", "proxy-authenticate",
// "proxy-authorization". Any other name is kOther without a compare.
inline constexpr auto kSpecialLengths = [] {
  std::array<uint32_t, 32> t{};
  t['t' & 31] = (1u << 2) | (1u << 7) | (1u << 17);
  t['u' & 31] = 1u << 7;
  t['c' & 31] = (1u << 10) | (1u << 14);
  t['k' & 31] = 1u << 10;
  t['p' & 31] = (1u << 16) | (1u << 18) | (1u << 19);
  return t;
}();

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

// A field whose name may be special (kSpecialLengths): its kind, with what it says noted in `h`
// and `notes`; the reason when the field refuses the head.
inline RName specialField(std::string_view name, std::string_view value, ResponseHead& h,
                          FramingNotes& notes, const char** refusal) {
  BeastState& beast = notes.beast;
  const RName kind = responseName(name);
  switch (kind) {
    case RName::kOther:
    case RName::kHop:
      break;
    case RName::kConnection:
      if (!connectionTokens(value, h)) *refusal = "bad_response";
      break;
    case RName::kUpgrade:
      h.has_upgrade = true;
      break;
    case RName::kContentLength: {
      uint64_t length = 0;
      if (!beast.chunked && plainLength(value, length)) {
        // beastField() and scanContentLength() for a single number.
        if (beast.has_length && beast.length != length) {
          *refusal = "bad_framing";
          break;
        }
        beast.has_length = true;
        beast.length = length;
        const bool canonical = value.size() == 1 || value[0] != '0';
        Scan* made = notes.madeScan();
        if (!made) {
          ++notes.plain_lengths;
          notes.plain_canonical = canonical;
          break;
        }
        Scan& s = *made;
        ++s.cl_lines;
        if (s.cl_seen && length != s.cl) s.cl_differ = true;
        s.cl_seen = true;
        s.cl = length;
        s.cl_canonical = canonical;
        break;
      }
      Scan& s = notes.fullScan();  // before beastField() changes `beast`
      const char* framing_error = nullptr;
      if (beastField(Name::kContentLength, value, beast, h, &framing_error)) {
        *refusal = "bad_response";
        break;
      }
      if (framing_error) {
        *refusal = "bad_framing";
        break;
      }
      ++s.cl_lines;
      scanContentLength(value, s);
      break;
    }
    case RName::kTransferEncoding: {
      Scan& s = notes.fullScan();
      const char* framing_error = nullptr;
      if (beastField(Name::kTransferEncoding, value, beast, h, &framing_error)) {
        *refusal = "bad_response";
        break;
      }
      if (framing_error) {
        *refusal = "bad_framing";
        break;
      }
      ++s.te_lines;
      scanTransferEncoding(value, s);
      break;
    }
  }
  return kind;
}

// "\r\n" as a 16-bit word read from memory.
inline constexpr uint16_t kCrLf = std::endian::native == std::endian::little ? 0x0a0d : 0x0d0a;
inline uint16_t word16(const char* p) {
  uint16_t w;
  std::memcpy(&w, p, 2);
  return w;
}

// Parses the response head at the start of `b` (every byte received so far) as Beast's parser
// does when given `b` at once: kNeedMore when nothing refuses the bytes yet. The head ends at
// the first blank line, which is the first CRLF CRLF of `b` (no value holds a CR, a line ends
// CRLF, an obs-fold is refused), so the parse finds the end itself in its one pass.
[[gnu::always_inline]] inline Result parseHead(std::string_view b, ResponseHead& h,
                                               bool request_was_head) {
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
  if (last0 >= 13 && std::memcmp(d, "HTTP/1.1 ", 9) == 0) [[likely]] {
    h.version = 11;  // the checks below, in one compare
  } else {
    if (std::memcmp(d, "HTTP/", 5) != 0 || !isDigit(d[5]) || d[6] != '.' || !isDigit(d[7]))
      return refuse("bad_response");
    h.version = static_cast<unsigned>((d[5] - '0') * 10 + (d[7] - '0'));
    if (h.version != 10 && h.version != 11) return refuse("bad_response");
    if (last0 < 9) return needMore(n);
    if (d[8] != ' ') return refuse("bad_response");
    if (last0 < 13) return needMore(n);
  }
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
  FramingNotes notes;
  uint64_t hop = 0, rebuilt = 0, names = 0;
  bool repeats = false;
  // The bit of the field being read in `hop` and `rebuilt` (none past the 64th field), taken
  // only for the few fields that set one.
  const auto fieldBit = [&h] {
    const size_t index = h.fieldCount();
    return index < 64 ? uint64_t{1} << index : 0;
  };
  size_t p = i;
  for (;;) {
    // Here p < last. A line starts with a name's letter mostly; the blank line with its CR.
    if (static_cast<unsigned char>(d[p]) <= 0x20 || d[p] == ':') [[unlikely]] {
      if (p + 2 > last) return needMore(remaining);
      if (d[p] != '\r') return refuse("bad_response");  // not a tchar: no name
      if (d[p + 1] != '\n') return refuse("bad_response");
      p += 2;
      break;
    }
    // name ":", not empty (d[p] is not ':')
    const size_t name_start = p;
    bool colon = false;
#if defined(__SSE2__)
    // firstNonTchar()'s 16-byte steps, here to test the usual end (the colon) once.
    while (p + 16 <= last) {
      const unsigned mask = otherNameBytes16(d + p);
      if (mask == 0) {
        p += 16;
        continue;
      }
      p += static_cast<size_t>(std::countr_zero(mask));
      colon = d[p] == ':';
      if (colon || !is(d[p], kTchar)) break;
      ++p;
    }
#endif
    if (!colon) [[unlikely]] {
      p = firstNonTchar(d, p, last);
      if (p >= last) return needMore(remaining);
      if (d[p] != ':' || p == name_start)
        return name_start + 2 > last ? needMore(remaining) : refuse("bad_response");
    }
    const size_t name_end = p;
    // OWS value OWS CRLF: the value bytes (OWS are value bytes) up to the CR.
    const size_t cr = firstNonValue(d, name_end + 1, last);
    if (cr + 2 >= last || word16(d + cr) != kCrLf) [[unlikely]] {
      if (cr >= last) return needMore(remaining);
      if (d[cr] != '\r') return refuse("bad_response");
      if (cr + 1 >= last) return needMore(remaining);
      if (d[cr + 1] != '\n') return refuse("bad_response");
      return needMore(remaining);  // cr + 2 == last
    }
    p = cr + 2;
    // A line continued on the next one: refused (Beast would join them with one SP).
    if (static_cast<unsigned char>(d[p]) <= 0x20 && isOws(d[p])) return refuse("obs_fold");
    // The usual line is "name: value CRLF": one SP, no trailing OWS (copied as is by the relay).
    // The bytes between the colon and the CR are value bytes, of which only OWS are <= 0x20.
    const auto above_sp = [](char c) { return static_cast<unsigned char>(c) > 0x20; };
    size_t value_start = name_end + 2;
    size_t value_end = cr;
    if (cr <= value_start || d[name_end + 1] != ' ' || !above_sp(d[value_start]) ||
        !above_sp(d[cr - 1])) [[unlikely]] {
      value_start = name_end + 1;
      while (value_start < cr && isOws(d[value_start])) ++value_start;
      while (value_end > value_start && isOws(d[value_end - 1])) --value_end;
      // What the relay needs to copy the line as received.
      if (value_start != name_end + 2 || d[name_end + 1] != ' ' || value_end != cr)
        rebuilt |= fieldBit();
    }
    const size_t name_size = name_end - name_start;
    const auto first = static_cast<unsigned>(static_cast<unsigned char>(d[name_start]) | 0x20);
    // Names that differ in length or first letter (case-folded) land on different bits mostly;
    // equal names always on the same one.
    const uint64_t name_bit = uint64_t{1} << ((name_size * 5 + first) & 63);
    repeats |= (names & name_bit) != 0;
    names |= name_bit;
    const std::string_view name(d + name_start, name_size);
    const std::string_view value(d + value_start, value_end - value_start);
    // Only a name of a special length for its first letter can be special (kSpecialLengths).
    if ((kSpecialLengths[first & 31] >> (name_size & 31)) & 1) {
      const char* refusal = nullptr;
      const RName kind = specialField(name, value, h, notes, &refusal);
      if (refusal) return refuse(refusal);
      if (kind >= RName::kConnection) hop |= fieldBit();
    }
    h.add(name.data(), name.size(), value.data(), value.size());
  }
  h.size = p;
  if (const char* reason = decide(h, notes, request_was_head)) return refuse(reason);
  h.data = d;
  h.described_fields = h.fieldCount();
  h.hop_fields = hop;
  h.rebuilt_fields = rebuilt;
  h.maybe_same_names = repeats;
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
  const bool check = data.size() >= 2 * checked_ || data.size() >= kMaxHeadBytes;
  if (check) {
    if (data.empty()) return {};
  } else if (data.find("\r\n\r\n", from) == std::string_view::npos) {
    // Otherwise only the search for the blank line, from where it stopped.
    scanned_ = data.size();
    return {};
  }
  Result r = parseHead(data, head, request_was_head);  // its one call: inlined
  // Need more: the search goes on from here, unless a CRLF CRLF is there already (before the
  // status line is long enough to judge, e.g. "X\r\n\r\n": the whole head is parsed again on
  // the next call, as when the search finds it).
  if (check && r.status == Status::kNeedMore &&
      data.find("\r\n\r\n", from) == std::string_view::npos)
    scanned_ = checked_ = data.size();
  return r;
}

Result parseResponseHead(std::string_view data, ResponseHead& head, bool request_was_head) {
  ResponseParser parser;
  return parser.parse(data, head, request_was_head);
}

}  // namespace meshdeck::proxy::h1
