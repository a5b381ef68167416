#include "controlplane/policy/policy_effects.h"

#include <fmt/format.h>

#include <algorithm>
#include <variant>

namespace meshdeck::cp {
namespace {

bool isEverything(const StringMatch& m) {
  // Every request path starts with "/".
  return m.type == StringMatch::Type::kPrefix && (m.value.empty() || m.value == "/");
}

// True when every request `later` matches is matched by `earlier` too. Conservative: false
// whenever that cannot be told from the text (regular expressions, negated headers).
bool covers(const HttpMatch& earlier, const HttpMatch& later) {
  if (earlier.invalid || later.invalid) return false;
  if (earlier.uri && !isEverything(*earlier.uri)) {
    if (!later.uri) return false;
    const StringMatch& e = *earlier.uri;
    const StringMatch& l = *later.uri;
    if (e.type == StringMatch::Type::kExact) {
      if (l.type != StringMatch::Type::kExact || l.value != e.value) return false;
    } else if (e.type == StringMatch::Type::kPrefix) {
      if (l.type == StringMatch::Type::kRegex || !l.value.starts_with(e.value)) return false;
    } else if (!(l.type == StringMatch::Type::kRegex && l.value == e.value)) {
      return false;
    }
  }
  if (!earlier.methods.empty()) {
    if (later.methods.empty()) return false;
    if (!std::includes(earlier.methods.begin(), earlier.methods.end(), later.methods.begin(),
                       later.methods.end()))
      return false;
  }
  // Each condition of `earlier` must be one `later` asks for as well.
  for (const auto& h : earlier.headers)
    if (std::find(later.headers.begin(), later.headers.end(), h) == later.headers.end())
      return false;
  return true;
}

// The matches of a route; a route without any matches every request.
std::vector<HttpMatch> matchesOf(const HttpRoute& route) {
  if (!route.matches.empty()) return route.matches;
  HttpMatch every;
  every.where = route.where;
  return {every};
}

std::string joinVersions(const std::map<std::string, uint32_t>& versions) {
  std::string out;
  for (const auto& [v, n] : versions) {
    if (n == 0) continue;
    out += (out.empty() ? "" : ", ") + v;
  }
  return out;
}

struct RouteRef {
  const Policy* policy;
  const TrafficRouteSpec* spec;
  size_t index;
};

class EffectChecker {
 public:
  EffectChecker(const std::vector<Policy>& policies, const std::set<std::string>* changed,
                const WorkloadInventory* inventory)
      : policies_(policies), changed_(changed), inventory_(inventory) {
    for (const auto& p : policies_) {
      if (const auto* dp = std::get_if<DestinationPolicySpec>(&p.spec)) {
        dest_policy_[dp->host] = &p;
        for (const auto& s : dp->subsets) subsets_[dp->host][s.name] = &s;
      }
    }
  }

  std::vector<PolicyWarning> run() {
    // host -> routes in the order the callers' proxies try them (TrafficRoutes in name order).
    std::map<std::string, std::vector<RouteRef>> routes_of;
    std::vector<const Policy*> routes_in_order;
    for (const auto& p : policies_)
      if (std::holds_alternative<TrafficRouteSpec>(p.spec)) routes_in_order.push_back(&p);
    std::stable_sort(routes_in_order.begin(), routes_in_order.end(),
                     [](const Policy* a, const Policy* b) { return a->name < b->name; });
    for (const Policy* p : routes_in_order) {
      const auto& tr = std::get<TrafficRouteSpec>(p->spec);
      for (size_t i = 0; i < tr.http.size(); ++i) routes_of[tr.host].push_back({p, &tr, i});
      checkDestinations(*p, tr);
    }
    for (const auto& [host, routes] : routes_of) checkShadowing(host, routes);
    return std::move(warnings_);
  }

 private:
  bool isChanged(const Policy& p) const { return !changed_ || changed_->count(p.id()) > 0; }

  std::vector<EdgeRef> edgesTo(const std::string& host, const std::string& destination) const {
    std::vector<EdgeRef> out;
    if (!inventory_) return out;
    if (auto it = inventory_->callers.find(host); it != inventory_->callers.end())
      for (const auto& caller : it->second) out.push_back(EdgeRef{caller, destination});
    return out;
  }

  void warn(const SourceLocation& where, std::string field, std::string message,
            std::vector<EdgeRef> edges) {
    warnings_.push_back(PolicyWarning{common::LocatedError{where.file, where.line, where.column,
                                                           std::move(field), std::move(message)},
                                      std::move(edges)});
  }

  // Why requests sent to `host` (subset `subset`, "" for every version) would find no instance;
  // "" when some instance runs.
  std::string noInstanceReason(const std::string& host, const std::string& subset) const {
    static const std::map<std::string, uint32_t> kNone;
    const auto svc = inventory_->instances.find(host);
    const auto& versions = svc == inventory_->instances.end() ? kNone : svc->second;
    const std::string running = joinVersions(versions);
    const std::string runs = running.empty() ? fmt::format("\"{}\" has no running instance", host)
                                             : fmt::format("\"{}\" runs only {}", host, running);
    if (subset.empty()) {
      if (!running.empty()) return {};
      return fmt::format("service \"{}\" has no running instance", host);
    }
    const auto hs = subsets_.find(host);
    if (hs == subsets_.end()) return {};
    const auto s = hs->second.find(subset);
    if (s == hs->second.end()) return {};  // an error, reported by validatePolicySet
    const std::string& version = s->second->version;
    const auto v = versions.find(version);
    if (v == versions.end())
      return fmt::format(
          "subset \"{}\" selects version \"{}\" of \"{}\", which does not exist ({})", subset,
          version, host, runs);
    if (v->second == 0)
      return fmt::format("subset \"{}\" (version \"{}\") of \"{}\" has no running instance ({})",
                         subset, version, host, runs);
    return {};
  }

  // Reports `reason` in the route's policy when it changed, else in the subset's declaration
  // when its DestinationPolicy changed (a subset moved to another version).
  void warnDestination(const Policy& route_policy, const std::string& host,
                       const std::string& subset, const SourceLocation& where, std::string field,
                       std::string message, std::vector<EdgeRef> edges) {
    if (isChanged(route_policy)) {
      warn(where, std::move(field), std::move(message), std::move(edges));
      return;
    }
    const auto dp = dest_policy_.find(host);
    if (subset.empty() || dp == dest_policy_.end() || !isChanged(*dp->second)) return;
    const SubsetSpec* declared = subsets_[host][subset];
    warn(declared->where, "spec.subsets",
         fmt::format("{} (used by {})", message, route_policy.id()), std::move(edges));
  }

  void checkDestinations(const Policy& p, const TrafficRouteSpec& tr) {
    if (!inventory_) return;
    for (size_t i = 0; i < tr.http.size(); ++i) {
      const HttpRoute& route = tr.http[i];
      const std::string rp = fmt::format("spec.http[{}]", i);
      for (size_t j = 0; j < route.destinations.size(); ++j) {
        const RouteDestination& d = route.destinations[j];
        // Without a subset, a route to its own host sends requests where they would go anyway:
        // a service without instances fails them with or without the policy.
        if (d.weight == 0 || (d.subset.empty() && d.host == tr.host)) continue;
        const std::string reason = noInstanceReason(d.host, d.subset);
        if (reason.empty()) continue;
        warnDestination(
            p, d.host, d.subset, d.where,
            fmt::format("{}.route[{}].destination.{}", rp, j, d.subset.empty() ? "host" : "subset"),
            fmt::format("route \"{}\" sends {}% of its requests to \"{}\"{}, but {}: they would "
                        "fail with 503",
                        route.name, d.weight, d.host,
                        d.subset.empty() ? "" : fmt::format(" subset \"{}\"", d.subset), reason),
            edgesTo(tr.host, d.host));
      }
      if (route.mirror) {
        const MirrorSpec& m = *route.mirror;
        if (m.subset.empty() && m.host == tr.host) continue;
        const std::string reason = noInstanceReason(m.host, m.subset);
        if (reason.empty()) continue;
        warnDestination(
            p, m.host, m.subset, m.where,
            rp + (m.subset.empty() ? ".mirror.host" : ".mirror.subset"),
            fmt::format("route \"{}\" mirrors to \"{}\"{}, but {}: the copies go nowhere",
                        route.name, m.host,
                        m.subset.empty() ? "" : fmt::format(" subset \"{}\"", m.subset), reason),
            edgesTo(tr.host, m.host));
      }
    }
  }

  void checkShadowing(const std::string& host, const std::vector<RouteRef>& routes) {
    for (size_t k = 1; k < routes.size(); ++k) {
      const RouteRef& later = routes[k];
      const HttpRoute& lr = later.spec->http[later.index];
      const auto later_matches = matchesOf(lr);
      // The first earlier route that takes every request of `later` on its own, if any; else
      // several earlier routes may share the work.
      const RouteRef* shadow = nullptr;
      bool all_covered = true;
      for (const auto& lm : later_matches) {
        const RouteRef* by = nullptr;
        for (size_t e = 0; e < k && !by; ++e) {
          for (const auto& em : matchesOf(routes[e].spec->http[routes[e].index])) {
            if (covers(em, lm)) {
              by = &routes[e];
              break;
            }
          }
        }
        if (!by) {
          all_covered = false;
          break;
        }
        if (!shadow) shadow = by;
      }
      if (!all_covered || !shadow) continue;
      const HttpRoute& er = shadow->spec->http[shadow->index];
      std::vector<EdgeRef> edges;
      for (const auto& d : lr.destinations) {
        for (auto& e : edgesTo(host, d.host))
          if (std::find(edges.begin(), edges.end(), e) == edges.end()) edges.push_back(e);
      }
      const bool same_policy = shadow->policy == later.policy;
      const std::string earlier_name =
          same_policy ? fmt::format("route \"{}\"", er.name)
                      : fmt::format("route \"{}\" of {}", er.name, shadow->policy->id());
      if (isChanged(*later.policy)) {
        warn(lr.where, fmt::format("spec.http[{}]", later.index),
             fmt::format("route \"{}\" can never match: {} comes before it and takes every "
                         "request to \"{}\" it would",
                         lr.name, earlier_name, host),
             std::move(edges));
      } else if (isChanged(*shadow->policy)) {
        warn(er.where, fmt::format("spec.http[{}]", shadow->index),
             fmt::format("route \"{}\" takes every request to \"{}\" that route \"{}\" of {} "
                         "would match: that route can never match",
                         er.name, host, lr.name, later.policy->id()),
             std::move(edges));
      }
    }
  }

  const std::vector<Policy>& policies_;
  const std::set<std::string>* changed_;
  const WorkloadInventory* inventory_;
  std::map<std::string, const Policy*> dest_policy_;
  std::map<std::string, std::map<std::string, const SubsetSpec*>> subsets_;
  std::vector<PolicyWarning> warnings_;
};

}  // namespace

std::vector<PolicyWarning> policyEffects(const std::vector<Policy>& policies,
                                         const std::set<std::string>* changed,
                                         const WorkloadInventory* inventory) {
  return EffectChecker(policies, changed, inventory).run();
}

}  // namespace meshdeck::cp
