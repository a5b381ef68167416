#include "common/latency_histogram.h"

#include <QtTest>
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "common/histogram_proto.h"
#include "meshdeck/v1/telemetry.pb.h"

using meshdeck::common::LatencyHistogram;

namespace {

// Exact nearest-rank percentile of a sample.
double exactPercentile(std::vector<uint64_t> values, double p) {
  const auto n = values.size();
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * double(n)));
  rank = std::clamp<size_t>(rank, 1, n);
  std::nth_element(values.begin(), values.begin() + long(rank - 1), values.end());
  return double(values[rank - 1]);
}

std::vector<uint64_t> sample(const QString& distribution, size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> out;
  out.reserve(n);
  std::uniform_real_distribution<double> uniform(1e3, 5e8);           // 1 us .. 500 ms
  std::lognormal_distribution<double> lognormal(std::log(2e6), 0.8);  // median 2 ms
  std::normal_distribution<double> fast(3e5, 5e4), slow(8e7, 1e7);    // 300 us and 80 ms
  std::bernoulli_distribution pick_slow(0.1);
  for (size_t i = 0; i < n; ++i) {
    double v = 0;
    if (distribution == "uniform")
      v = uniform(rng);
    else if (distribution == "lognormal")
      v = lognormal(rng);
    else
      v = pick_slow(rng) ? slow(rng) : fast(rng);
    out.push_back(static_cast<uint64_t>(std::max(1000.0, v)));
  }
  return out;
}

}  // namespace

class LatencyHistogramTest : public QObject {
  Q_OBJECT

 private slots:
  void percentileErrorWithinOnePercent_data() {
    QTest::addColumn<QString>("distribution");
    QTest::newRow("uniform") << "uniform";
    QTest::newRow("lognormal") << "lognormal";
    QTest::newRow("bimodal") << "bimodal";
  }

  void percentileErrorWithinOnePercent() {
    QFETCH(QString, distribution);
    const auto values = sample(distribution, 1'000'000, 42);
    LatencyHistogram h;
    for (uint64_t v : values) h.record(v);
    QCOMPARE(h.count(), values.size());
    double worst = 0;
    for (double p : {50.0, 90.0, 99.0, 99.9}) {
      const double exact = exactPercentile(values, p);
      const double estimate = h.percentile(p);
      const double error = std::abs(estimate - exact) / exact;
      worst = std::max(worst, error);
      QVERIFY2(error <= 0.01, qPrintable(QString("%1 p%2: exact %3 estimate %4 error %5%")
                                             .arg(distribution)
                                             .arg(p)
                                             .arg(exact)
                                             .arg(estimate)
                                             .arg(error * 100)));
    }
    qInfo("%s: worst relative error %.4f%%", qPrintable(distribution), worst * 100);
  }

  void bucketsAreNarrowerThanOnePercent() {
    for (int i = 0; i < LatencyHistogram::kBucketCount; ++i) {
      const double lower = double(LatencyHistogram::bucketLower(i));
      const double width = double(LatencyHistogram::bucketUpper(i)) - lower;
      QVERIFY(width / lower <= 0.0079);
      QCOMPARE(LatencyHistogram::bucketIndex(LatencyHistogram::bucketLower(i)), i);
      QCOMPARE(LatencyHistogram::bucketIndex(LatencyHistogram::bucketUpper(i) - 1), i);
    }
    QVERIFY(LatencyHistogram::kHighestTrackable >= 60'000'000'000ull);
    QVERIFY(LatencyHistogram::kLowestTrackable <= 1'000ull);
  }

  void mergeEqualsRecordingTheUnion() {
    const auto a = sample("lognormal", 100'000, 1);
    const auto b = sample("bimodal", 100'000, 2);
    LatencyHistogram ha, hb, all;
    for (auto v : a) {
      ha.record(v);
      all.record(v);
    }
    for (auto v : b) {
      hb.record(v);
      all.record(v);
    }
    ha.merge(hb);
    QVERIFY(ha == all);
    QCOMPARE(ha.percentile(99), all.percentile(99));
  }

  void extremeValuesAreClampedAndCounted() {
    LatencyHistogram h;
    h.record(0);
    h.record(1);
    h.record(120'000'000'000ull);  // 120 s
    h.record(UINT64_MAX);
    h.record(5'000'000);
    QCOMPARE(h.count(), uint64_t{5});
    QCOMPARE(h.underflow(), uint64_t{2});
    QCOMPARE(h.overflow(), uint64_t{2});
    QCOMPARE(h.bucketCount(0), uint64_t{2});
    QCOMPARE(h.bucketCount(LatencyHistogram::kBucketCount - 1), uint64_t{2});
    QCOMPARE(h.min(), LatencyHistogram::kLowestTrackable);
    QCOMPARE(h.max(), LatencyHistogram::kHighestTrackable);
    QCOMPARE(h.percentile(100), double(LatencyHistogram::kHighestTrackable));
  }

  void resetAndEmpty() {
    LatencyHistogram h;
    QCOMPARE(h.percentile(50), 0.0);
    h.record(1'000'000);
    QVERIFY(h.count() == 1);
    QVERIFY(std::abs(h.percentile(50) - 1e6) / 1e6 < 0.008);
    h.reset();
    QVERIFY(h == LatencyHistogram{});
  }

  void protoRoundTrip() {
    LatencyHistogram h;
    for (auto v : sample("bimodal", 10'000, 7)) h.record(v);
    h.record(0);
    meshdeck::v1::Histogram msg;
    meshdeck::common::toProto(h, &msg);
    QVERIFY(msg.buckets_size() < LatencyHistogram::kBucketCount);  // sparse
    LatencyHistogram back;
    std::string error;
    QVERIFY2(meshdeck::common::fromProto(msg, &back, &error), error.c_str());
    QVERIFY(back == h);
  }

  void protoFromPeerGarbageIsRefused() {
    LatencyHistogram h;
    h.record(2'000'000);
    meshdeck::v1::Histogram good;
    meshdeck::common::toProto(h, &good);
    std::string error;
    LatencyHistogram out;

    auto bad = good;
    bad.set_layout(99);
    QVERIFY(!meshdeck::common::fromProto(bad, &out, &error));
    QVERIFY(error.find("layout") != std::string::npos);

    bad = good;
    bad.mutable_buckets(0)->set_index(1'000'000);
    QVERIFY(!meshdeck::common::fromProto(bad, &out, &error));
    QVERIFY(error.find("range") != std::string::npos);

    bad = good;
    bad.set_count(7);
    QVERIFY(!meshdeck::common::fromProto(bad, &out, &error));
    QCOMPARE(out.count(), uint64_t{0});

    bad = good;
    *bad.add_buckets() = good.buckets(0);
    QVERIFY(!meshdeck::common::fromProto(bad, &out, &error));
  }

  // validateProto() (the receivers that keep buckets sparse) accepts and refuses exactly what
  // fromProto() does, with the same explanation.
  void validateProtoAgreesWithFromProto() {
    LatencyHistogram h;
    for (auto v : sample("bimodal", 1'000, 3)) h.record(v);
    h.record(0);  // an underflow
    meshdeck::v1::Histogram good;
    meshdeck::common::toProto(h, &good);
    std::vector<meshdeck::v1::Histogram> cases{good, meshdeck::v1::Histogram{}};
    auto edit = [&](auto f) {
      auto m = good;
      f(m);
      cases.push_back(m);
    };
    edit([](auto& m) { m.set_layout(2); });
    edit([](auto& m) { m.mutable_buckets(1)->set_index(LatencyHistogram::kBucketCount); });
    edit([](auto& m) { m.mutable_buckets(1)->set_index(m.buckets(0).index()); });
    edit([](auto& m) { m.set_count(m.count() + 1); });
    edit([](auto& m) { m.mutable_buckets(0)->set_count(m.buckets(0).count() + 1); });
    edit([](auto& m) { m.set_underflow(m.count() + 1); });
    edit([](auto& m) { m.set_min_ns(m.max_ns() + 1); });
    edit([](auto& m) { m.set_min_ns(1); });
    edit([](auto& m) { m.set_max_ns(LatencyHistogram::kHighestTrackable + 1); });
    edit([](auto& m) { m.set_sum_ns(1); });  // the sum is not checked
    edit([](auto& m) {
      // One less in bucket 0 (modulo 2^64), one more in bucket 1: the total still wraps to count.
      m.mutable_buckets(0)->set_count(m.buckets(0).count() + UINT64_MAX);
      m.mutable_buckets(1)->set_count(m.buckets(1).count() + 1);
    });
    int refused = 0;
    for (const auto& m : cases) {
      std::string from_error = "unset", validate_error = "unset";
      LatencyHistogram out;
      const bool from = meshdeck::common::fromProto(m, &out, &from_error);
      QCOMPARE(meshdeck::common::validateProto(m, &validate_error), from);
      QCOMPARE(validate_error, from_error);
      refused += from ? 0 : 1;
    }
    QCOMPARE(refused, 10);
  }
};

QTEST_APPLESS_MAIN(LatencyHistogramTest)
#include "latency_histogram_test.moc"
