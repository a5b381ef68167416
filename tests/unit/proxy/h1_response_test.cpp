#include "proxy/http/h1_response.h"

#include <QtTest>
#include <string>
#include <vector>

#include "proxy/http/response_head.h"
#include "unit/proxy/h1_response_cases.h"
#include "unit/proxy/h1_response_reference.h"

using namespace meshdeck::proxy;
using namespace meshdeck::proxy::h1test;

// The HTTP/1.1 response codec (proxy/http/h1_response.h): every response row of
// docs/http1-framing.md and Beast's syntax rules as the upstream attempt applies them, one-shot
// and arriving in pieces.
class H1ResponseTest : public QObject {
  Q_OBJECT

 private slots:
  void rows_data() {
    QTest::addColumn<int>("index");
    const auto cases = responseCases();
    for (size_t i = 0; i < cases.size(); ++i) QTest::newRow(cases[i].name) << int(i);
  }

  void rows() {
    QFETCH(int, index);
    const ResponseCase c = responseCases()[static_cast<size_t>(index)];
    h1::ResponseHead head;
    const h1::Result r = h1::parseResponseHead(c.raw, head, c.head);
    if (c.reason.empty()) {
      QVERIFY2(r.status == h1::Status::kDone, r.reason ? r.reason : "need more");
      QCOMPARE(r.http_status, 0u);
      QCOMPARE(int(head.framing.body), c.body);
      QCOMPARE(int(head.framing.declared), c.declared);
      QCOMPARE(head.framing.length, uint64_t(c.length));
      QCOMPARE(r.consumed, c.raw.find("\r\n\r\n") + 4);
      QCOMPARE(head.size, r.consumed);
      // Views into the buffer, nothing copied.
      const char* begin = c.raw.data();
      const char* end = begin + c.raw.size();
      QVERIFY(head.reason.data() >= begin && head.reason.data() <= end);
      for (size_t i = 0; i < head.fieldCount(); ++i) {
        QVERIFY(head.field(i).name.data() >= begin && head.field(i).name.data() < end);
        QVERIFY(head.field(i).value.data() >= begin && head.field(i).value.data() <= end);
      }
    } else if (c.reason == "need-more") {
      QVERIFY2(r.status == h1::Status::kNeedMore, r.reason);
    } else {
      QVERIFY2(r.status == h1::Status::kError, "accepted");
      QCOMPARE(r.http_status, 502u);
      QCOMPARE(std::string(r.reason), c.reason);
    }
    // The same verdict whatever the pieces: split at every byte, then byte by byte. A head
    // without its blank line yet may be refused a read later than at once (when the bytes
    // buffered have doubled), so its refusal may still be need-more here.
    const ResponseOutcome whole = codecResponseVerdict(c.raw, c.head);
    const bool incomplete = c.raw.find("\r\n\r\n") == std::string::npos;
    const auto same = [&](const ResponseOutcome& o) {
      return o == whole || (incomplete && o.kind == ResponseOutcome::kNeedMore);
    };
    for (size_t cut = 1; cut < c.raw.size() && c.raw.size() < 4096; ++cut) {
      const auto two = codecResponseVerdictInPieces(c.raw, c.head, {cut});
      QVERIFY2(same(two), (std::to_string(cut) + ": " + two.describe()).c_str());
    }
    if (c.raw.size() < 4096) {
      std::vector<size_t> cuts;
      for (size_t i = 1; i < c.raw.size(); ++i) cuts.push_back(i);
      const auto bytes = codecResponseVerdictInPieces(c.raw, c.head, cuts);
      QVERIFY2(same(bytes), bytes.describe().c_str());
    }
  }

  void fieldsAndStatusLine() {
    const std::string raw =
        "HTTP/1.1 404 Not  Found\r\nServer: x\r\nSet-Cookie: a=1\r\nX-A:  b c \r\n"
        "Set-Cookie: b=2\r\nContent-Length: 3\r\n\r\nabc";
    h1::ResponseHead head;
    const auto r = h1::parseResponseHead(raw, head, false);
    QVERIFY(r.status == h1::Status::kDone);
    QCOMPARE(head.version, 11u);
    QCOMPARE(head.status, 404u);
    QCOMPARE(std::string(head.reason), std::string("Not  Found"));
    QCOMPARE(head.fieldCount(), size_t(5));
    // The order received (Beast would move the second Set-Cookie after the first).
    QCOMPARE(std::string(head.field(3).name), std::string("Set-Cookie"));
    QCOMPARE(std::string(head.field(2).value), std::string("b c"));
    QCOMPARE(std::string(*head.find("set-cookie")), std::string("a=1"));
    QVERIFY(head.find("x-b") == nullptr);
    QVERIFY(!head.interim());
    QVERIFY(head.keepAlive());
  }

  void moreFieldsThanInline() {
    std::string raw = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 60; ++i)
      raw += "X-" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
    raw += "\r\n";
    h1::ResponseHead head;
    QVERIFY(h1::parseResponseHead(raw, head, false).status == h1::Status::kDone);
    QCOMPARE(head.fieldCount(), size_t(60));
    QCOMPARE(std::string(head.field(59).value), std::string("59"));
    // Reused for a smaller head: the overflow is forgotten.
    QVERIFY(h1::parseResponseHead("HTTP/1.1 200 OK\r\nA: b\r\n\r\n", head, false).status ==
            h1::Status::kDone);
    QCOMPARE(head.fieldCount(), size_t(1));
  }

  // An interim response, then the final one in the same buffer (the attempt's loop).
  void interimThenFinal() {
    const std::string raw =
        "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
        "2\r\n\r\nok";
    h1::ResponseParser parser;
    h1::ResponseHead head;
    auto r = parser.parse(raw, head, false);
    QVERIFY(r.status == h1::Status::kDone);
    QVERIFY(head.interim());
    QCOMPARE(head.status, 103u);
    parser.reset();
    const std::string_view rest = std::string_view(raw).substr(r.consumed);
    r = parser.parse(rest, head, false);
    QVERIFY(r.status == h1::Status::kDone);
    QVERIFY(!head.interim());
    QCOMPARE(head.status, 200u);
    QCOMPARE(head.framing.length, uint64_t(2));
    QCOMPARE(rest.substr(r.consumed), std::string_view("ok"));
  }

  void keepAlive() {
    const auto ka = [](const std::string& raw, bool is_head = false) {
      h1::ResponseHead head;
      const auto r = h1::parseResponseHead(raw, head, is_head);
      return r.status == h1::Status::kDone && head.keepAlive();
    };
    QVERIFY(ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    QVERIFY(!ka("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
    QVERIFY(!ka("HTTP/1.1 200 OK\r\n\r\n"));       // close-delimited
    QVERIFY(ka("HTTP/1.1 200 OK\r\n\r\n", true));  // a HEAD response has no body
    QVERIFY(!ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    QVERIFY(ka("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"));
  }

  // The relay head written from the views: Beast's order (fields of one name together), hop-by-hop
  // fields and the fields Connection names dropped, the client's version, Connection: close.
  void relayHeadFromViews() {
    const std::string raw =
        "HTTP/1.1 200 \r\nSet-Cookie: a=1\r\nServer: s\r\nset-cookie: b=2\r\nX-Gone: 1\r\n"
        "Connection: keep-alive, X-Gone\r\nKeep-Alive: 5\r\nContent-Length: 05\r\n\r\n";
    h1::ResponseHead head;
    QVERIFY(h1::parseResponseHead(raw, head, false).status == h1::Status::kDone);
    RelayHeadEdits e;
    e.version = 10;
    e.rewrite_framing = head.framing.rewrite;
    e.wire = BodyFraming::kContentLength;
    e.length = head.framing.length;
    e.keep_alive = false;
    std::string out;
    appendEditedResponseHead(out, head, e);
    QCOMPARE(out,
             std::string("HTTP/1.0 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nServer: s\r\n"
                         "Content-Length: 5\r\n\r\n"));
    e.version = 11;
    out.clear();
    appendEditedResponseHead(out, head, e);
    QVERIFY2(out.ends_with("Content-Length: 5\r\nConnection: close\r\n\r\n"), out.c_str());
  }

  // Incomplete heads: refused as soon as the bytes so far can never be valid (Beast's first read
  // does the same), else need-more until the blank line.
  void incompleteHeads() {
    h1::ResponseParser parser;
    h1::ResponseHead head;
    QVERIFY(parser.parse("HTTX/1.1", head, false).status == h1::Status::kError);
    parser.reset();
    QVERIFY(parser.parse("HTTP/1.1 200 OK\r\nX: a", head, false).status == h1::Status::kNeedMore);
    QVERIFY(parser.parse("HTTP/1.1 200 OK\r\nX: ab\r\n", head, false).status ==
            h1::Status::kNeedMore);
    const auto r = parser.parse("HTTP/1.1 200 OK\r\nX: ab\r\n\r\n", head, false);
    QVERIFY(r.status == h1::Status::kDone);
    QCOMPARE(std::string(head.field(0).value), std::string("ab"));
  }
};

QTEST_APPLESS_MAIN(H1ResponseTest)
#include "h1_response_test.moc"
