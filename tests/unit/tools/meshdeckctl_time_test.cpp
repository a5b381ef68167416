#include <QtTest>

#include "tools/meshdeckctl/time_arg.h"

using meshdeck::tools::formatRfc3339;
using meshdeck::tools::parseTimeArg;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

class MeshdeckctlTimeTest : public QObject {
  Q_OBJECT

 private slots:
  void durationsAreBeforeNow() {
    const Clock::time_point now = Clock::from_time_t(1'800'000'000);
    std::string error;
    QVERIFY(parseTimeArg("now", now, &error) == now);
    QVERIFY(parseTimeArg("-15m", now, &error) == now - 15min);
    QVERIFY(parseTimeArg("15m", now, &error) == now - 15min);
    QVERIFY(parseTimeArg("1.5h", now, &error) == now - 90min);
    QVERIFY(parseTimeArg("2d", now, &error) == now - 48h);
    QVERIFY(parseTimeArg("250ms", now, &error) == now - 250ms);
  }

  void rfc3339() {
    const Clock::time_point now = Clock::from_time_t(0);
    std::string error;
    const auto t = parseTimeArg("2026-12-06T14:05:00Z", now, &error);
    QVERIFY2(t, error.c_str());
    QCOMPARE(formatRfc3339(*t), std::string("2026-12-06T14:05:00Z"));
    QVERIFY(parseTimeArg("2026-12-06T15:05:00+01:00", now, &error) == t);
    QVERIFY(parseTimeArg("2026-12-06 13:35:00-00:30", now, &error) == t);
    QVERIFY(parseTimeArg("2026-12-06T14:05:00.250Z", now, &error) == *t + 250ms);
  }

  void badInputSaysWhy() {
    const Clock::time_point now = Clock::from_time_t(1'800'000'000);
    for (const char* bad :
         {"", "yesterday", "15", "-x", "+5m", "2026-12-06T14:05:00", "2026-02-30T00:00:00Z",
          "2026-12-06T25:00:00Z", "2026-12-06T14:05:00Zjunk"}) {
      std::string error;
      QVERIFY2(!parseTimeArg(bad, now, &error), bad);
      QVERIFY2(!error.empty(), bad);
    }
    std::string error;
    parseTimeArg("2026-12-06T14:05:00", now, &error);
    QVERIFY2(error.find("offset is required") != std::string::npos, error.c_str());
    parseTimeArg("+5m", now, &error);
    QVERIFY2(error.find("future") != std::string::npos, error.c_str());
  }

  void rangesOfSinceAndUntil() {
    using meshdeck::tools::parseTimeRange;
    const Clock::time_point now = Clock::from_time_t(1'800'000'000);
    std::string error;
    // Until not given: unset for `events`, now for `report`.
    auto r = parseTimeRange("1h", "", false, now, &error);
    QVERIFY2(r, error.c_str());
    QVERIFY(r->since == now - 1h);
    QVERIFY(!r->until);
    r = parseTimeRange("1h", "", true, now, &error);
    QVERIFY2(r, error.c_str());
    QVERIFY(r->until == now);
    r = parseTimeRange("2h", "30m", false, now, &error);
    QVERIFY2(r, error.c_str());
    QVERIFY(r->since == now - 2h);
    QVERIFY(r->until == now - 30min);
    // Each refusal names the option (meshdeckctl prints it after "meshdeckctl: ").
    QVERIFY(!parseTimeRange("yesterday", "", true, now, &error));
    QVERIFY2(error.rfind("--since: \"yesterday\" is neither", 0) == 0, error.c_str());
    QVERIFY(!parseTimeRange("1h", "+5m", true, now, &error));
    QVERIFY2(error.rfind("--until: \"+5m\" is in the future", 0) == 0, error.c_str());
    for (const bool defaults : {false, true}) {
      QVERIFY(!parseTimeRange("1h", "2h", defaults, now, &error));
      QCOMPARE(error, std::string("--until must be after --since"));
      QVERIFY(!parseTimeRange("1h", "1h", defaults, now, &error));
      QCOMPARE(error, std::string("--until must be after --since"));
    }
    // A since of now with until defaulting to now is an empty range; with until unset it is not
    // checked (events from now on).
    QVERIFY(!parseTimeRange("now", "", true, now, &error));
    QCOMPARE(error, std::string("--until must be after --since"));
    QVERIFY(parseTimeRange("now", "", false, now, &error));
  }
};

QTEST_GUILESS_MAIN(MeshdeckctlTimeTest)
#include "meshdeckctl_time_test.moc"
