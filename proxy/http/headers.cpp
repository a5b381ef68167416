#include "proxy/http/headers.h"

#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <vector>

namespace meshdeck::proxy {

namespace http = boost::beast::http;

void removeHopByHopHeaders(http::fields& headers, bool keep_upgrade) {
  std::vector<std::string> named;
  bool upgrade_token = false;
  for (auto it = headers.find(http::field::connection);
       it != headers.end() && it->name() == http::field::connection; ++it) {
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
  }
  for (const auto& n : named) headers.erase(n);
  headers.erase(http::field::connection);
  headers.erase(http::field::keep_alive);
  headers.erase("proxy-connection");
  headers.erase(http::field::te);
  headers.erase(http::field::trailer);
  headers.erase(http::field::proxy_authenticate);
  headers.erase(http::field::proxy_authorization);
  if (keep_upgrade && upgrade_token && headers.count(http::field::upgrade)) {
    headers.set(http::field::connection, "upgrade");
  } else {
    headers.erase(http::field::upgrade);
  }
}

size_t findHeaderEnd(std::string_view data) {
  const auto at = data.find("\r\n\r\n");
  return at == std::string_view::npos ? std::string_view::npos : at + 4;
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

namespace {

constexpr char kHex[] = "0123456789abcdef";

void appendHex(std::string& out, std::mt19937_64& rng, size_t digits) {
  while (digits > 0) {
    uint64_t v = rng();
    for (int i = 0; i < 16 && digits > 0; ++i, --digits) {
      out.push_back(kHex[v & 0xf]);
      v >>= 4;
    }
  }
}

bool isLowerHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool allZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

}  // namespace

std::string nextTraceparent(std::string_view in, std::mt19937_64& rng) {
  std::string out;
  out.reserve(55);
  // version(2) - trace-id(32) - parent-id(16) - flags(2)
  const bool valid = in.size() == 55 && in.substr(0, 3) == "00-" && in[35] == '-' &&
                     in[52] == '-' && isLowerHex(in.substr(3, 32)) && !allZero(in.substr(3, 32)) &&
                     isLowerHex(in.substr(36, 16)) && isLowerHex(in.substr(53, 2));
  std::string span;
  do {
    span.clear();
    appendHex(span, rng, 16);
  } while (allZero(span));
  if (valid) {
    out.append(in.substr(0, 36));
    out.append(span);
    out.append(in.substr(52));
    return out;
  }
  out.append("00-");
  std::string trace;
  do {
    trace.clear();
    appendHex(trace, rng, 32);
  } while (allZero(trace));
  out.append(trace);
  out.push_back('-');
  out.append(span);
  out.append("-01");
  return out;
}

std::string_view traceIdOf(std::string_view traceparent) {
  return traceparent.size() >= 35 ? traceparent.substr(3, 32) : std::string_view{};
}

std::string newRequestId(std::mt19937_64& rng) {
  std::string hex;
  appendHex(hex, rng, 32);
  hex[12] = '4';                      // version 4
  hex[16] = kHex[8 | (rng() & 0x3)];  // RFC 4122 variant
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

}  // namespace meshdeck::proxy
