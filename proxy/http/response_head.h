#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http/field_allocator.h"
#include "proxy/http/framing.h"
#include "proxy/http/h1_response.h"

namespace meshdeck::proxy {

// What the relay does to an upstream response head before the client gets it
// (Session::relayResponse): hop-by-hop fields removed (Upgrade and "Connection: upgrade" kept
// for a tunnel), the route's edits, the client's version, the framing lines rewritten when
// `rewrite_framing`, and Connection stating `keep_alive` (not for a tunnel).
struct RelayHeadEdits {
  unsigned version = 11;  // the client's
  bool upgraded = false;  // a 101 the client asked for: the connection becomes a tunnel
  const std::vector<std::string>* remove = nullptr;
  const std::vector<std::pair<std::string, std::string>>* set = nullptr;
  const std::vector<std::pair<std::string, std::string>>* add = nullptr;
  bool rewrite_framing = false;  // writeFramingHeaders(wire, length)
  BodyFraming wire = BodyFraming::kNone;
  uint64_t length = 0;
  bool keep_alive = false;
};

// The edits on Beast's fields (what the relay does today; Session::relayResponse calls it).
using RelayedResponse = boost::beast::http::response<boost::beast::http::buffer_body, Fields>;
void editResponseHead(RelayedResponse& out, const RelayHeadEdits& edits);

// The same edits on a head parsed by the HTTP/1.1 codec (proxy/http/h1_response.h), written to
// `out` as appendHead() would write the edited Beast head: the same bytes (field order included:
// Beast keeps fields of one name together, in the order received), with no Beast fields built.
// The codec's relay head (docs/h1-codec.md, "Response heads"); proxy_response_head_test holds
// the two equal.
void appendEditedResponseHead(std::string& out, const h1::ResponseHead& head,
                              const RelayHeadEdits& edits);

// The fields of a head as appendHead() / appendEditedResponseHead() wrote it ("name: value" lines
// after the start line, up to the blank line), as views into `head`: what a tap records of the
// head the client got.
std::vector<std::pair<std::string_view, std::string_view>> headFields(std::string_view head);

}  // namespace meshdeck::proxy
