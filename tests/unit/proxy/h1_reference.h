#pragma once

// The two verdicts the HTTP/1.1 codec's differential test and the proxy_h1_parser fuzz target
// compare on the same bytes: the proxy's path of today (the read loop's scanRequestHead(),
// Beast's parser through parseRequestHeadWithBeast(), admission's checkRequestHead(): the
// session's own functions) and the new codec (proxy/http/h1_parser.h).

#include <boost/beast/http/field.hpp>
#include <cctype>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/admission.h"
#include "proxy/http/beast_head.h"
#include "proxy/http/h1_parser.h"
#include "proxy/http/headers.h"
#include "proxy/upstream_attempt.h"

namespace meshdeck::proxy::h1test {

struct Outcome {
  enum Kind { kNeedMore, kAccept, kRefuse } kind = kNeedMore;
  unsigned status = 0;  // kRefuse
  std::string reason;   // kRefuse
  // kRefuse: refused by admission's head checks (checkRequestHead()), which the session answers
  // within an exchange, rather than by the read loop or the parser.
  bool head_checks = false;
  // kAccept: what the head is.
  std::string method, target;
  unsigned version = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  int body = 0;  // 0 none, 1 content-length, 2 chunked
  uint64_t length = 0;
  bool rewrite = false, h2c = false;
  bool keep_alive = false, upgrade = false;  // the parser's keep_alive() and upgrade()
  size_t size = 0;

  std::string describe() const {
    if (kind == kNeedMore) return "need-more";
    if (kind == kRefuse)
      return "refuse " + std::to_string(status) + " " + reason +
             (head_checks ? " (head checks)" : "");
    std::string s = "accept " + method + " " + target + " v" + std::to_string(version) + " size " +
                    std::to_string(size) + " body " + std::to_string(body) + "/" +
                    std::to_string(length) + (rewrite ? " rewrite" : "") + (h2c ? " h2c" : "") +
                    (keep_alive ? " keep-alive" : " close") + (upgrade ? " upgrade" : "");
    for (const auto& [n, v] : fields) s += " [" + n + ": " + v + "]";
    return s;
  }
  bool operator==(const Outcome&) const = default;
};

inline Outcome refusal(unsigned status, std::string reason) {
  Outcome o;
  o.kind = Outcome::kRefuse;
  o.status = status;
  o.reason = std::move(reason);
  return o;
}

// The session's limit on the request line (session.cpp's kMaxRequestLine).
inline constexpr size_t kSessionMaxRequestLine = 16 * 1024;
static_assert(h1::kMaxHeadBytes == kMaxHeaderBytes,
              "the codec and the session read the same heads");
static_assert(h1::kMaxFieldCount == kMaxHeaderCount,
              "the codec and admission count the same fields");
static_assert(h1::kMaxRequestLineBytes == kSessionMaxRequestLine);

// The proxy today, on `input` received at once (the session's functions, in its order).
inline Outcome referenceVerdict(std::string_view input) {
  size_t head_size = 0;
  switch (scanRequestHead(input, 0, kSessionMaxRequestLine, kMaxHeaderBytes, &head_size)) {
    case RequestHeadScan::kIncomplete:
      return {};
    case RequestHeadScan::kTooLarge:
      return refusal(431, "header_too_large");
    case RequestHeadScan::kObsFold:
      return refusal(400, "obs_fold");
    case RequestHeadScan::kBadRequestLine:
      return refusal(400, "bad_request_line");
    case RequestHeadScan::kComplete:
      break;
  }
  BeastRequestParser parser;
  unsigned status = 0;
  size_t used = 0;
  const char* reason = nullptr;
  try {
    reason = parseRequestHeadWithBeast(parser, input.substr(0, head_size), kMaxHeaderBytes, &status,
                                       &used);
  } catch (const std::exception& e) {
    // Beast's fields throw on a name or value over 64 KiB; the session's coroutine ends.
    return refusal(0, std::string("exception: ") + e.what());
  }
  if (reason) return refusal(status, reason);
  // Session::handleRequest's codecFraming().
  CodecFraming codec;
  codec.body_done = parser.is_done();
  codec.chunked = parser.chunked();
  if (parser.content_length()) codec.content_length = *parser.content_length();
  codec.upgrade = parser.upgrade();
  Exchange ex;
  const auto& req = parser.get().base();
  const Verdict v = checkRequestHead(req, codec, ex);
  if (v.kind == Verdict::kRefuse) {
    Outcome o = refusal(v.status, v.code);
    o.head_checks = true;
    return o;
  }
  Outcome o;
  o.kind = Outcome::kAccept;
  o.method = std::string(req.method_string());
  o.target = std::string(req.target());
  o.version = req.version();
  for (const auto& f : req) o.fields.emplace_back(f.name_string(), f.value());
  o.body = ex.framing.kind == BodyFraming::kContentLength ? 1
           : ex.framing.kind == BodyFraming::kChunked     ? 2
                                                          : 0;
  o.length = ex.framing.kind == BodyFraming::kContentLength ? ex.framing.length : 0;
  o.rewrite = ex.framing.rewrite;
  o.h2c = ex.framing.h2c;
  o.keep_alive = parser.keep_alive();
  o.upgrade = parser.upgrade();
  o.size = used;
  return o;
}

inline Outcome outcomeOf(const h1::Result& r, const h1::RequestHead& h) {
  if (r.status == h1::Status::kNeedMore) return {};
  if (r.status == h1::Status::kError) {
    Outcome o = refusal(r.http_status, r.reason);
    o.head_checks = r.head_checks;
    return o;
  }
  Outcome o;
  o.kind = Outcome::kAccept;
  o.method = std::string(h.method);
  o.target = std::string(h.target);
  o.version = h.version;
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
  o.body = h.body == h1::BodyFraming::kContentLength ? 1
           : h.body == h1::BodyFraming::kChunked     ? 2
                                                     : 0;
  o.length = h.content_length;
  o.rewrite = h.rewrite_framing;
  o.h2c = h.h2c;
  o.keep_alive = h.keepAlive();
  o.upgrade = h.connection_upgrade;
  o.size = r.consumed;
  return o;
}

// The new codec on `input` received at once.
inline Outcome codecVerdict(std::string_view input) {
  h1::RequestHead head;
  const h1::Result r = h1::parseRequestHead(input, head);
  return outcomeOf(r, head);
}

// The new codec on `input` received in pieces ending at each of `cuts` (increasing), then the
// rest: the verdict of the first call that does not need more.
inline Outcome codecVerdictInPieces(std::string_view input, const std::vector<size_t>& cuts) {
  h1::RequestParser parser;
  h1::RequestHead head;
  for (size_t cut : cuts) {
    const h1::Result r = parser.parse(input.substr(0, cut), head);
    if (r.status != h1::Status::kNeedMore) return outcomeOf(r, head);
  }
  return outcomeOf(parser.parse(input, head), head);
}

}  // namespace meshdeck::proxy::h1test
