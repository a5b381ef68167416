// isValidHost(): the Host field / authority grammar of RFC 3986 §3.2.2 that the codec, the
// framing decision and admission share, byte by byte.
#include "proxy/http/host_syntax.h"

#include <QtTest>
#include <string>

using meshdeck::proxy::isValidHost;

class HostSyntaxTest : public QObject {
  Q_OBJECT

 private slots:
  void everyByteOfARegName() {
    // unreserved / sub-delims are allowed in a reg-name; every other byte is not ('%' only as
    // the start of a pct-encoding, ':' only before the port).
    const std::string allowed =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=";
    int valid = 0;
    for (int c = 0; c < 256; ++c) {
      const std::string host = std::string("a") + static_cast<char>(c) + "b";
      const bool expected = allowed.find(static_cast<char>(c)) != std::string::npos && c != 0;
      QVERIFY2(isValidHost(host, false) == expected, qPrintable(QString::number(c)));
      valid += expected;
    }
    QCOMPARE(valid, int(allowed.size()));
  }

  void pctEncodingAndPorts() {
    QVERIFY(isValidHost("a%20b", false));
    QVERIFY(isValidHost("a%2fb", false));
    QVERIFY(!isValidHost("a%2", false));
    QVERIFY(!isValidHost("a%zzb", false));
    QVERIFY(isValidHost("127.0.0.1:44897", false));
    QVERIFY(isValidHost("svc.ns.svc.cluster.local:65535", false));
    QVERIFY(!isValidHost("svc:65536", false));
    QVERIFY(!isValidHost("svc:123456", false));
    QVERIFY(!isValidHost("svc:8x", false));
    QVERIFY(isValidHost("svc:", false));  // an empty port is allowed by the grammar
    QVERIFY(!isValidHost("", false));
    QVERIFY(isValidHost("", true));
    QVERIFY(!isValidHost(":80", false));
  }

  void ipLiterals() {
    QVERIFY(isValidHost("[::1]", false));
    QVERIFY(isValidHost("[::1]:8080", false));
    QVERIFY(isValidHost("[v1.x:y]", false));
    QVERIFY(!isValidHost("[::1", false));
    QVERIFY(!isValidHost("[]", false));
    QVERIFY(!isValidHost("[::g]", false));
    QVERIFY(!isValidHost("[::1]x", false));
  }
};

QTEST_APPLESS_MAIN(HostSyntaxTest)
#include "host_syntax_test.moc"
