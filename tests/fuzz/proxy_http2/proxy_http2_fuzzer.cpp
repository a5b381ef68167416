// proxy_http2: bytes from a client into the proxy's HTTP/2 codec (h2::ServerCodec on libnghttp2,
// proxy/http2/h2_codec.h), without sockets: the connection preface is put in front of inputs
// that lack it, the bytes go in as two reads (a frame split across reads is the usual case),
// every request head is answered at once with a response that has a body and trailers, every
// body byte is consumed, and the frames the codec writes are drained after each read.
//
// Oracle beyond "no crash, hang, leak, sanitizer report":
//  - a request head handed up has a method and a target (nghttp2 checks the pseudo-headers),
//    unless it was marked too large;
//  - a stream gets no event after it was closed, and none before its head;
//  - a refusal names one of the documented reasons;
//  - a closed codec (receive() false) is never fed again and stays closed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "proxy/http2/h2_codec.h"

namespace {

using meshdeck::proxy::RequestHeader;
namespace h2 = meshdeck::proxy::h2;

[[noreturn]] void fail(const char* what, int32_t stream) {
  std::fprintf(stderr, "proxy_http2 oracle: %s (stream %d)\n", what, stream);
  std::abort();
}

class Responder final : public h2::Events {
 public:
  h2::ServerCodec* codec = nullptr;
  std::set<int32_t> open, closed;

  void onRequestHead(int32_t id, RequestHeader& head, bool end_stream, bool too_large) override {
    if (closed.count(id) || open.count(id)) fail("head on a known stream", id);
    if (!too_large && (head.method_string().empty() || head.target().empty()))
      fail("head without method or target", id);
    open.insert(id);
    (void)end_stream;
    static constexpr std::string_view kBody = "hello from the fuzzer";
    codec->respond(id, too_large ? 431 : 200, {{"content-type", "text/plain"}}, false);
    codec->sendTrailers(id, {{"grpc-status", "0"}});
    // Both ways of queueing a body: copied, and borrowed (the relay's way; kBody outlives it).
    if (id % 4 == 1)
      codec->queueData(id, kBody.data(), kBody.size(), true);
    else
      codec->queueDataBorrowed(id, kBody.data(), kBody.size(), true);
  }
  void onRequestData(int32_t id, const char*, size_t size) override {
    if (!open.count(id)) fail("data on a stream without head", id);
    codec->consumed(id, size);
  }
  void onRequestEnd(int32_t id) override {
    if (!open.count(id)) fail("end on a stream without head", id);
  }
  void onStreamClosed(int32_t id, uint32_t) override {
    if (!open.erase(id)) fail("close of a stream without head", id);
    closed.insert(id);
  }
  void onDrained(int32_t id) override {
    if (!open.count(id)) fail("drained on a stream not open", id);
  }
  void onRefused(const char* reason) override {
    static const std::set<std::string_view> kReasons = {
        "rapid_reset",  "continuation_flood", "hpack_bomb",
        "empty_frames", "frame_flood",        "header_list_too_large",
        "stream_limit", "bad_preface",        "protocol_error"};
    if (!kReasons.count(reason)) fail("undocumented refusal reason", 0);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  // Mostly frames after a good preface; an input that starts like the preface keeps its own.
  if (input.rfind("PRI", 0) != 0) input.insert(0, h2::kClientPreface);
  Responder events;
  h2::Limits limits;
  limits.max_concurrent_streams = 16;
  limits.rapid_reset_limit = 8;
  h2::ServerCodec codec(events, limits);
  events.codec = &codec;
  std::string out;
  const size_t split = size ? data[0] % (input.size() + 1) : input.size();
  bool alive = codec.receive(input.data(), split);
  codec.pendingOutput(out);
  if (alive) alive = codec.receive(input.data() + split, input.size() - split);
  for (int i = 0; i < 64 && codec.pendingOutput(out); ++i) out.clear();
  if (!alive && codec.receive("", 0)) fail("a closed codec opened again", 0);
  return 0;
}
