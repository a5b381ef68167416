#include "proxy/http/h1_parser.h"

#include <array>
#include <cstring>
#include <limits>

#include "proxy/http/host_syntax.h"

namespace meshdeck::proxy::h1 {

namespace {

// Character classes, one table look-up per byte.
constexpr uint8_t kTchar = 1;  // tchar of RFC 9110 §5.6.2
constexpr uint8_t kPath = 2;   // a request-target byte Beast accepts: 0x21-0xff except DEL
constexpr uint8_t kValue = 4;  // a field value byte: HTAB, SP-~, obs-text (not CTL, not DEL)

constexpr auto kClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos)
      v |= kTchar;
    if (c >= 0x21 && c != 0x7f) v |= kPath;
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) v |= kValue;
    t[static_cast<size_t>(c)] = v;
  }
  return t;
}();

inline bool is(char c, uint8_t cls) { return (kClass[static_cast<unsigned char>(c)] & cls) != 0; }
inline bool isDigit(char c) { return c >= '0' && c <= '9'; }
inline bool isOws(char c) { return c == ' ' || c == '\t'; }

inline char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }

// ASCII case-insensitive equality; `lit` is lower-case.
bool iequals(std::string_view s, std::string_view lit) {
  if (s.size() != lit.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (lower(s[i]) != lit[i]) return false;
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

// --- The framing and Host decision (decideRequestFraming() in proxy/http/framing.cpp), over
// views. The same rules, in the same order; the differential test holds them equal. ---

// Calls `f(element)` for each non-empty, OWS-trimmed element of a comma-separated list.
template <typename F>
unsigned forEachElement(std::string_view list, F&& f) {
  unsigned n = 0;
  for (;;) {
    const size_t comma = list.find(',');
    const auto element = trimOws(list.substr(0, comma));
    if (!element.empty()) {
      ++n;
      f(element);
    }
    if (comma == std::string_view::npos) return n;
    list.remove_prefix(comma + 1);
  }
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is(c, kTchar)) return false;
  return true;
}

struct Scan {
  unsigned te_lines = 0, cl_lines = 0, host_lines = 0;
  unsigned te_elements = 0, chunked_count = 0;
  bool chunked_last = false, te_unknown = false, te_bad = false, te_canonical = false;
  bool cl_seen = false, cl_bad = false, cl_differ = false, cl_canonical = false;
  uint64_t cl = 0;
  std::string_view host;
  bool h2c = false;
};

void scanTransferEncoding(std::string_view value, Scan& s) {
  s.te_canonical = iequals(value, "chunked");
  forEachElement(value, [&](std::string_view element) {
    ++s.te_elements;
    if (iequals(element, "chunked")) {
      ++s.chunked_count;
      s.chunked_last = true;
      return;
    }
    s.chunked_last = false;
    const auto name = trimOws(element.substr(0, element.find(';')));
    if (!isToken(name) || iequals(name, "chunked"))
      s.te_bad = true;
    else
      s.te_unknown = true;
  });
}

void scanContentLength(std::string_view value, Scan& s) {
  bool single = true;
  unsigned commas = 0;
  for (char c : value) commas += c == ',';
  const unsigned elements = forEachElement(value, [&](std::string_view element) {
    uint64_t v = 0;
    for (char c : element) {
      if (!isDigit(c) || v > (std::numeric_limits<uint64_t>::max() - 9) / 10) {
        s.cl_bad = true;
        return;
      }
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (s.cl_seen && v != s.cl) s.cl_differ = true;
    s.cl_seen = true;
    s.cl = v;
    single = single && element.size() == value.size() && (element.size() == 1 || element[0] != '0');
  });
  if (elements == 0 || elements != 1 + commas) s.cl_bad = true;
  s.cl_canonical = elements == 1 && single;
}

bool hasToken(std::string_view list, std::string_view lower_token) {
  bool found = false;
  forEachElement(list, [&](std::string_view e) { found = found || iequals(e, lower_token); });
  return found;
}

// The field names the decision and Beast's parser treat specially.
enum class Name : uint8_t {
  kOther,
  kTransferEncoding,
  kContentLength,
  kHost,
  kUpgrade,
  kHttp2Settings,
  kConnection,  // also Proxy-Connection
};

Name classify(std::string_view n) {
  switch (n.size()) {
    case 4:
      return iequals(n, "host") ? Name::kHost : Name::kOther;
    case 7:
      return iequals(n, "upgrade") ? Name::kUpgrade : Name::kOther;
    case 10:
      return iequals(n, "connection") ? Name::kConnection : Name::kOther;
    case 14:
      if (iequals(n, "content-length")) return Name::kContentLength;
      return iequals(n, "http2-settings") ? Name::kHttp2Settings : Name::kOther;
    case 16:
      return iequals(n, "proxy-connection") ? Name::kConnection : Name::kOther;
    case 17:
      return iequals(n, "transfer-encoding") ? Name::kTransferEncoding : Name::kOther;
    default:
      return Name::kOther;
  }
}

struct Refusal {
  unsigned status = 0;
  const char* reason = nullptr;
};

// decideRequestFraming() on the parsed fields; fills the head's framing on success.
// A field the decision or Beast treats specially, noted while parsing so that the decision
// does not look at every field again.
struct Special {
  uint16_t index;
  Name kind;
};

// The decision over the fields `special` lists (all of them, classified again, when null).
Refusal decide(RequestHead& h, const Special* special = nullptr, size_t n_special = 0) {
  Scan s;
  const size_t n = special ? n_special : h.fieldCount();
  for (size_t k = 0; k < n; ++k) {
    const Field& f = h.field(special ? special[k].index : k);
    switch (special ? special[k].kind : classify(f.name)) {
      case Name::kTransferEncoding:
        ++s.te_lines;
        scanTransferEncoding(f.value, s);
        break;
      case Name::kContentLength:
        ++s.cl_lines;
        scanContentLength(f.value, s);
        break;
      case Name::kHost:
        ++s.host_lines;
        s.host = f.value;
        break;
      case Name::kUpgrade:
        if (hasToken(f.value, "h2c")) s.h2c = true;
        break;
      case Name::kHttp2Settings:
        s.h2c = true;
        break;
      default:
        break;
    }
  }
  if (s.host_lines > 1) return {400, "multiple_host"};
  h.body = BodyFraming::kNone;
  h.content_length = 0;
  h.rewrite_framing = false;
  if (s.te_lines > 0) {
    if (h.version < 11) return {400, "transfer_encoding_http10"};
    if (s.cl_lines > 0) return {400, "content_length_with_transfer_encoding"};
    if (s.te_bad || s.te_elements == 0) return {400, "bad_transfer_encoding"};
    if (s.chunked_count > 1) return {400, "chunked_twice"};
    if (s.chunked_count == 1 && !s.chunked_last) return {400, "chunked_not_last"};
    if (s.te_unknown) return {501, "unsupported_transfer_encoding"};
    h.body = BodyFraming::kChunked;
    h.rewrite_framing = s.te_lines != 1 || !s.te_canonical;
  } else if (s.cl_lines > 0) {
    if (s.cl_bad) return {400, "bad_content_length"};
    if (s.cl_differ) return {400, "multiple_content_length"};
    h.body = BodyFraming::kContentLength;
    h.content_length = s.cl;
    h.rewrite_framing = s.cl_lines != 1 || !s.cl_canonical;
  }
  const auto target = h.target;
  const bool absolute = !target.empty() && target[0] != '/' && target != "*";
  if (s.host_lines == 0) {
    if (h.version >= 11) return {400, "missing_host"};
  } else if (!isValidHost(s.host, absolute)) {
    return {400, "bad_host"};
  }
  h.h2c = s.h2c;
  return {};
}

// --- Beast's field rules (boost/beast/http/impl/basic_parser.ipp do_field), which the proxy
// applies today before its own decision. ---

// Beast's opt_token_list read to the end: `#token` with empty elements allowed. Calls
// `f(token)` for each token; false when the list is malformed.
template <typename F>
bool beastTokenList(std::string_view v, F&& f) {
  size_t i = 0;
  bool need_comma = false;
  for (;;) {
    while (i < v.size() && isOws(v[i])) ++i;
    if (i == v.size()) return true;
    if (is(v[i], kTchar)) {
      if (need_comma) return false;
      const size_t start = i;
      while (i < v.size() && is(v[i], kTchar)) ++i;
      f(v.substr(start, i - start));
      need_comma = true;
      continue;
    }
    if (v[i] != ',') return false;
    need_comma = false;
    ++i;
  }
}

bool beastParseDec(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : s) {
    if (!isDigit(c) || v > kMax / 10) return false;
    v *= 10;
    const auto d = static_cast<uint64_t>(c - '0');
    if (kMax - v < d) return false;
    v += d;
  }
  out = v;
  return true;
}

// What Beast's parser holds about the framing fields while it reads a head.
struct BeastState {
  bool chunked = false;
  bool has_length = false;
  uint64_t length = 0;
};

// The error Beast's do_field() raises for this field, or nullptr. Errors of Content-Length and
// Transfer-Encoding are returned in `framing_error` instead (the session names those by the
// decision when it refuses the head too).
const char* beastField(Name name, std::string_view value, BeastState& b, RequestHead& h,
                       const char** framing_error) {
  switch (name) {
    case Name::kConnection: {
      const bool ok = beastTokenList(value, [&](std::string_view t) {
        if (iequals(t, "close"))
          h.connection_close = true;
        else if (iequals(t, "keep-alive"))
          h.connection_keep_alive = true;
        else if (iequals(t, "upgrade"))
          h.connection_upgrade = true;
      });
      return ok ? nullptr : "bad_header_value";
    }
    case Name::kContentLength: {
      if (b.chunked) {
        *framing_error = "bad_content_length";
        return nullptr;
      }
      size_t commas = 0;
      for (char c : value) commas += c == ',';
      size_t tokens = 0;
      bool bad = false;
      const char* multiple = nullptr;
      bool has = b.has_length;
      uint64_t existing = b.length;
      const bool valid = beastTokenList(value, [&](std::string_view t) {
        ++tokens;
        if (bad || multiple) return;
        uint64_t v = 0;
        if (!beastParseDec(t, v)) {
          bad = true;
        } else if (has && v != existing) {
          multiple = "multiple_content_length";
        } else {
          has = true;
          existing = v;
        }
      });
      // Beast checks the list shape first, then each token in order, then the empty elements.
      if (tokens == 0 || !valid) {
        *framing_error = "bad_content_length";
      } else if (bad) {
        *framing_error = "bad_content_length";
      } else if (multiple) {
        *framing_error = multiple;
      } else if (tokens != commas + 1) {
        *framing_error = "bad_content_length";
      } else {
        b.has_length = true;
        b.length = existing;
      }
      return nullptr;
    }
    case Name::kTransferEncoding: {
      if (b.chunked || b.has_length) {
        *framing_error = "bad_transfer_encoding";
        return nullptr;
      }
      // Beast's token_list stops at the first malformed element (beastTokenList() too); chunked
      // is set when the first "chunked" token is the last one read.
      size_t n = 0, first_chunked = 0;
      bool found = false;
      beastTokenList(value, [&](std::string_view t) {
        if (!found && iequals(t, "chunked")) {
          found = true;
          first_chunked = n;
        }
        ++n;
      });
      if (found && first_chunked + 1 == n) b.chunked = true;
      return nullptr;
    }
    case Name::kUpgrade:
      h.has_upgrade = true;
      return nullptr;
    default:
      return nullptr;
  }
}

// The first position from `p` (at most `end`, stepping 8 bytes at a time) where an 8-byte word
// holds a byte below `below` (at most 0x80) or DEL; the caller's byte loop goes on from there.
// Bytes >= 0x80 (obs-text) pass, as in the byte classes. Heads are mostly plain text, so this
// is where the codec spends less than a cycle per byte.
size_t skipPlain(const char* data, size_t p, size_t end, unsigned below) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t less = kOnes * below;
  constexpr uint64_t kDel = kOnes * 0x7f;
  while (p + 8 <= end) {
    uint64_t x;
    std::memcpy(&x, data + p, 8);
    // hasless(x, below) and haszero(x ^ DEL) of "Bit Twiddling Hacks": exact as booleans.
    const uint64_t low = (x - less) & ~x & kHigh;
    const uint64_t y = x ^ kDel;
    const uint64_t del = (y - kOnes) & ~y & kHigh;
    if (low | del) break;
    p += 8;
  }
  return p;
}

// --- The read loop's raw checks (checkRawHeader() in proxy/http/headers.cpp) ---

Result error(unsigned status, const char* reason) {
  Result r;
  r.status = Status::kError;
  r.http_status = status;
  r.reason = reason;
  return r;
}

// A refusal by admission's head checks (Result::head_checks).
Result headCheckError(unsigned status, const char* reason) {
  Result r = error(status, reason);
  r.head_checks = true;
  return r;
}

// What the session refuses a complete head for before any parser sees it (over-long request
// line, obs-fold anywhere), else `otherwise`.
Result rawCheckOr(std::string_view b, Result otherwise) {
  size_t start = 0;
  while (b.substr(start, 2) == "\r\n") start += 2;
  const size_t line_end = b.find("\r\n", start);
  if (line_end == std::string_view::npos || line_end - start > kMaxRequestLineBytes)
    return error(431, "header_too_large");
  for (size_t at = b.find("\r\n", line_end); at != std::string_view::npos;
       at = b.find("\r\n", at + 2)) {
    if (at + 2 < b.size() && isOws(b[at + 2])) return error(400, "obs_fold");
  }
  return otherwise;
}

// Whether `data` (a head not complete yet) can still begin a valid request line
// (isPlausibleRequestPrefix() in proxy/http/headers.cpp).
bool plausiblePrefix(std::string_view data) {
  size_t i = 0;
  while (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') i += 2;
  if (i < data.size() && data[i] == '\r') return i + 1 == data.size();
  const size_t method_start = i;
  for (; i < data.size() && data[i] != ' '; ++i)
    if (!is(data[i], kTchar)) return false;
  if (i == data.size()) return true;
  if (i == method_start) return false;
  const size_t target_start = ++i;
  for (; i < data.size() && data[i] != ' '; ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (c < 0x21 || c == 0x7f) return false;
  }
  if (i == data.size()) return true;
  if (i == target_start) return false;
  const std::string_view rest = data.substr(i + 1);
  constexpr std::string_view kShape = "HTTP/0.0\r\n";
  for (size_t k = 0; k < rest.size() && k < kShape.size(); ++k) {
    const char want = kShape[k];
    const bool ok = want == '0' ? isDigit(rest[k]) : rest[k] == want;
    if (!ok) return false;
  }
  return true;
}

// The oracle's field-line rules (parseFieldLines() in proxy/http/framing.cpp), which name the
// refusal of a head Beast refused for its Content-Length or Transfer-Encoding: the rest of the
// head from `p` is read by them. Returns the oracle's refusal, or a null reason.
Refusal oracleRest(std::string_view b, size_t p, size_t count, RequestHead& h) {
  for (;;) {
    const size_t eol = b.find("\r\n", p);
    const auto line = b.substr(p, eol - p);
    p = eol + 2;
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !isToken(line.substr(0, colon)))
      return {400, "bad_header_name"};
    const auto value = trimOws(line.substr(colon + 1));
    for (char c : value)
      if (!is(c, kValue)) return {400, "bad_header_value"};
    if (++count > kMaxFieldCount) return {431, "too_many_headers"};
    h.add({line.substr(0, colon), value});
  }
  if (b.size() > kMaxHeadBytes) return {431, "header_too_large"};
  return {};
}

// Parses a complete head `b` (ending with its first blank line).
Result parseComplete(std::string_view b, RequestHead& h) {
  h.clear();
  const size_t n = b.size();
  // Beast's answer to running out of bytes inside the head it is given.
  const auto needMore = [&](size_t remaining) {
    return rawCheckOr(
        b, remaining >= kMaxHeadBytes ? error(431, "header_too_large") : error(400, "bad_request"));
  };
  // --- request line: method SP target SP HTTP-version CRLF ---
  size_t i = 0;
  while (is(b[i], kTchar)) ++i;
  if (b[i] != ' ' || i == 0) return rawCheckOr(b, error(400, "bad_method"));
  h.method = b.substr(0, i);
  const size_t target_start = ++i;
  i = skipPlain(b.data(), i, n, 0x21);
  while (is(b[i], kPath)) ++i;
  if (b[i] != ' ' || i == target_start) return rawCheckOr(b, error(400, "bad_target"));
  h.target = b.substr(target_start, i - target_start);
  ++i;
  if (i + 8 > n) return needMore(n);
  const char* v = b.data() + i;
  if (std::memcmp(v, "HTTP/", 5) != 0 || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]))
    return rawCheckOr(b, error(505, "bad_version"));
  h.version = static_cast<unsigned>((v[5] - '0') * 10 + (v[7] - '0'));
  if (h.version != 10 && h.version != 11) return rawCheckOr(b, error(505, "bad_version"));
  i += 8;
  if (i + 2 > n) return needMore(n);
  if (b[i] != '\r' || b[i + 1] != '\n') return rawCheckOr(b, error(505, "bad_version"));
  i += 2;
  if (i - 2 > kMaxRequestLineBytes) return error(431, "header_too_large");

  // --- fields, by Beast's rules, over at most kMaxHeadBytes of them ---
  const size_t fields_start = i;
  const size_t last = fields_start + std::min(n - fields_start, kMaxHeadBytes);
  const size_t remaining = n - fields_start;
  BeastState beast;
  size_t count = 0;
  Special special[kMaxFieldCount];
  size_t n_special = 0;
  size_t p = fields_start;
  for (;;) {
    if (p + 2 > last) return needMore(remaining);
    if (b[p] == '\r') {
      if (b[p + 1] != '\n') return rawCheckOr(b, error(400, "bad_request"));
      p += 2;
      break;
    }
    if (isOws(b[p])) return rawCheckOr(b, error(400, "obs_fold"));
    // name ":"
    const size_t name_start = p;
    if (last == n) {
      // The head ends with CRLF CRLF: a name cannot run past it.
      while (is(b[p], kTchar)) ++p;
      if (b[p] != ':') return rawCheckOr(b, error(400, "bad_header_name"));
    } else {
      while (b[p] != ':') {
        if (!is(b[p], kTchar)) return rawCheckOr(b, error(400, "bad_header_name"));
        if (++p >= last) return needMore(remaining);
      }
    }
    if (p == name_start) return rawCheckOr(b, error(400, "bad_header_name"));
    const std::string_view name(b.data() + name_start, p - name_start);
    ++p;
    // OWS value OWS CRLF
    for (;; ++p) {
      if (p + 1 > last) return needMore(remaining);
      if (!isOws(b[p])) break;
    }
    const size_t value_start = p;
    p = skipPlain(b.data(), p, last, 0x20);  // 8 bytes at a time; a HTAB ends the fast path
    for (;; ++p) {
      if (p >= last) return needMore(remaining);
      if (!is(b[p], kValue)) break;
    }
    if (b[p] != '\r') return rawCheckOr(b, error(400, "bad_header_value"));
    if (p + 1 >= last) return needMore(remaining);
    if (b[p + 1] != '\n') return rawCheckOr(b, error(400, "bad_request"));
    size_t value_end = p;
    p += 2;
    if (p + 1 > last) return needMore(remaining);
    while (value_end > value_start && isOws(b[value_end - 1])) --value_end;
    const std::string_view value(b.data() + value_start, value_end - value_start);
    const Name kind = classify(name);
    if (kind != Name::kOther) {
      const char* framing_error = nullptr;
      if (const char* e = beastField(kind, value, beast, h, &framing_error))
        return rawCheckOr(b, error(400, e));
      if (framing_error) {
        // Beast stops here; the session reads the whole head with the oracle's rules and
        // names the refusal by the decision when it refuses the head too.
        if (Result raw = rawCheckOr(b, {}); raw.status == Status::kError) return raw;
        h.add({name, value});
        ++count;
        if (count > kMaxFieldCount) return error(431, "too_many_headers");
        if (Refusal r = oracleRest(b, p, count, h); r.reason) return error(r.status, r.reason);
        if (Refusal r = decide(h); r.reason) return error(r.status, r.reason);
        return error(400, framing_error);
      }
    }
    if (count < kMaxFieldCount) {
      if (kind != Name::kOther && kind != Name::kConnection)
        special[n_special++] = {static_cast<uint16_t>(count), kind};
      h.add({name, value});
    }
    ++count;
  }
  if (p != n) return rawCheckOr(b, error(400, "bad_request"));  // cannot happen: b ends here
  h.size = n;

  // --- admission's head checks (checkRequestHead()) ---
  if (count > kMaxFieldCount) return headCheckError(431, "too_many_headers");
  if (Refusal r = decide(h, special, n_special); r.reason)
    return headCheckError(r.status, r.reason);
  // The body is read by the decision; Beast's framing must agree with it (codecAgrees()).
  bool agrees = false;
  switch (h.body) {
    case BodyFraming::kNone:
      agrees = !beast.chunked && !(beast.has_length && beast.length > 0);
      break;
    case BodyFraming::kContentLength:
      agrees = !beast.chunked && beast.has_length && beast.length == h.content_length;
      break;
    case BodyFraming::kChunked:
      agrees = beast.chunked && !beast.has_length;
      break;
  }
  if (!agrees) return headCheckError(400, "framing_mismatch");
  Result r;
  r.status = Status::kDone;
  r.consumed = n;
  return r;
}

}  // namespace

const std::string_view* RequestHead::find(std::string_view name) const {
  for (size_t i = 0; i < count_; ++i) {
    const Field& f = field(i);
    if (f.name.size() != name.size()) continue;
    bool same = true;
    for (size_t k = 0; k < name.size() && same; ++k) same = lower(f.name[k]) == lower(name[k]);
    if (same) return &f.value;
  }
  return nullptr;
}

void RequestHead::clear() {
  method = target = {};
  version = 0;
  size = 0;
  body = BodyFraming::kNone;
  content_length = 0;
  rewrite_framing = h2c = false;
  connection_close = connection_keep_alive = connection_upgrade = has_upgrade = false;
  overflow_.clear();
  count_ = 0;
}

void RequestHead::addOverflow(Field f) {
  overflow_.push_back(f);
  ++count_;
}

Result RequestParser::parse(std::string_view data, RequestHead& head) {
  // The end of the head: the first blank line, searched from where the last call stopped.
  const size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
  const size_t end = data.find("\r\n\r\n", from);
  if (end != std::string_view::npos) return parseComplete(data.substr(0, end + 4), head);
  scanned_ = data.size();
  if (!plausiblePrefix(data.substr(0, std::min(data.size(), kMaxRequestLineBytes + 2))))
    return error(400, "bad_request_line");
  if (data.size() >= kMaxHeadBytes) return error(431, "header_too_large");
  if (data.size() > kMaxRequestLineBytes && data.find("\r\n") == std::string_view::npos)
    return error(431, "header_too_large");
  return {};
}

Result parseRequestHead(std::string_view data, RequestHead& head) {
  RequestParser parser;
  return parser.parse(data, head);
}

}  // namespace meshdeck::proxy::h1
