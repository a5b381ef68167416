// The proxy's HTTP/2 codec (h2::ServerCodec) against a real nghttp2 client session, bytes
// pumped between the two in memory: request heads as admission sees them, responses with
// trailers, flow control that opens only as the proxy consumes, and the guards. No sockets.
#include "proxy/http2/h2_codec.h"

#include <nghttp2/nghttp2.h>

#include <QtTest>
#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "proxy/http2/nghttp2_mem_pool.h"

using namespace meshdeck::proxy;

namespace {

struct Recorded : h2::Events {
  h2::ServerCodec* codec = nullptr;
  struct Head {
    std::string method, target, host, cookie;
    bool end_stream = false, too_large = false;
  };
  std::map<int32_t, Head> heads;
  std::map<int32_t, std::string> bodies;
  std::vector<int32_t> ended, closed;
  std::vector<std::string> refused;

  void onRequestHead(int32_t id, RequestHeader& head, bool end_stream, bool too_large) override {
    heads[id] = {std::string(head.method_string()),
                 std::string(head.target()),
                 std::string(head[boost::beast::http::field::host]),
                 std::string(head[boost::beast::http::field::cookie]),
                 end_stream,
                 too_large};
  }
  void onRequestData(int32_t id, const char* data, size_t size) override {
    bodies[id].append(data, size);
  }
  void onRequestEnd(int32_t id) override { ended.push_back(id); }
  void onStreamClosed(int32_t id, uint32_t) override { closed.push_back(id); }
  void onDrained(int32_t) override {}
  void onRefused(const char* reason) override { refused.emplace_back(reason); }
};

// A client session (nghttp2) and what it received.
struct Client {
  nghttp2_session* session = nullptr;
  std::map<int32_t, int> status;
  std::map<int32_t, std::string> data;
  std::map<int32_t, std::map<std::string, std::string>> trailers;
  std::map<int32_t, int> stream_window_updates;  // by stream (0: the connection)
  int goaway = -1;
  std::string body_to_send;
  size_t body_sent = 0;
  bool body_open_ended = false;  // an empty body_to_send waits (deferred) instead of ending

  // `assume_peer_streams`: the server's stream limit the client assumes before its SETTINGS
  // arrive (0: nghttp2's default of 100, which well-behaved clients keep to).
  explicit Client(size_t max_header_block = 64 * 1024, uint32_t assume_peer_streams = 0) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs,
        [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl, const uint8_t* v,
           size_t vl, uint8_t, void* u) -> int {
          auto& c = *static_cast<Client*>(u);
          const std::string name(reinterpret_cast<const char*>(n), nl);
          const std::string value(reinterpret_cast<const char*>(v), vl);
          if (name == ":status")
            c.status[f->hd.stream_id] = std::stoi(value);
          else if (f->headers.cat == NGHTTP2_HCAT_HEADERS && c.status.count(f->hd.stream_id))
            c.trailers[f->hd.stream_id][name] = value;
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
          static_cast<Client*>(u)->data[id].append(reinterpret_cast<const char*>(d), n);
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
          auto& c = *static_cast<Client*>(u);
          if (f->hd.type == NGHTTP2_WINDOW_UPDATE) ++c.stream_window_updates[f->hd.stream_id];
          if (f->hd.type == NGHTTP2_GOAWAY) c.goaway = static_cast<int>(f->goaway.error_code);
          return 0;
        });
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_send_header_block_length(opt, max_header_block);
    if (assume_peer_streams != 0)
      nghttp2_option_set_peer_max_concurrent_streams(opt, assume_peer_streams);
    nghttp2_session_client_new2(&session, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Client() { nghttp2_session_del(session); }

  int32_t request(const char* method, const char* path,
                  std::vector<std::pair<std::string, std::string>> extra = {},
                  bool with_body = false) {
    std::vector<std::pair<std::string, std::string>> h = {
        {":method", method}, {":path", path}, {":scheme", "http"}, {":authority", "a.example"}};
    for (auto& e : extra) h.push_back(std::move(e));
    std::vector<nghttp2_nv> nva;
    for (auto& [k, v] : h)
      nva.push_back({reinterpret_cast<uint8_t*>(k.data()), reinterpret_cast<uint8_t*>(v.data()),
                     k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    nghttp2_data_provider provider{};
    provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t len,
                                uint32_t* flags, nghttp2_data_source*, void* u) -> ssize_t {
      auto& c = *static_cast<Client*>(u);
      if (c.body_open_ended && c.body_sent == c.body_to_send.size()) return NGHTTP2_ERR_DEFERRED;
      const size_t n = std::min(len, c.body_to_send.size() - c.body_sent);
      std::memcpy(buf, c.body_to_send.data() + c.body_sent, n);
      c.body_sent += n;
      if (c.body_sent == c.body_to_send.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    return nghttp2_submit_request(session, nullptr, nva.data(), nva.size(),
                                  with_body ? &provider : nullptr, nullptr);
  }
};

// Moves bytes both ways until neither side has anything to say (bounded).
void pump(Client& c, h2::ServerCodec& server, bool* server_alive = nullptr) {
  for (int i = 0; i < 200; ++i) {
    std::string up;
    for (;;) {
      const uint8_t* p = nullptr;
      const auto n = nghttp2_session_mem_send(c.session, &p);
      if (n <= 0) break;
      up.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }
    if (!up.empty()) {
      const bool alive = server.receive(up.data(), up.size());
      if (server_alive) *server_alive = *server_alive && alive;
    }
    std::string down;
    server.pendingOutput(down, 1 << 20);
    if (!down.empty())
      nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(down.data()),
                               down.size());
    if (up.empty() && down.empty()) return;
  }
}

}  // namespace

class H2CodecTest : public QObject {
  Q_OBJECT

 private slots:
  void requestHeadAndResponseWithTrailers() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    Client c;
    const int32_t id = c.request("GET", "/x?y=1", {{"cookie", "a=1"}, {"cookie", "b=2"}});
    pump(c, server);
    QCOMPARE(ev.heads.size(), size_t{1});
    const auto& h = ev.heads[id];
    QCOMPARE(h.method, std::string("GET"));
    QCOMPARE(h.target, std::string("/x?y=1"));
    QCOMPARE(h.host, std::string("a.example"));   // from :authority
    QCOMPARE(h.cookie, std::string("a=1; b=2"));  // joined (RFC 9113 §8.2.3)
    QVERIFY(h.end_stream);
    QVERIFY(!h.too_large);
    QVERIFY(server.respond(id, 200, {{"content-type", "text/plain"}}, false));
    server.sendTrailers(id, {{"grpc-status", "0"}});
    server.queueData(id, "hello", 5, true);
    pump(c, server);
    QCOMPARE(c.status[id], 200);
    QCOMPARE(c.data[id], std::string("hello"));
    QCOMPARE(c.trailers[id]["grpc-status"], std::string("0"));
    QCOMPARE(ev.closed, std::vector<int32_t>{id});
    QVERIFY(ev.refused.empty());
  }

  void borrowedBodyIsFramedFromTheCallersBuffer() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    Client c;
    const int32_t id = c.request("GET", "/big");
    pump(c, server);
    QVERIFY(server.respond(id, 200, {{"content-type", "text/plain"}}, false));
    // Not copied: what the buffer holds when the frames are made is what goes out.
    std::string buf = "first piece;";
    server.queueDataBorrowed(id, buf.data(), buf.size(), false);
    QCOMPARE(server.queued(id), buf.size());
    pump(c, server);
    QCOMPARE(server.queued(id), size_t{0});
    QCOMPARE(c.data[id], std::string("first piece;"));
    // Queued behind bytes still waiting, a piece is copied after them, in order.
    std::string second = "second;";
    server.queueDataBorrowed(id, second.data(), second.size(), false);
    server.queueDataBorrowed(id, "third;", 6, false);
    QCOMPARE(server.queued(id), size_t{13});
    // keepQueued(): the buffer may go now, the bytes stay queued.
    server.keepQueued(id);
    std::fill(second.begin(), second.end(), 'x');
    QCOMPARE(server.queued(id), size_t{13});
    server.queueData(id, "end", 3, true);
    pump(c, server);
    QCOMPARE(c.data[id], std::string("first piece;second;third;end"));
    QCOMPARE(ev.closed, std::vector<int32_t>{id});
  }

  void idleFrameBufferIsGivenBack() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    Client c;
    const int32_t first = c.request("GET", "/one");
    pump(c, server);
    // A 64 KiB body goes out in 16 KiB DATA frames, through every page of the frame buffer.
    const std::string body(64 * 1024, 'a');
    QVERIFY(server.respond(first, 200, {{"content-type", "text/plain"}}, false));
    server.queueData(first, body.data(), body.size(), true);
    pump(c, server);
    QCOMPARE(c.data[first], body);
    // Nothing waits to go out: the frame buffer's whole pages go back (with nghttp2's own
    // allocator, under AddressSanitizer, the codec does not know the buffer).
    const size_t released = server.releaseIdleMemory();
    if (h2::detail::MemPool::mem())
      QVERIFY(released >= 12 * 1024);
    else
      QCOMPARE(released, size_t{0});
    // With frames queued it gives nothing back.
    const int32_t second = c.request("GET", "/two");
    pump(c, server);
    QVERIFY(server.respond(second, 200, {{"content-type", "text/plain"}}, false));
    server.queueData(second, body.data(), body.size(), true);
    QCOMPARE(server.releaseIdleMemory(), size_t{0});
    // The next frames are written into the zero-filled pages as before.
    pump(c, server);
    QCOMPARE(c.data[second], body);
    QCOMPARE(c.status[second], 200);
    QVERIFY(ev.refused.empty());
  }

  void memPoolReusesBlocks() {
    auto& pool = h2::detail::MemPool::local();
    // A freed small block comes back for the next allocation of its size class.
    void* a = pool.allocate(100);
    std::memset(a, 0xab, 100);
    pool.release(a);
    void* b = pool.allocate(97);
    QCOMPARE(b, a);
    // Growing within the class keeps the block; past it, the bytes move.
    QCOMPARE(pool.reallocate(b, 112), b);
    std::memset(b, 'q', 112);
    void* c2 = pool.reallocate(b, 4000);
    QVERIFY(c2 != nullptr);
    QCOMPARE(static_cast<const char*>(c2)[111], 'q');
    void* d = pool.reallocate(c2, 8000);  // large blocks are malloc's, resized by copying
    QCOMPARE(static_cast<const char*>(d)[0], 'q');
    pool.release(d);
    // calloc zeroes (a reused block held 0xab above), and refuses an overflowing product.
    void* r = pool.allocate(100);
    pool.release(r);
    auto* z = static_cast<unsigned char*>(pool.allocateZeroed(10, 10));
    QCOMPARE(static_cast<void*>(z), r);
    QVERIFY(std::all_of(z, z + 100, [](unsigned char ch) { return ch == 0; }));
    pool.release(z);
    QCOMPARE(pool.allocateZeroed(SIZE_MAX / 2, 3), nullptr);
    // Many blocks of one class freed at once: the kMaxFree the list keeps come back.
    std::vector<void*> blocks;
    for (uint32_t i = 0; i < 2 * h2::detail::MemPool::kMaxFree; ++i)
      blocks.push_back(pool.allocate(48));
    for (void* p : blocks) pool.release(p);
    std::vector<void*> again;
    for (uint32_t i = 0; i < 2 * h2::detail::MemPool::kMaxFree; ++i)
      again.push_back(pool.allocate(48));
    const auto reused = std::count_if(again.begin(), again.end(), [&](void* p) {
      return std::find(blocks.begin(), blocks.end(), p) != blocks.end();
    });
    QVERIFY2(reused >= static_cast<long>(h2::detail::MemPool::kMaxFree) - 1,
             qPrintable(QString::number(reused)));
    for (void* p : again) pool.release(p);
  }

  void requestWindowOpensOnlyAsConsumed() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    Client c;
    c.body_to_send.assign(200 * 1024, 'b');
    const int32_t id = c.request("POST", "/upload", {}, true);
    pump(c, server);
    // The client stops at the stream's window (64 KiB); the proxy has not opened it again.
    const size_t first = ev.bodies[id].size();
    QVERIFY2(first >= 60 * 1024 && first <= 64 * 1024, qPrintable(QString::number(first)));
    QCOMPARE(c.stream_window_updates[id], 0);
    QVERIFY(ev.ended.empty());
    // The upstream took it: the window opens, the rest follows as each piece is consumed.
    size_t consumed = 0;
    for (int i = 0; i < 20 && ev.ended.empty(); ++i) {
      const size_t have = ev.bodies[id].size();
      server.consumed(id, have - consumed);
      consumed = have;
      pump(c, server);
      QVERIFY(ev.bodies[id].size() > have || !ev.ended.empty());
    }
    QVERIFY(c.stream_window_updates[id] >= 1);
    QCOMPARE(ev.bodies[id].size(), size_t{200 * 1024});
    QCOMPARE(ev.ended, std::vector<int32_t>{id});
  }

  void rapidResetEndsTheConnection() {
    Recorded ev;
    h2::Limits limits;
    limits.rapid_reset_limit = 5;
    h2::ServerCodec server(ev, limits);
    Client c;
    bool alive = true;
    for (int i = 0; i < 10 && alive; ++i) {
      const int32_t id = c.request("GET", "/");
      pump(c, server, &alive);
      nghttp2_submit_rst_stream(c.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      pump(c, server, &alive);
    }
    QVERIFY(!alive);
    QCOMPARE(ev.refused, std::vector<std::string>{"rapid_reset"});
    QCOMPARE(c.goaway, static_cast<int>(NGHTTP2_ENHANCE_YOUR_CALM));
    QCOMPARE(ev.heads.size(), size_t{6});  // the sixth reset was one too many
  }

  void resetsAfterTheResponseAreNotCounted() {
    Recorded ev;
    h2::Limits limits;
    limits.rapid_reset_limit = 2;
    h2::ServerCodec server(ev, limits);
    Client c;
    c.body_open_ended = true;  // the request bodies never end: the streams stay open
    bool alive = true;
    for (int i = 0; i < 6; ++i) {
      const int32_t id = c.request("POST", "/", {}, true);
      pump(c, server, &alive);
      server.respond(id, 200, {}, true);
      pump(c, server, &alive);
      nghttp2_submit_rst_stream(c.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      pump(c, server, &alive);
    }
    QVERIFY(alive);
    QVERIFY(ev.refused.empty());
    QCOMPARE(ev.heads.size(), size_t{6});
  }

  void headerListTooLargeIsMarked() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    Client c(1 << 20);
    const int32_t id = c.request("GET", "/", {{"x-big", std::string(80 * 1024, 'a')}});
    bool alive = true;
    pump(c, server, &alive);
    QVERIFY(alive);
    QVERIFY(ev.heads[id].too_large);
    QVERIFY(ev.refused.empty());
  }

  void hpackBombIsRefused() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    Client c(1 << 22);
    // One 2 000-byte field (small enough for nghttp2's encoder to index it), then 600 one-byte
    // references to it in the dynamic table: a block of about 2.6 KiB that decodes to 1.2 MB.
    std::vector<std::pair<std::string, std::string>> fields(600,
                                                            {"x-bomb", std::string(2000, 'a')});
    c.request("GET", "/", fields);
    bool alive = true;
    pump(c, server, &alive);
    QVERIFY(!alive);
    QVERIFY2(ev.refused.size() == 1, "no single refusal");
    QVERIFY2(ev.refused.front() == "hpack_bomb", ev.refused.front().c_str());
    QCOMPARE(c.goaway, static_cast<int>(NGHTTP2_ENHANCE_YOUR_CALM));
    QVERIFY(ev.heads.empty());
  }

  void continuationFloodIsRefused() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    Client c(1 << 20);
    // 400 KiB of fields: one HEADERS and 24 CONTINUATION frames of 16 KiB.
    std::vector<std::pair<std::string, std::string>> fields;
    for (int i = 0; i < 100; ++i)
      fields.emplace_back("x-f" + std::to_string(i), std::string(4000, 'a' + i % 26));
    c.request("GET", "/", fields);
    bool alive = true;
    pump(c, server, &alive);
    QVERIFY(!alive);
    QCOMPARE(ev.refused, std::vector<std::string>{"continuation_flood"});
    QCOMPARE(c.goaway, static_cast<int>(NGHTTP2_ENHANCE_YOUR_CALM));
    QVERIFY(ev.heads.empty());
  }

  // SETTINGS flood: frames whose ACKs the client never reads pile up in the server's output
  // until nghttp2's outbound ACK limit (1000) says FLOODED.
  void settingsFloodIsRefused() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    std::string bytes = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const std::string empty_settings("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
    for (int i = 0; i < 1500; ++i) bytes += empty_settings;
    // Never drained (pendingOutput is not called): the client does not read.
    QVERIFY(!server.receive(bytes.data(), bytes.size()));
    QCOMPARE(ev.refused, std::vector<std::string>{"frame_flood"});
    QVERIFY(!server.receive(empty_settings.data(), empty_settings.size()));  // nothing more
    QVERIFY(ev.heads.empty());
  }

  // Stream limit: a client that opens more streams than SETTINGS_MAX_CONCURRENT_STREAMS (100)
  // before it saw our SETTINGS gets the extra ones refused (REFUSED_STREAM, retryable), and the
  // connection lives on.
  void streamsPastTheLimitAreRefused() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    Client c(64 * 1024, 1000);  // a client that does not wait for our SETTINGS
    c.body_open_ended = true;   // bodies never end: every stream stays open
    for (int i = 0; i < 130; ++i) c.request("POST", "/", {}, true);
    std::string up;
    for (;;) {
      const uint8_t* p = nullptr;
      const auto n = nghttp2_session_mem_send(c.session, &p);
      if (n <= 0) break;
      up.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }
    QVERIFY(server.receive(up.data(), up.size()));
    std::string down;
    server.pendingOutput(down, 1 << 20);  // the RST_STREAMs go out: counted on sending
    QCOMPARE(ev.heads.size(), size_t{100});
    QVERIFY(!ev.refused.empty());
    QVERIFY(std::all_of(ev.refused.begin(), ev.refused.end(),
                        [](const std::string& r) { return r == "stream_limit"; }));
    QCOMPARE(ev.refused.size(), size_t{30});
    // The client sees the refusals, and the connection still serves the admitted streams.
    nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(down.data()), down.size());
    QCOMPARE(c.goaway, -1);
    const int32_t first = ev.heads.begin()->first;
    server.respond(first, 200, {}, true);
    pump(c, server);
    QCOMPARE(c.status[first], 200);
  }

  void badPrefaceIsRefused() {
    Recorded ev;
    h2::ServerCodec server(ev, h2::Limits{});
    const std::string bytes = "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n";
    QVERIFY(!server.receive(bytes.data(), bytes.size()));
    QCOMPARE(ev.refused, std::vector<std::string>{"bad_preface"});
  }
};

QTEST_GUILESS_MAIN(H2CodecTest)
#include "h2_codec_test.moc"
