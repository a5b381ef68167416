// policy_parser: the control plane's policy parser and the set validation, through their
// public entry points (parsePolicies, validatePolicySet, referencedServices).
// Oracle: no crash, hang or sanitizer report. A set that parsed without error is validated
// twice: against the services it names (the cross-reference rules run) and against none.
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "controlplane/policy/policy_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<meshdeck::common::LocatedError> errors;
  const auto policies = meshdeck::cp::parsePolicies(text, "fuzz.yaml", &errors);
  if (!errors.empty()) return 0;
  std::set<std::string> known;
  for (const auto& p : policies) {
    const auto named = meshdeck::cp::referencedServices(p);
    known.insert(named.begin(), named.end());
  }
  meshdeck::cp::validatePolicySet(policies, known, &errors);
  meshdeck::cp::validatePolicySet(policies, {}, &errors);
  return 0;
}
