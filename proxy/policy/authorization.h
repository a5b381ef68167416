#pragma once

#include <boost/beast/http/fields.hpp>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/http/field_allocator.h"
#include "proxy/http/h1_parser.h"
#include "proxy/stats.h"

namespace meshdeck::proxy {

// Inbound authorization: a pure function over the compiled rules, no sockets, no clocks.
//
// Enforced rules (dry_run false) decide: a matching DENY refuses the request whatever the
// ALLOW rules say; otherwise a matching ALLOW lets it through; otherwise the request is refused
// when ALLOW rules exist (an allow-list denies the rest) or `default_deny` is set, and let
// through when not.
//
// Dry-run rules never change the decision. They report what they would have done: every
// matching dry-run DENY rule is listed in `dry_run_denials`, and when dry-run ALLOW rules exist
// but none matches, `dry_run_allow_unmatched` names the first of them (their allow-list would
// refuse the request).

// A rule condition on a value: exact, or prefix when the pattern ends in '*'.
bool authorizationPatternMatches(std::string_view pattern, std::string_view value);

// What is known about a request when it is authorized.
struct AuthorizationRequest {
  std::string_view source;  // verified SPIFFE id of the peer; empty for a plain-text peer
  std::string_view method;
  std::string_view path;            // without the query
  const Fields* headers = nullptr;  // nullptr: no headers (unless h1_headers)
  // Instead of `headers`: the fields of a head read by the proxy's HTTP/1.1 codec (admitView()).
  const h1::FieldList* h1_headers = nullptr;
};

struct AuthorizationDecision {
  static constexpr int kNoRule = -1;
  bool allowed = true;
  // Index (in SecurityConfig::authorization) of the enforced rule that decided, or kNoRule when
  // the default decided (no rules matched).
  int rule = kNoRule;
  // Dry-run DENY rules that match, in rule order.
  std::vector<int> dry_run_denials;
  // A dry-run ALLOW rule standing for its allow-list when that list exists and nothing in it
  // matches; kNoRule otherwise.
  int dry_run_allow_unmatched = kNoRule;
};

// Whether every condition of `rule` holds for `request`.
bool authorizationRuleMatches(const AuthorizationRuleConfig& rule,
                              const AuthorizationRequest& request);

AuthorizationDecision authorize(const std::vector<AuthorizationRuleConfig>& rules,
                                bool default_deny, const AuthorizationRequest& request);

// The id under which `rules[index]` is counted (kNoRule: the default decision).
AuthzRuleId authorizationRuleId(const std::vector<AuthorizationRuleConfig>& rules, int index);

// The ids of `rules` by dense slot (see AuthzSlotTable): authorizationRuleId(rules, i) for each
// rule, then the default decision's. Built once per compiled config.
AuthzSlotTablePtr authorizationSlotTable(const std::vector<AuthorizationRuleConfig>& rules);

// Adds one request's decision to `counters`: the deciding rule (or the default) counts an allow
// or a deny; each dry-run rule that would have denied counts a dry-run deny.
//
// By slot (the request path: indexes only, no strings, no allocation): `slots` has one entry
// per rule the decision was made over plus the default's, the last one.
void countAuthorization(const AuthorizationDecision& decision, std::span<AuthzCounts> slots);
// By id (a Config without a slot table; tests).
void countAuthorization(const std::vector<AuthorizationRuleConfig>& rules,
                        const AuthorizationDecision& decision, AuthzCounterMap& counters);

// Admits at most `per_second` lines per second and counts the others, so that a flood of
// requests cannot fill the disk with log lines. Not thread-safe: one per thread.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(uint32_t per_second) : per_second_(per_second) {}
  // Whether a line may be written at `now`. When it may, `*suppressed` is the number of lines
  // refused since the last admitted one (to be mentioned in it).
  bool admit(std::chrono::steady_clock::time_point now, uint64_t* suppressed);

 private:
  uint32_t per_second_;
  std::chrono::steady_clock::time_point window_start_{};
  uint32_t admitted_ = 0;
  uint64_t suppressed_ = 0;
};

// Logs at info level one line per dry-run rule of `decision` that would have denied the
// request, naming policy, rule, method, path and source identity. At most
// kDryRunLogLinesPerSecond lines per second per calling thread (proxy worker); the next admitted
// line says how many were suppressed.
inline constexpr uint32_t kDryRunLogLinesPerSecond = 10;
void logDryRunDenials(const std::vector<AuthorizationRuleConfig>& rules,
                      const AuthorizationDecision& decision, const AuthorizationRequest& request);

}  // namespace meshdeck::proxy
