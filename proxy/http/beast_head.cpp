#include "proxy/http/beast_head.h"

#include <boost/asio/buffer.hpp>
#include <utility>

#include "proxy/http/framing.h"

namespace meshdeck::proxy {

namespace http = boost::beast::http;

namespace {

// The malformed-request reason and status of a head Beast's parser refused.
std::pair<unsigned, const char*> headErrorReason(const boost::beast::error_code& ec) {
  if (ec == http::error::bad_content_length) return {400, "bad_content_length"};
  if (ec == http::error::multiple_content_length) return {400, "multiple_content_length"};
  if (ec == http::error::bad_transfer_encoding) return {400, "bad_transfer_encoding"};
  if (ec == http::error::bad_field) return {400, "bad_header_name"};
  if (ec == http::error::bad_value) return {400, "bad_header_value"};
  if (ec == http::error::bad_method) return {400, "bad_method"};
  if (ec == http::error::bad_target) return {400, "bad_target"};
  if (ec == http::error::bad_version) return {505, "bad_version"};
  if (ec == http::error::header_limit) return {431, "header_too_large"};
  return {400, "bad_request"};
}

}  // namespace

const char* parseRequestHeadWithBeast(BeastRequestParser& parser, std::string_view block,
                                      size_t max_header_bytes, unsigned* status_out,
                                      size_t* used_out) {
  parser.header_limit(static_cast<std::uint32_t>(max_header_bytes));
  parser.body_limit(boost::none);
  boost::beast::error_code ec;
  size_t used = 0;
  while (!ec && !parser.is_header_done() && used < block.size())
    used += parser.put(boost::asio::buffer(block.data() + used, block.size() - used), ec);
  *used_out = used;
  if (ec || !parser.is_header_done()) {
    auto [status, reason] = headErrorReason(ec);
    if (ec == http::error::bad_content_length || ec == http::error::multiple_content_length ||
        ec == http::error::bad_transfer_encoding) {
      // Named by the framing decision, so that a head is refused for the same reason
      // whichever parser met the problem first.
      RequestHeader raw;
      Framing refusal;
      if (parseRequestHead(block, raw, refusal) > 0) refusal = decideRequestFraming(raw);
      if (refusal.refused()) {
        status = refusal.status;
        reason = refusal.reason;
      }
    }
    *status_out = status;
    return reason;
  }
  return nullptr;
}

}  // namespace meshdeck::proxy
