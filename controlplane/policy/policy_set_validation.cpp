#include <fmt/format.h>

#include <cassert>
#include <map>

#include "controlplane/policy/policy_parser.h"

namespace meshdeck::cp {
namespace {

void fail(std::vector<common::LocatedError>* errors, const SourceLocation& loc, std::string field,
          std::string message) {
  assert(errors != nullptr && !message.empty());
  errors->push_back(
      common::LocatedError{loc.file, loc.line, loc.column, std::move(field), std::move(message)});
}

}  // namespace

std::set<std::string> referencedServices(const Policy& policy) {
  std::set<std::string> out;
  std::visit(
      [&](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, TrafficRouteSpec>) {
          out.insert(s.host);
          for (const auto& r : s.http) {
            for (const auto& d : r.destinations) out.insert(d.host);
            if (r.mirror) out.insert(r.mirror->host);
          }
        } else if constexpr (std::is_same_v<T, DestinationPolicySpec>) {
          out.insert(s.host);
        } else if constexpr (std::is_same_v<T, AuthorizationPolicySpec>) {
          if (!s.service.empty()) out.insert(s.service);
          for (const auto& r : s.rules)
            out.insert(r.source_services.begin(), r.source_services.end());
        } else {
          if (!s.service.empty()) out.insert(s.service);
        }
      },
      policy.spec);
  return out;
}

void validatePolicySet(const std::vector<Policy>& policies,
                       const std::set<std::string>& known_services,
                       std::vector<common::LocatedError>* errors) {
  std::set<std::string> known = known_services;
  // host -> subset name -> declaration
  std::map<std::string, std::map<std::string, const SubsetSpec*>> subsets;
  std::map<std::string, const Policy*> by_id;
  std::map<std::string, const Policy*> dest_policy_of_host;
  for (const auto& p : policies) {
    if (auto [it, fresh] = by_id.emplace(p.id(), &p); !fresh) {
      fail(errors, p.where, "metadata.name",
           fmt::format("{} is defined twice (also at {}:{})", p.id(), it->second->where.file,
                       it->second->where.line));
    }
    if (const auto* dp = std::get_if<DestinationPolicySpec>(&p.spec)) {
      known.insert(dp->host);
      if (auto [it, fresh] = dest_policy_of_host.emplace(dp->host, &p); !fresh) {
        fail(errors, dp->host_where, "spec.host",
             fmt::format("service \"{}\" already has a DestinationPolicy ({})", dp->host,
                         it->second->id()));
      }
      for (const auto& s : dp->subsets) subsets[dp->host][s.name] = &s;
    }
  }

  auto checkService = [&](const std::string& service, const SourceLocation& where,
                          const std::string& field) {
    if (service.empty() || known.count(service)) return;
    fail(errors, where, field,
         fmt::format("unknown service \"{}\": no proxy of it has registered and no "
                     "DestinationPolicy declares it",
                     service));
  };
  // The message names the policy that holds the reference: when the set is refused for a
  // change elsewhere (a DestinationPolicy deleted or its subset removed), that policy is the
  // one to act on.
  auto checkSubset = [&](const Policy& holder, const std::string& host, const std::string& subset,
                         const SourceLocation& where, const std::string& field) {
    if (subset.empty() || !known.count(host)) return;
    const auto it = subsets.find(host);
    if (it == subsets.end() || !it->second.count(subset)) {
      fail(errors, where, field,
           fmt::format("{} uses subset \"{}\" of service \"{}\", which no DestinationPolicy "
                       "declares",
                       holder.id(), subset, host));
    }
  };

  // host -> match key -> (policy id, route name, location)
  struct Claim {
    std::string policy, route;
    SourceLocation where;
  };
  std::map<std::string, std::map<std::string, Claim>> claims;
  std::map<std::string, const Policy*> peer_auth_of, rate_limit_of, health_of;

  for (const auto& p : policies) {
    if (const auto* tr = std::get_if<TrafficRouteSpec>(&p.spec)) {
      checkService(tr->host, tr->host_where, "spec.host");
      for (size_t i = 0; i < tr->http.size(); ++i) {
        const auto& route = tr->http[i];
        const std::string rp = fmt::format("spec.http[{}]", i);
        for (size_t j = 0; j < route.destinations.size(); ++j) {
          const auto& d = route.destinations[j];
          const std::string dp = fmt::format("{}.route[{}].destination", rp, j);
          checkService(d.host, d.where, dp + ".host");
          checkSubset(p, d.host, d.subset, d.where, dp + ".subset");
        }
        if (route.mirror) {
          checkService(route.mirror->host, route.mirror->where, rp + ".mirror.host");
          checkSubset(p, route.mirror->host, route.mirror->subset, route.mirror->where,
                      rp + ".mirror.subset");
        }
        std::vector<std::pair<std::string, SourceLocation>> keys;
        if (route.matches.empty()) keys.emplace_back("<every request>", route.where);
        for (const auto& m : route.matches) keys.emplace_back(m.key(), m.where);
        for (const auto& [key, where] : keys) {
          auto& host_claims = claims[tr->host];
          auto it = host_claims.find(key);
          if (it != host_claims.end() && it->second.policy != p.id()) {
            fail(errors, where, rp + (route.matches.empty() ? "" : ".match"),
                 fmt::format("route \"{}\" claims the same requests to \"{}\" as route \"{}\" of "
                             "{} ({}:{})",
                             route.name, tr->host, it->second.route, it->second.policy,
                             it->second.where.file, it->second.where.line));
          } else if (it == host_claims.end()) {
            host_claims.emplace(key, Claim{p.id(), route.name, where});
          }
        }
      }
    } else if (const auto* ap = std::get_if<AuthorizationPolicySpec>(&p.spec)) {
      checkService(ap->service, ap->service_where, "spec.selector.service");
      // A misspelt caller would silently never match (ALLOW) or never deny (DENY).
      for (size_t i = 0; i < ap->rules.size(); ++i) {
        const auto& rule = ap->rules[i];
        for (size_t k = 0; k < rule.source_services.size(); ++k) {
          checkService(rule.source_services[k],
                       k < rule.source_services_where.size() ? rule.source_services_where[k]
                                                             : ap->service_where,
                       fmt::format("spec.rules[{}].from.source.services", i));
        }
      }
    } else if (const auto* pa = std::get_if<PeerAuthenticationSpec>(&p.spec)) {
      checkService(pa->service, pa->service_where, "spec.selector.service");
      const std::string key = pa->service.empty() ? "*" : pa->service;
      if (auto [it, fresh] = peer_auth_of.emplace(key, &p); !fresh) {
        fail(errors, pa->service.empty() ? p.where : pa->service_where,
             pa->service.empty() ? "spec" : "spec.selector.service",
             fmt::format("{} already sets the mTLS mode of {}", it->second->id(),
                         pa->service.empty() ? "the whole mesh" : "\"" + pa->service + "\""));
      }
    } else if (const auto* hp = std::get_if<HealthPolicySpec>(&p.spec)) {
      checkService(hp->service, hp->service_where, "spec.selector.service");
      const std::string key = hp->service.empty() ? "*" : hp->service;
      if (auto [it, fresh] = health_of.emplace(key, &p); !fresh) {
        fail(errors, hp->service.empty() ? p.where : hp->service_where,
             hp->service.empty() ? "spec" : "spec.selector.service",
             fmt::format("{} already sets the health rules of {}", it->second->id(),
                         hp->service.empty() ? "the whole mesh" : "\"" + hp->service + "\""));
      }
    } else if (const auto* rl = std::get_if<RateLimitSpec>(&p.spec)) {
      checkService(rl->service, rl->service_where, "spec.selector.service");
      if (auto [it, fresh] = rate_limit_of.emplace(rl->service, &p); !fresh) {
        fail(errors, rl->service_where, "spec.selector.service",
             fmt::format("{} already limits \"{}\"", it->second->id(), rl->service));
      }
    }
  }
}

}  // namespace meshdeck::cp
