#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meshdeck::tools {

// A parsed plain-HTTP URL, as the tools take them on their command lines ("--url",
// "--proxy", "--call"). TLS is the mesh's business (sidecar to sidecar), so only http:// is
// accepted.
struct HttpUrl {
  std::string host;       // host name or IP literal, without IPv6 brackets
  uint16_t port = 80;     // explicit port, or 80
  std::string authority;  // host[:port] as written: the Host header and absolute-form prefix
  std::string target;     // origin-form request target: path and query, "/" when empty
  // A demo service's "grpc://authority[/path]" call (tools/demo_service parseCallUrl): a
  // meshdeck.demo.v1.Demo/Call to that authority; parseHttpUrl never sets it.
  bool grpc = false;

  // "http://authority/target": the request target when the request goes through an HTTP
  // proxy (RFC 9112 absolute-form).
  std::string absoluteForm() const { return "http://" + authority + target; }
};

// Parses "http://host[:port][/path][?query]". Returns nullopt and explains in `error` for
// anything else (other schemes, user info, fragments, a bad port).
std::optional<HttpUrl> parseHttpUrl(std::string_view text, std::string* error);

// A "host:port" pair as given to --listen ("127.0.0.1:0", "[::1]:8080").
struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// Parses "host:port" (port 0..65535, IPv6 in brackets). Returns nullopt and explains in
// `error` for anything else.
std::optional<HostPort> parseHostPort(std::string_view text, std::string* error);

}  // namespace meshdeck::tools
