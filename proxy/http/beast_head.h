#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <string_view>

#include "proxy/http/field_allocator.h"

namespace meshdeck::proxy {

// The request parser the session reads HTTP/1.1 requests with (head, then the body through the
// relay buffer).
using BeastRequestParser =
    boost::beast::http::request_parser<boost::beast::http::buffer_body, FieldAllocator<char>>;

// Parses the complete request head `block` (the bytes up to and including the blank line, as
// scanRequestHead() delimits it) with `parser`, header limit `max_header_bytes`. Returns nullptr
// when the head is accepted, `*used` then the bytes the parser consumed; else the malformed
// reason, `*status` the answer (400, 431, 505). A head Beast refuses for its Content-Length or
// Transfer-Encoding is named by the framing decision (decideRequestFraming()) when the decision
// refuses it too, so that the reason does not depend on which parser met the problem first.
// Session::parseHead() was this function on the receive buffer; the HTTP/1.1 codec's
// differential test (tests/unit/proxy/h1_differential_test.cpp) compares it with
// proxy/http/h1_parser.h.
const char* parseRequestHeadWithBeast(BeastRequestParser& parser, std::string_view block,
                                      size_t max_header_bytes, unsigned* status, size_t* used);

}  // namespace meshdeck::proxy
