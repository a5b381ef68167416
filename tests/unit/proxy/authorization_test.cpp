#include "proxy/policy/authorization.h"

#include <QtTest>

using namespace meshdeck::proxy;
namespace http = boost::beast::http;

namespace {

constexpr const char* kFrontend = "spiffe://mesh.local/ns/default/sa/frontend";
constexpr const char* kBatch = "spiffe://mesh.local/ns/batch/sa/report";

AuthorizationRuleConfig rule(bool deny, std::vector<std::string> sources = {},
                             std::vector<std::string> methods = {},
                             std::vector<std::string> paths = {}, bool dry_run = false) {
  AuthorizationRuleConfig r;
  r.deny = deny;
  r.sources = std::move(sources);
  r.methods = std::move(methods);
  r.paths = std::move(paths);
  r.dry_run = dry_run;
  return r;
}

AuthorizationDecision check(const std::vector<AuthorizationRuleConfig>& rules,
                            std::string_view source, std::string_view method, std::string_view path,
                            bool default_deny = false, const Fields* headers = nullptr) {
  return authorize(rules, default_deny, {source, method, path, headers});
}

}  // namespace

class AuthorizationTest : public QObject {
  Q_OBJECT

 private slots:
  void noRulesAllowByDefault() {
    const auto d = check({}, kFrontend, "GET", "/");
    QVERIFY(d.allowed);
    QCOMPARE(d.rule, AuthorizationDecision::kNoRule);
    QVERIFY(d.dry_run_denials.empty());
    QCOMPARE(d.dry_run_allow_unmatched, AuthorizationDecision::kNoRule);
  }

  void defaultDenySwitch() {
    QVERIFY(!check({}, kFrontend, "GET", "/", true).allowed);
    QCOMPARE(check({}, kFrontend, "GET", "/", true).rule, AuthorizationDecision::kNoRule);
    // An ALLOW rule opens a hole in the default deny.
    const std::vector rules{rule(false, {kFrontend})};
    const auto d = check(rules, kFrontend, "GET", "/", true);
    QVERIFY(d.allowed);
    QCOMPARE(d.rule, 0);
    QVERIFY(!check(rules, kBatch, "GET", "/", true).allowed);
  }

  void exactAndPrefixSource() {
    const std::vector rules{rule(true, {kFrontend}),
                            rule(true, {"spiffe://mesh.local/ns/batch/*"})};
    auto d = check(rules, kFrontend, "GET", "/");
    QVERIFY(!d.allowed);
    QCOMPARE(d.rule, 0);
    d = check(rules, kBatch, "GET", "/");
    QVERIFY(!d.allowed);
    QCOMPARE(d.rule, 1);
    // Exact means exact: a longer id or another namespace is not matched.
    QVERIFY(check(rules, std::string(kFrontend) + "-v2", "GET", "/").allowed);
    QVERIFY(check(rules, "spiffe://mesh.local/ns/batchx/sa/report", "GET", "/").allowed);
    // A plain-text peer has no identity: a rule naming sources never matches it.
    QVERIFY(check(rules, "", "GET", "/").allowed);
  }

  void methodAndPath() {
    const std::vector rules{rule(true, {}, {"DELETE", "PUT"}, {"/admin/*", "/config"})};
    QVERIFY(!check(rules, kFrontend, "DELETE", "/admin/users").allowed);
    QVERIFY(!check(rules, kFrontend, "PUT", "/config").allowed);
    QVERIFY(check(rules, kFrontend, "GET", "/admin/users").allowed);       // method differs
    QVERIFY(check(rules, kFrontend, "DELETE", "/config/x").allowed);       // exact path
    QVERIFY(check(rules, kFrontend, "DELETE", "/administrator").allowed);  // prefix is "/admin/"
    QVERIFY(!check(rules, kFrontend, "DELETE", "/admin/").allowed);
  }

  void headers() {
    auto r = rule(true);
    HeaderMatcher h;
    h.name = "x-debug";
    h.value.kind = StringMatcher::Kind::kExact;
    h.value.value = "1";
    r.headers.push_back(h);
    const std::vector rules{r};
    Fields with;
    with.set("X-Debug", "1");
    Fields other;
    other.set("X-Debug", "0");
    QVERIFY(!check(rules, kFrontend, "GET", "/", false, &with).allowed);
    QVERIFY(check(rules, kFrontend, "GET", "/", false, &other).allowed);
    QVERIFY(check(rules, kFrontend, "GET", "/", false, nullptr).allowed);
  }

  void denyWinsOverAllow() {
    // The ALLOW comes first in the list and matches too: DENY still decides.
    const std::vector rules{rule(false, {kFrontend}), rule(true, {}, {}, {"/admin/*"})};
    auto d = check(rules, kFrontend, "GET", "/admin/x");
    QVERIFY(!d.allowed);
    QCOMPARE(d.rule, 1);
    d = check(rules, kFrontend, "GET", "/ok");
    QVERIFY(d.allowed);
    QCOMPARE(d.rule, 0);
  }

  void allowListDeniesTheRest() {
    const std::vector rules{rule(false, {kFrontend}, {"GET"}), rule(false, {kBatch})};
    QCOMPARE(check(rules, kFrontend, "GET", "/").rule, 0);
    QCOMPARE(check(rules, kBatch, "POST", "/").rule, 1);
    auto d = check(rules, kFrontend, "POST", "/");
    QVERIFY(!d.allowed);
    QCOMPARE(d.rule, AuthorizationDecision::kNoRule);
    d = check(rules, "", "GET", "/");
    QVERIFY(!d.allowed);
  }

  void dryRunDenyDoesNotDeny() {
    const std::vector rules{rule(true, {}, {"DELETE"}, {}, true),
                            rule(true, {kBatch}, {}, {}, true), rule(true, {}, {}, {"/secret"})};
    auto d = check(rules, kBatch, "DELETE", "/");
    QVERIFY(d.allowed);
    QCOMPARE(d.rule, AuthorizationDecision::kNoRule);
    QCOMPARE(d.dry_run_denials, (std::vector<int>{0, 1}));
    d = check(rules, kFrontend, "GET", "/");
    QVERIFY(d.allowed);
    QVERIFY(d.dry_run_denials.empty());
    // An enforced DENY still denies; the dry-run rule that also matches is reported.
    d = check(rules, kBatch, "GET", "/secret");
    QVERIFY(!d.allowed);
    QCOMPARE(d.rule, 2);
    QCOMPARE(d.dry_run_denials, (std::vector<int>{1}));
  }

  void dryRunAllowDoesNotDenyTheRest() {
    const std::vector rules{rule(false, {kFrontend}, {}, {}, true),
                            rule(false, {}, {"GET"}, {}, true)};
    // Neither dry-run ALLOW matches: the request goes through, reported as a would-be denial.
    auto d = check(rules, kBatch, "POST", "/");
    QVERIFY(d.allowed);
    QCOMPARE(d.rule, AuthorizationDecision::kNoRule);
    QCOMPARE(d.dry_run_allow_unmatched, 0);
    // One matches: nothing to report.
    d = check(rules, kBatch, "GET", "/");
    QVERIFY(d.allowed);
    QCOMPARE(d.dry_run_allow_unmatched, AuthorizationDecision::kNoRule);
    d = check(rules, kFrontend, "POST", "/");
    QCOMPARE(d.dry_run_allow_unmatched, AuthorizationDecision::kNoRule);
    // Dry-run ALLOW rules do not make an allow-list: an enforced DENY is the only refusal.
    const std::vector mixed{rule(false, {kFrontend}, {}, {}, true), rule(true, {}, {"DELETE"})};
    QVERIFY(check(mixed, kBatch, "GET", "/").allowed);
    QVERIFY(!check(mixed, kFrontend, "DELETE", "/").allowed);
  }

  void countsPerRule() {
    auto deny = rule(true, {}, {"DELETE"});
    deny.policy = "no-delete";
    deny.rule = "rules[0]";
    auto dry = rule(true, {kBatch}, {}, {}, true);
    dry.policy = "no-batch";
    dry.rule = "rules[0]";
    auto allow = rule(false, {kFrontend, kBatch});
    allow.policy = "callers";
    allow.rule = "rules[0]";
    const std::vector rules{deny, dry, allow};
    AuthzCounterMap counters;
    auto count = [&](std::string_view source, std::string_view method) {
      countAuthorization(rules, check(rules, source, method, "/"), counters);
    };
    count(kFrontend, "GET");
    count(kFrontend, "GET");
    count(kFrontend, "DELETE");
    count(kBatch, "GET");     // allowed, and the dry run would deny
    count(kBatch, "DELETE");  // denied, and the dry run would deny
    count("", "GET");         // nobody allows a plain peer: the default denies
    const AuthzRuleId deny_id{"no-delete", "rules[0]", AuthzAction::kDeny, false};
    const AuthzRuleId dry_id{"no-batch", "rules[0]", AuthzAction::kDeny, true};
    const AuthzRuleId allow_id{"callers", "rules[0]", AuthzAction::kAllow, false};
    const AuthzRuleId default_id{"", "default", AuthzAction::kDefault, false};
    QCOMPARE(counters.size(), size_t{4});
    QCOMPARE(counters[allow_id].allowed, uint64_t{3});
    QCOMPARE(counters[allow_id].denied, uint64_t{0});
    QCOMPARE(counters[deny_id].denied, uint64_t{2});
    QCOMPARE(counters[dry_id].dry_run_denied, uint64_t{2});
    QCOMPARE(counters[dry_id].denied, uint64_t{0});
    QCOMPARE(counters[default_id].denied, uint64_t{1});

    WorkerStats stats;
    stats.authz = counters;
    const std::string text = stats.renderPrometheus();
    for (const char* line :
         {"meshdeck_authz_requests_total{policy=\"callers\",rule=\"rules[0]\",decision=\"allow\"} "
          "3\n",
          "meshdeck_authz_requests_total{policy=\"no-delete\",rule=\"rules[0]\",decision=\"deny\"} "
          "2\n",
          "meshdeck_authz_requests_total{policy=\"no-batch\",rule=\"rules[0]\",decision=\"dry_run_"
          "deny\"} 2\n",
          "meshdeck_authz_requests_total{policy=\"\",rule=\"default\",decision=\"deny\"} 1\n"})
      QVERIFY2(text.find(line) != std::string::npos, line);
  }

  void dryRunAllowUnmatchedIsCountedOnItsRule() {
    auto allow = rule(false, {kFrontend}, {}, {}, true);
    allow.policy = "only-frontend";
    allow.rule = "rules[0]";
    const std::vector rules{allow};
    AuthzCounterMap counters;
    countAuthorization(rules, check(rules, kBatch, "GET", "/"), counters);
    countAuthorization(rules, check(rules, kFrontend, "GET", "/"), counters);
    const AuthzRuleId id{"only-frontend", "rules[0]", AuthzAction::kAllow, true};
    QCOMPARE(counters[id].dry_run_denied, uint64_t{1});
    const AuthzRuleId default_id{"", "default", AuthzAction::kDefault, false};
    QCOMPARE(counters[default_id].allowed, uint64_t{2});  // nothing was denied
  }

  void countsBySlotAsById() {
    // The request path counts by dense slot; the result, by id, is the same as counting by id.
    auto deny = rule(true, {}, {"DELETE"});
    deny.policy = "no-delete";
    deny.rule = "rules[0]";
    auto dry = rule(true, {kBatch}, {}, {}, true);
    dry.policy = "no-batch";
    dry.rule = "rules[0]";
    auto dry_allow = rule(false, {kFrontend}, {}, {}, true);
    dry_allow.policy = "only-frontend";
    dry_allow.rule = "rules[0]";
    auto allow = rule(false, {kFrontend, kBatch});
    allow.policy = "callers";
    allow.rule = "rules[0]";
    const std::vector rules{deny, dry, dry_allow, allow};
    const auto table = authorizationSlotTable(rules);
    QCOMPARE(table->size(), rules.size() + 1);
    QCOMPARE(table->back().rule, std::string("default"));

    AuthzCounterMap by_id;
    AuthzSlotCounters by_slot;
    by_slot.bind(table, by_id);
    QCOMPARE(by_slot.counts.size(), table->size());
    AuthzCounterMap expected;
    const std::pair<std::string_view, std::string_view> requests[] = {
        {kFrontend, "GET"}, {kFrontend, "DELETE"}, {kBatch, "GET"},
        {kBatch, "DELETE"}, {"", "GET"},           {kFrontend, "GET"}};
    for (const auto& [source, method] : requests) {
      const auto d = check(rules, source, method, "/");
      countAuthorization(d, by_slot.counts);
      countAuthorization(rules, d, expected);
    }
    QVERIFY(by_id.empty());  // nothing is folded until asked
    by_slot.addTo(by_id);
    QCOMPARE(by_id.size(), expected.size());
    for (const auto& [id, c] : expected) {
      QVERIFY2(by_id.count(id), id.policy.c_str());
      QCOMPARE(by_id[id].allowed, c.allowed);
      QCOMPARE(by_id[id].denied, c.denied);
      QCOMPARE(by_id[id].dry_run_denied, c.dry_run_denied);
    }
    const AuthzRuleId allow_id{"callers", "rules[0]", AuthzAction::kAllow, false};
    QCOMPARE(by_id[allow_id].allowed, uint64_t{3});
    const AuthzRuleId dry_allow_id{"only-frontend", "rules[0]", AuthzAction::kAllow, true};
    QCOMPARE(by_id[dry_allow_id].dry_run_denied, uint64_t{3});  // batch twice, plain peer once
  }

  void slotCountersSurviveANewConfig() {
    // A new config (another slot table, rules moved and one gone) folds the counts so far into
    // the cumulative map: /stats totals never go down, and a rule that kept its id goes on
    // counting on the same series.
    auto a = rule(false, {kFrontend});
    a.policy = "callers";
    a.rule = "rules[0]";
    auto b = rule(true, {}, {"DELETE"});
    b.policy = "no-delete";
    b.rule = "rules[0]";
    const std::vector first{a, b};
    const std::vector second{b};  // "callers" removed, "no-delete" now slot 0

    WorkerStats stats;
    auto count = [&](const std::vector<AuthorizationRuleConfig>& rules,
                     const AuthzSlotTablePtr& table, std::string_view method) {
      if (stats.authz_slots.table != table) stats.authz_slots.bind(table, stats.authz);
      countAuthorization(check(rules, kFrontend, method, "/"), stats.authz_slots.counts);
    };
    const auto t1 = authorizationSlotTable(first);
    count(first, t1, "GET");
    count(first, t1, "DELETE");
    const AuthzRuleId a_id{"callers", "rules[0]", AuthzAction::kAllow, false};
    const AuthzRuleId b_id{"no-delete", "rules[0]", AuthzAction::kDeny, false};
    const AuthzRuleId default_id{"", "default", AuthzAction::kDefault, false};
    QCOMPARE(stats.clone().authz[a_id].allowed, uint64_t{1});
    QCOMPARE(stats.clone().authz[b_id].denied, uint64_t{1});

    const auto t2 = authorizationSlotTable(second);
    count(second, t2, "DELETE");
    count(second, t2, "GET");  // the default allows now
    auto totals = stats.clone().authz;
    QCOMPARE(totals[a_id].allowed, uint64_t{1});
    QCOMPARE(totals[b_id].denied, uint64_t{2});
    QCOMPARE(totals[default_id].allowed, uint64_t{1});
    QVERIFY(stats.clone().authz_slots.counts.empty());  // a clone is folded

    // merge() and the Prometheus text see the slots of the worker too.
    WorkerStats merged;
    merged.merge(stats);
    QCOMPARE(merged.authz[b_id].denied, uint64_t{2});
    QVERIFY(stats.renderPrometheus().find("meshdeck_authz_requests_total{policy=\"no-delete\","
                                          "rule=\"rules[0]\",decision=\"deny\"} 2\n") !=
            std::string::npos);

    // The same for a telemetry edge: merging folds the slots into the ids.
    EdgeDelta edge;
    edge.authz_slots.bind(t2, edge.authz);
    countAuthorization(check(second, kFrontend, "DELETE", "/"), edge.authz_slots.counts);
    EdgeDelta sum;
    sum.merge(edge);
    QCOMPARE(sum.authz[b_id].denied, uint64_t{1});
  }

  void logLinesAreRateLimited() {
    LogRateLimiter limiter(3);
    auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    uint64_t suppressed = 99;
    int admitted = 0;
    for (int i = 0; i < 1000; ++i) {
      if (limiter.admit(t, &suppressed)) {
        ++admitted;
        QCOMPARE(suppressed, uint64_t{0});
      }
      t += std::chrono::microseconds(100);  // 1000 lines in 0.1 s
    }
    QCOMPARE(admitted, 3);
    // The next second admits again and reports what was dropped.
    t += std::chrono::seconds(1);
    QVERIFY(limiter.admit(t, &suppressed));
    QCOMPARE(suppressed, uint64_t{997});
    QVERIFY(limiter.admit(t, &suppressed));
    QCOMPARE(suppressed, uint64_t{0});
    QVERIFY(limiter.admit(t + std::chrono::milliseconds(999), &suppressed));
    QVERIFY(!limiter.admit(t + std::chrono::milliseconds(999), &suppressed));
    QVERIFY(limiter.admit(t + std::chrono::seconds(1), &suppressed));
    QCOMPARE(suppressed, uint64_t{1});
  }

  void patterns() {
    QVERIFY(authorizationPatternMatches("*", ""));
    QVERIFY(authorizationPatternMatches("*", "anything"));
    QVERIFY(authorizationPatternMatches("/a*", "/a"));
    QVERIFY(!authorizationPatternMatches("/a*", "/"));
    QVERIFY(authorizationPatternMatches("", ""));
    QVERIFY(!authorizationPatternMatches("", "/"));
    QVERIFY(!authorizationPatternMatches("/a", "/a/"));
  }
};

QTEST_APPLESS_MAIN(AuthorizationTest)
#include "authorization_test.moc"
