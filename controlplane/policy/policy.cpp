#include "controlplane/policy/policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

namespace meshdeck::cp {

const char* toString(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kTrafficRoute:
      return "TrafficRoute";
    case PolicyKind::kDestinationPolicy:
      return "DestinationPolicy";
    case PolicyKind::kAuthorizationPolicy:
      return "AuthorizationPolicy";
    case PolicyKind::kPeerAuthentication:
      return "PeerAuthentication";
    case PolicyKind::kRateLimit:
      return "RateLimit";
    case PolicyKind::kHealthPolicy:
      return "HealthPolicy";
  }
  return "?";
}

std::optional<PolicyKind> policyKindFromString(const std::string& name) {
  for (auto k :
       {PolicyKind::kTrafficRoute, PolicyKind::kDestinationPolicy, PolicyKind::kAuthorizationPolicy,
        PolicyKind::kPeerAuthentication, PolicyKind::kRateLimit, PolicyKind::kHealthPolicy}) {
    if (name == toString(k)) return k;
  }
  return std::nullopt;
}

namespace {
std::string matchText(const StringMatch& m) {
  const char* type = m.type == StringMatch::Type::kExact    ? "exact"
                     : m.type == StringMatch::Type::kPrefix ? "prefix"
                                                            : "regex";
  return fmt::format("{}:{}", type, m.value);
}
}  // namespace

std::string HttpMatch::key() const {
  if (invalid) return fmt::format("invalid@{}:{}", where.line, where.column);
  std::string k = uri ? "uri=" + matchText(*uri) : "uri=*";
  k += " methods=";
  for (const auto& m : methods) k += m + ",";
  for (const auto& h : headers) {
    k += fmt::format(" header[{}]{}={}", h.name, h.invert ? "!" : "",
                     h.value ? matchText(*h.value) : "present");
  }
  return k;
}

std::string Policy::id() const { return fmt::format("{}/{}", toString(kind), name); }

std::string Policy::target() const {
  return std::visit(
      [](const auto& s) -> std::string {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, TrafficRouteSpec> ||
                      std::is_same_v<T, DestinationPolicySpec>) {
          return s.host;
        } else {
          return s.service.empty() ? std::string("*") : s.service;
        }
      },
      spec);
}

PolicyBadges Policy::badges() const {
  // PolicySpec lists its alternatives in PolicyKind's order; the parser keeps the two in step.
  assert(spec.index() == static_cast<size_t>(kind));
  PolicyBadges b;
  if (const auto* route = std::get_if<TrafficRouteSpec>(&spec)) {
    for (const HttpRoute& r : route->http) {
      if (r.fault) b.fault = true;
      const auto weighted = std::count_if(r.destinations.begin(), r.destinations.end(),
                                          [](const RouteDestination& d) { return d.weight > 0; });
      if (weighted >= 2) b.canary = true;
    }
  } else if (const auto* peer = std::get_if<PeerAuthenticationSpec>(&spec)) {
    // UNSET counts: callers then use mTLS wherever both sides have an identity (the compiler's
    // auto-mTLS), as under PERMISSIVE.
    b.mtls = peer->mode != MtlsMode::kDisable;
  } else if (std::holds_alternative<RateLimitSpec>(spec)) {
    b.rate_limit = true;
  }
  return b;
}

}  // namespace meshdeck::cp
