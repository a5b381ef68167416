// proxy_h1_parser: bytes from a client into the proxy's own HTTP/1.1 request-head parser
// (proxy/http/h1_parser.h) and into the path the proxy reads heads with today (the session's
// scanRequestHead(), Beast's parser through parseRequestHeadWithBeast(), admission's
// checkRequestHead()), without sockets.
//
// Oracle (differential, docs/h1-codec.md): both give the same verdict: need more, refused with
// the same status and reason, or accepted with the same method, target, version, fields, head
// size and body framing. And the codec given the input in two reads (cut where the first byte
// says) gives its one-shot verdict, except that an incomplete head may be refused earlier by the
// read loop's checks (bad_request_line, header_too_large), as the session does.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "unit/proxy/differential_support.h"
#include "unit/proxy/h1_reference.h"

namespace {

namespace t = meshdeck::proxy::h1test;

[[noreturn]] void fail(const char* what, std::string_view input, const t::Outcome& a,
                       const t::Outcome& b) {
  std::fprintf(stderr, "proxy_h1_parser oracle: %s\ninput: %s\n  %s\n  %s\n", what,
               t::printable(input).c_str(), a.describe().c_str(), b.describe().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const t::Outcome today = t::referenceVerdict(input);
  const t::Outcome codec = t::codecVerdict(input);
  if (!(today == codec)) fail("the codec and the proxy's Beast path differ", input, today, codec);
  if (size > 1) {
    const size_t cut = 1 + data[0] % (size - 1);
    const t::Outcome two = t::codecVerdictInPieces(input, {cut});
    const bool early = two.kind == t::Outcome::kRefuse && codec.kind == t::Outcome::kRefuse &&
                       (two.reason == "bad_request_line" || two.reason == "header_too_large");
    if (!(two == codec) && !early) fail("two reads differ from one", input, codec, two);
  }
  return 0;
}
