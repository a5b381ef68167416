#include "http_url.h"

#include <boost/url/parse.hpp>
#include <charconv>

namespace meshdeck::tools {

namespace {

std::optional<uint16_t> parsePort(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(value);
}

}  // namespace

std::optional<HttpUrl> parseHttpUrl(std::string_view text, std::string* error) {
  const auto parsed = boost::urls::parse_uri(text);
  if (!parsed) {
    *error = "'" + std::string(text) + "' is not a URL (" + parsed.error().message() + ")";
    return std::nullopt;
  }
  const auto& url = *parsed;
  if (url.scheme() != "http") {
    *error = "'" + std::string(text) + "': only http:// URLs are supported";
    return std::nullopt;
  }
  if (!url.has_authority() || url.encoded_host().empty()) {
    *error = "'" + std::string(text) + "' has no host";
    return std::nullopt;
  }
  if (url.has_userinfo() || url.has_fragment()) {
    *error = "'" + std::string(text) + "': user info and fragments are not supported";
    return std::nullopt;
  }
  HttpUrl out;
  out.host = url.host_type() == boost::urls::host_type::ipv6 ? std::string(url.host_address())
                                                             : std::string(url.encoded_host());
  if (url.has_port()) {
    const auto port = parsePort(url.port());
    if (!port || *port == 0) {
      *error = "'" + std::string(text) + "' has a bad port";
      return std::nullopt;
    }
    out.port = *port;
  }
  out.authority = std::string(url.encoded_authority());
  out.target = std::string(url.encoded_path());
  if (out.target.empty()) out.target = "/";
  if (url.has_query()) out.target += "?" + std::string(url.encoded_query());
  return out;
}

std::optional<HostPort> parseHostPort(std::string_view text, std::string* error) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = "'" + std::string(text) + "' is not [ipv6]:port";
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      *error = "'" + std::string(text) + "' is not host:port";
      return std::nullopt;
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  const auto port = parsePort(port_text);
  if (!port) {
    *error = "'" + std::string(text) + "' has a bad port";
    return std::nullopt;
  }
  out.port = *port;
  return out;
}

}  // namespace meshdeck::tools
