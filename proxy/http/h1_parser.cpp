#include "proxy/http/h1_parser.h"

#include <array>
#include <cstring>
#include <limits>

#include "proxy/http/h1_syntax.h"
#include "proxy/http/host_syntax.h"

namespace meshdeck::proxy::h1 {

namespace {

using namespace detail;

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
  const DeclaredFraming f = framingOf(s, h.version);
  if (f.refusal) return {f.unsupported ? 501u : 400u, f.refusal};
  h.body = f.kind == Declared::kChunked         ? BodyFraming::kChunked
           : f.kind == Declared::kContentLength ? BodyFraming::kContentLength
                                                : BodyFraming::kNone;
  h.content_length = f.length;
  h.rewrite_framing = f.rewrite;
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

const std::string_view* FieldList::find(std::string_view name) const {
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
  clearFields();
}

void FieldList::addOverflow(Field f) {
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
