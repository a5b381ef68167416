// Micro benchmark of the upstream response-head parse (docs/h1-codec.md, "Response heads"): ns
// and instructions per head for a representative 300-byte response with 9 fields, through
//   today   the upstream attempt's head path: Beast's response parser (a fresh one per head, as
//           runAttempt() emplaces it) + decideResponseFraming() + parserAgrees(),
//   relay   today, then what Session::relayResponse() does with the head before the body: the
//           fields moved into the response to the client, hop-by-hop fields removed, version and
//           keep-alive set, the head serialized (appendHead),
//   h1      the codec (proxy/http/h1_response.h), which does the first of these in one pass,
//   h1relay the codec, then the same relay head written from its views
//           (appendEditedResponseHead(): the same bytes, no Beast fields),
//   h1nginx the codec over the head of bench/proxy_callgrind.sh's backend (nginx's `return 200`:
//           status line and 5 fields, 148 bytes), the head the end-to-end figure parses.
// Usage: h1_response_bench [iterations] [today|relay|h1|h1relay|h1nginx]
//   (default 200000 iterations; 5 rounds, the best is reported; naming a variant runs only it).
// Instructions (no counter in a VM): valgrind --tool=callgrind h1_response_bench 2000 h1 minus
// the same with 0 iterations, divided by 5 × 2000 (bench/README.md).
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "proxy/http/framing.h"
#include "proxy/http/h1_response.h"
#include "proxy/http/headers.h"
#include "proxy/http/response_head.h"
#include "proxy/upstream_attempt.h"

using namespace meshdeck::proxy;
namespace http = boost::beast::http;

namespace {

const std::string kHead =
    "HTTP/1.1 200 OK\r\n"
    "Date: Sun, 06 Dec 2026 21:00:00 GMT\r\n"
    "Server: reviews/1.4\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 295\r\n"
    "Cache-Control: no-cache\r\n"
    "Vary: Accept-Encoding\r\n"
    "X-Request-Id: 3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b\r\n"
    "Set-Cookie: session=abc123def456; Path=/; HttpOnly\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

const std::string kNginxHead =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Date: Mon, 07 Dec 2026 13:40:00 GMT\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 23\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

volatile size_t g_sink;
const char* g_only = nullptr;

template <typename F>
void run(const char* name, long iterations, F&& f) {
  if (g_only && std::strcmp(g_only, name) != 0) return;
  if (iterations <= 0) return;
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < iterations; ++i) g_sink = g_sink + f();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / iterations);
  }
  std::printf("%-6s %8.1f ns/head\n", name, best);
}

size_t today(std::optional<ResponseParser>& rp) {
  rp.emplace();
  rp->body_limit(boost::none);
  rp->header_limit(kMaxHeaderBytes);
  boost::beast::error_code ec;
  const size_t used = rp->put(boost::asio::buffer(kHead.data(), kHead.size()), ec);
  const Framing f = decideResponseFraming(rp->get().base(), false);
  return used + (parserAgrees(*rp, f) ? 1 : 0) + f.length;
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  g_only = argc > 2 ? argv[2] : nullptr;
  std::printf("response head: %zu bytes, 9 fields; %ld iterations, best of 5 rounds\n",
              kHead.size(), iterations);
  std::optional<ResponseParser> rp;
  run("today", iterations, [&] { return today(rp); });
  std::string wire;
  RelayHeadEdits edits;  // an HTTP/1.1 client, keep-alive, no route edits, canonical framing
  edits.version = 11;
  edits.keep_alive = true;
  run("relay", iterations, [&] {
    size_t n = today(rp);
    RelayedResponse out{std::move(rp->get().base())};
    editResponseHead(out, edits);
    wire.clear();
    appendHead(wire, out.base());
    return n + wire.size();
  });
  h1::ResponseParser parser;
  h1::ResponseHead head;
  run("h1", iterations, [&] {
    parser.reset();
    const h1::Result r = parser.parse(kHead, head, false);
    return r.consumed + head.framing.length + head.fieldCount();
  });
  run("h1nginx", iterations, [&] {
    parser.reset();
    const h1::Result r = parser.parse(kNginxHead, head, false);
    return r.consumed + head.framing.length + head.fieldCount();
  });
  run("h1relay", iterations, [&] {
    parser.reset();
    const h1::Result r = parser.parse(kHead, head, false);
    wire.clear();
    appendEditedResponseHead(wire, head, edits);
    return r.consumed + wire.size();
  });
  return 0;
}
