// The ASCII helpers of the codec and admitView() (proxy/http/ascii_fold.h) against plain
// reference code: equalsFolded() for every name admitView() compares, with every byte value a
// token may hold at every position, and hasUpperCase() for every length up to three blocks
// with an upper-case letter (or none) at every position.

#include "proxy/http/ascii_fold.h"

#include <QtTest>
#include <cctype>
#include <string>
#include <string_view>

using namespace meshdeck::proxy;

namespace {

// RFC 9110 tchar.
bool isTchar(unsigned char c) {
  return std::isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool referenceEquals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != lower[i]) return false;
  return true;
}

template <size_t N>
int checkName(const char (&lit)[N]) {
  int checked = 0;
  const std::string name(lit, N - 1);
  for (size_t pos = 0; pos < name.size(); ++pos) {
    for (int c = 0; c < 256; ++c) {
      if (!isTchar(static_cast<unsigned char>(c))) continue;
      std::string probe = name;
      probe[pos] = static_cast<char>(c);
      const bool want = referenceEquals(probe, name);
      if (h1::equalsFolded(probe.data(), lit) != want) {
        qWarning("%s with byte %d at %zu: %d", lit, c, pos, int(!want));
        return -1;
      }
      ++checked;
    }
  }
  // Upper-case throughout.
  std::string upper = name;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (!h1::equalsFolded(upper.data(), lit)) return -1;
  return checked + 1;
}

}  // namespace

class AsciiFoldTest : public QObject {
  Q_OBJECT

 private slots:
  void equalsFoldedAgreesWithToLowerOnTokens() {
    int total = 0;
    for (int n : {checkName("te"), checkName("host"), checkName("expect"), checkName("trailer"),
                  checkName("upgrade"), checkName("connection"), checkName("keep-alive"),
                  checkName("traceparent"), checkName("x-request-id"), checkName("x-forwarded-for"),
                  checkName("proxy-connection"), checkName("x-forwarded-proto"),
                  checkName("x-meshdeck-source"), checkName("proxy-authenticate"),
                  checkName("proxy-authorization")}) {
      QVERIFY(n > 0);
      total += n;
    }
    QVERIFY(total > 10000);
  }

  void hasUpperCaseFindsEveryLetterAtEveryPosition() {
    for (size_t len = 0; len <= 48; ++len) {
      const std::string lower(len, 'a');
      QVERIFY(!h1::hasUpperCase(lower));
      std::string mixed(len, '\xc1');  // bytes >= 0x80 are not letters
      QVERIFY(!h1::hasUpperCase(mixed));
      for (size_t pos = 0; pos < len; ++pos) {
        for (char c : {'A', 'M', 'Z'}) {
          std::string s = lower;
          s[pos] = c;
          QVERIFY2(h1::hasUpperCase(s), qPrintable(QString("len %1 pos %2").arg(len).arg(pos)));
        }
        for (char c : {'@', '[', '`', '{', '0', '-', '.'}) {
          std::string s = lower;
          s[pos] = c;
          QVERIFY(!h1::hasUpperCase(s));
        }
      }
      // A letter just past the view is not looked at.
      const std::string longer = lower + "Z";
      QVERIFY(!h1::hasUpperCase(std::string_view(longer).substr(0, len)));
    }
  }
};

QTEST_APPLESS_MAIN(AsciiFoldTest)
#include "ascii_fold_test.moc"
