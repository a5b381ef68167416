#pragma once

#include <string>

namespace meshdeck::cp {

// The one naming scheme of the policies Meshdeck writes itself: the desktop's forms and the
// built-in scenarios (resources/scenarios). `<service>-<purpose>`, or `mesh-<purpose>` for a
// policy of the whole mesh, so that a form and a scenario that do the same thing to the same
// service name the same object (it is replaced, or shown as a collision, never doubled) and an
// operator can tell from the name what made a policy for what:
//   DestinationPolicy   "destination" (one per service: subsets, load balancing, outliers)
//   TrafficRoute        "canary", "retries", "timeout", "fault"
//   PeerAuthentication  "mtls"
//   RateLimit           "ratelimit"
//   AuthorizationPolicy "allow", "deny", "allow-nothing", "audit"
// docs/operator-ux.md lists the same table.
std::string policyObjectName(const std::string& service, const std::string& purpose);

namespace purpose {
inline constexpr const char* kDestination = "destination";
inline constexpr const char* kCanary = "canary";
inline constexpr const char* kRetries = "retries";
inline constexpr const char* kTimeout = "timeout";
inline constexpr const char* kFault = "fault";
inline constexpr const char* kMtls = "mtls";
inline constexpr const char* kRateLimit = "ratelimit";
inline constexpr const char* kAllow = "allow";
inline constexpr const char* kDeny = "deny";
inline constexpr const char* kAllowNothing = "allow-nothing";
inline constexpr const char* kAudit = "audit";
}  // namespace purpose

}  // namespace meshdeck::cp
