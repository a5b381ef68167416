#include "proxy/policy/router.h"

#include <boost/beast/core/string.hpp>

namespace meshdeck::proxy {

bool StringMatcher::matches(std::string_view s) const {
  switch (kind) {
    case Kind::kAny:
      return true;
    case Kind::kExact:
      return s == value;
    case Kind::kPrefix:
      return s.substr(0, value.size()) == value;
    case Kind::kRegex:
      return regex && std::regex_match(s.begin(), s.end(), *regex);
  }
  return false;
}

bool domainMatches(std::string_view domain, std::string_view authority) {
  if (domain == "*") return true;
  if (domain == authority) return true;
  const auto colon = authority.rfind(':');
  // A bracketed IPv6 authority without a port has its last colon inside the brackets.
  const bool has_port =
      colon != std::string_view::npos && authority.find(']', colon) == authority.npos;
  const std::string_view host = has_port ? authority.substr(0, colon) : authority;
  if (domain.size() > 2 && domain.substr(domain.size() - 2) == ":*")
    return domain.substr(0, domain.size() - 2) == host;
  if (domain.size() > 2 && domain.substr(0, 2) == "*.") {
    const std::string_view suffix = domain.substr(1);
    return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
  }
  return has_port && domain.find(':') == std::string_view::npos && domain == host;
}

const VirtualHostConfig* matchVirtualHost(const RouteTableConfig& table,
                                          std::string_view authority) {
  // Exact domains win over wildcards wherever they appear, like Envoy's domain matching.
  for (const auto& host : table.virtual_hosts)
    for (const auto& d : host.domains)
      if (d == authority) return &host;
  for (const auto& host : table.virtual_hosts)
    for (const auto& d : host.domains)
      if (d != "*" && domainMatches(d, authority)) return &host;
  for (const auto& host : table.virtual_hosts)
    for (const auto& d : host.domains)
      if (d == "*") return &host;
  return nullptr;
}

bool headerMatches(const HeaderMatcher& matcher, const Fields& headers) {
  auto it = headers.find(matcher.name);
  bool result = false;
  if (it != headers.end()) {
    const auto value = it->value();
    result = matcher.value.matches(std::string_view(value.data(), value.size()));
  }
  return result != matcher.invert;
}

bool headerMatches(const HeaderMatcher& matcher, const h1::FieldList& headers) {
  const std::string_view* value = headers.find(matcher.name);
  const bool result = value && matcher.value.matches(*value);
  return result != matcher.invert;
}

namespace {

template <typename Headers>
const RouteConfig* firstMatchingRoute(const VirtualHostConfig& host, std::string_view method,
                                      std::string_view path, const Headers& headers) {
  for (const auto& route : host.routes) {
    if (!route.match.path.matches(path)) continue;
    if (!route.match.methods.empty()) {
      bool found = false;
      for (const auto& m : route.match.methods) found = found || m == method;
      if (!found) continue;
    }
    bool all = true;
    for (const auto& h : route.match.headers) all = all && headerMatches(h, headers);
    if (all) return &route;
  }
  return nullptr;
}

}  // namespace

const RouteConfig* matchRoute(const VirtualHostConfig& host, std::string_view method,
                              std::string_view path, const Fields& headers) {
  return firstMatchingRoute(host, method, path, headers);
}

const RouteConfig* matchRoute(const VirtualHostConfig& host, std::string_view method,
                              std::string_view path, const h1::FieldList& headers) {
  return firstMatchingRoute(host, method, path, headers);
}

const WeightedDestination& pickDestination(const RouteConfig& route, uint64_t random) {
  uint64_t point = random % route.total_weight;
  for (const auto& d : route.destinations) {
    if (point < d.weight) return d;
    point -= d.weight;
  }
  return route.destinations.back();
}

bool selectPercent(double percent, uint64_t random) {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  // 1e6 steps give 0.0001 % resolution.
  return static_cast<double>(random % 1'000'000) < percent * 10'000.0;
}

}  // namespace meshdeck::proxy
