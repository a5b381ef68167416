#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/api/types.h"
#include "controlplane/policy/policy.h"

namespace meshdeck::cp {

// Parses one or many YAML policy documents ("---" separated). Checks everything a single
// document can say about itself: YAML syntax, apiVersion and kind, metadata.name, the schema of
// spec (unknown fields are errors), types, ranges (weights sum to 100, percents 0-100,
// durations) and duplicate matches within the document. Every problem is appended to `errors`
// with file, line, column and field path; the returned policies are only meaningful when no
// error was added. Empty documents are skipped.
std::vector<Policy> parsePolicies(std::string_view yaml, const std::string& file,
                                  std::vector<common::LocatedError>* errors);

// Checks what only the complete set of a revision can tell: names are unique per kind, every
// referenced service is known, every referenced subset is declared by the DestinationPolicy of
// its host, two routes never claim the same match of one host, and at most one PeerAuthentication
// and one RateLimit select each service. `known_services` are the services registered by
// proxies or the fleet; hosts of DestinationPolicies count as known too.
void validatePolicySet(const std::vector<Policy>& policies,
                       const std::set<std::string>& known_services,
                       std::vector<common::LocatedError>* errors);

// Services a policy names (hosts, selectors, route and mirror destinations).
std::set<std::string> referencedServices(const Policy& policy);

}  // namespace meshdeck::cp
