#include "proxy/http/framing.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <charconv>
#include <limits>

namespace meshdeck::proxy {

namespace http = boost::beast::http;

namespace {

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// tchar of RFC 9110 §5.6.2.
bool isTchar(char c) {
  if (isAlpha(c) || isDigit(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!isTchar(c)) return false;
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `f(element)` for each non-empty, OWS-trimmed element of a comma-separated list
// (RFC 9110 §5.6.1: empty elements are allowed and ignored). Returns the number of elements.
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

// What one pass over a head's fields found about its framing and Host.
struct Scan {
  unsigned te_lines = 0, cl_lines = 0, host_lines = 0;
  // Transfer-Encoding, all lines as one list (RFC 9112 §6.1).
  unsigned te_elements = 0, chunked_count = 0;
  bool chunked_last = false, te_unknown = false, te_bad = false, te_canonical = false;
  // Content-Length, all lines and list elements (RFC 9110 §8.6).
  bool cl_seen = false, cl_bad = false, cl_differ = false, cl_canonical = false;
  uint64_t cl = 0;
  std::string_view host;
  bool h2c = false;
};

void scanTransferEncoding(std::string_view value, Scan& s) {
  s.te_canonical = boost::beast::iequals(value, "chunked");
  forEachElement(value, [&](std::string_view element) {
    ++s.te_elements;
    if (boost::beast::iequals(element, "chunked")) {
      ++s.chunked_count;
      s.chunked_last = true;
      return;
    }
    s.chunked_last = false;
    // transfer-coding = token *( OWS ";" OWS transfer-parameter ); chunked takes none.
    const auto name = trimOws(element.substr(0, element.find(';')));
    if (!isToken(name) || boost::beast::iequals(name, "chunked"))
      s.te_bad = true;
    else
      s.te_unknown = true;
  });
}

void scanContentLength(std::string_view value, Scan& s) {
  bool single = true;
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
  // Empty elements ("5,", ",") are not a length.
  if (elements == 0 ||
      elements != 1 + static_cast<unsigned>(std::count(value.begin(), value.end(), ',')))
    s.cl_bad = true;
  s.cl_canonical = elements == 1 && single;
}

bool hasToken(std::string_view list, std::string_view token) {
  bool found = false;
  forEachElement(list,
                 [&](std::string_view e) { found = found || boost::beast::iequals(e, token); });
  return found;
}

void scan(const Fields& fields, Scan& s) {
  for (const auto& f : fields) {
    switch (f.name()) {
      case http::field::transfer_encoding:
        ++s.te_lines;
        scanTransferEncoding(sv(f.value()), s);
        break;
      case http::field::content_length:
        ++s.cl_lines;
        scanContentLength(sv(f.value()), s);
        break;
      case http::field::host:
        ++s.host_lines;
        s.host = sv(f.value());
        break;
      case http::field::upgrade:
        if (hasToken(sv(f.value()), "h2c")) s.h2c = true;
        break;
      case http::field::http2_settings:
        s.h2c = true;
        break;
      default:
        break;
    }
  }
}

Framing refuse(unsigned status, const char* reason) {
  Framing f;
  f.kind = BodyFraming::kRefuse;
  f.status = status;
  f.reason = reason;
  return f;
}

// The body framing the head's Transfer-Encoding / Content-Length state, or a refusal with
// `bad_status` (400 for requests, 502 for responses; 501 for an unknown coding of a request).
Framing framingOf(const Scan& s, unsigned version, unsigned bad_status, unsigned unknown_status) {
  Framing f;
  if (s.te_lines > 0) {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
    if (version < 11) return refuse(bad_status, "transfer_encoding_http10");
    // RFC 9112 §6.3 (3): both is a smuggling attempt for an intermediary.
    if (s.cl_lines > 0) return refuse(bad_status, "content_length_with_transfer_encoding");
    if (s.te_bad || s.te_elements == 0) return refuse(bad_status, "bad_transfer_encoding");
    if (s.chunked_count > 1) return refuse(bad_status, "chunked_twice");
    if (s.chunked_count == 1 && !s.chunked_last) return refuse(bad_status, "chunked_not_last");
    // RFC 9112 §6.1: a coding the proxy does not decode (anything but chunked) is answered 501,
    // as the RFC asks of a server that does not understand a transfer coding.
    if (s.te_unknown) return refuse(unknown_status, "unsupported_transfer_encoding");
    f.kind = f.declared = BodyFraming::kChunked;
    f.rewrite = s.te_lines != 1 || !s.te_canonical;
    return f;
  }
  if (s.cl_lines > 0) {
    if (s.cl_bad) return refuse(bad_status, "bad_content_length");
    if (s.cl_differ) return refuse(bad_status, "multiple_content_length");
    f.kind = f.declared = BodyFraming::kContentLength;
    f.length = s.cl;
    f.rewrite = s.cl_lines != 1 || !s.cl_canonical;
    return f;
  }
  return f;
}

}  // namespace

Framing decideRequestFraming(const RequestHeader& head) {
  Scan s;
  scan(head, s);
  // RFC 9112 §3.2: more than one Host line is refused, whatever the version and target.
  if (s.host_lines > 1) return refuse(400, "multiple_host");
  Framing f = framingOf(s, head.version(), 400, 501);
  if (f.refused()) return f;
  // RFC 9112 §3.2: Host is required in HTTP/1.1 and must be valid. An absolute-form target
  // names the authority itself (§3.2.2), so its Host may be empty, but not malformed.
  const auto target = sv(head.target());
  const bool absolute = !target.empty() && target[0] != '/' && target != "*";
  if (s.host_lines == 0) {
    if (head.version() >= 11) return refuse(400, "missing_host");
  } else if (!isValidHost(s.host, absolute)) {
    return refuse(400, "bad_host");
  }
  f.h2c = s.h2c;
  return f;
}

Framing decideResponseFraming(const ResponseHeader& head, bool request_was_head) {
  Scan s;
  scan(head, s);
  const unsigned status = head.result_int();
  Framing f;
  // RFC 9110 §8.6, RFC 9112 §6.3 (1): 1xx and 204 have no body and declare none.
  if ((status >= 100 && status < 200) || status == 204) {
    f.rewrite = s.te_lines > 0 || s.cl_lines > 0;
    return f;
  }
  f = framingOf(s, head.version(), 502, 502);
  if (f.refused()) return f;
  if (request_was_head || status == 304) {
    // No body, but the head describes the representation: its length or coding is kept.
    f.kind = BodyFraming::kNone;
    return f;
  }
  if (f.kind == BodyFraming::kNone) {
    // RFC 9112 §6.3 (8): neither field: the body ends at the close of the connection.
    f.kind = f.declared = BodyFraming::kCloseDelimited;
  }
  return f;
}

void writeFramingHeaders(Fields& fields, BodyFraming declared, uint64_t length) {
  fields.erase(http::field::transfer_encoding);
  fields.erase(http::field::content_length);
  if (declared == BodyFraming::kChunked) {
    fields.insert(http::field::transfer_encoding, "chunked");
  } else if (declared == BodyFraming::kContentLength) {
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, length);
    fields.insert(http::field::content_length,
                  boost::beast::string_view(digits, static_cast<size_t>(r.ptr - digits)));
  }
}

bool removeH2c(Fields& fields) {
  std::vector<std::string> kept;
  for (auto it = fields.find(http::field::upgrade);
       it != fields.end() && it->name() == http::field::upgrade; ++it) {
    std::string rest;
    forEachElement(sv(it->value()), [&](std::string_view e) {
      if (boost::beast::iequals(e, "h2c")) return;
      if (!rest.empty()) rest += ", ";
      rest.append(e);
    });
    if (!rest.empty()) kept.push_back(std::move(rest));
  }
  fields.erase(http::field::upgrade);
  fields.erase(http::field::http2_settings);
  for (const auto& v : kept) fields.insert(http::field::upgrade, v);
  return !kept.empty();
}

const char* checkTrailer(const Fields& trailer) {
  for (const auto& f : trailer) {
    switch (f.name()) {
      // Framing and routing (RFC 9110 §6.5.1), connection control (§7.6.1).
      case http::field::content_length:
      case http::field::transfer_encoding:
      case http::field::host:
      case http::field::trailer:
      case http::field::connection:
      case http::field::keep_alive:
      case http::field::proxy_connection:
      case http::field::te:
      case http::field::upgrade:
      case http::field::http2_settings:
      // Request modifiers, authentication, response control and content metadata.
      case http::field::expect:
      case http::field::max_forwards:
      case http::field::cache_control:
      case http::field::pragma:
      case http::field::range:
      case http::field::if_match:
      case http::field::if_none_match:
      case http::field::if_modified_since:
      case http::field::if_unmodified_since:
      case http::field::if_range:
      case http::field::authorization:
      case http::field::proxy_authorization:
      case http::field::proxy_authenticate:
      case http::field::www_authenticate:
      case http::field::cookie:
      case http::field::set_cookie:
      case http::field::content_encoding:
      case http::field::content_type:
      case http::field::content_range:
      case http::field::location:
        return "bad_trailer";
      default:
        break;
    }
  }
  return nullptr;
}

namespace {

constexpr size_t kMaxRequestLine = 16 * 1024;
constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxHeaderCount = 100;

bool hasCtl(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

// Parses field lines from `data` (each "name: value\r\n") up to and including the blank line
// into `out`. Returns bytes consumed, 0 when incomplete; sets `refusal` on a syntax error.
size_t parseFieldLines(std::string_view data, Fields& out, Framing& refusal, size_t max_count) {
  size_t pos = 0;
  size_t count = 0;
  for (;;) {
    const size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      if (data.find('\n', pos) != std::string_view::npos) refusal = refuse(400, "bad_line_ending");
      return 0;
    }
    const auto line = data.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) return pos;
    if (line[0] == ' ' || line[0] == '\t') {
      refusal = refuse(400, "obs_fold");
      return 0;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !isToken(line.substr(0, colon))) {
      refusal = refuse(400, "bad_header_name");
      return 0;
    }
    const auto value = trimOws(line.substr(colon + 1));
    if (hasCtl(value)) {
      refusal = refuse(400, "bad_header_value");
      return 0;
    }
    if (++count > max_count) {
      refusal = refuse(431, "too_many_headers");
      return 0;
    }
    out.insert(line.substr(0, colon), value);
  }
}

enum class ChunkResult { kOk, kIncomplete, kBad };

// Decodes a chunked body starting at `pos`; on kOk `pos` is one past its end.
ChunkResult decodeChunked(std::string_view data, size_t& pos, std::string& body, Fields& trailer,
                          Framing& refusal) {
  for (size_t p = pos;;) {
    const size_t eol = data.find("\r\n", p);
    if (eol == std::string_view::npos) return ChunkResult::kIncomplete;
    const auto line = data.substr(p, eol - p);
    size_t digits = 0;
    uint64_t size = 0;
    while (digits < line.size() && isHex(line[digits])) {
      if (digits == 15) return ChunkResult::kBad;
      const char c = line[digits++];
      size = size * 16 + static_cast<uint64_t>(isDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): skipped, not forwarded.
    const auto ext = trimOws(line.substr(digits));
    if (digits == 0 || (!ext.empty() && (ext[0] != ';' || hasCtl(ext)))) return ChunkResult::kBad;
    p = eol + 2;
    if (size == 0) {
      const size_t n = parseFieldLines(data.substr(p), trailer, refusal, kMaxHeaderCount);
      if (refusal.refused()) return ChunkResult::kBad;
      if (n == 0) return ChunkResult::kIncomplete;
      pos = p + n;
      return ChunkResult::kOk;
    }
    if (data.size() - p < size + 2) return ChunkResult::kIncomplete;
    body.append(data.substr(p, size));
    if (data.substr(p + size, 2) != "\r\n") return ChunkResult::kBad;
    p += size + 2;
  }
}

bool endsConnection(const RequestHeader& head) {
  const auto connection = sv(head[http::field::connection]);
  if (head.version() < 11) return !hasToken(connection, "keep-alive");
  return hasToken(connection, "close") ||
         (hasToken(connection, "upgrade") && head.count(http::field::upgrade) > 0);
}

}  // namespace

size_t parseRequestHead(std::string_view data, RequestHeader& head, Framing& refusal) {
  size_t start = 0;
  while (data.substr(start, 2) == "\r\n") start += 2;  // RFC 9112 §2.2
  const size_t eol = data.find("\r\n", start);
  if (eol == std::string_view::npos) {
    if (data.size() - start > kMaxRequestLine) refusal = refuse(431, "header_too_large");
    return 0;
  }
  const auto line = data.substr(start, eol - start);
  if (line.size() > kMaxRequestLine) {
    refusal = refuse(431, "header_too_large");
    return 0;
  }
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || !isToken(line.substr(0, sp1))) {
    refusal = refuse(400, "bad_request");
    return 0;
  }
  const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = line.substr(sp2 + 1);
  if (target.empty() || hasCtl(target) || target.find(' ') != std::string_view::npos) {
    refusal = refuse(400, "bad_target");
    return 0;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !isDigit(version[5]) ||
      version[6] != '.' || !isDigit(version[7])) {
    refusal = refuse(400, "bad_version");
    return 0;
  }
  const unsigned v = static_cast<unsigned>((version[5] - '0') * 10 + (version[7] - '0'));
  if (v != 10 && v != 11) {
    refusal = refuse(505, "bad_version");
    return 0;
  }
  head.method_string(line.substr(0, sp1));
  head.target(target);
  head.version(v);
  const size_t n = parseFieldLines(data.substr(eol + 2), head, refusal, kMaxHeaderCount);
  if (n == 0) return 0;
  if (eol + 2 + n > kMaxHeaderBytes) {
    refusal = refuse(431, "header_too_large");
    return 0;
  }
  return eol + 2 + n;
}

SplitResult splitRequests(std::string_view stream, size_t max_messages) {
  SplitResult out;
  size_t pos = 0;
  while (out.messages.size() < max_messages && pos < stream.size()) {
    SplitMessage m;
    const size_t n = parseRequestHead(stream.substr(pos), m.head, out.refusal);
    if (out.refusal.refused()) break;
    if (n == 0) {
      out.incomplete = true;
      break;
    }
    m.framing = decideRequestFraming(m.head);
    if (!m.framing.refused() &&
        (m.head.method() == http::verb::unknown || m.head.method() == http::verb::connect))
      m.framing = refuse(501, "unsupported_method");
    if (m.framing.refused()) {
      out.refusal = m.framing;
      break;
    }
    size_t p = pos + n;
    if (m.framing.kind == BodyFraming::kContentLength) {
      if (stream.size() - p < m.framing.length) {
        out.incomplete = true;
        break;
      }
      m.body.assign(stream.substr(p, m.framing.length));
      p += m.framing.length;
    } else if (m.framing.kind == BodyFraming::kChunked) {
      const auto r = decodeChunked(stream, p, m.body, m.trailer, out.refusal);
      if (r == ChunkResult::kIncomplete) {
        out.incomplete = true;
        break;
      }
      if (r == ChunkResult::kBad) {
        if (!out.refusal.refused()) out.refusal = refuse(400, "bad_chunk");
        break;
      }
      if (const char* reason = checkTrailer(m.trailer)) {
        out.refusal = refuse(400, reason);
        break;
      }
    }
    const bool last = endsConnection(m.head);
    out.messages.push_back(std::move(m));
    pos = out.consumed = p;
    if (last) break;
  }
  return out;
}

}  // namespace meshdeck::proxy
