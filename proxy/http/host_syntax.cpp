#include "proxy/http/host_syntax.h"

#include <algorithm>
#include <array>

namespace meshdeck::proxy {

namespace {

constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool isHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

constexpr bool isUnreserved(char c) {
  return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

constexpr bool isSubDelim(char c) {
  switch (c) {
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
      return true;
    default:
      return false;
  }
}

// The characters of a reg-name other than '%' (unreserved and sub-delims), by byte: the Host of
// every request is checked, so one look-up a byte rather than the branches above.
constexpr auto kRegName = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[static_cast<size_t>(c)] =
        isUnreserved(static_cast<char>(c)) || isSubDelim(static_cast<char>(c));
  return t;
}();

}  // namespace

bool isValidHost(std::string_view v, bool allow_empty_host) {
  size_t host_end = 0;
  if (!v.empty() && v[0] == '[') {
    // IP-literal = "[" ( IPv6address / IPvFuture ) "]"
    const size_t close = v.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    const auto inside = v.substr(1, close - 1);
    if (inside[0] == 'v' || inside[0] == 'V') {
      const size_t dot = inside.find('.');
      if (dot == std::string_view::npos || dot < 2 || dot + 1 == inside.size()) return false;
      for (char c : inside.substr(1, dot - 1))
        if (!isHex(c)) return false;
      for (char c : inside.substr(dot + 1))
        if (!isUnreserved(c) && !isSubDelim(c) && c != ':') return false;
    } else {
      if (inside.find(':') == std::string_view::npos) return false;
      for (char c : inside)
        if (!isHex(c) && c != ':' && c != '.') return false;
    }
    host_end = close + 1;
  } else {
    // reg-name = *( unreserved / pct-encoded / sub-delims ); IPv4address is one.
    host_end = std::min(v.find(':'), v.size());
    for (size_t i = 0; i < host_end; ++i) {
      const char c = v[i];
      if (c == '%') {
        if (i + 2 >= host_end || !isHex(v[i + 1]) || !isHex(v[i + 2])) return false;
        i += 2;
      } else if (!kRegName[static_cast<unsigned char>(c)]) {
        return false;
      }
    }
    if (host_end == 0 && !allow_empty_host) return false;
  }
  if (host_end == v.size()) return true;
  if (v[host_end] != ':') return false;
  const auto port = v.substr(host_end + 1);
  if (port.size() > 5) return false;
  unsigned n = 0;
  for (char c : port) {
    if (!isDigit(c)) return false;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n <= 65535;
}

}  // namespace meshdeck::proxy
