#pragma once

#include <string_view>

namespace meshdeck::proxy {

// Whether `value` is a valid Host field value / authority: uri-host [":" port] with uri-host an
// IP-literal, IPv4address or reg-name (RFC 3986 §3.2.2), port at most 65535. An empty host is
// valid only when `allow_empty_host`. No Beast: shared by the framing decision
// (proxy/http/framing.h) and the HTTP/1.1 codec (proxy/http/h1_parser.h).
bool isValidHost(std::string_view value, bool allow_empty_host);

}  // namespace meshdeck::proxy
