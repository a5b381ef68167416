#include "proxy/http/headers.h"

#include <QtTest>

using namespace meshdeck::proxy;
namespace http = boost::beast::http;

class HeadersTest : public QObject {
  Q_OBJECT

 private slots:
  void removesHopByHopAndConnectionNamedHeaders() {
    http::fields f;
    f.set(http::field::connection, "keep-alive, X-Secret, upgrade");
    f.set("x-secret", "1");
    f.set(http::field::keep_alive, "timeout=5");
    f.set("proxy-connection", "keep-alive");
    f.set(http::field::te, "trailers");
    f.set(http::field::upgrade, "websocket");
    f.set("x-keep", "yes");
    http::fields g = f;
    removeHopByHopHeaders(f, false);
    for (const char* gone :
         {"connection", "x-secret", "keep-alive", "proxy-connection", "te", "upgrade"})
      QVERIFY2(f.find(gone) == f.end(), gone);
    QCOMPARE(std::string(f["x-keep"]), std::string("yes"));
    removeHopByHopHeaders(g, true);
    QCOMPARE(std::string(g[http::field::upgrade]), std::string("websocket"));
    QCOMPARE(std::string(g[http::field::connection]), std::string("upgrade"));
  }

  void rawHeaderChecks() {
    QCOMPARE(checkRawHeader("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 100), RawHeaderProblem::kNone);
    QCOMPARE(checkRawHeader("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 100),
             RawHeaderProblem::kObsFold);
    QCOMPARE(checkRawHeader("GET / HTTP/1.1\r\n\tX: a\r\n\r\n", 100), RawHeaderProblem::kObsFold);
    QCOMPARE(checkRawHeader("GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n", 100),
             RawHeaderProblem::kRequestLineTooLong);
    QCOMPARE(findHeaderEnd("GET / HTTP/1.1\r\n\r\nbody"), size_t{18});
    QCOMPARE(findHeaderEnd("GET / HTTP/1.1\r\n"), std::string_view::npos);
  }

  void traceparentKeepsTraceAndMintsSpan() {
    std::mt19937_64 rng(1);
    const std::string in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const std::string out = nextTraceparent(in, rng);
    QCOMPARE(out.size(), size_t{55});
    QCOMPARE(out.substr(0, 36), in.substr(0, 36));
    QVERIFY(out.substr(36, 16) != in.substr(36, 16));
    QCOMPARE(out.substr(52), in.substr(52));
    for (const char* bad :
         {"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}) {
      const std::string fresh = nextTraceparent(bad, rng);
      QCOMPARE(fresh.size(), size_t{55});
      QVERIFY(fresh.substr(0, 3) == "00-");
      QVERIFY(fresh.substr(52) == "-01");
      QVERIFY(traceIdOf(fresh) != traceIdOf(bad));
    }
  }

  void requestIdsAreUuidV4() {
    std::mt19937_64 rng(2);
    const std::string a = newRequestId(rng);
    const std::string b = newRequestId(rng);
    QCOMPARE(a.size(), size_t{36});
    QCOMPARE(a[14], '4');
    QVERIFY(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
    QVERIFY(a != b);
  }
};

QTEST_APPLESS_MAIN(HeadersTest)
#include "headers_test.moc"
