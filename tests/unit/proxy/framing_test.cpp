#include "proxy/http/framing.h"

#include <QtTest>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <string>

#include "proxy/http/headers.h"

using namespace meshdeck::proxy;
namespace http = boost::beast::http;

Q_DECLARE_METATYPE(BodyFraming)

namespace {

constexpr auto kNone = BodyFraming::kNone;
constexpr auto kLength = BodyFraming::kContentLength;
constexpr auto kChunked = BodyFraming::kChunked;
constexpr auto kClose = BodyFraming::kCloseDelimited;
constexpr auto kRefuse = BodyFraming::kRefuse;

// A response head from its raw form (status line, fields, blank line); the proxy reads
// responses with Beast, so this test helper only splits lines.
ResponseHeader responseHead(const std::string& raw) {
  ResponseHeader h;
  const auto eol = raw.find("\r\n");
  h.version(raw.compare(0, 8, "HTTP/1.0") == 0 ? 10 : 11);
  h.result(static_cast<unsigned>(std::stoi(raw.substr(9, 3))));
  for (size_t p = eol + 2, e; (e = raw.find("\r\n", p)) != std::string::npos && e > p; p = e + 2) {
    const auto line = raw.substr(p, e - p);
    const auto colon = line.find(':');
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    h.insert(line.substr(0, colon), value);
  }
  return h;
}

std::string str(boost::beast::string_view s) { return std::string(s.data(), s.size()); }

}  // namespace

// One row per framing or Host rule of RFC 9112 §3.2, §6, §7 and RFC 9110 §7.2, §8.6: the raw
// head in, the decision out. docs/http1-framing.md names these rows.
class FramingTest : public QObject {
  Q_OBJECT

 private slots:
  void requestDecision_data() {
    QTest::addColumn<QByteArray>("fields");  // the field lines after "POST / HTTP/1.1\r\n"
    QTest::addColumn<QByteArray>("start");   // the request line, when not "POST / HTTP/1.1"
    QTest::addColumn<BodyFraming>("kind");
    QTest::addColumn<qulonglong>("length");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("reason");
    QTest::addColumn<bool>("rewrite");
    auto row = [](const char* name, const char* fields, BodyFraming kind, qulonglong length = 0,
                  int status = 0, const char* reason = "", bool rewrite = false,
                  const char* start = "POST / HTTP/1.1") {
      QTest::newRow(name) << QByteArray(fields) << QByteArray(start) << kind << length << status
                          << QByteArray(reason) << rewrite;
    };
    // Transfer-Encoding (RFC 9112 §6.1, §6.3): all lines are one list; only chunked, once, last.
    row("te smuggling: identity line then chunked line",
        "Host: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", kRefuse, 0, 501,
        "unsupported_transfer_encoding");
    row("te chunked", "Host: a\r\nTransfer-Encoding: chunked\r\n", kChunked);
    row("te Chunked (case)", "Host: a\r\nTransfer-Encoding: Chunked\r\n", kChunked);
    row("te chunked, identity", "Host: a\r\nTransfer-Encoding: chunked, identity\r\n", kRefuse, 0,
        400, "chunked_not_last");
    row("te chunked line then gzip line",
        "Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", kRefuse, 0, 400,
        "chunked_not_last");
    row("te gzip, chunked", "Host: a\r\nTransfer-Encoding: gzip, chunked\r\n", kRefuse, 0, 501,
        "unsupported_transfer_encoding");
    row("te gzip", "Host: a\r\nTransfer-Encoding: gzip\r\n", kRefuse, 0, 501,
        "unsupported_transfer_encoding");
    row("te chunked twice (two lines)",
        "Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", kRefuse, 0, 400,
        "chunked_twice");
    row("te chunked, chunked", "Host: a\r\nTransfer-Encoding: chunked, chunked\r\n", kRefuse, 0,
        400, "chunked_twice");
    row("te empty", "Host: a\r\nTransfer-Encoding: \r\n", kRefuse, 0, 400, "bad_transfer_encoding");
    row("te chunked with a parameter", "Host: a\r\nTransfer-Encoding: chunked;q=1\r\n", kRefuse, 0,
        400, "bad_transfer_encoding");
    row("te empty list element", "Host: a\r\nTransfer-Encoding: , chunked\r\n", kChunked, 0, 0, "",
        true);
    row("te chunked + cl", "Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        kRefuse, 0, 400, "content_length_with_transfer_encoding");
    row("cl + te chunked", "Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        kRefuse, 0, 400, "content_length_with_transfer_encoding");
    row("http/1.0 + te chunked", "Host: a\r\nTransfer-Encoding: chunked\r\n", kRefuse, 0, 400,
        "transfer_encoding_http10", false, "POST / HTTP/1.0");
    // Content-Length (RFC 9110 §8.6, RFC 9112 §6.3 (5)).
    row("cl 5", "Host: a\r\nContent-Length: 5\r\n", kLength, 5);
    row("cl 0", "Host: a\r\nContent-Length: 0\r\n", kLength, 0);
    row("cl 5, 5", "Host: a\r\nContent-Length: 5, 5\r\n", kLength, 5, 0, "", true);
    row("cl 5 on two lines", "Host: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n", kLength, 5, 0,
        "", true);
    row("cl 5, 6", "Host: a\r\nContent-Length: 5, 6\r\n", kRefuse, 0, 400,
        "multiple_content_length");
    row("cl 5 and 6 on two lines", "Host: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n", kRefuse,
        0, 400, "multiple_content_length");
    row("cl +5", "Host: a\r\nContent-Length: +5\r\n", kRefuse, 0, 400, "bad_content_length");
    row("cl -1", "Host: a\r\nContent-Length: -1\r\n", kRefuse, 0, 400, "bad_content_length");
    row("cl 05 (leading zero is fine)", "Host: a\r\nContent-Length: 05\r\n", kLength, 5, 0, "",
        true);
    row("cl 5, (empty element)", "Host: a\r\nContent-Length: 5,\r\n", kRefuse, 0, 400,
        "bad_content_length");
    row("cl empty", "Host: a\r\nContent-Length: \r\n", kRefuse, 0, 400, "bad_content_length");
    row("cl 1 0 (inner space)", "Host: a\r\nContent-Length: 1 0\r\n", kRefuse, 0, 400,
        "bad_content_length");
    row("cl 0x5", "Host: a\r\nContent-Length: 0x5\r\n", kRefuse, 0, 400, "bad_content_length");
    row("cl overflow", "Host: a\r\nContent-Length: 99999999999999999999999\r\n", kRefuse, 0, 400,
        "bad_content_length");
    row("no framing field: no body", "Host: a\r\n", kNone);
    // Host (RFC 9112 §3.2, RFC 9110 §7.2, RFC 3986 §3.2.2).
    row("host missing in http/1.1", "Content-Length: 0\r\n", kRefuse, 0, 400, "missing_host");
    row("host missing in http/1.0", "", kNone, 0, 0, "", false, "GET / HTTP/1.0");
    row("host twice", "Host: a\r\nHost: a\r\n", kRefuse, 0, 400, "multiple_host");
    row("host empty", "Host: \r\n", kRefuse, 0, 400, "bad_host");
    row("host with space", "Host: a b\r\n", kRefuse, 0, 400, "bad_host");
    row("host with @", "Host: user@a\r\n", kRefuse, 0, 400, "bad_host");
    row("host with /", "Host: a/b\r\n", kRefuse, 0, 400, "bad_host");
    row("host bad port", "Host: a:http\r\n", kRefuse, 0, 400, "bad_host");
    row("host port too large", "Host: a:65536\r\n", kRefuse, 0, 400, "bad_host");
    row("host two ports", "Host: a:80:80\r\n", kRefuse, 0, 400, "bad_host");
    row("host bad pct-encoding", "Host: a%zz\r\n", kRefuse, 0, 400, "bad_host");
    row("host unclosed ip-literal", "Host: [::1\r\n", kRefuse, 0, 400, "bad_host");
    row("host name:port", "Host: reviews.default:9080\r\n", kNone);
    row("host ipv4", "Host: 10.0.0.1\r\n", kNone);
    row("host ipv6 literal with port", "Host: [::1]:8080\r\n", kNone);
    row("host pct-encoded reg-name", "Host: a%2Db\r\n", kNone);
    row("absolute-form target, empty host", "Host: \r\n", kNone, 0, 0, "", false,
        "GET http://reviews/ HTTP/1.1");
    row("absolute-form target, invalid host", "Host: a b\r\n", kRefuse, 0, 400, "bad_host", false,
        "GET http://reviews/ HTTP/1.1");
  }

  void requestDecision() {
    QFETCH(QByteArray, fields);
    QFETCH(QByteArray, start);
    QFETCH(BodyFraming, kind);
    QFETCH(qulonglong, length);
    QFETCH(int, status);
    QFETCH(QByteArray, reason);
    QFETCH(bool, rewrite);
    const std::string raw = start.toStdString() + "\r\n" + fields.toStdString() + "\r\n";
    RequestHeader head;
    Framing refusal;
    QCOMPARE(parseRequestHead(raw, head, refusal), raw.size());
    QVERIFY(!refusal.refused());
    const Framing f = decideRequestFraming(head);
    QCOMPARE(f.kind, kind);
    QCOMPARE(static_cast<int>(f.status), status);
    QCOMPARE(QByteArray(f.reason ? f.reason : ""), reason);
    if (f.refused()) return;
    QCOMPARE(f.declared, kind);
    QCOMPARE(qulonglong(f.length), length);
    QCOMPARE(f.rewrite, rewrite);

    // What the session relies on: Beast's parser, which reads the body, reads it as decided.
    // (Heads it refuses by itself are answered by the session with the decision's reason.)
    http::request_parser<http::empty_body> beast;
    beast.eager(false);
    boost::system::error_code ec;
    beast.put(boost::asio::buffer(raw), ec);
    if (!ec) {
      QVERIFY(beast.is_header_done());
      QCOMPARE(beast.chunked(), kind == kChunked);
      if (kind == kLength)
        QCOMPARE(qulonglong(beast.content_length().value_or(~0ull)), length);
      else
        QVERIFY(!beast.content_length());
    } else {
      QVERIFY2(rewrite, ec.message().c_str());  // only duplicates Beast refuses
    }

    // The normalised head states exactly the decided framing, once.
    Fields out = head;
    writeFramingHeaders(out, f.declared, f.length);
    QCOMPARE(out.count(http::field::transfer_encoding), size_t{kind == kChunked ? 1u : 0u});
    QCOMPARE(out.count(http::field::content_length), size_t{kind == kLength ? 1u : 0u});
    if (kind == kChunked)
      QCOMPARE(str(out[http::field::transfer_encoding]), std::string("chunked"));
    if (kind == kLength) QCOMPARE(str(out[http::field::content_length]), std::to_string(length));
  }

  void responseDecision_data() {
    QTest::addColumn<QByteArray>("raw");
    QTest::addColumn<bool>("head_request");
    QTest::addColumn<BodyFraming>("kind");
    QTest::addColumn<BodyFraming>("declared");
    QTest::addColumn<qulonglong>("length");
    QTest::addColumn<QByteArray>("reason");
    auto row = [](const char* name, const char* raw, bool head_request, BodyFraming kind,
                  BodyFraming declared, qulonglong length = 0, const char* reason = "") {
      QTest::newRow(name) << QByteArray(raw) << head_request << kind << declared << length
                          << QByteArray(reason);
    };
    row("200 cl", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, kLength, kLength, 5);
    row("200 chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, kChunked,
        kChunked);
    row("200 no framing: close-delimited", "HTTP/1.1 200 OK\r\n\r\n", false, kClose, kClose);
    row("200 smuggling te lines",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n",
        false, kRefuse, kNone, 0, "unsupported_transfer_encoding");
    row("200 te gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, kRefuse, kNone,
        0, "unsupported_transfer_encoding");
    row("200 te chunked, gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        false, kRefuse, kNone, 0, "chunked_not_last");
    row("200 te + cl", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        false, kRefuse, kNone, 0, "content_length_with_transfer_encoding");
    row("200 cl 5, 6", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", false, kRefuse, kNone, 0,
        "multiple_content_length");
    row("200 cl +5", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", false, kRefuse, kNone, 0,
        "bad_content_length");
    row("http/1.0 200 te", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, kRefuse,
        kNone, 0, "transfer_encoding_http10");
    row("204 declares nothing", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false,
        kNone, kNone);
    row("101 declares nothing", "HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n", false,
        kNone, kNone);
    row("304 keeps its length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false,
        kNone, kLength, 5);
    row("head response keeps its length", "HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n", true,
        kNone, kLength, 12345);
    row("head response keeps chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        true, kNone, kChunked);
  }

  void responseDecision() {
    QFETCH(QByteArray, raw);
    QFETCH(bool, head_request);
    QFETCH(BodyFraming, kind);
    QFETCH(BodyFraming, declared);
    QFETCH(qulonglong, length);
    QFETCH(QByteArray, reason);
    const Framing f = decideResponseFraming(responseHead(raw.toStdString()), head_request);
    QCOMPARE(f.kind, kind);
    QCOMPARE(QByteArray(f.reason ? f.reason : ""), reason);
    if (f.refused()) {
      QCOMPARE(f.status, 502u);
      return;
    }
    QCOMPARE(f.declared, declared);
    QCOMPARE(qulonglong(f.length), length);
  }

  void h2cUpgradeNeverReachesTheBackend() {
    RequestHeader head;
    Framing refusal;
    const std::string raw =
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    QCOMPARE(parseRequestHead(raw, head, refusal), raw.size());
    const Framing f = decideRequestFraming(head);
    QCOMPARE(f.kind, kNone);
    QVERIFY(f.h2c);
    QVERIFY(!removeH2c(head));  // nothing left to upgrade to
    QVERIFY(head.find(http::field::upgrade) == head.end());
    QVERIFY(head.find(http::field::http2_settings) == head.end());
    // Another protocol offered beside h2c stays.
    Fields both;
    both.insert(http::field::upgrade, "h2c, websocket");
    QVERIFY(removeH2c(both));
    QCOMPARE(str(both[http::field::upgrade]), std::string("websocket"));
    // Without h2c the decision says so and the head is left alone.
    RequestHeader ws;
    const std::string raw_ws =
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    QCOMPARE(parseRequestHead(raw_ws, ws, refusal), raw_ws.size());
    QVERIFY(!decideRequestFraming(ws).h2c);
  }

  void trailer_data() {
    QTest::addColumn<QByteArray>("trailer");
    QTest::addColumn<QByteArray>("reason");
    QTest::newRow("content-length")
        << QByteArray("Content-Length: 5\r\n") << QByteArray("bad_trailer");
    QTest::newRow("host") << QByteArray("Host: evil\r\n") << QByteArray("bad_trailer");
    QTest::newRow("transfer-encoding")
        << QByteArray("Transfer-Encoding: chunked\r\n") << QByteArray("bad_trailer");
    QTest::newRow("trailer") << QByteArray("Trailer: x\r\n") << QByteArray("bad_trailer");
    QTest::newRow("connection") << QByteArray("Connection: close\r\n") << QByteArray("bad_trailer");
    QTest::newRow("authorization")
        << QByteArray("Authorization: Basic eA==\r\n") << QByteArray("bad_trailer");
    QTest::newRow("checksum is fine") << QByteArray("X-Checksum: 5d41\r\n") << QByteArray();
    QTest::newRow("no trailer") << QByteArray() << QByteArray();
  }

  void trailer() {
    QFETCH(QByteArray, trailer);
    QFETCH(QByteArray, reason);
    const std::string stream =
        "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" +
        trailer.toStdString() + "\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    const auto r = splitRequests(stream);
    if (reason.isEmpty()) {
      QVERIFY(!r.refusal.refused());
      QCOMPARE(r.messages.size(), size_t{2});
      QCOMPARE(r.messages[0].body, std::string("hello"));
      QCOMPARE(str(r.messages[1].head.target()), std::string("/b"));
      QCOMPARE(r.consumed, stream.size());
    } else {
      QCOMPARE(r.refusal.status, 400u);
      QCOMPARE(QByteArray(r.refusal.reason), reason);
      QVERIFY(r.messages.empty());
    }
  }

  void splitsTheSmugglingStreamAsTheProxyDoes() {
    // The bug of issue 15: what the body hides must never become a request.
    const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    std::string chunk;
    appendChunkHeader(chunk, smuggled.size());
    const std::string stream =
        "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
        "Transfer-Encoding: chunked\r\n\r\n" +
        chunk + smuggled + "\r\n0\r\n\r\n";
    const auto r = splitRequests(stream);
    QVERIFY(r.messages.empty());
    QCOMPARE(r.refusal.status, 501u);
    QCOMPARE(QByteArray(r.refusal.reason), QByteArray("unsupported_transfer_encoding"));
  }

  void splitsPipelinedRequests() {
    const std::string stream =
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello"
        "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        "GET /after-close HTTP/1.1\r\nHost: a\r\n\r\n";
    const auto r = splitRequests(stream);
    QVERIFY(!r.refusal.refused());
    QVERIFY(!r.incomplete);
    QCOMPARE(r.messages.size(), size_t{3});  // nothing is read after Connection: close
    QCOMPARE(r.messages[0].body, std::string("hello"));
    QCOMPARE(r.messages[0].framing.kind, kLength);
    QCOMPARE(r.messages[1].body, std::string("abcde"));
    QCOMPARE(r.messages[1].framing.kind, kChunked);
    QCOMPARE(str(r.messages[2].head.target()), std::string("/c"));
    QCOMPARE(r.consumed, stream.find("GET /after-close"));
    // Incomplete and malformed streams.
    QVERIFY(splitRequests("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc").incomplete);
    QVERIFY(splitRequests("GET / HTTP/1.1\r\nHost: a\r\n").incomplete);
    const auto bad = splitRequests(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    QCOMPARE(QByteArray(bad.refusal.reason), QByteArray("bad_chunk"));
    const auto fold = splitRequests("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n");
    QCOMPARE(QByteArray(fold.refusal.reason), QByteArray("obs_fold"));
    const auto version = splitRequests("GET / HTTP/2.0\r\nHost: a\r\n\r\n");
    QCOMPARE(version.refusal.status, 505u);
  }

  void forwardedHeadIsFramedLikeWhatWasRead() {
    // Differential: the head the proxy forwards (normalised from the decision) and the body it
    // writes (re-chunked or as is) split back into the same message.
    const char* streams[] = {
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 05\r\nContent-Length: 5\r\n\r\nhello",
        "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET /c HTTP/1.1\r\nHost: a\r\n\r\n",
    };
    for (const char* s : streams) {
      const auto in = splitRequests(s);
      QCOMPARE(in.messages.size(), size_t{1});
      const auto& m = in.messages[0];
      RequestHeader out = m.head;
      writeFramingHeaders(out, m.framing.declared, m.framing.length);
      std::string wire;
      appendHead(wire, out);
      if (m.framing.kind == kChunked) {
        appendChunkHeader(wire, m.body.size());
        wire += m.body + "\r\n";
        wire += kLastChunk;
      } else {
        wire += m.body;
      }
      const auto again = splitRequests(wire);
      QCOMPARE(again.messages.size(), size_t{1});
      QCOMPARE(again.messages[0].body, m.body);
      QCOMPARE(again.messages[0].framing.kind, m.framing.kind);
      QVERIFY(!again.messages[0].framing.rewrite);  // already canonical
      QCOMPARE(again.consumed, wire.size());
    }
  }
};

QTEST_APPLESS_MAIN(FramingTest)
#include "framing_test.moc"
