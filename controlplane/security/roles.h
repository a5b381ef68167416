#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshdeck::cp::security {

// An operator's role. Each role may do everything the ones before it may.
enum class Role { kViewer, kOperator, kAdmin };

std::string_view toString(Role role);
// "viewer" | "operator" | "admin"; nothing for anything else.
std::optional<Role> parseRole(std::string_view text);

// One management call: its name (the gRPC method; RotateRoot split by action), the words an
// operator knows it by (meshdeckctl's command), the least role it needs, and whether it is
// audited: calls that change the mesh, and taps, which show its traffic (such calls are written
// to the audit log, allowed or refused).
struct CallRule {
  std::string_view call;
  std::string_view command;
  Role least_role;
  bool mutating;
};

// The authorization table: every management call and its rule (docs/security.md, "Operators
// and roles"). A call missing from it is refused.
const std::vector<CallRule>& callRules();
const CallRule* ruleOf(std::string_view call);

// True when `role` may make a call needing `needed`.
inline bool allows(Role role, Role needed) {
  return static_cast<int>(role) >= static_cast<int>(needed);
}

}  // namespace meshdeck::cp::security
