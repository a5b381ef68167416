#include "common/bounded_file.h"

#include <QtTest>
#include <filesystem>
#include <fstream>

#include "common/input_limits.h"

namespace fs = std::filesystem;
using meshdeck::common::findInvalidUtf8;
using meshdeck::common::formatBytes;
using meshdeck::common::readFileLimited;

class BoundedFileTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    dir_ = fs::temp_directory_path() / ("bounded_file_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void cleanup() { fs::remove_all(dir_); }

  void readsAFileUpToTheLimit() {
    const auto path = write("ok.txt", std::string(100, 'a'));
    std::string text, error;
    QVERIFY2(readFileLimited(path, 100, &text, &error), error.c_str());
    QCOMPARE(text.size(), size_t{100});
  }

  void refusesAFileOverTheLimitNamingFileAndLimit() {
    const auto path = write("state.json", std::string(1024 * 1024 * 3 / 2, 'a'));
    std::string text = "untouched", error;
    QVERIFY(!readFileLimited(path, 1024 * 1024, &text, &error));
    QCOMPARE(error, path.string() + " is 1.5 MiB; the limit is 1 MiB");
    QCOMPARE(text, std::string("untouched"));
  }

  void refusesWhatIsNotARegularFile() {
    std::string text, error;
    QVERIFY(!readFileLimited(dir_, 100, &text, &error));
    QVERIFY2(error.find("not a regular file") != std::string::npos, error.c_str());
    QVERIFY(!readFileLimited("/dev/zero", 100, &text, &error));
    QVERIFY2(error.find("/dev/zero") != std::string::npos, error.c_str());
    QVERIFY(!readFileLimited(dir_ / "missing", 100, &text, &error));
    QVERIFY2(error.find("cannot open") != std::string::npos, error.c_str());
  }

  void formatsSizes() {
    QCOMPARE(formatBytes(8 * 1024 * 1024), std::string("8 MiB"));
    QCOMPARE(formatBytes(15089024), std::string("14.4 MiB"));
    QCOMPARE(formatBytes(4096), std::string("4 KiB"));
    QCOMPARE(formatBytes(1), std::string("1 byte"));
    QCOMPARE(formatBytes(17), std::string("17 bytes"));
  }

  void findsTheFirstByteThatIsNotUtf8() {
    QVERIFY(!findInvalidUtf8("plain ascii\nand ümlauts, 漢字, 😀").has_value());
    auto e = findInvalidUtf8("kind: X\nname: a\xff");
    QVERIFY(e.has_value());
    QCOMPARE(int(e->byte), 0xff);
    QCOMPARE(e->line, size_t{2});
    QCOMPARE(e->column, size_t{8});
    QCOMPARE(e->toString(), std::string("byte 0xff at line 2, column 8"));
    // Overlong encoding, a surrogate, a truncated sequence, a lone continuation byte.
    for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x82", "\x80"})
      QVERIFY2(findInvalidUtf8(bad).has_value(), bad);
    // A sequence cut short is reported at its lead byte.
    e = findInvalidUtf8("\xc3(");
    QVERIFY(e.has_value());
    QCOMPARE(e->offset, size_t{0});
    QCOMPARE(e->kind, meshdeck::common::Utf8Error::Kind::kTruncated);
    QCOMPARE(e->what(), std::string("truncated sequence at byte 0xC3"));
    // Control characters are text unless refused (YAML refuses them).
    QVERIFY(!findInvalidUtf8(std::string_view("a\0b", 3)).has_value());
    e = findInvalidUtf8(std::string_view("a\0b", 3), true);
    QVERIFY(e.has_value());
    QCOMPARE(e->column, size_t{2});
    QCOMPARE(e->what(), std::string("control character 0x00"));
  }

  void limitsAreConsistent() {
    namespace l = meshdeck::common::limits;
    QVERIFY(l::kMaxReceiveMessageBytes > l::kMaxPolicyTextBytes);
    QVERIFY(l::kMaxPolicyStateFileBytes > l::kMaxPolicyTextBytes);
    QVERIFY(l::kMaxTelemetryReportBytes < l::kMaxReceiveMessageBytes);
  }

 private:
  fs::path write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
    return dir_ / name;
  }
  fs::path dir_;
};

QTEST_APPLESS_MAIN(BoundedFileTest)
#include "bounded_file_test.moc"
