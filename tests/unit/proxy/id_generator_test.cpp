#include "proxy/http/id_generator.h"

#include <QtTest>
#include <array>
#include <concepts>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>

#include "proxy/http/headers.h"

using namespace meshdeck::proxy;

static_assert(std::uniform_random_bit_generator<IdGenerator>);

namespace {

constexpr int kDraws = 100000;

bool isLowerHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool allZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// splitmix64 maps its counter 0 to 0; the counter of a generator's second state word is
// seed + 2 * 0x9e3779b97f4a7c15, so this seed makes that word 0, and xoshiro256**'s first output
// (a product of that word) is 0: the one draw that would give an all-zero id.
constexpr uint64_t kSeedWithZeroFirstDraw = 0 - 2 * 0x9e3779b97f4a7c15ull;

}  // namespace

class IdGeneratorTest : public QObject {
  Q_OBJECT

 private slots:
  void sameSeedSameSequenceOtherSeedOther() {
    IdGenerator a(7), b(7), c(8);
    int equal_to_c = 0;
    for (int i = 0; i < 1000; ++i) {
      const uint64_t va = a();
      QCOMPARE(b(), va);
      equal_to_c += va == c() ? 1 : 0;
    }
    QCOMPARE(equal_to_c, 0);
    // Seeds as the workers make them: from std::random_device, mixed with the worker index.
    IdGenerator w0(IdGenerator::randomSeed()),
        w1(IdGenerator::randomSeed() ^ 0x9e3779b97f4a7c15ull);
    QVERIFY(w0() != w1());
  }

  void drawsAreDistinctAndEveryBitIsUsed() {
    IdGenerator rng(0);  // seed 0 is valid too
    std::unordered_set<uint64_t> seen;
    std::array<int, 64> ones{};
    for (int i = 0; i < kDraws; ++i) {
      const uint64_t v = rng();
      QVERIFY(seen.insert(v).second);
      for (size_t bit = 0; bit < 64; ++bit) ones[bit] += (v >> bit) & 1 ? 1 : 0;
    }
    // Each bit is set in about half the draws (binomial, sd 158: 5 sd either side).
    for (size_t bit = 0; bit < 64; ++bit)
      QVERIFY2(ones[bit] > kDraws / 2 - 800 && ones[bit] < kDraws / 2 + 800,
               qPrintable(QString("bit %1: %2").arg(bit).arg(ones[bit])));
  }

  void requestIdsAreDistinctUuidV4() {
    IdGenerator rng(IdGenerator::randomSeed());
    std::unordered_set<std::string> seen;
    // Every digit of every random position shows up: the hex table covers all nibbles.
    std::array<std::array<bool, 16>, 36> digits{};
    for (int i = 0; i < kDraws; ++i) {
      const RequestId id = makeRequestId(rng);
      const std::string_view s = id.view();
      QCOMPARE(s.size(), size_t{36});
      for (size_t at : {8, 13, 18, 23}) QCOMPARE(s[at], '-');
      for (auto [from, n] : {std::pair{0, 8}, {9, 4}, {14, 4}, {19, 4}, {24, 12}})
        QVERIFY2(isLowerHex(s.substr(static_cast<size_t>(from), static_cast<size_t>(n))),
                 std::string(s).c_str());
      QCOMPARE(s[14], '4');
      QVERIFY(s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
      QVERIFY(seen.emplace(s).second);
      for (size_t at = 0; at < s.size(); ++at)
        if (s[at] != '-')
          digits[at][static_cast<size_t>(s[at] <= '9' ? s[at] - '0' : s[at] - 'a' + 10)] = true;
    }
    for (size_t at = 0; at < 36; ++at) {
      if (at == 8 || at == 13 || at == 18 || at == 23) continue;
      int kinds = 0;
      for (bool d : digits[at]) kinds += d ? 1 : 0;
      const int want = at == 14 ? 1 : at == 19 ? 4 : 16;
      QVERIFY2(kinds == want, qPrintable(QString("position %1: %2 digits").arg(at).arg(kinds)));
    }
  }

  void newTracesAreDistinctValidAndNeverZero() {
    IdGenerator rng(IdGenerator::randomSeed());
    std::unordered_set<std::string> traces, spans;
    for (int i = 0; i < kDraws; ++i) {
      const Traceparent tp = makeTraceparent({}, rng);
      const std::string_view s = tp.view();
      QCOMPARE(s.size(), size_t{55});
      QCOMPARE(s.substr(0, 3), std::string_view("00-"));
      QCOMPARE(s[35], '-');
      QCOMPARE(s.substr(52), std::string_view("-01"));
      QVERIFY(isLowerHex(s.substr(3, 32)) && isLowerHex(s.substr(36, 16)));
      QVERIFY(!allZero(s.substr(3, 32)) && !allZero(s.substr(36, 16)));
      QVERIFY(traces.emplace(s.substr(3, 32)).second);
      QVERIFY(spans.emplace(s.substr(36, 16)).second);
    }
  }

  void continuedTracesGetDistinctSpans() {
    IdGenerator rng(IdGenerator::randomSeed());
    const std::string_view in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    std::unordered_set<std::string> spans;
    for (int i = 0; i < kDraws; ++i) {
      const Traceparent tp = makeTraceparent(in, rng);
      const std::string_view s = tp.view();
      QCOMPARE(s.substr(0, 36), in.substr(0, 36));
      QCOMPARE(s.substr(52), in.substr(52));  // the flags are kept: not sampled stays so
      QVERIFY(isLowerHex(s.substr(36, 16)) && !allZero(s.substr(36, 16)));
      QVERIFY(spans.emplace(s.substr(36, 16)).second);
    }
  }

  void aZeroDrawIsNeverAnId() {
    IdGenerator probe(kSeedWithZeroFirstDraw);
    QCOMPARE(probe(), uint64_t{0});  // the premise of this test
    IdGenerator continued(kSeedWithZeroFirstDraw);
    const Traceparent tp =
        makeTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", continued);
    QVERIFY(!allZero(tp.view().substr(36, 16)));
    IdGenerator fresh(kSeedWithZeroFirstDraw);
    const Traceparent root = makeTraceparent({}, fresh);
    QVERIFY(!allZero(root.view().substr(36, 16)));
    QVERIFY(!allZero(root.view().substr(3, 32)));
  }
};

QTEST_APPLESS_MAIN(IdGeneratorTest)
#include "id_generator_test.moc"
