// Micro benchmark of the HTTP/1.1 request-head parse (docs/h1-codec.md): ns and instructions per
// head for a representative 400-byte request with 10 fields, through
//   beast   Beast's request parser into the proxy's fields (the session's RequestParser),
//   today   the proxy's whole head path: scanRequestHead() + parseRequestHeadWithBeast() +
//           checkRequestHead() (framing and Host decision),
//   h1      the codec (proxy/http/h1_parser.h), which does all of the above in one pass.
// Instructions are counted with perf_event_open (user space only) when the kernel allows it.
// Usage: h1_parser_bench [iterations] [beast|today|h1]
//   (default 200000 iterations; 5 rounds, the best is reported; naming a variant runs only it).
// Where the kernel gives no instruction counter (virtual machines), count with valgrind:
//   valgrind --tool=callgrind h1_parser_bench 2000 h1   minus the same with 0 iterations,
//   divided by 5 × 2000 (bench/README.md).
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "proxy/admission.h"
#include "proxy/http/beast_head.h"
#include "proxy/http/h1_parser.h"
#include "proxy/http/headers.h"
#include "proxy/upstream_attempt.h"

using namespace meshdeck::proxy;

namespace {

const std::string kHead =
    "GET /api/v1/reviews/1234?lang=en HTTP/1.1\r\n"
    "Host: reviews.default:9080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Connection: keep-alive\r\n"
    "X-Request-Id: 3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b\r\n"
    "Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
    "Cookie: session=abc123def456\r\n"
    "Cache-Control: no-cache\r\n"
    "\r\n";

class Counter {
 public:
  Counter() {
    perf_event_attr attr{};
    attr.type = PERF_TYPE_HARDWARE;
    attr.size = sizeof attr;
    attr.config = PERF_COUNT_HW_INSTRUCTIONS;
    attr.disabled = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    fd_ = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  }
  ~Counter() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  void start() {
    if (fd_ < 0) return;
    ioctl(fd_, PERF_EVENT_IOC_RESET, 0);
    ioctl(fd_, PERF_EVENT_IOC_ENABLE, 0);
  }
  uint64_t stop() {
    if (fd_ < 0) return 0;
    ioctl(fd_, PERF_EVENT_IOC_DISABLE, 0);
    uint64_t n = 0;
    if (read(fd_, &n, sizeof n) != sizeof n) return 0;
    return n;
  }

 private:
  int fd_ = -1;
};

volatile size_t g_sink;

const char* g_only = nullptr;

template <typename F>
void run(const char* name, long iterations, F&& f, Counter& counter, double* ns_out,
         double* ins_out) {
  *ns_out = 1;
  *ins_out = 0;
  if (g_only && std::strcmp(g_only, name) != 0) return;
  if (iterations <= 0) return;
  double best_ns = 1e30, best_ins = 1e30;
  for (int round = 0; round < 5; ++round) {
    counter.start();
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < iterations; ++i) g_sink = g_sink + f();
    const auto t1 = std::chrono::steady_clock::now();
    const uint64_t ins = counter.stop();
    const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / iterations;
    if (ns < best_ns) best_ns = ns;
    if (counter.ok() && static_cast<double>(ins) / iterations < best_ins)
      best_ins = static_cast<double>(ins) / iterations;
  }
  *ns_out = best_ns;
  *ins_out = counter.ok() ? best_ins : 0;
  if (counter.ok())
    std::printf("%-6s %8.1f ns/head %9.0f instructions/head\n", name, best_ns, best_ins);
  else
    std::printf("%-6s %8.1f ns/head (instructions: perf_event_open not allowed)\n", name, best_ns);
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  g_only = argc > 2 ? argv[2] : nullptr;
  std::printf("request head: %zu bytes, 10 fields; %ld iterations, best of 5 rounds\n",
              kHead.size(), iterations);
  Counter counter;
  double beast_ns, beast_ins, today_ns, today_ins, h1_ns, h1_ins;

  run(
      "beast", iterations,
      [] {
        BeastRequestParser parser;
        unsigned status = 0;
        size_t used = 0;
        const char* r = parseRequestHeadWithBeast(parser, kHead, kMaxHeaderBytes, &status, &used);
        return r ? 0 : used;
      },
      counter, &beast_ns, &beast_ins);

  run(
      "today", iterations,
      [] {
        size_t head_size = 0;
        if (scanRequestHead(kHead, 0, 16 * 1024, kMaxHeaderBytes, &head_size) !=
            RequestHeadScan::kComplete)
          return size_t{0};
        BeastRequestParser parser;
        unsigned status = 0;
        size_t used = 0;
        if (parseRequestHeadWithBeast(parser, std::string_view(kHead).substr(0, head_size),
                                      kMaxHeaderBytes, &status, &used))
          return size_t{0};
        CodecFraming codec;
        codec.body_done = parser.is_done();
        codec.chunked = parser.chunked();
        Exchange ex;
        const Verdict v = checkRequestHead(parser.get().base(), codec, ex);
        return v.kind == Verdict::kAdmit ? used : 0;
      },
      counter, &today_ns, &today_ins);

  h1::RequestHead head;  // reused across requests, as a session would
  run(
      "h1", iterations,
      [&head] {
        h1::RequestParser parser;
        const h1::Result r = parser.parse(kHead, head);
        return r.status == h1::Status::kDone ? r.consumed : 0;
      },
      counter, &h1_ns, &h1_ins);

  if (g_only || iterations <= 0) return 0;
  std::printf("ratio beast/h1: %.1fx time", beast_ns / h1_ns);
  if (h1_ins > 0) std::printf(", %.1fx instructions", beast_ins / h1_ins);
  std::printf("\nratio today/h1: %.1fx time", today_ns / h1_ns);
  if (h1_ins > 0) std::printf(", %.1fx instructions", today_ins / h1_ins);
  std::printf("\n");
  return g_sink == 0 ? 1 : 0;
}
