#pragma once

#include <boost/beast/http/fields.hpp>
#include <string_view>

#include "proxy/config/config.h"
#include "proxy/http/field_allocator.h"
#include "proxy/http/h1_parser.h"

namespace meshdeck::proxy {

// Route selection: pure functions over the compiled config, no sockets, no clocks.

// Whether a virtual-host domain answers to `authority` (already lower case). Rules:
// "*" matches everything; "*.example" matches any subdomain; "host:*" matches host with any
// port; a domain without a port also matches the authority with any port ("reviews" matches
// "reviews:9080"); otherwise the comparison is exact.
bool domainMatches(std::string_view domain, std::string_view authority);

// The first virtual host of `table` with a domain matching `authority`, or nullptr.
const VirtualHostConfig* matchVirtualHost(const RouteTableConfig& table,
                                          std::string_view authority);

// The first route of `host` whose conditions all hold, or nullptr. `path` excludes the query.
const RouteConfig* matchRoute(const VirtualHostConfig& host, std::string_view method,
                              std::string_view path, const Fields& headers);

// The same over the fields of a head read by the proxy's HTTP/1.1 codec (views, names compared
// without regard to case): what admitView() routes with, without Beast fields.
const RouteConfig* matchRoute(const VirtualHostConfig& host, std::string_view method,
                              std::string_view path, const h1::FieldList& headers);

// Whether one header condition holds for `headers` (the first field of its name).
bool headerMatches(const HeaderMatcher& matcher, const Fields& headers);
bool headerMatches(const HeaderMatcher& matcher, const h1::FieldList& headers);

// Picks a destination by weight; `random` is a uniformly distributed 64-bit value.
// Requires route.total_weight > 0.
const WeightedDestination& pickDestination(const RouteConfig& route, uint64_t random);

// Whether a share `percent` (0..100) is selected by a uniformly distributed 64-bit value.
bool selectPercent(double percent, uint64_t random);

}  // namespace meshdeck::proxy
