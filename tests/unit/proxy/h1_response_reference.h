#pragma once

// The two verdicts on an upstream response head that the response codec's differential test
// and the proxy_h1_response fuzz target compare on the same bytes: the path of
// upstream_attempt.cpp today (Beast's response parser with a 64 KiB header limit and skip() for
// a HEAD request, its errors counted as bad_framing / bad_response, then
// decideResponseFraming() and parserAgrees()) and the codec (proxy/http/h1_response.h).

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <cctype>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http/framing.h"
#include "proxy/http/h1_response.h"
#include "proxy/upstream_attempt.h"

namespace meshdeck::proxy::h1test {

struct ResponseOutcome {
  enum Kind { kNeedMore, kAccept, kRefuse } kind = kNeedMore;
  std::string reason;  // kRefuse: the malformed_responses reason
  // kAccept: what the head is.
  unsigned version = 0, status = 0;
  std::string phrase;
  std::vector<std::pair<std::string, std::string>> fields;
  int body = 0, declared = 0;  // 0 none, 1 content-length, 2 chunked, 3 close-delimited
  uint64_t length = 0;
  bool rewrite = false, keep_alive = false;
  size_t size = 0;

  std::string describe() const {
    if (kind == kNeedMore) return "need-more";
    if (kind == kRefuse) return "refuse " + reason;
    std::string s = "accept v" + std::to_string(version) + " " + std::to_string(status) + " [" +
                    phrase + "] size " + std::to_string(size) + " body " + std::to_string(body) +
                    " declared " + std::to_string(declared) + "/" + std::to_string(length) +
                    (rewrite ? " rewrite" : "") + (keep_alive ? " keep-alive" : "");
    for (const auto& [n, v] : fields) s += " [" + n + ": " + v + "]";
    return s;
  }
  bool operator==(const ResponseOutcome&) const = default;
};

inline ResponseOutcome responseRefusal(std::string reason) {
  ResponseOutcome o;
  o.kind = ResponseOutcome::kRefuse;
  o.reason = std::move(reason);
  return o;
}

static_assert(h1::kMaxHeadBytes == kMaxHeaderBytes,
              "the codec and the attempt read the same heads");

inline int bodyCode(BodyFraming k) {
  switch (k) {
    case BodyFraming::kContentLength:
      return 1;
    case BodyFraming::kChunked:
      return 2;
    case BodyFraming::kCloseDelimited:
      return 3;
    default:
      return 0;
  }
}

// upstream_attempt.cpp today, on `input` received at once.
inline ResponseOutcome referenceResponseVerdict(std::string_view input, bool request_was_head) {
  namespace http = boost::beast::http;
  ResponseParser rp;
  rp.body_limit(boost::none);
  rp.header_limit(kMaxHeaderBytes);
  if (request_was_head) rp.skip(true);
  boost::beast::error_code ec;
  size_t used = 0;
  try {
    if (!input.empty()) used = rp.put(boost::asio::buffer(input.data(), input.size()), ec);
  } catch (const std::exception& e) {
    return responseRefusal(std::string("exception: ") + e.what());
  }
  if (input.empty() || ec == http::error::need_more) return {};
  if (ec) {
    // runAttempt()'s mapping of a head Beast refused.
    return responseRefusal(ec == http::error::bad_content_length ||
                                   ec == http::error::multiple_content_length ||
                                   ec == http::error::bad_transfer_encoding
                               ? "bad_framing"
                               : "bad_response");
  }
  // acceptResponseHead().
  Framing f = decideResponseFraming(rp.get().base(), request_was_head);
  if (!f.refused() && !parserAgrees(rp, f)) return responseRefusal("framing_mismatch");
  if (f.refused()) return responseRefusal(f.reason);
  ResponseOutcome o;
  o.kind = ResponseOutcome::kAccept;
  const auto& head = rp.get().base();
  o.version = head.version();
  o.status = head.result_int();
  o.phrase = std::string(head.reason());
  for (const auto& field : head) o.fields.emplace_back(field.name_string(), field.value());
  o.body = bodyCode(f.kind);
  o.declared = bodyCode(f.declared);
  o.length = f.length;
  o.rewrite = f.rewrite;
  o.keep_alive = rp.keep_alive();
  o.size = used;
  return o;
}

inline int bodyCode(h1::ResponseBody k) { return static_cast<int>(k); }

inline ResponseOutcome responseOutcomeOf(const h1::Result& r, const h1::ResponseHead& h) {
  if (r.status == h1::Status::kNeedMore) return {};
  if (r.status == h1::Status::kError) return responseRefusal(r.reason);
  ResponseOutcome o;
  o.kind = ResponseOutcome::kAccept;
  o.version = h.version;
  o.status = h.status;
  // Beast keeps no empty reason phrase: its head then states the status's standard one
  // (obsolete_reason()), which is what the proxy forwards.
  o.phrase = h.reason.empty() ? std::string(boost::beast::http::obsolete_reason(
                                    static_cast<boost::beast::http::status>(h.status)))
                              : std::string(h.reason);
  // In Beast's order: its fields container inserts a field after the last one of the same name
  // (case-insensitive), where the codec keeps the order received (docs/h1-codec.md).
  const auto same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  };
  for (size_t i = 0; i < h.fieldCount(); ++i) {
    const auto& f = h.field(i);
    auto at = o.fields.end();
    for (auto it = o.fields.begin(); it != o.fields.end(); ++it)
      if (same(it->first, f.name)) at = it + 1;
    o.fields.emplace(at, std::string(f.name), std::string(f.value));
  }
  o.body = bodyCode(h.framing.body);
  o.declared = bodyCode(h.framing.declared);
  o.length = h.framing.length;
  o.rewrite = h.framing.rewrite;
  o.keep_alive = h.keepAlive();
  o.size = r.consumed;
  return o;
}

// The codec on `input` received at once.
inline ResponseOutcome codecResponseVerdict(std::string_view input, bool request_was_head) {
  h1::ResponseHead head;
  return responseOutcomeOf(h1::parseResponseHead(input, head, request_was_head), head);
}

// The codec on `input` received in pieces ending at each of `cuts` (increasing), then the rest:
// the verdict of the first call that does not need more.
inline ResponseOutcome codecResponseVerdictInPieces(std::string_view input, bool request_was_head,
                                                    const std::vector<size_t>& cuts) {
  h1::ResponseParser parser;
  h1::ResponseHead head;
  for (size_t cut : cuts) {
    const h1::Result r = parser.parse(input.substr(0, cut), head, request_was_head);
    if (r.status != h1::Status::kNeedMore) return responseOutcomeOf(r, head);
  }
  return responseOutcomeOf(parser.parse(input, head, request_was_head), head);
}

// Whether `input` holds an obs-fold after its first line (CRLF then SP or HTAB): the one input
// the codec refuses (`obs_fold`) where Beast joins the lines.
inline bool hasObsFold(std::string_view input) {
  const size_t first = input.find("\r\n");
  if (first == std::string_view::npos) return false;
  for (size_t at = input.find("\r\n", first + 2); at != std::string_view::npos;
       at = input.find("\r\n", at + 2))
    if (at + 2 < input.size() && (input[at + 2] == ' ' || input[at + 2] == '\t')) return true;
  return false;
}

// The two verdicts agree, or the codec refused an obs-fold (the one deliberate difference).
inline bool responseVerdictsAgree(std::string_view input, const ResponseOutcome& today,
                                  const ResponseOutcome& codec) {
  if (today == codec) return true;
  return codec.kind == ResponseOutcome::kRefuse && codec.reason == "obs_fold" && hasObsFold(input);
}

}  // namespace meshdeck::proxy::h1test
