#include <QtTest>
#include <map>
#include <random>

#include "common/clock.h"
#include "proxy/policy/load_balancer.h"
#include "proxy/policy/outlier_detector.h"
#include "proxy/policy/retry_policy.h"
#include "proxy/policy/token_bucket.h"

using namespace meshdeck::proxy;
using namespace std::chrono_literals;
using meshdeck::common::SimulatedTimeSource;

class PolicyTest : public QObject {
  Q_OBJECT

 private slots:
  void roundRobinCyclesAndSkipsUnavailable() {
    LoadBalancer lb(LbPolicy::kRoundRobin, {"a:1", "b:1", "c:1"});
    std::vector<EndpointView> eps(3);
    QCOMPARE(lb.pick(eps, 0, nullptr), 0);
    QCOMPARE(lb.pick(eps, 0, nullptr), 1);
    QCOMPARE(lb.pick(eps, 0, nullptr), 2);
    QCOMPARE(lb.pick(eps, 0, nullptr), 0);
    eps[1].available = false;
    std::map<int, int> seen;
    for (int i = 0; i < 6; ++i) ++seen[lb.pick(eps, 0, nullptr)];
    QCOMPARE(seen.count(1), size_t{0});
    QCOMPARE(seen[0], 3);
    QCOMPARE(seen[2], 3);
    for (auto& e : eps) e.available = false;
    QCOMPARE(lb.pick(eps, 0, nullptr), -1);
  }

  void leastRequestPrefersLessLoaded() {
    LoadBalancer lb(LbPolicy::kLeastRequest, {"a:1", "b:1"});
    std::vector<EndpointView> eps(2);
    eps[0].active_requests = 10;
    eps[1].active_requests = 0;
    std::mt19937_64 rng(7);
    int to_b = 0;
    for (int i = 0; i < 1000; ++i) to_b += lb.pick(eps, rng(), nullptr) == 1 ? 1 : 0;
    // P2C picks the loaded one only when both choices land on it: about 1/4 of the time.
    QVERIFY2(to_b > 700 && to_b < 800, qPrintable(QString::number(to_b)));
  }

  void randomSpreadsUniformly() {
    LoadBalancer lb(LbPolicy::kRandom, {"a:1", "b:1", "c:1", "d:1"});
    std::vector<EndpointView> eps(4);
    std::mt19937_64 rng(11);
    std::array<int, 4> counts{};
    for (int i = 0; i < 8000; ++i) ++counts[static_cast<size_t>(lb.pick(eps, rng(), nullptr))];
    for (int c : counts) QVERIFY(c > 1800 && c < 2200);
  }

  void ringHashIsStickyAndMovesOnlyEjectedKeys() {
    LoadBalancer lb(LbPolicy::kRingHash, {"a:1", "b:1", "c:1"});
    std::vector<EndpointView> eps(3);
    std::map<std::string, int> first;
    std::array<int, 3> spread{};
    for (int k = 0; k < 300; ++k) {
      const std::string key = "user-" + std::to_string(k);
      const uint64_t h = LoadBalancer::hashKey(key);
      first[key] = lb.pick(eps, uint64_t(k), &h);
      QCOMPARE(lb.pick(eps, uint64_t(k) * 7919, &h), first[key]);  // sticky
      ++spread[static_cast<size_t>(first[key])];
    }
    for (int s : spread) QVERIFY2(s > 50, "ring spreads keys over every endpoint");
    eps[0].available = false;
    for (const auto& [key, idx] : first) {
      const uint64_t h = LoadBalancer::hashKey(key);
      const int now = lb.pick(eps, 0, &h);
      QVERIFY(now != 0);
      if (idx != 0) QCOMPARE(now, idx);  // keys of healthy endpoints stay put
    }
  }

  void outlierEjectsForGrowingTimeWithinCap() {
    SimulatedTimeSource clock;
    OutlierConfig cfg;
    cfg.consecutive_errors = 3;
    cfg.base_ejection_time = 10s;
    cfg.max_ejection_percent = 50;
    OutlierDetector od(cfg, 2);
    QVERIFY(!od.onFailure(0, clock.monotonicNow()));
    QVERIFY(!od.onFailure(0, clock.monotonicNow()));
    od.onSuccess(0);  // a success resets the streak
    QVERIFY(!od.onFailure(0, clock.monotonicNow()));
    QVERIFY(!od.onFailure(0, clock.monotonicNow()));
    QVERIFY(od.onFailure(0, clock.monotonicNow()));
    QVERIFY(od.isEjected(0, clock.monotonicNow()));
    // The cap: the second endpoint may not be ejected while the first one is.
    for (int i = 0; i < 5; ++i) QVERIFY(!od.onFailure(1, clock.monotonicNow()));
    QVERIFY(!od.isEjected(1, clock.monotonicNow()));
    clock.advance(9s);
    QVERIFY(od.isEjected(0, clock.monotonicNow()));
    clock.advance(1s);
    QVERIFY(!od.isEjected(0, clock.monotonicNow()));
    // Second ejection lasts twice as long.
    for (int i = 0; i < 2; ++i) od.onFailure(0, clock.monotonicNow());
    QVERIFY(od.onFailure(0, clock.monotonicNow()));
    QCOMPARE(od.timesEjected(0), 2u);
    clock.advance(19s);
    QVERIFY(od.isEjected(0, clock.monotonicNow()));
    clock.advance(1s);
    QVERIFY(!od.isEjected(0, clock.monotonicNow()));
  }

  void outlierNeverEjectsTheOnlyEndpointAtFiftyPercent() {
    SimulatedTimeSource clock;
    OutlierConfig cfg;
    cfg.consecutive_errors = 1;
    OutlierDetector od(cfg, 1);
    QVERIFY(!od.onFailure(0, clock.monotonicNow()));
    QVERIFY(!od.isEjected(0, clock.monotonicNow()));
  }

  void retriableConditions() {
    QVERIFY(isRetriable(kRetryOn5xx, AttemptFailure::kNone, 500));
    QVERIFY(!isRetriable(kRetryOn5xx, AttemptFailure::kNone, 404));
    QVERIFY(!isRetriable(kRetryOnGatewayError, AttemptFailure::kNone, 500));
    QVERIFY(isRetriable(kRetryOnGatewayError, AttemptFailure::kNone, 503));
    QVERIFY(isRetriable(kRetryOnConnectFailure, AttemptFailure::kConnectFailure, 0));
    QVERIFY(!isRetriable(kRetryOnConnectFailure, AttemptFailure::kReset, 0));
    QVERIFY(isRetriable(kRetryOnReset, AttemptFailure::kReset, 0));
    QVERIFY(isRetriable(kRetryOnGatewayError, AttemptFailure::kTimeout, 0));
    QVERIFY(!isRetriable(kRetryOnReset, AttemptFailure::kTimeout, 0));
  }

  void backoffIsExponentialWithFullJitter() {
    RetryConfig cfg;
    cfg.base_interval = 25ms;
    cfg.max_interval = 250ms;
    std::mt19937_64 rng(3);
    for (uint32_t retry = 1; retry <= 8; ++retry) {
      const auto ceiling = std::min<std::chrono::nanoseconds>(250ms, 25ms * (1 << (retry - 1)));
      std::chrono::nanoseconds max_seen{0};
      for (int i = 0; i < 2000; ++i) {
        const auto d = retryBackoff(cfg, retry, rng());
        QVERIFY(d >= 0ns && d <= ceiling);
        max_seen = std::max(max_seen, d);
      }
      QVERIFY2(max_seen > ceiling * 9 / 10, "jitter covers the whole interval");
    }
  }

  void retryBudgetLimitsConcurrentRetries() {
    RetryConfig cfg;
    cfg.budget_percent = 20;
    cfg.min_retry_concurrency = 2;
    RetryBudget budget;
    // With 5 active requests, 20 % is 1, so the minimum of 2 applies.
    QVERIFY(budget.tryAcquire(cfg, 5));
    QVERIFY(budget.tryAcquire(cfg, 5));
    QVERIFY(!budget.tryAcquire(cfg, 5));
    // With 100 active requests, 20 retries may run.
    int granted = 2;
    while (budget.tryAcquire(cfg, 100)) ++granted;
    QCOMPARE(granted, 20);
    budget.release();
    QVERIFY(budget.tryAcquire(cfg, 100));
  }

  void tokenBucketRefillsAtRate() {
    SimulatedTimeSource clock;
    TokenBucket bucket(10.0, 5.0, clock.monotonicNow());
    for (int i = 0; i < 5; ++i) QVERIFY(bucket.tryTake(clock.monotonicNow()));
    QVERIFY(!bucket.tryTake(clock.monotonicNow()));
    clock.advance(100ms);
    QVERIFY(bucket.tryTake(clock.monotonicNow()));
    QVERIFY(!bucket.tryTake(clock.monotonicNow()));
    clock.advance(10s);  // never more than the burst
    int taken = 0;
    while (bucket.tryTake(clock.monotonicNow())) ++taken;
    QCOMPARE(taken, 5);
  }
};

QTEST_APPLESS_MAIN(PolicyTest)
#include "policy_test.moc"
