// proxy_h1_response: bytes an upstream writes into the proxy's own HTTP/1.1 response-head parser
// (proxy/http/h1_response.h) and into the path the upstream attempt reads response heads with
// today (Beast's response parser, its errors named bad_framing / bad_response,
// decideResponseFraming(), parserAgrees()), without sockets.
//
// Oracle (differential, docs/h1-codec.md "Response heads"): for the answer to a HEAD request
// (an odd input length) or to any other, both give the same verdict: need more, refused for the
// same reason, or accepted with the same version, status, reason phrase, fields, head size,
// framing, declared framing, rewrite and keep-alive; the one allowed difference is an obs-fold,
// which the codec refuses. And the codec given the input in two reads (cut where the second byte
// says) gives its one-shot verdict, except that an incomplete head may be refused a read later.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "unit/proxy/differential_support.h"
#include "unit/proxy/h1_response_reference.h"

namespace {

namespace t = meshdeck::proxy::h1test;

[[noreturn]] void fail(const char* what, std::string_view input, const t::ResponseOutcome& a,
                       const t::ResponseOutcome& b) {
  std::fprintf(stderr, "proxy_h1_response oracle: %s\ninput: %s\n  %s\n  %s\n", what,
               t::printable(input).c_str(), a.describe().c_str(), b.describe().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool is_head = size % 2 == 1;
  const t::ResponseOutcome today = t::referenceResponseVerdict(input, is_head);
  const t::ResponseOutcome codec = t::codecResponseVerdict(input, is_head);
  if (!t::responseVerdictsAgree(input, today, codec))
    fail("the codec and the attempt's Beast path differ", input, today, codec);
  if (size > 2) {
    const size_t cut = 1 + data[1] % (size - 1);
    const t::ResponseOutcome two = t::codecResponseVerdictInPieces(input, is_head, {cut});
    const bool later = two.kind == t::ResponseOutcome::kNeedMore &&
                       codec.kind == t::ResponseOutcome::kRefuse &&
                       input.find("\r\n\r\n") == std::string_view::npos;
    if (!(two == codec) && !later) fail("two reads differ from one", input, codec, two);
  }
  return 0;
}
