#include "proxy/policy/authorization.h"

#include "proxy/policy/router.h"

namespace meshdeck::proxy {

bool authorizationPatternMatches(std::string_view pattern, std::string_view value) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return value.substr(0, pattern.size()) == pattern;
  }
  return pattern == value;
}

namespace {

bool anyOf(const std::vector<std::string>& patterns, std::string_view value) {
  if (patterns.empty()) return true;
  for (const auto& p : patterns)
    if (authorizationPatternMatches(p, value)) return true;
  return false;
}

}  // namespace

bool authorizationRuleMatches(const AuthorizationRuleConfig& rule,
                              const AuthorizationRequest& request) {
  if (!anyOf(rule.sources, request.source) || !anyOf(rule.paths, request.path)) return false;
  if (!rule.methods.empty()) {
    bool method = false;
    for (const auto& m : rule.methods) method = method || m == request.method;
    if (!method) return false;
  }
  if (!rule.headers.empty()) {
    static const boost::beast::http::fields kNone;
    const auto& headers = request.headers ? *request.headers : kNone;
    for (const auto& h : rule.headers)
      if (!headerMatches(h, headers)) return false;
  }
  return true;
}

AuthorizationDecision authorize(const std::vector<AuthorizationRuleConfig>& rules,
                                bool default_deny, const AuthorizationRequest& request) {
  AuthorizationDecision d;
  int deny = AuthorizationDecision::kNoRule;
  int allow = AuthorizationDecision::kNoRule;
  bool has_allow = false;
  bool has_dry_allow = false;
  int first_dry_allow = AuthorizationDecision::kNoRule;
  bool dry_allow_matched = false;
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& r = rules[i];
    const int index = static_cast<int>(i);
    if (r.dry_run) {
      if (r.deny) {
        if (authorizationRuleMatches(r, request)) d.dry_run_denials.push_back(index);
      } else {
        if (!has_dry_allow) first_dry_allow = index;
        has_dry_allow = true;
        dry_allow_matched = dry_allow_matched || authorizationRuleMatches(r, request);
      }
      continue;
    }
    if (r.deny) {
      if (deny == AuthorizationDecision::kNoRule && authorizationRuleMatches(r, request))
        deny = index;
    } else {
      has_allow = true;
      if (allow == AuthorizationDecision::kNoRule && deny == AuthorizationDecision::kNoRule &&
          authorizationRuleMatches(r, request))
        allow = index;
    }
  }
  if (deny != AuthorizationDecision::kNoRule) {
    d.allowed = false;
    d.rule = deny;
  } else if (allow != AuthorizationDecision::kNoRule) {
    d.rule = allow;
  } else {
    d.allowed = !(has_allow || default_deny);
  }
  if (has_dry_allow && !dry_allow_matched) d.dry_run_allow_unmatched = first_dry_allow;
  return d;
}

}  // namespace meshdeck::proxy
