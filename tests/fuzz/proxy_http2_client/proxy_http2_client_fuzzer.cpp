// proxy_http2_client: bytes from a server into the proxy's upstream HTTP/2 codec
// (h2::ClientCodec on libnghttp2, proxy/http2/h2_client_codec.h), without sockets. The codec has
// written its preface and SETTINGS and submitted requests first (a GET, a POST whose body is
// queued in pieces, a gRPC-shaped POST); an empty server SETTINGS frame is put in front of inputs
// that do not start with a SETTINGS frame of their own; the bytes go in as two reads split by the
// first byte, a fourth request is submitted between them, every response body byte is consumed,
// and the frames the codec writes are drained after each read.
//
// Oracle beyond "no crash, hang, leak, sanitizer report":
//  - events come only for streams the codec returned from submitRequest(), none after the
//    stream's close;
//  - one final response head per stream, with a status of 200..599 (interim 1xx heads are not
//    handed up), before any body byte or the end; one end at most, and no body byte after it;
//  - a malformed response names one of the documented reasons;
//  - the codec's open streams are the submitted ones not yet closed;
//  - no stream starts once the connection is going away, and a closed codec stays closed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "proxy/http2/h2_client_codec.h"

namespace {

namespace h2 = meshdeck::proxy::h2;

[[noreturn]] void fail(const char* what, int32_t stream) {
  std::fprintf(stderr, "proxy_http2_client oracle: %s (stream %d)\n", what, stream);
  std::abort();
}

struct Stream {
  bool head = false, ended = false;
};

class Recorder final : public h2::ClientEvents {
 public:
  h2::ClientCodec* codec = nullptr;
  std::map<int32_t, Stream> open;
  std::set<int32_t> closed;

  Stream& known(int32_t id, const char* what) {
    auto it = open.find(id);
    if (it == open.end()) fail(what, id);
    return it->second;
  }
  void onResponseHead(int32_t id, unsigned status, std::vector<Header>&, bool) override {
    Stream& s = known(id, "head on a stream not open");
    if (s.head) fail("a second final head", id);
    if (status < 200 || status > 599) fail("final head with a status outside 200..599", id);
    s.head = true;
  }
  void onResponseData(int32_t id, const char*, size_t size) override {
    Stream& s = known(id, "data on a stream not open");
    if (!s.head || s.ended) fail("data before the head or after the end", id);
    codec->consumed(id, size);
  }
  void onResponseEnd(int32_t id, std::vector<Header>&) override {
    Stream& s = known(id, "end on a stream not open");
    if (!s.head || s.ended) fail("end before the head or twice", id);
    s.ended = true;
  }
  void onStreamClosed(int32_t id, uint32_t) override {
    known(id, "close of a stream not open");
    open.erase(id);
    closed.insert(id);
  }
  void onDrained(int32_t id) override { known(id, "drained on a stream not open"); }
  void onMalformed(int32_t id, const char* reason) override {
    known(id, "malformed on a stream not open");
    static const std::set<std::string_view> kReasons = {"header_too_large", "bad_status"};
    if (!kReasons.count(reason)) fail("undocumented malformed reason", id);
  }
};

using Headers = std::vector<h2::ClientCodec::Header>;

int32_t submit(h2::ClientCodec& codec, Recorder& events, const Headers& headers, bool end) {
  const bool going_away = codec.goingAway();
  const int32_t id = codec.submitRequest(headers, end);
  if (going_away && id >= 0) fail("a stream started while going away", id);
  if (id >= 0) {
    if (events.open.count(id) || events.closed.count(id)) fail("a stream id used twice", id);
    events.open[id];
  }
  return id;
}

void drain(h2::ClientCodec& codec) {
  std::string out;
  for (int i = 0; i < 64 && codec.pendingOutput(out); ++i) out.clear();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  // A server's preface is a SETTINGS frame: an input that does not start with one gets an empty
  // one, so most inputs reach the frames after it.
  if (input.size() < 9 || input[3] != '\x04')
    input.insert(0, std::string("\0\0\0\x04\0\0\0\0\0", 9));
  Recorder events;
  h2::ClientLimits limits;
  limits.initial_window = 1024;
  limits.connection_window = 64 * 1024;
  limits.max_header_list = 2048;
  limits.max_concurrent_streams = 8;
  h2::ClientCodec codec(events, limits);
  events.codec = &codec;
  const Headers get{{":method", "GET"}, {":scheme", "http"}, {":authority", "svc"}, {":path", "/"}};
  Headers post = get;
  post[0].second = "POST";
  Headers grpc = post;
  grpc[3].second = "/meshdeck.demo.v1.Demo/Stream";
  grpc.emplace_back("content-type", "application/grpc");
  grpc.emplace_back("te", "trailers");
  submit(codec, events, get, true);
  const int32_t posted = submit(codec, events, post, false);
  if (posted >= 0) codec.queueData(posted, "first half ", 11, false);
  const int32_t called = submit(codec, events, grpc, false);
  static constexpr char kMessage[] = "\0\0\0\0\x02\x08\x03";  // a gRPC frame: StreamRequest{3}
  if (called >= 0) codec.queueData(called, kMessage, sizeof kMessage - 1, true);
  drain(codec);  // the preface, SETTINGS and the requests: what the server answers to

  const size_t split = size ? data[0] % (input.size() + 1) : input.size();
  bool alive = codec.receive(input.data(), split);
  drain(codec);
  if (alive) {
    if (posted >= 0) codec.queueData(posted, "second half", 11, true);
    submit(codec, events, get, true);
    drain(codec);
    alive = codec.receive(input.data() + split, input.size() - split);
  }
  drain(codec);
  if (codec.openStreams() != events.open.size()) fail("open streams differ from the codec's", 0);
  if (!alive) {
    if (codec.receive("", 0)) fail("a closed codec opened again", 0);
    if (!codec.goingAway()) fail("a closed codec not going away", 0);
    submit(codec, events, get, true);  // refused (the oracle in submit())
  }
  return 0;
}
