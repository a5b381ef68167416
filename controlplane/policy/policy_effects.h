#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "controlplane/api/types.h"
#include "controlplane/policy/policy.h"

namespace meshdeck::cp {

// What the registry knows is running, for checking what a policy set would do.
struct WorkloadInventory {
  // service -> version -> connected instances. A version listed with 0 exists (it was declared
  // or ran before) but has no instance now; a version not listed does not exist.
  std::map<std::string, std::map<std::string, uint32_t>> instances;
  // service -> the services seen calling it (the graph's edges), for the edges a warning
  // concerns.
  std::map<std::string, std::set<std::string>> callers;
};

// Checks a valid policy set (one that passed validatePolicySet) for its effect and returns a
// warning for each thing it would do that is probably not meant:
//   - a route destination of weight > 0, or a mirror, to a subset whose version has no running
//     instance or does not exist, or to another service than the route's host that has no
//     running instance at all (the requests sent there fail with 503; a route to its own host
//     without subset changes nothing about where requests go);
//   - a route that can never match because an earlier route (of the same TrafficRoute, or of a
//     TrafficRoute of the same host that comes before it in name order) already takes every
//     request it would.
// Only policies whose id is in `changed` are reported on (the ones the change creates or
// updates; null `changed` reports on every policy), and each warning is located in such a policy,
// so that it points into the text the user submitted. A shadowing between two policies is reported
// in whichever of the two changed (the shadowed one when both did). `inventory` null: instances are
// unknown, and only the shadowing checks run.
std::vector<PolicyWarning> policyEffects(const std::vector<Policy>& policies,
                                         const std::set<std::string>* changed,
                                         const WorkloadInventory* inventory);

}  // namespace meshdeck::cp
