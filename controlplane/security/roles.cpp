#include "controlplane/security/roles.h"

#include <algorithm>

namespace meshdeck::cp::security {

std::string_view toString(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

std::optional<Role> parseRole(std::string_view text) {
  for (const Role r : {Role::kViewer, Role::kOperator, Role::kAdmin})
    if (toString(r) == text) return r;
  return std::nullopt;
}

const std::vector<CallRule>& callRules() {
  // Reads are the viewer's; what changes traffic or the fleet is the operator's; what changes
  // who may do what (the CA's roots, operators) or shows who did what (the audit log) is the
  // admin's.
  static const std::vector<CallRule> rules{
      {"GetGraph", "get", Role::kViewer, false},
      {"WatchGraph", "top", Role::kViewer, false},
      {"ListProxies", "get proxies", Role::kViewer, false},
      {"ListPolicies", "get policies", Role::kViewer, false},
      {"ListRevisions", "history", Role::kViewer, false},
      {"DiffRevisions", "diff", Role::kViewer, false},
      {"ExportSnapshot", "snapshot", Role::kViewer, false},
      {"ListProcesses", "fleet ls", Role::kViewer, false},
      {"GetProcessLogs", "fleet logs", Role::kViewer, false},
      {"GetEdgeHistory", "edge history", Role::kViewer, false},
      {"GetGraphAt", "get edges --at", Role::kViewer, false},
      {"ListEvents", "events", Role::kViewer, false},
      {"ListCertificates", "get certs", Role::kViewer, false},
      {"RotateRoot/status", "ca status", Role::kViewer, false},
      {"ApplyPolicies", "apply", Role::kOperator, true},
      {"DeletePolicy", "delete", Role::kOperator, true},
      {"RevertToRevision", "revert", Role::kOperator, true},
      {"RestartProcess", "fleet restart", Role::kOperator, true},
      {"ScaleService", "fleet scale", Role::kOperator, true},
      // A tap shows live requests (paths, identities, headers when asked): audited.
      {"Tap", "tap", Role::kOperator, true},
      {"RotateRoot/begin", "ca rotate begin", Role::kAdmin, true},
      {"RotateRoot/retire", "ca rotate retire", Role::kAdmin, true},
      {"AddOperator", "operator add", Role::kAdmin, true},
      {"RevokeOperator", "operator revoke", Role::kAdmin, true},
      {"ListOperators", "operator list", Role::kAdmin, false},
      {"ReadAudit", "audit", Role::kAdmin, false},
      {"WhoAmI", "whoami", Role::kViewer, false},
  };
  return rules;
}

const CallRule* ruleOf(std::string_view call) {
  const auto& rules = callRules();
  const auto it =
      std::find_if(rules.begin(), rules.end(), [&](const CallRule& r) { return r.call == call; });
  return it == rules.end() ? nullptr : &*it;
}

}  // namespace meshdeck::cp::security
