#include "controlplane/telemetry/telemetry_aggregator.h"

#include <QtTest>

#include "common/clock.h"

using namespace meshdeck;
using namespace meshdeck::cp;
using namespace std::chrono_literals;

namespace {
EdgeReport report(const std::string& src, const std::string& dst, uint64_t ok, uint64_t errors,
                  uint64_t latency_ns, bool client = true, const std::string& version = "v1") {
  EdgeReport r;
  r.source_service = src;
  r.destination_service = dst;
  r.destination_version = version;
  r.client_side = client;
  r.requests = ok + errors;
  r.responses_by_class[1] = ok;
  r.responses_by_class[4] = errors;
  common::LatencyHistogram h;
  h.recordN(latency_ns, ok + errors);
  r.latency = SparseHistogram::fromDense(h);
  return r;
}
}  // namespace

class TelemetryAggregatorTest : public QObject {
  Q_OBJECT

 private slots:
  void sparseMergeEqualsDenseMerge() {
    common::LatencyHistogram a, b, both;
    for (uint64_t v : {1'000ull, 5'000ull, 5'000ull, 80'000'000ull}) {
      a.record(v);
      both.record(v);
    }
    for (uint64_t v : {5'000ull, 2'000'000ull, 100ull}) {
      b.record(v);
      both.record(v);
    }
    auto s = SparseHistogram::fromDense(a);
    s.merge(SparseHistogram::fromDense(b));
    common::LatencyHistogram back;
    s.addTo(&back);
    QVERIFY(back == both);
    QCOMPARE(s.buckets.size(), size_t(5));
  }

  // The sparse percentile (the per-second history summaries) is the dense one's, value for
  // value; a sparse histogram whose counts do not add up reads as empty, as its dense copy did.
  void sparsePercentileEqualsDense() {
    common::LatencyHistogram dense;
    uint64_t v = 700;
    for (int i = 0; i < 5'000; ++i) {
      v = v * 6364136223846793005ull + 1442695040888963407ull;
      dense.record(1'000 + (v >> 40) % 90'000'000);
    }
    dense.record(100);  // an underflow
    const auto sparse = SparseHistogram::fromDense(dense);
    for (double p : {0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 100.0, 150.0})
      QCOMPARE(sparse.percentile(p), dense.percentile(p));
    common::LatencyHistogram back;
    sparse.addTo(&back);
    QVERIFY(back == dense);
    auto broken = sparse;
    broken.count += 1;
    QCOMPARE(broken.percentile(50), 0.0);
    common::LatencyHistogram untouched = dense;
    broken.addTo(&untouched);
    QVERIFY(untouched == dense);
    QCOMPARE(SparseHistogram{}.percentile(50), 0.0);
  }

  // The aggregator's slots (LatencyAccumulator: one run of counts from the lowest to the
  // highest bucket) give what SparseHistogram gives merged the same way: the same buckets and
  // summary, the same percentiles value for value, the same dense copy. Merges that extend the
  // run at either end, report into the middle of it, merge two runs, skip empty histograms and
  // saturate a bucket.
  void accumulatorEqualsSparse() {
    uint64_t v = 12345;
    auto next = [&] {
      v = v * 6364136223846793005ull + 1442695040888963407ull;
      return v >> 33;
    };
    // Histograms of ~100 latencies around a centre that moves up and down, as reports are.
    auto reportHistogram = [&](uint64_t centre_ns) {
      common::LatencyHistogram h;
      for (int i = 0; i < 100; ++i) h.record(centre_ns / 2 + next() % centre_ns);
      return SparseHistogram::fromDense(h);
    };
    SparseHistogram sparse;
    LatencyAccumulator acc, other;
    SparseHistogram other_sparse;
    const uint64_t centres[] = {3'000'000, 50'000, 900'000'000, 3'000'000, 7'000, 20'000'000};
    for (int i = 0; i < 60; ++i) {
      const auto r = reportHistogram(centres[i % 6]);
      sparse.merge(r);
      acc.merge(r);
      if (i % 3 == 0) {
        other_sparse.merge(r);
        other.merge(r);
      }
      if (i % 10 == 9) {
        sparse.merge(SparseHistogram{});  // empty: nothing changes
        acc.merge(SparseHistogram{});
      }
    }
    auto same = [](const SparseHistogram& a, const SparseHistogram& b) {
      return a.buckets == b.buckets && a.count == b.count && a.sum == b.sum && a.min == b.min &&
             a.max == b.max && a.underflow == b.underflow && a.overflow == b.overflow;
    };
    auto check = [&](const LatencyAccumulator& a, const SparseHistogram& s) {
      QVERIFY(same(a.toSparse(), s));
      QCOMPARE(a.count(), s.count);
      for (double p : {0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 100.0, 150.0})
        QCOMPARE(a.percentile(p), s.percentile(p));
      common::LatencyHistogram from_acc, from_sparse;
      a.addTo(&from_acc);
      s.addTo(&from_sparse);
      QVERIFY(from_acc == from_sparse);
    };
    QVERIFY(sparse.buckets.size() > 300);  // spans several octaves: extended both ways
    check(acc, sparse);
    check(other, other_sparse);
    // Two runs merged (a block taking its seconds).
    LatencyAccumulator both = other;
    both.merge(acc);
    SparseHistogram both_sparse = other_sparse;
    both_sparse.merge(sparse);
    check(both, both_sparse);
    LatencyAccumulator empty;
    empty.merge(LatencyAccumulator{});
    check(empty, SparseHistogram{});
    // Saturation at 2^32-1: the counts no longer add up, and both read as empty.
    SparseHistogram big;
    big.buckets = {{100, UINT32_MAX - 5}};
    big.count = UINT32_MAX - 5;
    big.sum = big.count * 3;
    big.min = 2;
    big.max = 4;
    LatencyAccumulator big_acc;
    big_acc.merge(big);
    big_acc.merge(big);
    SparseHistogram big_sparse = big;
    big_sparse.merge(big);
    check(big_acc, big_sparse);
    QCOMPARE(big_acc.toSparse().buckets.front().second, UINT32_MAX);
    QCOMPARE(big_acc.percentile(50), 0.0);
  }

  // Many proxies reporting the same edge in the same second (10,000 proxies, 100 per
  // service): the edge's window and its totals are the merge of every report, value for value.
  void manyReportsOfOneEdgeMergeExactly() {
    common::SimulatedTimeSource clock;
    TelemetryAggregator agg(clock, 3600, 60);
    common::LatencyHistogram expected;
    uint64_t requests = 0;
    uint64_t v = 99;
    for (int second = 0; second < 3; ++second) {
      for (int proxy = 0; proxy < 100; ++proxy) {
        common::LatencyHistogram h;
        for (int i = 0; i < 100; ++i) {
          v = v * 6364136223846793005ull + 1442695040888963407ull;
          h.record(1'000'000 + (v >> 40) % (proxy % 2 ? 40'000'000 : 4'000'000));
        }
        expected.merge(h);
        EdgeReport r;
        r.source_service = "a";
        r.destination_service = "b";
        r.destination_version = "v1";
        r.requests = 100;
        r.responses_by_class[1] = 100;
        r.latency = SparseHistogram::fromDense(h);
        QVERIFY(agg.ingest(r));
        requests += 100;
      }
      clock.advance(1s);
    }
    const auto edges = agg.edges(10);
    QCOMPARE(edges.size(), size_t(1));
    QVERIFY(*edges[0].metrics.latency == expected);
    QCOMPARE(edges[0].metrics.p99_ms, expected.percentile(99) / 1e6);
    const auto totals = agg.totals();
    QCOMPARE(totals.size(), size_t(1));
    QCOMPARE(totals[0].requests, requests);
    common::LatencyHistogram total_latency;
    totals[0].latency.addTo(&total_latency);
    QVERIFY(total_latency == expected);
    QCOMPARE(totals[0].latency.percentile(50), expected.percentile(50));
    // And the history store's block of those seconds.
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(clock.systemNow().time_since_epoch())
            .count();
    common::LatencyHistogram in_blocks;
    for (int64_t start = (now - 3) / 10 * 10; start <= now; start += 10)
      for (const auto& b : agg.block(start))
        if (b.client_side) b.latency.addTo(&in_blocks);
    QVERIFY(in_blocks == expected);
  }

  // A window's latency (edges and nodes) is the dense merge of its seconds, its percentiles the
  // dense histogram's, also when the seconds' sum saturates a 32-bit bucket (the window is then
  // added second by second).
  void windowLatencyEqualsDenseMerge() {
    common::SimulatedTimeSource clock;
    TelemetryAggregator agg(clock, 3600, 60);
    common::LatencyHistogram edge, node;
    uint64_t v = 7;
    for (int second = 0; second < 5; ++second) {
      for (int proxy = 0; proxy < 10; ++proxy) {
        common::LatencyHistogram h;
        for (int i = 0; i < 50; ++i) {
          v = v * 6364136223846793005ull + 1442695040888963407ull;
          h.record(200'000 + (v >> 40) % (second % 2 ? 90'000'000 : 3'000'000));
        }
        EdgeReport r;
        r.source_service = "a";
        r.destination_service = "b";
        r.client_side = proxy % 2 == 0;
        r.requests = 50;
        r.responses_by_class[1] = 50;
        r.latency = SparseHistogram::fromDense(h);
        QVERIFY(agg.ingest(r));
        (r.client_side ? edge : node).merge(h);
      }
      clock.advance(1s);
    }
    const auto edges = agg.edges(10);
    QCOMPARE(edges.size(), size_t(1));
    QVERIFY(*edges[0].metrics.latency == edge);
    QCOMPARE(edges[0].metrics.p50_ms, edge.percentile(50) / 1e6);
    QCOMPARE(edges[0].metrics.p90_ms, edge.percentile(90) / 1e6);
    QCOMPARE(edges[0].metrics.p99_ms, edge.percentile(99) / 1e6);
    const auto nodes = agg.nodes(10);
    QVERIFY(nodes.count("b"));
    QVERIFY(*nodes.at("b").latency == node);
    QCOMPARE(nodes.at("b").p90_ms, node.percentile(90) / 1e6);

    // Two seconds of 3e9 requests in one bucket: 6e9 in the window, over a 32-bit count.
    TelemetryAggregator big(clock, 3600, 60);
    common::LatencyHistogram dense;
    for (int second = 0; second < 2; ++second) {
      common::LatencyHistogram h;
      h.recordN(5'000'000, 3'000'000'000ull);
      h.recordN(9'000'000, 1'000);
      dense.merge(h);
      EdgeReport r;
      r.source_service = "a";
      r.destination_service = "b";
      r.client_side = true;
      r.requests = h.count();
      r.responses_by_class[1] = h.count();
      r.latency = SparseHistogram::fromDense(h);
      QVERIFY(big.ingest(r));
      clock.advance(1s);
    }
    const auto saturated = big.edges(10);
    QCOMPARE(saturated.size(), size_t(1));
    QVERIFY(*saturated[0].metrics.latency == dense);
    QCOMPARE(saturated[0].metrics.p99_ms, dense.percentile(99) / 1e6);
  }

  // gRPC calls: counted by status over the window, their server errors (by the HTTP status
  // they stand for) in the success rate, and the edge's protocols remembered.
  void grpcStatusesAndProtocols() {
    common::SimulatedTimeSource clock;
    TelemetryAggregator agg(clock, 3600, 60);
    for (int s = 0; s < 3; ++s) {
      EdgeReport r = report("checkout", "payments", 0, 0, 1'000'000);
      r.protocol = kProtocolGrpc;
      r.requests = 100;
      r.grpc_statuses[0] = 90;  // OK: 200
      r.grpc_statuses[14] = 6;  // UNAVAILABLE: 503
      r.grpc_statuses[5] = 4;   // NOT_FOUND: 404, a client error
      r.responses_by_class[1] = 90;
      r.responses_by_class[4] = 6;
      r.responses_by_class[3] = 4;
      agg.ingest(r);
      clock.advance(1s);
    }
    EdgeReport plain = report("checkout", "payments", 10, 0, 1'000'000);
    plain.protocol = kProtocolHttp1;
    agg.ingest(plain);
    const auto edges = agg.edges(10);
    QCOMPARE(edges.size(), size_t(1));
    const auto& m = edges[0].metrics;
    QCOMPARE(m.grpc_statuses[0], uint64_t{270});
    QCOMPARE(m.grpc_statuses[14], uint64_t{18});
    QCOMPARE(m.grpc_statuses[5], uint64_t{12});
    QCOMPARE(m.success_rate, 1.0 - 18.0 / 310.0);
    QCOMPARE(edges[0].protocol, std::string("http1,grpc"));
    // Past the fine window the counts live on in the ten-second blocks.
    clock.advance(15s);
    QCOMPARE(agg.edges(60)[0].metrics.grpc_statuses[14], uint64_t{18});
    QCOMPARE(agg.edges(60)[0].protocol, std::string("http1,grpc"));
  }

  void windowsRatesAndPercentiles() {
    common::SimulatedTimeSource clock;
    TelemetryAggregator agg(clock, 3600, 60);
    // 10 seconds: 100 requests/s at 2 ms, one 5xx per second; a slow second of 100 at 50 ms.
    for (int s = 0; s < 10; ++s) {
      agg.ingest(report("page", "reviews", 99, 1, 2'000'000));
      clock.advance(1s);
    }
    agg.ingest(report("page", "reviews", 100, 0, 50'000'000, true, "v2"));
    agg.ingest(report("page", "reviews", 7, 0, 1'000'000, false));  // server side: node metrics
    auto edges = agg.edges(10);
    QCOMPARE(edges.size(), size_t(1));
    const auto& m = edges[0].metrics;
    // Window of 10 s ending now: seconds 1..10 (the first second fell out).
    QCOMPARE(m.requests, 1000u);
    QCOMPARE(m.requests_per_second, 100.0);
    QCOMPARE(m.responses_by_class[4], 9u);
    QCOMPARE(m.success_rate, 1.0 - 9.0 / 1000.0);
    QVERIFY(std::abs(m.p50_ms - 2.0) < 0.02);
    QVERIFY(std::abs(m.p99_ms - 50.0) < 0.5);
    QCOMPARE(m.latency->count(), 1000u);
    QCOMPARE(edges[0].requests_by_destination_version.at("v1"), 900u);
    QCOMPARE(edges[0].requests_by_destination_version.at("v2"), 100u);
    // A minute-long window also covers the first second (now merged into a 10 s block).
    QCOMPARE(agg.edges(60)[0].metrics.requests, 1100u);
    QCOMPARE(agg.edges(60)[0].metrics.latency->count(), 1100u);
    const auto nodes = agg.nodes(10);
    QCOMPARE(nodes.at("reviews").requests, 7u);
    // An idle window reads as idle, success 1, no latency.
    clock.advance(30s);
    edges = agg.edges(10);
    QCOMPARE(edges[0].metrics.requests, 0u);
    QCOMPARE(edges[0].metrics.success_rate, 1.0);
    QCOMPARE(edges[0].metrics.p99_ms, 0.0);
  }

  // The history store's feed: a 10 s block is the same whether its seconds are still fine
  // slots or already merged into the block, and seconds of other blocks stay out.
  void blocksForTheHistory() {
    common::SimulatedTimeSource clock;
    TelemetryAggregator agg(clock, 3600, 60);
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(clock.systemNow().time_since_epoch())
            .count();
    clock.advance(std::chrono::seconds(10 - now % 10));  // at the start of a block
    const int64_t start = now - now % 10 + 10;
    for (int s = 0; s < 12; ++s) {  // ten seconds of one block, two of the next
      agg.ingest(report("page", "reviews", 10, s == 3 ? 1 : 0, 2'000'000 + s * 100'000));
      agg.ingest(report("page", "reviews", 4, 0, 1'000'000, false));
      clock.advance(1s);
    }
    auto check = [&] {
      auto block = agg.block(start);
      QCOMPARE(block.size(), size_t(2));
      std::sort(block.begin(), block.end(),
                [](const auto& a, const auto& b) { return a.client_side > b.client_side; });
      QCOMPARE(block[0].source_service, std::string("page"));
      QCOMPARE(block[0].destination_service, std::string("reviews"));
      QCOMPARE(block[0].requests, uint64_t(101));
      QCOMPARE(block[0].responses_by_class[4], uint64_t(1));
      QCOMPARE(block[0].latency.count, uint64_t(101));
      QVERIFY(!block[1].client_side);
      QCOMPARE(block[1].source_service, std::string());
      QCOMPARE(block[1].requests, uint64_t(40));
    };
    check();  // seconds 2..9 still fine slots
    clock.advance(20s);
    check();  // all merged into the block
    QCOMPARE(agg.block(start + 10).size(), size_t(2));
    QCOMPARE(agg.block(start + 10)[0].requests + agg.block(start + 10)[1].requests, uint64_t(28));
    QVERIFY(agg.block(start - 10).empty());
  }

  // /metrics' totals: cumulative since start, whatever the windows and the history forget;
  // server-side reports are not in them.
  void totalsAreCumulativeSinceStart() {
    common::SimulatedTimeSource clock;
    TelemetryAggregator agg(clock, 20, 10);
    agg.ingest(report("page", "reviews", 9, 1, 2'000'000));
    agg.ingest(report("page", "reviews", 50, 0, 1'000'000, false));
    auto totals = agg.totals();
    QCOMPARE(totals.size(), size_t(1));
    QCOMPARE(totals[0].source, std::string("page"));
    QCOMPARE(totals[0].destination, std::string("reviews"));
    QCOMPARE(totals[0].requests, 10u);
    QCOMPARE(totals[0].responses_by_class[4], 1u);
    QCOMPARE(totals[0].latency.count, 10u);
    QCOMPARE(totals[0].latency.sum, 20'000'000u);
    clock.advance(100s);  // far beyond the history
    agg.ingest(report("page", "reviews", 5, 0, 4'000'000));
    agg.ingest(report("api", "page", 1, 0, 1'000'000));
    QCOMPARE(agg.edges(10)[1].metrics.requests, 5u);
    totals = agg.totals();
    QCOMPARE(totals.size(), size_t(2));
    QCOMPARE(totals[0].source, std::string("api"));
    QCOMPARE(totals[1].requests, 15u);
    QCOMPARE(totals[1].responses_by_class[1], 14u);
    QCOMPARE(totals[1].latency.count, 15u);
  }

  void calleeDenialsShowOnTheEdge() {
    common::SimulatedTimeSource clock;
    TelemetryAggregator agg(clock, 3600, 60);
    // The caller sees 40 answers, 10 of them 403s it cannot tell apart from any other 4xx; the
    // callee's inbound proxy denied those 10 and rate-limited 5 more (429).
    auto caller = report("page", "reviews", 30, 0, 1'000'000);
    caller.requests = 45;
    caller.responses_by_class[3] = 15;
    agg.ingest(caller);
    auto callee = report("page", "reviews", 30, 0, 500'000, false);
    callee.denied = 10;
    callee.rate_limited = 5;
    agg.ingest(callee);
    // A denial by a callee whose caller is not a mesh service names no edge.
    auto anonymous = report("", "reviews", 0, 0, 500'000, false);
    anonymous.denied = 3;
    agg.ingest(anonymous);
    const auto edges = agg.edges(10);
    QCOMPARE(edges.size(), size_t(1));
    const auto& m = edges[0].metrics;
    QCOMPARE(m.requests, 45u);  // the callee's requests are not counted twice
    QCOMPARE(m.denied, 10u);
    QCOMPARE(m.rate_limited, 5u);
    QCOMPARE(m.latency->count(), 30u);
    QCOMPARE(agg.nodes(10).at("reviews").denied, 13u);
  }

  void authorizationPerRuleOverTheWindow() {
    common::SimulatedTimeSource clock;
    TelemetryAggregator agg(clock, 3600, 60);
    auto decisions = [](const std::string& src, uint64_t allowed, uint64_t denied, uint64_t dry) {
      EdgeReport r = report(src, "reviews", allowed + denied, 0, 1'000'000, false);
      r.authorization.push_back({"no-delete", "rules[0]", "DENY", false, 0, denied, 0});
      r.authorization.push_back({"audit", "rules[0]", "DENY", true, 0, 0, dry});
      r.authorization.push_back({"", "default", "DEFAULT", false, allowed, 0, 0});
      return r;
    };
    // Two callers, three seconds: the node sums them.
    for (int s = 0; s < 3; ++s) {
      agg.ingest(decisions("page", 10, 1, 2));
      agg.ingest(decisions("ratings", 5, 0, 1));
      clock.advance(1s);
    }
    // A client-side report never carries the callee's decisions.
    EdgeReport client = report("page", "reviews", 1, 0, 1'000'000, true);
    client.authorization.push_back({"bogus", "rules[0]", "DENY", false, 0, 100, 0});
    agg.ingest(client);

    auto by_service = agg.authorization(10);
    QCOMPARE(by_service.size(), size_t{1});
    const auto& rules = by_service.at("reviews");
    QCOMPARE(rules.size(), size_t{3});  // sorted by policy, then rule
    QCOMPARE(rules[0].policy, std::string(""));
    QCOMPARE(rules[0].allowed, uint64_t{45});
    QCOMPARE(rules[1].policy, std::string("audit"));
    QVERIFY(rules[1].dry_run);
    QCOMPARE(rules[1].dry_run_denied, uint64_t{9});
    QCOMPARE(rules[2].policy, std::string("no-delete"));
    QCOMPARE(rules[2].action, std::string("DENY"));
    QCOMPARE(rules[2].denied, uint64_t{3});
    // A 2-second window holds the last two seconds, of which only the first had traffic.
    QCOMPARE(agg.authorization(2).at("reviews")[2].denied, uint64_t{1});
    // Out of the window the rules are still listed, with zeros; past the retained history
    // (histogram_seconds) they are gone.
    clock.advance(30s);
    by_service = agg.authorization(10);
    QCOMPARE(by_service.at("reviews").size(), size_t{3});
    QCOMPARE(by_service.at("reviews")[2].denied, uint64_t{0});
    clock.advance(60s);
    QVERIFY(agg.authorization(10).empty());
  }

  void historyIsBoundedWhateverTheRunTime() {
    common::SimulatedTimeSource clock;
    constexpr uint32_t kHistory = 120, kHistograms = 10;
    TelemetryAggregator agg(clock, kHistory, kHistograms);
    size_t bytes_at_limit = 0, bytes_max = 0;
    for (int s = 0; s < 600; ++s) {
      // Latencies vary so every second fills several buckets.
      for (uint64_t v = 1; v <= 8; ++v)
        agg.ingest(report("page", "reviews", 10, 0, v * 1'000'000 + uint64_t(s) * 1000));
      clock.advance(1s);
      if (s == int(kHistory) + 5) bytes_at_limit = agg.memoryBytes();
      if (s > int(kHistory) + 5) bytes_max = std::max(bytes_max, agg.memoryBytes());
    }
    const auto hist = agg.history("page", "reviews", 100000);
    // One sample per second with traffic within the last kHistory seconds; the current second
    // (the clock moved on after the last report) has none yet.
    QCOMPARE(hist.size(), size_t(kHistory - 1));
    QCOMPARE(hist.back().requests_per_second, 80.0);
    QVERIFY(hist.back().p50_ms > 4.0 && hist.back().p50_ms < 5.0);
    // Memory stops growing once the ring is full (it only varies with vector capacities).
    QVERIFY2(bytes_max <= bytes_at_limit * 5 / 4,
             qPrintable(QString("%1 > %2").arg(bytes_max).arg(bytes_at_limit)));
    QVERIFY(agg.memoryBytes() < 64 * 1024);
    // Seconds without traffic cost nothing: after a long idle spell the history is empty.
    clock.advance(std::chrono::seconds(kHistory + 1));
    QCOMPARE(agg.history("page", "reviews", 100000).size(), size_t(0));
  }
};

QTEST_GUILESS_MAIN(TelemetryAggregatorTest)
#include "telemetry_aggregator_test.moc"
