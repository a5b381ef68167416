// Retry decisions as a pure function of the attempt's outcome, the policy, the cluster's
// budget and the (simulated) time. No sockets.
#include "proxy/retry_state.h"

#include <QtTest>
#include <chrono>

using namespace meshdeck::proxy;
using namespace std::chrono_literals;
using TimePoint = RetryState::TimePoint;

namespace {

const TimePoint kNow{std::chrono::seconds(1000)};

RetryConfig policy(uint32_t attempts, uint32_t retry_on) {
  RetryConfig p;
  p.attempts = attempts;
  p.retry_on = retry_on;
  p.base_interval = 25ms;
  p.max_interval = 250ms;
  p.budget_percent = 20;
  p.min_retry_concurrency = 3;
  return p;
}

AttemptOutcome status(unsigned s) { return {AttemptFailure::kNone, s, false}; }
AttemptOutcome failed(AttemptFailure f, bool reused = false) { return {f, 0, reused}; }
auto constant(uint64_t v) {
  return [v] { return v; };
}

}  // namespace

class RetryStateTest : public QObject {
  Q_OBJECT

 private slots:
  void retriesTheStatusesThePolicyNames() {
    const auto p = policy(3, kRetryOnGatewayError);
    RetryBudget budget;
    RetryState retry(p, true, TimePoint::max());
    QCOMPARE(retry.next(status(503), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kRetry);
    budget.release();
    QCOMPARE(retry.next(status(500), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kStop);  // not a gateway error
    QCOMPARE(retry.next(status(200), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kStop);

    const auto all = policy(3, kRetryOn5xx);
    RetryState retry5xx(all, true, TimePoint::max());
    QCOMPARE(retry5xx.next(status(500), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kRetry);
    budget.release();
    QCOMPARE(retry5xx.next(failed(AttemptFailure::kConnectFailure), &budget, 1, kNow, constant(0))
                 .action,
             RetryState::Action::kRetry);
    budget.release();
    QCOMPARE(retry5xx.retries(), 2u);
  }

  void perTryTimeoutIsRetriedUntilTheRouteDeadline() {
    const auto p = policy(5, kRetryOnGatewayError);
    RetryBudget budget;
    const TimePoint deadline = kNow + 1s;
    RetryState retry(p, true, deadline);
    auto d = retry.next(failed(AttemptFailure::kTimeout), &budget, 1, kNow, constant(0));
    QCOMPARE(d.action, RetryState::Action::kRetry);
    budget.release();
    d = retry.next(failed(AttemptFailure::kTimeout), &budget, 1, deadline, constant(0));
    QCOMPARE(d.action, RetryState::Action::kStop);  // the route's time is up
    QVERIFY(!d.budget_exhausted);
    // A reset is not retried under gateway-error alone.
    RetryState other(p, true, deadline);
    QCOMPARE(other.next(failed(AttemptFailure::kReset), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kStop);
  }

  void stopsAfterTheAttempts() {
    const auto p = policy(2, kRetryOn5xx);
    RetryBudget budget;
    RetryState retry(p, true, TimePoint::max());
    for (int i = 0; i < 2; ++i) {
      QCOMPARE(retry.next(status(500), &budget, 1, kNow, constant(0)).action,
               RetryState::Action::kRetry);
      budget.release();
    }
    QCOMPARE(retry.next(status(500), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kStop);
    QCOMPARE(retry.retries(), 2u);
  }

  void budgetExhaustedStops() {
    auto p = policy(3, kRetryOn5xx);
    p.min_retry_concurrency = 1;
    p.budget_percent = 0;
    RetryBudget budget;
    RetryState first(p, true, TimePoint::max());
    QCOMPARE(first.next(status(500), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kRetry);  // holds the only slot
    RetryState second(p, true, TimePoint::max());
    const auto d = second.next(status(500), &budget, 1, kNow, constant(0));
    QCOMPARE(d.action, RetryState::Action::kStop);
    QVERIFY(d.budget_exhausted);
    budget.release();
    QCOMPARE(second.next(status(500), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kRetry);
    budget.release();
    QCOMPARE(budget.activeRetries(), 0u);
  }

  void backoffGrowsAndIsBounded() {
    const auto p = policy(10, kRetryOn5xx);
    RetryBudget budget;
    RetryState retry(p, true, TimePoint::max());
    // With full jitter the backoff is random % (ceiling + 1): a draw equal to the ceiling
    // gives the ceiling itself. Ceilings: 25, 50, 100, 200 ms, then capped at 250 ms.
    const Duration ceilings[] = {25ms, 50ms, 100ms, 200ms, 250ms, 250ms};
    for (const auto c : ceilings) {
      const auto d =
          retry.next(status(500), &budget, 1, kNow, constant(static_cast<uint64_t>(c.count())));
      QCOMPARE(d.action, RetryState::Action::kRetry);
      QCOMPARE(d.backoff, c);
      budget.release();
    }
    // Any draw stays within the cap.
    const auto d = retry.next(status(500), &budget, 1, kNow, constant(~uint64_t{0}));
    QVERIFY(d.backoff <= Duration(250ms));
    budget.release();
    // And within the route's deadline.
    RetryState late(p, true, kNow + 10ms);
    const auto capped = late.next(status(500), &budget, 1, kNow,
                                  constant(static_cast<uint64_t>(Duration(25ms).count())));
    QCOMPARE(capped.backoff, Duration(10ms));
    budget.release();
  }

  void aClosedPooledConnectionIsRetriedOnceOnAFreshOne() {
    const auto p = policy(0, 0);  // no retries at all by policy
    RetryBudget budget;
    RetryState retry(p, true, TimePoint::max());
    QVERIFY(!retry.freshOnly());
    auto d = retry.next(failed(AttemptFailure::kReset, true), &budget, 1, kNow, constant(0));
    QCOMPARE(d.action, RetryState::Action::kRetryFresh);
    QVERIFY(retry.freshOnly());
    QCOMPARE(retry.retries(), 0u);  // not a retry of the policy
    d = retry.next(failed(AttemptFailure::kReset, true), &budget, 1, kNow, constant(0));
    QCOMPARE(d.action, RetryState::Action::kStop);
  }

  void aBodyNotInHandIsNeverReplayed() {
    const auto p = policy(3, kRetryOn5xx);
    RetryBudget budget;
    RetryState retry(p, false, TimePoint::max());
    QVERIFY(retry.freshOnly());
    QCOMPARE(retry.next(status(503), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kStop);
    QCOMPARE(retry.next(failed(AttemptFailure::kReset, true), &budget, 1, kNow, constant(0)).action,
             RetryState::Action::kStop);
    // Without a cluster (gone in a push) nothing is retried by policy.
    RetryState orphan(p, true, TimePoint::max());
    QCOMPARE(orphan.next(status(503), nullptr, 0, kNow, constant(0)).action,
             RetryState::Action::kStop);
  }
};

QTEST_APPLESS_MAIN(RetryStateTest)
#include "retry_state_test.moc"
