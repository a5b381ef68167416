#include "proxy/http/headers.h"

#include <QtTest>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstring>
#include <sstream>
#include <vector>

#include "proxy/http/response_head.h"

using namespace meshdeck::proxy;
namespace http = boost::beast::http;

class HeadersTest : public QObject {
  Q_OBJECT

 private slots:
  void removesHopByHopAndConnectionNamedHeaders() {
    Fields f;
    f.set(http::field::connection, "keep-alive, X-Secret, upgrade");
    f.set("x-secret", "1");
    f.set(http::field::keep_alive, "timeout=5");
    f.set("proxy-connection", "keep-alive");
    f.set(http::field::te, "trailers");
    f.set(http::field::upgrade, "websocket");
    f.set("x-keep", "yes");
    Fields g = f;
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
    for (const char* ok :
         {"", "G", "GET", "GET ", "GET /a", "GET /a ", "GET /a HT", "GET /a HTTP/1",
          "GET /a HTTP/1.1\r", "GET /a HTTP/1.1\r\nHost", "\r\n\r\nGET /", "\r"})
      QVERIFY2(isPlausibleRequestPrefix(ok), ok);
    for (const char* bad : {"\x16\x03\x01", " GET", "GE\x01", "GET  /", "GET /a\x7f", "GET /\t",
                            "GET / SPDY", "GET / HTTP/x", "GET / HTTP/1.1\n", "\r\nG\x01"})
      QVERIFY2(!isPlausibleRequestPrefix(bad), bad);
    QCOMPARE(findHeaderEnd("GET / HTTP/1.1\r\n\r\nbody"), size_t{18});
    QCOMPARE(findHeaderEnd("GET / HTTP/1.1\r\n"), std::string_view::npos);
  }

  void traceparentKeepsTraceAndMintsSpan() {
    IdGenerator rng(1);
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
    IdGenerator rng(2);
    const std::string a = newRequestId(rng);
    const std::string b = newRequestId(rng);
    QCOMPARE(a.size(), size_t{36});
    QCOMPARE(a[14], '4');
    QVERIFY(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
    QVERIFY(a != b);
  }

  // appendHead() must write exactly the bytes Beast's serializer writes for the same head
  // (the proxy used the serializer before and peers must see no difference).
  void headsAreSerializedAsBeastDoes() {
    http::request<http::empty_body, Fields> req{http::verb::post, "/api/items?x=1", 11};
    req.set(http::field::host, "catalog:8080");
    req.set("x-request-id", "abc");
    req.insert("x-dup", "1");
    req.insert("x-dup", "2");
    QCOMPARE(serialized(req), headOf(req.base()));
    http::request<http::empty_body, Fields> custom{http::verb::unknown, "*", 10};
    custom.method_string("PURGE");
    QCOMPARE(serialized(custom), headOf(custom.base()));
    QVERIFY(headOf(custom.base()).starts_with("PURGE * HTTP/1.0\r\n"));

    http::response<http::empty_body, Fields> res{http::status::not_found, 11};
    res.set(http::field::server, "backend");
    res.set(http::field::content_length, "0");
    QCOMPARE(serialized(res), headOf(res.base()));
    res.reason("Gone Fishing");
    QCOMPARE(serialized(res), headOf(res.base()));
    http::response<http::empty_body, Fields> odd;
    odd.version(10);
    odd.result(599);  // no standard reason phrase
    QCOMPARE(serialized(odd), headOf(odd.base()));
    QVERIFY(headOf(odd.base()).starts_with("HTTP/1.0 599 "));
  }

  // headFields() reads back the fields of a written head (what a tap records of the head the
  // client got): the same names, values and order as the Beast fields it was written from.
  void headFieldsReadsTheWrittenHead() {
    http::response<http::empty_body, Fields> res{http::status::ok, 11};
    res.set(http::field::server, "backend");
    res.insert("x-dup", "1");
    res.insert("x-empty", "");
    res.insert("x-dup", "two words: with colon");
    res.set(http::field::content_length, "12");
    const std::string head = headOf(res.base());
    const auto fields = headFields(head);
    std::vector<std::pair<std::string, std::string>> want;
    for (const auto& f : res.base())
      want.emplace_back(std::string(f.name_string()), std::string(f.value()));
    QCOMPARE(fields.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      QCOMPARE(std::string(fields[i].first), want[i].first);
      QCOMPARE(std::string(fields[i].second), want[i].second);
    }
    QVERIFY(headFields("HTTP/1.1 204 No Content\r\n\r\n").empty());
  }

  // Field memory is recycled per thread: a freed block is handed out again for any size of its
  // class, oversized blocks are not kept, and a class keeps at most kMaxFreeBytesPerClass.
  void fieldMemoryIsRecycled() {
    namespace fm = field_memory;
    const size_t before = fm::cachedBlocks();
    void* a = fm::allocate(40);
    fm::deallocate(a, 40);
    QCOMPARE(fm::cachedBlocks(), before + 1);
    void* b = fm::allocate(60);  // the same class (33..64 bytes)
    QCOMPARE(b, a);
    QCOMPARE(fm::cachedBlocks(), before);
    std::memset(b, 0xab, 64);  // the class's whole size is usable
    fm::deallocate(b, 60);
    void* big = fm::allocate(fm::kMaxPooledBytes + 1);
    fm::deallocate(big, fm::kMaxPooledBytes + 1);
    QCOMPARE(fm::cachedBlocks(), before + 1);

    std::vector<void*> blocks;
    for (size_t i = 0; i < fm::maxFreeBlocks(500) + 10; ++i) blocks.push_back(fm::allocate(500));
    const size_t drained = fm::cachedBlocks();  // none of 500 bytes' class left
    for (void* p : blocks) fm::deallocate(p, 500);
    QCOMPARE(fm::cachedBlocks(), drained + fm::maxFreeBlocks(500));
    // The class of the common field (name, value and node: ~96 bytes) keeps enough blocks for
    // the heads of 64 exchanges in flight at once (~10 fields each).
    QVERIFY(fm::maxFreeBlocks(96) >= 640);

    // Fields on this allocator behave like Beast's own, long values included.
    Fields f;
    f.set("x-long", std::string(2 * fm::kMaxPooledBytes, 'v'));
    f.insert("x-dup", "1");
    f.insert("x-dup", "2");
    Fields g = f;
    f.erase("x-long");
    QCOMPARE(g["x-long"].size(), 2 * fm::kMaxPooledBytes);
    QCOMPARE(g.count("x-dup"), size_t{2});
    QVERIFY(f.find("x-long") == f.end());
  }

  void chunkFraming() {
    std::string out;
    appendChunkHeader(out, 0x1a2b);
    QCOMPARE(out, std::string("1a2b\r\n"));
    out.clear();
    appendChunkHeader(out, 1);
    QCOMPARE(out, std::string("1\r\n"));
    // The same framing as Beast's serializer for a body sent in two pieces.
    http::request<http::string_body, Fields> whole{http::verb::put, "/", 11};
    whole.chunked(true);
    whole.body() = "hello";
    std::string expected = serialized(whole);
    std::string mine = headOf(whole.base());
    appendChunkHeader(mine, 5);
    mine += "hello\r\n";
    mine += kLastChunk;
    QCOMPARE(mine, expected);
  }

 private:
  template <bool isRequest, class Body>
  static std::string serialized(const http::message<isRequest, Body, Fields>& m) {
    std::ostringstream os;
    os << m;
    return os.str();
  }
  template <bool isRequest>
  static std::string headOf(const http::header<isRequest, Fields>& h) {
    std::string out = "garbage";  // appended to, not replaced
    appendHead(out, h);
    return out.substr(7);
  }
};

QTEST_APPLESS_MAIN(HeadersTest)
#include "headers_test.moc"
