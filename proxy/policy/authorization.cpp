#include "proxy/policy/authorization.h"

#include <spdlog/spdlog.h>

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
  if (!rule.headers.empty() && request.h1_headers) {
    for (const auto& h : rule.headers)
      if (!headerMatches(h, *request.h1_headers)) return false;
  } else if (!rule.headers.empty()) {
    static const Fields kNone;
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

AuthzRuleId authorizationRuleId(const std::vector<AuthorizationRuleConfig>& rules, int index) {
  AuthzRuleId id;
  if (index < 0 || static_cast<size_t>(index) >= rules.size()) {
    id.rule = "default";
    return id;
  }
  const auto& r = rules[static_cast<size_t>(index)];
  id.policy = r.policy;
  id.rule = r.rule;
  id.action = r.deny ? AuthzAction::kDeny : AuthzAction::kAllow;
  id.dry_run = r.dry_run;
  return id;
}

AuthzSlotTablePtr authorizationSlotTable(const std::vector<AuthorizationRuleConfig>& rules) {
  auto table = std::make_shared<AuthzSlotTable>();
  table->reserve(rules.size() + 1);
  for (size_t i = 0; i < rules.size(); ++i)
    table->push_back(authorizationRuleId(rules, static_cast<int>(i)));
  table->push_back(authorizationRuleId(rules, AuthorizationDecision::kNoRule));
  return table;
}

void countAuthorization(const AuthorizationDecision& decision, std::span<AuthzCounts> slots) {
  if (slots.empty()) return;
  const size_t default_slot = slots.size() - 1;
  auto slot = [&](int index) -> AuthzCounts& {
    return index >= 0 && static_cast<size_t>(index) < default_slot
               ? slots[static_cast<size_t>(index)]
               : slots[default_slot];
  };
  auto& decided = slot(decision.rule);
  ++(decision.allowed ? decided.allowed : decided.denied);
  for (int i : decision.dry_run_denials) ++slot(i).dry_run_denied;
  if (decision.dry_run_allow_unmatched != AuthorizationDecision::kNoRule)
    ++slot(decision.dry_run_allow_unmatched).dry_run_denied;
}

void countAuthorization(const std::vector<AuthorizationRuleConfig>& rules,
                        const AuthorizationDecision& decision, AuthzCounterMap& counters) {
  auto& decided = counters[authorizationRuleId(rules, decision.rule)];
  ++(decision.allowed ? decided.allowed : decided.denied);
  for (int i : decision.dry_run_denials) ++counters[authorizationRuleId(rules, i)].dry_run_denied;
  if (decision.dry_run_allow_unmatched != AuthorizationDecision::kNoRule)
    ++counters[authorizationRuleId(rules, decision.dry_run_allow_unmatched)].dry_run_denied;
}

bool LogRateLimiter::admit(std::chrono::steady_clock::time_point now, uint64_t* suppressed) {
  if (admitted_ == 0 || now - window_start_ >= std::chrono::seconds(1)) {
    window_start_ = now;
    admitted_ = 0;
  }
  if (admitted_ >= per_second_) {
    ++suppressed_;
    return false;
  }
  ++admitted_;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

void logDryRunDenials(const std::vector<AuthorizationRuleConfig>& rules,
                      const AuthorizationDecision& decision, const AuthorizationRequest& request) {
  if (decision.dry_run_denials.empty() &&
      decision.dry_run_allow_unmatched == AuthorizationDecision::kNoRule)
    return;
  thread_local LogRateLimiter limiter(kDryRunLogLinesPerSecond);
  auto log = [&](int index, const char* why) {
    uint64_t suppressed = 0;
    if (!limiter.admit(std::chrono::steady_clock::now(), &suppressed)) return;
    const auto& r = rules[static_cast<size_t>(index)];
    spdlog::info(
        "authorization dry run: policy {} rule {} would deny {} {} from {} ({}){}", r.policy,
        r.rule, request.method, request.path,
        request.source.empty() ? std::string_view("(no identity)") : request.source, why,
        suppressed ? fmt::format("; {} similar lines suppressed", suppressed) : std::string());
  };
  for (int i : decision.dry_run_denials) log(i, "DENY rule matches");
  if (decision.dry_run_allow_unmatched != AuthorizationDecision::kNoRule)
    log(decision.dry_run_allow_unmatched, "no ALLOW rule of the dry run matches");
}

}  // namespace meshdeck::proxy
