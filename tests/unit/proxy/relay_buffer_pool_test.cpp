#include "proxy/relay_buffer_pool.h"

#include <QtTest>
#include <vector>

using namespace meshdeck::proxy;

class RelayBufferPoolTest : public QObject {
  Q_OBJECT

  static std::vector<RelayBuffer> takeN(RelayBufferPool& pool, size_t n) {
    std::vector<RelayBuffer> out;
    for (size_t i = 0; i < n; ++i) out.push_back(pool.take());
    return out;
  }
  static void giveAll(RelayBufferPool& pool, std::vector<RelayBuffer>& loans) {
    for (auto& b : loans) pool.give(std::move(b));
    loans.clear();
  }

 private slots:
  void aBurstIsServedFromSparesTheNextTime() {
    RelayBufferPool pool;
    auto loans = takeN(pool, 64);
    QCOMPARE(pool.lent(), size_t{64});
    std::vector<const void*> first;
    for (auto& b : loans) first.push_back(b.get());
    giveAll(pool, loans);
    // All 64 kept: the next burst of the same size allocates nothing.
    QCOMPARE(pool.spare(), size_t{64});
    QCOMPARE(pool.lent(), size_t{0});
    loans = takeN(pool, 64);
    QCOMPARE(pool.spare(), size_t{0});
    for (auto& b : loans) QVERIFY(std::find(first.begin(), first.end(), b.get()) != first.end());
    giveAll(pool, loans);
  }

  void theReserveFollowsDemandDownAfterAQuietWindow() {
    RelayBufferPool pool;
    auto loans = takeN(pool, 40);
    giveAll(pool, loans);
    QVERIFY(pool.trimmable());
    // The window that saw the burst keeps what it needed.
    QCOMPARE(pool.trim(), size_t{0});
    QCOMPARE(pool.spare(), size_t{40});
    // A quiet window with at most 3 in flight: back to the minimum (the excess is freed as
    // the loans come back and at the trim).
    loans = takeN(pool, 3);
    giveAll(pool, loans);
    QVERIFY(pool.spare() < 40);
    QVERIFY(pool.trim() > 0);
    QCOMPARE(pool.spare(), RelayBufferPool::kMinSpare);
    QVERIFY(!pool.trimmable());
  }

  void lentBuffersCountAgainstTheReserve() {
    RelayBufferPool pool;
    auto loans = takeN(pool, 30);
    pool.trim();  // window peak 30, new window starts with 30 lent
    // Half come back while half are still out: the reserve plus the lent ones stay within 30.
    std::vector<RelayBuffer> back(std::make_move_iterator(loans.begin()),
                                  std::make_move_iterator(loans.begin() + 15));
    loans.erase(loans.begin(), loans.begin() + 15);
    giveAll(pool, back);
    QCOMPARE(pool.lent(), size_t{15});
    QCOMPARE(pool.spare(), size_t{15});
    // Quiet window (peak 15 lent): trimming keeps spare + lent within max(peak, minimum).
    pool.trim();
    QVERIFY(pool.spare() + pool.lent() <= 30);
    pool.trim();
    QCOMPARE(pool.spare() + pool.lent(), std::max(size_t{15}, RelayBufferPool::kMinSpare));
    giveAll(pool, loans);
    QVERIFY(pool.spare() <= std::max(size_t{15}, RelayBufferPool::kMinSpare));
  }

  void aSmallWorkerNeverFreesBelowTheMinimum() {
    RelayBufferPool pool;
    for (int round = 0; round < 100; ++round) {
      auto loans = takeN(pool, 2);
      giveAll(pool, loans);
    }
    QCOMPARE(pool.spare(), size_t{2});
    QCOMPARE(pool.trim(), size_t{0});
    QCOMPARE(pool.spare(), size_t{2});
  }

  void givingNothingBackIsHarmless() {
    RelayBufferPool pool;
    auto b = pool.take();
    pool.give(nullptr);  // a loan lost to an exception: counted back, nothing kept
    QCOMPARE(pool.lent(), size_t{0});
    QCOMPARE(pool.spare(), size_t{0});
    pool.give(nullptr);  // more gives than takes do not wrap the count
    QCOMPARE(pool.lent(), size_t{0});
  }
};

QTEST_APPLESS_MAIN(RelayBufferPoolTest)
#include "relay_buffer_pool_test.moc"
