#include <QtTest>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/duration.h"

using namespace std::chrono_literals;

class CommonUtilTest : public QObject {
  Q_OBJECT

 private slots:
  void parsesDurations() {
    using meshdeck::common::parseDuration;
    QCOMPARE(parseDuration("250ms"), std::optional<std::chrono::nanoseconds>(250ms));
    QCOMPARE(parseDuration("1.5s"), std::optional<std::chrono::nanoseconds>(1500ms));
    QCOMPARE(parseDuration("2m"), std::optional<std::chrono::nanoseconds>(120s));
    QCOMPARE(parseDuration("10us"), std::optional<std::chrono::nanoseconds>(10us));
    QCOMPARE(parseDuration("0"), std::optional<std::chrono::nanoseconds>(0ns));
    for (const char* bad : {"", "ms", "10", "-1s", "1.2.3s", "5 s", "3d", "1e400s"})
      QVERIFY2(!parseDuration(bad).has_value(), bad);
  }

  void formatsDurations() {
    using meshdeck::common::formatDuration;
    QCOMPARE(formatDuration(1500ms), std::string("1.5s"));
    QCOMPARE(formatDuration(250ms), std::string("250ms"));
    QCOMPARE(formatDuration(2min), std::string("2m"));
  }

  void simulatedClockMovesOnlyWhenAdvanced() {
    meshdeck::common::SimulatedTimeSource clock;
    const auto t0 = clock.monotonicNow();
    const auto w0 = clock.systemNow();
    QCOMPARE(clock.monotonicNow(), t0);
    clock.advance(1500ms);
    QCOMPARE(clock.monotonicNow() - t0, std::chrono::steady_clock::duration(1500ms));
    QCOMPARE(clock.systemNow() - w0, std::chrono::system_clock::duration(1500ms));
  }

  void writesFilesAtomically() {
    QTemporaryDir dir;
    const std::filesystem::path file = dir.filePath("state.json").toStdString();
    std::string error, contents;
    QVERIFY(meshdeck::common::writeFileAtomically(file, "one", &error));
    QVERIFY(meshdeck::common::writeFileAtomically(file, "two", &error, 0600));
    QVERIFY(meshdeck::common::readFile(file, &contents, &error));
    QCOMPARE(contents, std::string("two"));
    QCOMPARE(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
             std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    // Only the file itself is left behind: no temporary files.
    QCOMPARE(std::distance(std::filesystem::directory_iterator(dir.path().toStdString()),
                           std::filesystem::directory_iterator{}),
             1);
    QVERIFY(!meshdeck::common::writeFileAtomically("/nonexistent-dir/x", "a", &error));
    QVERIFY(error.find("/nonexistent-dir") != std::string::npos);
    QVERIFY(!meshdeck::common::readFile(dir.filePath("missing").toStdString(), &contents, &error));
  }
};

QTEST_APPLESS_MAIN(CommonUtilTest)
#include "common_util_test.moc"
