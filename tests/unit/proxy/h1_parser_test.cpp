#include "proxy/http/h1_parser.h"

#include <QtTest>
#include <string>
#include <vector>

#include "unit/proxy/h1_cases.h"
#include "unit/proxy/h1_reference.h"

using namespace meshdeck::proxy;
using namespace meshdeck::proxy::h1test;

namespace {

std::vector<Case> allCases() {
  auto cases = framingCases();
  return cases;
}

}  // namespace

// The HTTP/1.1 codec (proxy/http/h1_parser.h): every request row of docs/http1-framing.md and
// every syntax rule the session enforces, one-shot and arriving in pieces.
class H1ParserTest : public QObject {
  Q_OBJECT

 private slots:
  void rows_data() {
    QTest::addColumn<int>("index");
    const auto cases = allCases();
    for (size_t i = 0; i < cases.size(); ++i) QTest::newRow(cases[i].name) << int(i);
  }

  void rows() {
    QFETCH(int, index);
    const Case c = allCases()[static_cast<size_t>(index)];
    h1::RequestHead head;
    const h1::Result r = h1::parseRequestHead(c.raw, head);
    if (c.status == 0) {
      QVERIFY2(r.status == h1::Status::kDone, r.reason ? r.reason : "need more");
      QCOMPARE(r.consumed, c.raw.size());
      QCOMPARE(static_cast<int>(head.body), c.body);
      QCOMPARE(head.content_length, c.length);
      QCOMPARE(head.rewrite_framing, c.rewrite);
    } else {
      QVERIFY(r.status == h1::Status::kError);
      QCOMPARE(r.http_status, c.status);
      QCOMPARE(std::string(r.reason), std::string(c.reason));
    }
  }

  // A head arriving split at any one byte, or byte by byte, gets the one-shot verdict. (While it
  // is incomplete the read loop's checks may refuse it earlier, with bad_request_line or
  // header_too_large, as the session does; it is refused either way.)
  void splitAtEveryByte_data() { rows_data(); }
  void splitAtEveryByte() {
    QFETCH(int, index);
    const Case c = allCases()[static_cast<size_t>(index)];
    if (c.raw.size() > 4096) return;  // the large rows: byte by byte below covers them
    const Outcome whole = codecVerdict(c.raw);
    auto same = [&](const Outcome& part) {
      if (part == whole) return true;
      return whole.kind == Outcome::kRefuse && part.kind == Outcome::kRefuse &&
             (part.reason == "bad_request_line" || part.reason == "header_too_large");
    };
    for (size_t cut = 1; cut < c.raw.size(); ++cut) {
      const Outcome part = codecVerdictInPieces(c.raw, {cut});
      QVERIFY2(same(part),
               (std::to_string(cut) + ": " + part.describe() + " vs " + whole.describe()).c_str());
    }
    std::vector<size_t> every;
    for (size_t cut = 1; cut < c.raw.size(); ++cut) every.push_back(cut);
    const Outcome bytes = codecVerdictInPieces(c.raw, every);
    QVERIFY2(same(bytes), (bytes.describe() + " vs " + whole.describe()).c_str());
  }

  // Result::head_checks marks the refusals admission's head checks made before the codec (the
  // session answers those within an exchange, in the request's version).
  void headChecksMarkAdmissionsRefusals() {
    const struct {
      const char* raw;
      const char* reason;
      bool head_checks;
    } rows[] = {
        {"GET / HTTP/1.1\r\n\r\n", "missing_host", true},
        {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "multiple_host", true},
        {"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
         "transfer_encoding_http10", true},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
         "unsupported_transfer_encoding", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", "bad_header_name", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n two\r\n\r\n", "obs_fold", false},
        {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", "bad_target", false},
        // Beast met the conflict first: named by the decision, but not one of admission's.
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         "content_length_with_transfer_encoding", false},
    };
    for (const auto& row : rows) {
      h1::RequestHead head;
      const h1::Result r = h1::parseRequestHead(row.raw, head);
      QCOMPARE(r.status, h1::Status::kError);
      QCOMPARE(std::string(r.reason), std::string(row.reason));
      QVERIFY2(r.head_checks == row.head_checks, row.raw);
    }
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    h1::RequestHead head;
    const h1::Result r = h1::parseRequestHead(many + "\r\n", head);
    QCOMPARE(std::string(r.reason), std::string("too_many_headers"));
    QVERIFY(r.head_checks);
    QCOMPARE(head.fieldCount(), h1::kMaxFieldCount);
  }

  void keepAliveIsBeastsRule() {
    const struct {
      const char* raw;
      bool keep_alive;
    } rows[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: upgrade\r\n\r\n", false},
    };
    for (const auto& row : rows) {
      h1::RequestHead head;
      QCOMPARE(h1::parseRequestHead(row.raw, head).status, h1::Status::kDone);
      QVERIFY2(head.keepAlive() == row.keep_alive, row.raw);
    }
  }

  void fieldsAreViewsIntoTheBuffer() {
    const std::string raw =
        "GET /reviews/1?x=y HTTP/1.1\r\nHost: reviews:9080\r\nAccept:  */* \t\r\n"
        "X-Empty:\r\nConnection: keep-alive\r\n\r\nBODY";
    h1::RequestHead head;
    const h1::Result r = h1::parseRequestHead(raw, head);
    QVERIFY(r.status == h1::Status::kDone);
    QCOMPARE(r.consumed, raw.size() - 4);
    QCOMPARE(head.method, std::string_view("GET"));
    QCOMPARE(head.target, std::string_view("/reviews/1?x=y"));
    QCOMPARE(head.version, 11u);
    QCOMPARE(head.fieldCount(), size_t{4});
    QCOMPARE(head.field(1).value, std::string_view("*/*"));
    QCOMPARE(head.field(2).value, std::string_view(""));
    QVERIFY(head.method.data() == raw.data());  // in place: no copy
    QVERIFY(head.field(0).name.data() >= raw.data() &&
            head.field(0).name.data() < raw.data() + raw.size());
    QVERIFY(head.connection_keep_alive);
    QVERIFY(!head.connection_close);
    const auto* host = head.find("HOST");
    QVERIFY(host);
    QCOMPARE(*host, std::string_view("reviews:9080"));
    QVERIFY(!head.find("Cookie"));
  }

  void moreFieldsThanTheInlineArray() {
    std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (size_t i = 0; i < h1::kInlineFields + 10; ++i)
      raw += "X-" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
    raw += "\r\n";
    h1::RequestHead head;
    QVERIFY(h1::parseRequestHead(raw, head).status == h1::Status::kDone);
    QCOMPARE(head.fieldCount(), h1::kInlineFields + 11);
    QCOMPARE(head.field(h1::kInlineFields + 10).value,
             std::string_view(std::to_string(h1::kInlineFields + 9)));
  }

  void incompleteHeadNeedsMore() {
    h1::RequestParser parser;
    h1::RequestHead head;
    const std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for (size_t n = 0; n < raw.size(); ++n)
      QVERIFY(parser.parse(std::string_view(raw).substr(0, n), head).status ==
              h1::Status::kNeedMore);
    QVERIFY(parser.parse(raw, head).status == h1::Status::kDone);
    parser.reset();
    QVERIFY(parser.parse("GET / HT", head).status == h1::Status::kNeedMore);
  }
};

QTEST_APPLESS_MAIN(H1ParserTest)
#include "h1_parser_test.moc"
