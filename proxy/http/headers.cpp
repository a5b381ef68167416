#include "proxy/http/headers.h"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <cstring>
#include <iterator>
#include <vector>

namespace meshdeck::proxy {

namespace http = boost::beast::http;

void removeHopByHopHeaders(Fields& headers, bool keep_upgrade) {
  // One pass over the fields (a head has a handful) that drops the fixed hop-by-hop ones by
  // their known name, instead of a tree look-up per name: this runs twice per proxied request.
  std::vector<std::string> named;
  bool upgrade_token = false;
  bool has_upgrade = false;
  for (auto it = headers.begin(); it != headers.end();) {
    bool drop = false;
    switch (it->name()) {
      case http::field::connection:
        for (auto token : http::token_list{it->value()}) {
          if (boost::beast::iequals(token, "upgrade")) {
            upgrade_token = true;
            continue;
          }
          if (boost::beast::iequals(token, "close") || boost::beast::iequals(token, "keep-alive"))
            continue;
          if (boost::beast::iequals(token, "transfer-encoding")) continue;
          named.emplace_back(token);
        }
        drop = true;
        break;
      case http::field::keep_alive:
      case http::field::proxy_connection:
      case http::field::te:
      case http::field::trailer:
      case http::field::proxy_authenticate:
      case http::field::proxy_authorization:
        drop = true;
        break;
      case http::field::upgrade:
        has_upgrade = true;
        break;
      default:
        break;
    }
    it = drop ? headers.erase(it) : std::next(it);
  }
  for (const auto& n : named) headers.erase(n);
  if (!has_upgrade) return;
  if (keep_upgrade && upgrade_token && headers.count(http::field::upgrade))
    headers.set(http::field::connection, "upgrade");
  else
    headers.erase(http::field::upgrade);
}

size_t findHeaderEnd(std::string_view data) {
  const auto at = data.find("\r\n\r\n");
  return at == std::string_view::npos ? std::string_view::npos : at + 4;
}

bool isPlausibleRequestPrefix(std::string_view data) {
  size_t i = 0;
  while (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') i += 2;
  if (i < data.size() && data[i] == '\r') return i + 1 == data.size();
  // method = token
  const size_t method_start = i;
  for (; i < data.size() && data[i] != ' '; ++i)
    if (!http::detail::is_token_char(data[i])) return false;
  if (i == data.size()) return true;
  if (i == method_start) return false;
  // request-target: no controls, no spaces (obs-text is left to the parser)
  const size_t target_start = ++i;
  for (; i < data.size() && data[i] != ' '; ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (c < 0x21 || c == 0x7f) return false;
  }
  if (i == data.size()) return true;
  if (i == target_start) return false;
  // HTTP-version CRLF, compared as far as it has arrived
  const std::string_view rest = data.substr(i + 1);
  constexpr std::string_view kShape = "HTTP/0.0\r\n";
  for (size_t k = 0; k < rest.size() && k < kShape.size(); ++k) {
    const char want = kShape[k];
    const bool ok = want == '0' ? (rest[k] >= '0' && rest[k] <= '9') : rest[k] == want;
    if (!ok) return false;
  }
  return true;
}

RawHeaderProblem checkRawHeader(std::string_view block, size_t max_request_line) {
  // Leading empty lines before the request line are tolerated (RFC 9112 §2.2).
  size_t start = 0;
  while (block.substr(start, 2) == "\r\n") start += 2;
  const auto line_end = block.find("\r\n", start);
  if (line_end == std::string_view::npos || line_end - start > max_request_line)
    return RawHeaderProblem::kRequestLineTooLong;
  for (size_t at = block.find("\r\n", line_end + 2); at != std::string_view::npos;
       at = block.find("\r\n", at + 2)) {
    if (at + 2 < block.size() && (block[at + 2] == ' ' || block[at + 2] == '\t'))
      return RawHeaderProblem::kObsFold;
  }
  // A header line that itself starts with whitespace right after the request line is a fold.
  if (line_end + 2 < block.size() && (block[line_end + 2] == ' ' || block[line_end + 2] == '\t'))
    return RawHeaderProblem::kObsFold;
  return RawHeaderProblem::kNone;
}

RequestHeadScan scanRequestHead(std::string_view data, size_t scanned, size_t max_request_line,
                                size_t max_header_bytes, size_t* head_size) {
  const size_t from = scanned > 3 ? scanned - 3 : 0;
  const auto end = findHeaderEnd(data.substr(from));
  if (end != std::string_view::npos) {
    *head_size = from + end;
    switch (checkRawHeader(data.substr(0, *head_size), max_request_line)) {
      case RawHeaderProblem::kNone:
        return RequestHeadScan::kComplete;
      case RawHeaderProblem::kObsFold:
        return RequestHeadScan::kObsFold;
      case RawHeaderProblem::kRequestLineTooLong:
        return RequestHeadScan::kTooLarge;
    }
  }
  if (!isPlausibleRequestPrefix(data.substr(0, std::min(data.size(), max_request_line + 2))))
    return RequestHeadScan::kBadRequestLine;
  if (data.size() >= max_header_bytes) return RequestHeadScan::kTooLarge;
  if (data.size() > max_request_line && data.find("\r\n") == std::string_view::npos)
    return RequestHeadScan::kTooLarge;
  return RequestHeadScan::kIncomplete;
}

namespace {

constexpr char kHex[] = "0123456789abcdef";

constexpr auto kIsLowerHex = [] {
  std::array<bool, 256> t{};
  for (char c : std::string_view(kHex)) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// The eight bytes of `nibbles` (each 0-15) as lower-case hex digits, all at once: '0' + n, and
// 'a' - '0' - 10 more where n > 9 (n + 6 carries into bit 4 exactly then). No byte overflows.
constexpr uint64_t hexDigits(uint64_t nibbles) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  const uint64_t letters = ((nibbles + 6 * kOnes) >> 4) & kOnes;
  return nibbles + '0' * kOnes + letters * ('a' - '0' - 10);
}

// Writes 16 lower-case hex digits of `v` at `out`: its low nibbles, then its high nibbles, eight
// digits per 64-bit operation (request ids and traceparents take 80 digits per request). The
// digits are not in the textbook order of `v`, which a random value does not need; they are a
// bijection of it, so only v == 0 gives sixteen '0's.
inline void writeHex16(char* out, uint64_t v) {
  constexpr uint64_t kLowNibbles = 0x0f0f0f0f0f0f0f0full;
  const uint64_t low = hexDigits(v & kLowNibbles);
  const uint64_t high = hexDigits((v >> 4) & kLowNibbles);
  std::memcpy(out, &low, 8);
  std::memcpy(out + 8, &high, 8);
}

int hexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

bool isLowerHex(std::string_view s) {
  for (char c : s)
    if (!kIsLowerHex[static_cast<unsigned char>(c)]) return false;
  return true;
}

bool allZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// A draw that is not 0: the hex of 0 is the all-zero id the W3C rules out.
uint64_t nonZero(IdGenerator& rng) {
  uint64_t v;
  do v = rng();
  while (v == 0);
  return v;
}

}  // namespace

Traceparent makeTraceparent(std::string_view in, IdGenerator& rng) {
  Traceparent out;
  char* p = out.data;
  // version(2) - trace-id(32) - parent-id(16) - flags(2)
  const bool valid = in.size() == 55 && in.substr(0, 3) == "00-" && in[35] == '-' &&
                     in[52] == '-' && isLowerHex(in.substr(3, 32)) && !allZero(in.substr(3, 32)) &&
                     isLowerHex(in.substr(36, 16)) && isLowerHex(in.substr(53, 2));
  const uint64_t span = nonZero(rng);
  if (valid) {
    std::memcpy(p, in.data(), 36);
    writeHex16(p + 36, span);
    std::memcpy(p + 52, in.data() + 52, 3);
    return out;
  }
  uint64_t high, low;
  do {
    high = rng();
    low = rng();
  } while ((high | low) == 0);
  std::memcpy(p, "00-", 3);
  writeHex16(p + 3, high);
  writeHex16(p + 19, low);
  p[35] = '-';
  writeHex16(p + 36, span);
  std::memcpy(p + 52, "-01", 3);
  return out;
}

std::string nextTraceparent(std::string_view in, IdGenerator& rng) {
  return std::string(makeTraceparent(in, rng).view());
}

std::string_view traceIdOf(std::string_view traceparent) {
  return traceparent.size() >= 35 ? traceparent.substr(3, 32) : std::string_view{};
}

RequestId makeRequestId(IdGenerator& rng) {
  const uint64_t a = rng();
  const uint64_t b = rng();
  char hex[32];
  writeHex16(hex, a);
  writeHex16(hex + 16, b);
  // Version 4, and the RFC 4122 variant (10xx) whose two random bits are taken from the digit
  // the version replaces: a UUID takes exactly two draws.
  hex[16] = kHex[8 | (hexValue(hex[12]) & 0x3)];
  hex[12] = '4';
  RequestId out;
  char* p = out.data;
  // 8-4-4-4-12
  std::memcpy(p, hex, 8);
  p[8] = '-';
  std::memcpy(p + 9, hex + 8, 4);
  p[13] = '-';
  std::memcpy(p + 14, hex + 12, 4);
  p[18] = '-';
  std::memcpy(p + 19, hex + 16, 4);
  p[23] = '-';
  std::memcpy(p + 24, hex + 20, 12);
  return out;
}

std::string newRequestId(IdGenerator& rng) { return std::string(makeRequestId(rng).view()); }

namespace {

void appendFields(std::string& out, const Fields& fields) {
  for (const auto& f : fields) {
    const auto name = f.name_string();
    const auto value = f.value();
    // Beast keeps each field as the line "name: value\r\n" in one piece (what its own
    // serializer sends): copied as one range when it is laid out so.
    const char* line = name.data();
    if (value.data() == line + name.size() + 2 && line[name.size()] == ':' &&
        line[name.size() + 1] == ' ' && value.data()[value.size()] == '\r' &&
        value.data()[value.size() + 1] == '\n') {
      out.append(line, name.size() + value.size() + 4);
      continue;
    }
    out.append(name.data(), name.size());
    out.append(": ", 2);
    out.append(value.data(), value.size());
    out.append("\r\n", 2);
  }
  out.append("\r\n", 2);
}

void appendVersion(std::string& out, unsigned version) {
  const char v[8] = {'H', 'T',
                     'T', 'P',
                     '/', static_cast<char>('0' + version / 10),
                     '.', static_cast<char>('0' + version % 10)};
  out.append(v, sizeof v);
}

}  // namespace

void appendHead(std::string& out, const RequestHeader& head) {
  const auto method = head.method_string();
  const auto target = head.target();
  out.append(method.data(), method.size());
  out.push_back(' ');
  out.append(target.data(), target.size());
  out.push_back(' ');
  appendVersion(out, head.version());
  out.append("\r\n", 2);
  appendFields(out, head);
}

void appendHead(std::string& out, const ResponseHeader& head) {
  appendVersion(out, head.version());
  const unsigned code = head.result_int();
  const char status[5] = {' ', static_cast<char>('0' + code / 100 % 10),
                          static_cast<char>('0' + code / 10 % 10),
                          static_cast<char>('0' + code % 10), ' '};
  out.append(status, sizeof status);
  auto reason = head.reason();
  if (reason.empty()) reason = http::obsolete_reason(static_cast<http::status>(code));
  out.append(reason.data(), reason.size());
  out.append("\r\n", 2);
  appendFields(out, head);
}

void appendChunkHeader(std::string& out, size_t size) {
  char digits[2 * sizeof(size_t)];
  char* end = digits + sizeof digits;
  char* p = end;
  do {
    *--p = kHex[size & 0xf];
    size >>= 4;
  } while (size > 0);
  out.append(p, static_cast<size_t>(end - p));
  out.append("\r\n", 2);
}

}  // namespace meshdeck::proxy
