#pragma once

// The byte classes, list and field rules the proxy's HTTP/1.1 request and response parsers
// (h1_parser.h, h1_response.h) share: the rules of Beast's parser and of the framing decision
// (proxy/http/framing.cpp) over views. Internal to the codec; no Beast, no Qt.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>

namespace meshdeck::proxy::h1::detail {

// Character classes, one table look-up per byte.
inline constexpr uint8_t kTchar = 1;  // tchar of RFC 9110 §5.6.2
inline constexpr uint8_t kPath = 2;   // a request-target byte Beast accepts: 0x21-0xff except DEL
inline constexpr uint8_t kValue = 4;  // a field value byte: HTAB, SP-~, obs-text (not CTL, not DEL)

inline constexpr auto kClass = [] {
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
inline bool iequals(std::string_view s, std::string_view lit) {
  if (s.size() != lit.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (lower(s[i]) != lit[i]) return false;
  return true;
}

inline std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

// --- The framing and Host decision (decideRequestFraming() in proxy/http/framing.cpp), over
// views. The same rules, in the same order; the differential test holds them equal. ---

// Calls `f(element)` for each non-empty, OWS-trimmed element of a comma-separated list.
template <typename F>
inline unsigned forEachElement(std::string_view list, F&& f) {
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

inline bool isToken(std::string_view s) {
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

inline void scanTransferEncoding(std::string_view value, Scan& s) {
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

inline void scanContentLength(std::string_view value, Scan& s) {
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

// What the Transfer-Encoding / Content-Length lines of a message state (framingOf() in
// proxy/http/framing.cpp): a refusal's reason (`unsupported`: an unknown coding, which a request
// answers 501), else the framing they declare.
enum class Declared : uint8_t { kNone, kContentLength, kChunked };
struct DeclaredFraming {
  Declared kind = Declared::kNone;
  uint64_t length = 0;
  bool rewrite = false;  // not the single canonical line writeFramingHeaders() writes
  const char* refusal = nullptr;
  bool unsupported = false;
};

inline DeclaredFraming framingOf(const Scan& s, unsigned version) {
  DeclaredFraming f;
  const auto refuse = [&](const char* reason) {
    f.refusal = reason;
    return f;
  };
  if (s.te_lines > 0) {
    if (version < 11) return refuse("transfer_encoding_http10");
    if (s.cl_lines > 0) return refuse("content_length_with_transfer_encoding");
    if (s.te_bad || s.te_elements == 0) return refuse("bad_transfer_encoding");
    if (s.chunked_count > 1) return refuse("chunked_twice");
    if (s.chunked_count == 1 && !s.chunked_last) return refuse("chunked_not_last");
    if (s.te_unknown) {
      f.unsupported = true;
      return refuse("unsupported_transfer_encoding");
    }
    f.kind = Declared::kChunked;
    f.rewrite = s.te_lines != 1 || !s.te_canonical;
  } else if (s.cl_lines > 0) {
    if (s.cl_bad) return refuse("bad_content_length");
    if (s.cl_differ) return refuse("multiple_content_length");
    f.kind = Declared::kContentLength;
    f.length = s.cl;
    f.rewrite = s.cl_lines != 1 || !s.cl_canonical;
  }
  return f;
}

inline bool hasToken(std::string_view list, std::string_view lower_token) {
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

inline Name classify(std::string_view n) {
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

// --- Beast's field rules (boost/beast/http/impl/basic_parser.ipp do_field), which the proxy
// applies today before its own decision. ---

// Beast's opt_token_list read to the end: `#token` with empty elements allowed. Calls
// `f(token)` for each token; false when the list is malformed.
template <typename F>
inline bool beastTokenList(std::string_view v, F&& f) {
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

inline bool beastParseDec(std::string_view s, uint64_t& out) {
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
template <typename Head>
inline const char* beastField(Name name, std::string_view value, BeastState& b, Head& h,
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
inline size_t skipPlain(const char* data, size_t p, size_t end, unsigned below) {
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

}  // namespace meshdeck::proxy::h1::detail
