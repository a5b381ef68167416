#include "controlplane/history/history_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>

#include "common/clock.h"

using namespace meshdeck;
using namespace meshdeck::cp::history;
using namespace std::chrono_literals;

namespace {

int64_t seconds(const common::TimeSource& t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.systemNow().time_since_epoch()).count();
}

// A bucket whose latencies depend on `seed`, so that merged histograms differ from each part.
Bucket makeBucket(int64_t start, const std::string& source, const std::string& destination,
                  uint64_t seed, SeriesKind kind = SeriesKind::kEdge) {
  Bucket b;
  b.start = start;
  b.kind = kind;
  b.source = source;
  b.destination = destination;
  common::LatencyHistogram h;
  for (uint64_t i = 0; i < 50 + seed % 7; ++i)
    h.record(1'000'000 + (seed * 7919 + i * 104729) % 90'000'000);
  b.latency = SparseLatency::fromDense(h);
  b.counters.requests = h.count();
  b.counters.responses_by_class[1] = h.count() - seed % 3;
  b.counters.responses_by_class[4] = seed % 3;
  b.counters.retries = seed;
  b.counters.grpc_statuses[14] = seed % 5;
  return b;
}

std::unique_ptr<HistoryStore> openStore(const std::filesystem::path& path,
                                        const common::TimeSource& time,
                                        HistoryOptions options = {}) {
  std::string error;
  auto store = HistoryStore::open(path, options, time, &error);
  if (!store) qWarning("%s", error.c_str());
  return store;
}

}  // namespace

class HistoryStoreTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    dir_ = std::make_unique<QTemporaryDir>();
    path_ = std::filesystem::path(dir_->path().toStdString()) / "history.db";
  }

  void sparseLatencyRoundTripsAndMerges() {
    const Bucket a = makeBucket(0, "a", "b", 1), b = makeBucket(0, "a", "b", 2);
    SparseLatency decoded;
    QVERIFY(SparseLatency::decode(a.latency.encode(), &decoded));
    QVERIFY(decoded == a.latency);
    QVERIFY(!SparseLatency::decode("\x05\x01", &decoded));
    SparseLatency merged = a.latency;
    merged.merge(b.latency);
    common::LatencyHistogram dense = a.latency.dense();
    dense.merge(b.latency.dense());
    QVERIFY(merged.dense() == dense);
  }

  void fineBucketsRollUpIntoMinutesByMergingHistograms() {
    common::SimulatedTimeSource clock;
    auto store = openStore(path_, clock);
    QVERIFY(store);
    const int64_t minute = seconds(clock) - seconds(clock) % 60 + 60;
    std::vector<Bucket> all;
    for (int i = 0; i < 6; ++i) {
      all.push_back(makeBucket(minute + 10 * i, "frontend", "reviews", 10 + i));
      all.push_back(makeBucket(minute + 10 * i, "", "reviews", 20 + i, SeriesKind::kService));
    }
    clock.advance(std::chrono::seconds(minute + 60 - seconds(clock)));
    store->recordBuckets(all);
    store->flush();
    QCOMPARE(store->buckets(60, minute, minute + 60).size(), size_t(0));  // minute not closed
    clock.advance(10s);
    store->flush();
    const auto coarse = store->buckets(60, minute, minute + 60);
    QCOMPARE(coarse.size(), size_t(2));
    for (const auto& c : coarse) {
      common::LatencyHistogram expected;
      BucketCounters counters;
      for (const auto& b : all)
        if (b.kind == c.kind) {
          expected.merge(b.latency.dense());
          counters.add(b.counters);
        }
      QCOMPARE(c.start, minute);
      QVERIFY(c.latency.dense() == expected);
      QCOMPARE(c.latency.count, expected.count());
      QVERIFY(c.counters == counters);
      QCOMPARE(c.latency.dense().percentile(99), expected.percentile(99));
    }
    QCOMPARE(store->buckets(10, minute, minute + 60).size(), size_t(12));
    // A query over the minute merges the same way.
    const auto edges = store->seriesBetween(minute, minute + 60, SeriesKind::kEdge);
    QCOMPARE(edges.size(), size_t(1));
    QCOMPARE(edges[0].latency,
             coarse[0].kind == SeriesKind::kEdge ? coarse[0].latency : coarse[1].latency);
  }

  void lateBucketJoinsItsRolledUpMinute() {
    common::SimulatedTimeSource clock;
    auto store = openStore(path_, clock);
    const int64_t minute = seconds(clock) - seconds(clock) % 60 + 60;
    clock.advance(std::chrono::seconds(minute + 70 - seconds(clock)));
    store->recordBuckets({makeBucket(minute, "a", "b", 1)});
    store->flush();
    store->recordBuckets({makeBucket(minute + 50, "a", "b", 2)});
    store->flush();
    const auto coarse = store->buckets(60, minute, minute + 60);
    QCOMPARE(coarse.size(), size_t(1));
    QCOMPARE(coarse[0].counters.requests, makeBucket(0, "a", "b", 1).counters.requests +
                                              makeBucket(0, "a", "b", 2).counters.requests);
  }

  void retentionDeletesOldData() {
    common::SimulatedTimeSource clock;
    auto store = openStore(path_, clock);
    const int64_t t0 = seconds(clock) - seconds(clock) % 60;
    store->recordBuckets({makeBucket(t0, "a", "b", 1)});
    store->recordEvent({clock.systemNow(), "proxy.connect", "a-1", "", ""});
    clock.advance(2min);
    store->flush();
    QCOMPARE(store->buckets(10, t0, t0 + 60).size(), size_t(1));
    QCOMPARE(store->buckets(60, t0, t0 + 60).size(), size_t(1));
    clock.advance(24h);
    store->flush();
    QCOMPARE(store->buckets(10, t0, t0 + 60).size(), size_t(0));
    QCOMPARE(store->buckets(60, t0, t0 + 60).size(), size_t(1));
    QCOMPARE(store->events(clock.systemNow() - 48h, clock.systemNow(), {}, 100).size(), size_t(1));
    // Beyond a day the coarse buckets answer.
    int64_t resolution = 0;
    QCOMPARE(store->seriesBetween(t0, t0 + 60, SeriesKind::kEdge, &resolution).size(), size_t(1));
    QCOMPARE(resolution, int64_t(60));
    clock.advance(24h * 30);
    store->flush();
    QCOMPARE(store->buckets(60, t0, t0 + 60).size(), size_t(0));
    QCOMPARE(store->events(clock.systemNow() - 24h * 60, clock.systemNow(), {}, 100).size(),
             size_t(0));
  }

  void sizeLimitDropsOldestFirst() {
    common::SimulatedTimeSource clock;
    HistoryOptions options;
    options.max_bytes = 1 << 20;
    auto store = openStore(path_, clock, options);
    const int64_t t0 = seconds(clock) - seconds(clock) % 3600;
    clock.advance(std::chrono::seconds(t0 + 3600 - seconds(clock)));
    // Six hours of 5 edges; each hour is a good part of the limit.
    for (int hour = 0; hour < 6; ++hour) {
      for (int64_t t = 0; t < 3600; t += 10) {
        std::vector<Bucket> batch;
        for (int e = 0; e < 5; ++e)
          batch.push_back(makeBucket(clock.systemNow().time_since_epoch() / 1s - 10,
                                     "s" + std::to_string(e), "d", uint64_t(t + e)));
        store->recordBuckets(std::move(batch));
        clock.advance(10s);
      }
      store->recordEvent({clock.systemNow(), "scenario.step", std::to_string(hour), "", ""});
      store->flush();
      qInfo("hour %d: %llu bytes used", hour, static_cast<unsigned long long>(store->usedBytes()));
      QVERIFY2(store->usedBytes() <= options.max_bytes, std::to_string(store->usedBytes()).c_str());
    }
    const int64_t now = seconds(clock);
    QVERIFY(!store->buckets(10, now - 600, now).empty());       // the newest is kept
    QVERIFY(store->buckets(10, t0 + 3600, t0 + 7200).empty());  // the oldest hour went
    const auto events = store->events(clock.systemNow() - 24h, clock.systemNow() + 1s, {}, 100);
    QVERIFY(!events.empty());
    QCOMPARE(events.back().subject, std::string("5"));
    QCOMPARE(store->droppedItems(), uint64_t(0));
  }

  void eventsFilterByKindAndRange() {
    common::SimulatedTimeSource clock;
    auto store = openStore(path_, clock);
    const auto t0 = clock.systemNow();
    store->recordEvent({t0, "push.nack", "reviews-1", "bad route", ""});
    store->recordEvent({t0 + 1s, "policy.apply", "TrafficRoute/canary", "revision 2", "alice"});
    store->recordEvent({t0 + 2s, "proxy.connect", "reviews-2", "", ""});
    store->recordEvent({t0 + 3s, "pushes", "not a push event", "", ""});
    store->recordRevision(2, t0 + 1s, "alice", "applied canary");
    store->flush();
    const auto push = store->events(t0, t0 + 1h, {"push"}, 100);
    QCOMPARE(push.size(), size_t(1));
    QCOMPARE(push[0].detail, std::string("bad route"));
    const auto two = store->events(t0, t0 + 1h, {"push.nack", "proxy"}, 100);
    QCOMPARE(two.size(), size_t(2));
    QCOMPARE(two[1].kind, std::string("proxy.connect"));
    const auto ranged = store->events(t0 + 1s, t0 + 2s, {}, 100);
    QCOMPARE(ranged.size(), size_t(1));
    QCOMPARE(ranged[0].author, std::string("alice"));
    const auto newest = store->events(t0, t0 + 1h, {}, 2);
    QCOMPARE(newest.size(), size_t(2));
    QCOMPARE(newest[0].kind, std::string("proxy.connect"));
    QCOMPARE(store->revisionAt(t0).revision, uint64_t(0));
    QCOMPARE(store->revisionAt(t0 + 5s).revision, uint64_t(2));
    QCOMPARE(store->revisionAt(t0 + 5s).author, std::string("alice"));
  }

  void notADatabaseIsMovedAside() {
    { std::ofstream(path_) << "this is not a database, just text that happens to be here"; }
    common::SimulatedTimeSource clock;
    auto store = openStore(path_, clock);
    QVERIFY(store);
    QVERIFY(!store->movedAside().empty());
    QVERIFY(std::filesystem::exists(store->movedAside()));
    QVERIFY(store->movedAside().find("history.db.corrupt-") != std::string::npos);
    store->recordEvent({clock.systemNow(), "proxy.connect", "a", "", ""});
    store->flush();
    QCOMPARE(store->events(clock.systemNow() - 1h, clock.systemNow() + 1h, {}, 10).size(),
             size_t(1));
  }

  void damagedDatabaseIsMovedAside() {
    common::SimulatedTimeSource clock;
    const int64_t t0 = seconds(clock) - seconds(clock) % 60;
    {
      auto store = openStore(path_, clock);
      std::vector<Bucket> many;
      for (int i = 0; i < 500; ++i)
        many.push_back(makeBucket(t0 + i * 10, "s" + std::to_string(i), "d", uint64_t(i)));
      store->recordBuckets(std::move(many));
      store->flush();
    }
    const auto size = std::filesystem::file_size(path_);
    QVERIFY(size > 8 * 4096);
    {
      // Scribble over every page but the first: the schema is readable, the b-trees are not.
      std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(4096);
      const std::string junk(size - 4096, '\x5a');
      f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    auto store = openStore(path_, clock);
    QVERIFY(store);
    QVERIFY(!store->movedAside().empty());
    QCOMPARE(store->buckets(10, 0, t0 + 100'000).size(), size_t(0));
    store->recordBuckets({makeBucket(t0, "a", "b", 1)});
    store->flush();
    QCOMPARE(store->buckets(10, t0, t0 + 10).size(), size_t(1));
  }

  void killedWriterLeavesAFileThatReopens() {
    const int64_t t0 = [] {
      common::SimulatedTimeSource clock;
      return seconds(clock) - seconds(clock) % 60;
    }();
    int ready[2];
    QCOMPARE(pipe(ready), 0);
    const pid_t child = fork();
    QVERIFY(child >= 0);
    if (child == 0) {
      // The child writes as fast as it can until it is killed.
      close(ready[0]);
      common::SimulatedTimeSource clock;
      auto store = openStore(path_, clock);
      if (!store) _exit(2);
      for (int i = 0; i < 1'000'000; ++i) {
        std::vector<Bucket> batch;
        for (int e = 0; e < 50; ++e)
          batch.push_back(makeBucket(t0 + i * 10, "s" + std::to_string(e), "d", uint64_t(i + e)));
        store->recordBuckets(std::move(batch));
        store->recordEvent({clock.systemNow(), "scenario.step", std::to_string(i), "", ""});
        clock.advance(10s);
        if (i == 3) {
          store->flush();
          const char c = 'x';
          if (write(ready[1], &c, 1) != 1) _exit(3);
        }
      }
      _exit(0);
    }
    close(ready[1]);
    char c = 0;
    QCOMPARE(read(ready[0], &c, 1), ssize_t(1));
    close(ready[0]);
    QCOMPARE(kill(child, SIGKILL), 0);
    int status = 0;
    QCOMPARE(waitpid(child, &status, 0), child);
    QVERIFY(WIFSIGNALED(status));

    common::SimulatedTimeSource clock;
    auto store = openStore(path_, clock);
    QVERIFY(store);
    QVERIFY2(store->movedAside().empty(), store->movedAside().c_str());
    // What was flushed before the signal is there.
    QVERIFY(store->buckets(10, t0, t0 + 40).size() >= size_t(4 * 50));
    store->recordEvent({clock.systemNow(), "proxy.connect", "after", "", ""});
    store->flush();
    QVERIFY(!store->events(clock.systemNow(), clock.systemNow() + 1s, {"proxy"}, 10).empty());
  }

  void fullQueueDropsAndCounts() {
    common::SimulatedTimeSource clock;
    HistoryOptions options;
    options.max_queued = 3;
    auto store = openStore(path_, clock, options);
    const int64_t t0 = seconds(clock) - seconds(clock) % 60;
    std::vector<Bucket> big;
    for (int i = 0; i < 4; ++i)
      big.push_back(makeBucket(t0, "s" + std::to_string(i), "d", uint64_t(i)));
    store->recordBuckets(std::move(big));  // heavier than the whole queue
    QCOMPARE(store->droppedItems(), uint64_t(4));
    store->flush();
    QCOMPARE(store->buckets(10, t0, t0 + 10).size(), size_t(0));
    store->recordBuckets({makeBucket(t0, "a", "b", 1)});  // room again
    store->flush();
    QCOMPARE(store->buckets(10, t0, t0 + 10).size(), size_t(1));
  }

 private:
  std::unique_ptr<QTemporaryDir> dir_;
  std::filesystem::path path_;
};

QTEST_GUILESS_MAIN(HistoryStoreTest)
#include "history_store_test.moc"
