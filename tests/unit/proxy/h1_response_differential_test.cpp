#include <QtTest>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/http/headers.h"
#include "proxy/http/response_head.h"
#include "unit/proxy/differential_support.h"
#include "unit/proxy/h1_response_cases.h"
#include "unit/proxy/h1_response_reference.h"

using namespace meshdeck::proxy;
using namespace meshdeck::proxy::h1test;

namespace {

// The seeds: the codec's rows and every file of the proxy_h1_response fuzz corpus.
std::vector<std::string> seeds() {
  std::vector<std::string> out;
  for (const auto& c : responseCases()) out.push_back(c.raw);
  const char* root = std::getenv("MESHDECK_SOURCE_DIR");
  const std::filesystem::path dir =
      std::filesystem::path(root ? root : MESHDECK_SOURCE_DIR_FALLBACK) /
      "tests/fuzz/proxy_h1_response/corpus";
  appendFiles(dir, out);
  return out;
}

// Pieces the mutations insert: the bytes and words response framing turns on.
const std::vector<std::string>& dictionary() {
  static const std::vector<std::string> d = {"\r",
                                             "\n",
                                             "\r\n",
                                             "\r\n\r\n",
                                             " ",
                                             "\t",
                                             ":",
                                             ",",
                                             ";",
                                             "0",
                                             "1",
                                             "5",
                                             "\x7f",
                                             std::string(1, '\0'),
                                             "\x80",
                                             "\xff",
                                             "chunked",
                                             "gzip",
                                             "close",
                                             "keep-alive",
                                             "HTTP/1.0 ",
                                             "HTTP/1.1 ",
                                             "100 ",
                                             "101 ",
                                             "204 ",
                                             "304 ",
                                             "Transfer-Encoding: chunked\r\n",
                                             "Transfer-Encoding: gzip\r\n",
                                             "Transfer-Encoding: ,\r\n",
                                             "Content-Length: 5\r\n",
                                             "Content-Length: 0\r\n",
                                             "Content-Length: 5, 5\r\n",
                                             "Content-Length: +5\r\n",
                                             "Connection: close\r\n",
                                             "Connection: keep-alive\r\n",
                                             "Proxy-Connection: a b\r\n",
                                             "X: a\r\n "};
  return d;
}

std::string mutate(std::string s, std::mt19937& rng) {
  const auto& d = dictionary();
  const int steps = 1 + static_cast<int>(rng() % 3);
  for (int k = 0; k < steps; ++k) {
    const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 6) {
      case 0:
        s.insert(at, d[rng() % d.size()]);
        break;
      case 1:
        if (!s.empty()) s[at % s.size()] = static_cast<char>(rng() % 256);
        break;
      case 2:
        if (!s.empty()) s.erase(at % s.size(), 1 + rng() % 4);
        break;
      case 3:
        if (!s.empty()) s.replace(at % s.size(), 1, d[rng() % d.size()]);
        break;
      case 4: {  // duplicate a line
        const size_t start = s.rfind("\r\n", at);
        const size_t from = start == std::string::npos ? 0 : start + 2;
        const size_t end = s.find("\r\n", from);
        if (end != std::string::npos) s.insert(from, s.substr(from, end + 2 - from));
        break;
      }
      default:
        if (!s.empty()) s[at % s.size()] ^= 0x20;
        break;
    }
  }
  return s;
}

// The relay's head for `input` both ways: Beast's fields edited by editResponseHead() and
// serialized by appendHead() (Session::relayResponse today), and the codec's head written by
// appendEditedResponseHead(). Empty strings when Beast or the codec does not accept the head.
std::pair<std::string, std::string> relayHeads(const std::string& input, const RelayHeadEdits& e) {
  ResponseParser rp;
  rp.body_limit(boost::none);
  rp.header_limit(kMaxHeaderBytes);
  boost::beast::error_code ec;
  rp.put(boost::asio::buffer(input.data(), input.size()), ec);
  h1::ResponseHead head;
  const auto r = h1::parseResponseHead(input, head, false);
  if (ec || !rp.is_header_done() || r.status != h1::Status::kDone) return {};
  RelayedResponse out{std::move(rp.get().base())};
  editResponseHead(out, e);
  std::pair<std::string, std::string> both;
  appendHead(both.first, out.base());
  appendEditedResponseHead(both.second, head, e);
  return both;
}

}  // namespace

// The differential test of the HTTP/1.1 response codec (docs/h1-codec.md, "Response heads"):
// the same bytes through the upstream attempt's path of today (Beast's response parser, its
// errors named bad_framing / bad_response, decideResponseFraming(), parserAgrees()) and through
// proxy/http/h1_response.h, as the answer to a HEAD request and to any other: the same
// need-more, refusal reason, or accepted head (version, status, reason phrase, fields, size,
// framing, declared framing, rewrite, keep-alive). The one allowed difference: the codec
// refuses an obs-fold (`obs_fold`) that Beast joins.
class H1ResponseDifferentialTest : public QObject {
  Q_OBJECT

  int compared_ = 0, accepted_ = 0, refused_ = 0, folds_ = 0;
  std::vector<std::string> differences_;
  std::vector<std::string> reasons_;

  void compare(const std::string& input) {
    for (bool is_head : {false, true}) {
      ++compared_;
      const ResponseOutcome today = referenceResponseVerdict(input, is_head);
      accepted_ += today.kind == ResponseOutcome::kAccept;
      if (today.kind == ResponseOutcome::kRefuse) {
        ++refused_;
        if (std::find(reasons_.begin(), reasons_.end(), today.reason) == reasons_.end())
          reasons_.push_back(today.reason);
      }
      const ResponseOutcome codec = codecResponseVerdict(input, is_head);
      if (today == codec) continue;
      if (responseVerdictsAgree(input, today, codec)) {
        ++folds_;
        continue;
      }
      if (differences_.size() < 10)
        differences_.push_back("input \"" + printable(input.substr(0, 300)) + "\"" +
                               (is_head ? " (HEAD)" : "") + "\n  proxy today: " + today.describe() +
                               "\n  h1 codec:    " + codec.describe());
      else
        differences_.emplace_back();
    }
  }

  void check(const char* what) {
    std::string report;
    for (const auto& d : differences_)
      if (!d.empty()) report += d + "\n";
    const auto n = differences_.size();
    differences_.clear();
    QVERIFY2(n == 0, (std::string(what) + ": " + std::to_string(n) + " differences in " +
                      std::to_string(compared_) + " inputs\n" + report)
                         .c_str());
  }

 private slots:
  void seedsAgree() {
    const auto all = seeds();
    QVERIFY(all.size() > responseCases().size());  // the corpus was found
    for (const auto& s : all) compare(s);
    check("seeds");
  }

  // Every row: the verdict the row states is the proxy's verdict of today too (except obs-fold,
  // which Beast accepts).
  void rowsStateTheProxyOfToday() {
    for (const auto& c : responseCases()) {
      const ResponseOutcome today = referenceResponseVerdict(c.raw, c.head);
      if (c.reason == "obs_fold") {
        QVERIFY2(today.kind != ResponseOutcome::kNeedMore, c.name);
        continue;
      }
      if (c.reason == "need-more") {
        QVERIFY2(today.kind == ResponseOutcome::kNeedMore, c.name);
      } else if (c.reason.empty()) {
        QVERIFY2(today.kind == ResponseOutcome::kAccept,
                 (c.name + (": " + today.describe())).c_str());
        QCOMPARE(today.body, c.body);
        QCOMPARE(today.declared, c.declared);
      } else {
        QVERIFY2(today.kind == ResponseOutcome::kRefuse && today.reason == c.reason,
                 (c.name + (": " + today.describe())).c_str());
      }
    }
  }

  // Heads around the 64 KiB limit (Beast's window over the status line, then over the fields).
  void limitsAgree() {
    const int before = compared_;
    accepted_ = refused_ = 0;
    reasons_.clear();
    for (size_t fields = 65520; fields <= 65545; ++fields) {
      const std::string value(fields - 5 - 2, 'v');
      const std::string x = "X: " + value + "\r\n";
      compare("HTTP/1.1 200 OK\r\n" + x + "\r\n");
      compare("HTTP/1.1 200 OK\r\n" + x);
      compare("HTTP/1.1 200 OK\r\n" + x.substr(0, x.size() - 4) + "\x01\r\n\r\n");
      compare("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + x +
              "Transfer-Encoding: chunked\r\n\r\n");
      compare("HTTP/1.1 200 OK\r\n" + x + "\r\n" + std::string(100, 'b'));
    }
    for (size_t line = 65520; line <= 65545; ++line) {
      const std::string start = "HTTP/1.1 200 " + std::string(line - 13, 'r');
      compare(start + "\r\n\r\n");
      compare(start);
      compare(start + "\r\nContent-Length: 0\r\n\r\n");
    }
    QVERIFY(compared_ - before > 200);
    std::string seen;
    for (const auto& r : reasons_) seen += " " + r;
    qInfo("limits: %d accepted, %d refused by the proxy today:%s", accepted_, refused_,
          seen.c_str());
    QVERIFY(accepted_ > 20 && refused_ > 20);
    check("limits");
  }

  // The last bytes of the buffer (the parser's steps over the 16 bytes that end there): every
  // byte value at every position of a head's last lines, the head cut after that byte and one
  // or two more, and every prefix of heads whose lines end near a 16-byte step.
  void bufferEndsAgree() {
    const int before = compared_;
    const std::string head =
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nX-Name-Of-Twenty-B: value\r\nA: b\r\n\r\n";
    const size_t from = head.find("X-Name");
    for (int b = 0; b < 256; ++b)
      for (size_t at = from; at < head.size(); ++at) {
        std::string input = head;
        input[at] = static_cast<char>(b);
        for (size_t cut = at + 1; cut <= std::min(input.size(), at + 3); ++cut)
          compare(input.substr(0, cut));
      }
    for (size_t pad = 0; pad < 34; ++pad) {
      const std::string name(1 + pad, 'n');
      const std::string value(1 + (pad * 7) % 34, 'v');
      for (const std::string& input :
           {"HTTP/1.1 200 OK\r\n" + name + ": " + value + "\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 " + value + "\r\n" + name + ":" + value + "\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: close\r\n" + name + ":\t" + value + " \r\n\r\n"})
        for (size_t cut = 1; cut <= input.size(); ++cut) compare(input.substr(0, cut));
    }
    qInfo("buffer ends: %d compared", compared_ - before);
    check("buffer ends");
  }

  // Sequences of up to three framing lines (Content-Length and Transfer-Encoding, the values
  // the parser takes whole and the ones that take Beast's list rules, in every order) under the
  // statuses whose framing differs, for a HEAD request and another.
  void framingLineSequencesAgree() {
    const int before = compared_;
    const std::vector<std::string> lines = {
        "Content-Length: 5",          "Content-Length: 05",      "Content-Length: 0",
        "Content-Length: 6",          "content-length:5 ",       "Content-Length: 5, 5",
        "Content-Length: 5,6",        "Content-Length: ",        "Content-Length: +5",
        "Transfer-Encoding: chunked", "Transfer-Encoding: gzip", "X: 5"};
    const std::vector<std::string> statuses = {"200 OK", "204 No Content", "304 Not Modified",
                                               "101 Switching", "100 Continue"};
    for (const auto& status : statuses)
      for (size_t a = 0; a < lines.size(); ++a)
        for (size_t b = 0; b <= lines.size(); ++b)
          for (size_t c = 0; c <= lines.size(); ++c) {
            if ((b == lines.size()) && c != lines.size()) continue;
            std::string fields = lines[a] + "\r\n";
            if (b < lines.size()) fields += lines[b] + "\r\n";
            if (c < lines.size()) fields += lines[c] + "\r\n";
            compare("HTTP/1.1 " + status + "\r\n" + fields + "\r\n");
            if (c == lines.size()) compare("HTTP/1.0 " + status + "\r\n" + fields + "\r\n");
          }
    qInfo("framing line sequences: %d compared", compared_ - before);
    QVERIFY(compared_ - before > 10000);
    check("framing line sequences");
  }

  // Bounded, seeded mutations of every seed (reproducible: a difference names its input).
  void mutationsAgree() {
    std::mt19937 rng(19);
    const auto all = seeds();
    const int before = compared_;
    accepted_ = refused_ = folds_ = 0;
    for (int round = 0; round < 250; ++round)
      for (const auto& s : all) compare(mutate(s, rng));
    qInfo(
        "mutations: %d compared, %d accepted and %d refused by the proxy today, %d obs-folds "
        "refused by the codec only",
        compared_ - before, accepted_, refused_, folds_);
    QVERIFY(accepted_ > 100 && refused_ > 100);
    check("mutations");
  }

  // The head the client gets: the codec's relay head with edits is the bytes the relay writes
  // today from Beast's fields, for every accepted seed and mutation, under each kind of edit.
  void relayHeadsAgree() {
    const std::vector<std::string> remove = {"server", "x-1", "content-type"};
    const std::vector<std::pair<std::string, std::string>> set = {{"X-A", "1"},
                                                                  {"Cache-Control", "no-store"}};
    const std::vector<std::pair<std::string, std::string>> add = {
        {"Set-Cookie", "c=3"}, {"x-new", "v"}, {"Connection", "x-0, close"}};
    std::vector<RelayHeadEdits> variants;
    for (unsigned version : {10u, 11u})
      for (bool upgraded : {false, true})
        for (bool keep_alive : {false, true})
          for (int framing = 0; framing < 4; ++framing)
            for (int edits = 0; edits < 4; ++edits) {
              RelayHeadEdits e;
              e.version = version;
              e.upgraded = upgraded;
              e.keep_alive = keep_alive;
              e.rewrite_framing = framing > 0;
              e.wire = framing == 1   ? BodyFraming::kChunked
                       : framing == 2 ? BodyFraming::kContentLength
                                      : BodyFraming::kCloseDelimited;
              e.length = 1234;
              if (edits & 1) e.remove = &remove;
              if (edits & 2) e.set = &set;
              if (edits == 3) e.add = &add;
              variants.push_back(e);
            }
    std::vector<std::string> inputs = seeds();
    inputs.push_back(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, x-1\r\n"
        "X-1: gone\r\nKeep-Alive: 5\r\nTE: trailers\r\nTrailer: x\r\nProxy-Authenticate: "
        "y\r\n\r\n");
    inputs.push_back(
        "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nServer: s\r\nset-cookie: b=2\r\nX-A: 0\r\n"
        "Connection: keep-alive, Server\r\nContent-Length: 5\r\nSET-COOKIE: c\r\n\r\n");
    std::mt19937 rng(191);
    const auto all = seeds();
    for (int round = 0; round < 60; ++round)
      for (const auto& s : all) inputs.push_back(mutate(s, rng));
    int compared = 0, differ = 0;
    std::string first;
    for (const auto& input : inputs) {
      for (const auto& e : variants) {
        const auto [today, codec] = relayHeads(input, e);
        if (today.empty() && codec.empty()) continue;
        ++compared;
        if (today == codec) continue;
        if (++differ == 1)
          first = "input \"" + printable(input.substr(0, 300)) + "\" v" +
                  std::to_string(e.version) + (e.upgraded ? " upgraded" : "") +
                  (e.keep_alive ? " keep-alive" : "") + "\n  today: " + printable(today) +
                  "\n  codec: " + printable(codec);
      }
    }
    qInfo("relay heads: %d compared, %d differ", compared, differ);
    QVERIFY(compared > 10000);
    QVERIFY2(differ == 0, first.c_str());
  }

  // The codec's fast paths (docs/h1-codec.md, "Response heads: fewer instructions"): every byte
  // value at every position of a value, a reason phrase and a name (the 16- and 8-byte steps and
  // their tails), the special names and the Connection / Content-Length values around the ones
  // taken whole, with the relay head written without edits (appendEditedResponseHead()'s copy of
  // the received lines) for both client versions, kept alive or not.
  void fastPathsAgree() {
    const int before = compared_;
    std::vector<std::string> inputs;
    for (int b = 0; b < 256; ++b) {
      const char c = static_cast<char>(b);
      for (size_t at = 0; at < 40; ++at) {
        std::string value(40, 'a');
        value[at] = c;
        inputs.push_back("HTTP/1.1 200 OK\r\nX-V: " + value + "\r\nContent-Length: 0\r\n\r\n");
        inputs.push_back("HTTP/1.1 200 " + value + "\r\nContent-Length: 0\r\n\r\n");
        if (at < 36) {
          std::string name(36, 'n');
          name[at] = c;
          inputs.push_back("HTTP/1.1 200 OK\r\n" + name + ": v\r\nContent-Length: 0\r\n\r\n");
        }
      }
      // Around the line's framing: the byte before and after the value, after the colon.
      const std::string one(1, c);
      inputs.push_back("HTTP/1.1 200 OK\r\nA:" + one + "b\r\nContent-Length: 0\r\n\r\n");
      inputs.push_back("HTTP/1.1 200 OK\r\nA: b" + one + "\r\nContent-Length: 0\r\n\r\n");
      inputs.push_back("HTTP/1.1 200 OK\r\nA: " + one + "\r\nContent-Length: 0\r\n\r\n");
      inputs.push_back("HTTP/1.1 200 OK\r\nA:" + one + "\r\nContent-Length: 0\r\n\r\n");
    }
    const std::vector<std::string> names = {"Connection",
                                            "connection",
                                            "CONNECTION",
                                            "Connectiom",
                                            "Proxy-Connection",
                                            "proxy-connection",
                                            "Proxy_Connection",
                                            "Content-Length",
                                            "content-length",
                                            "CONTENT-LENGTH",
                                            "Content-Lengti",
                                            "Content_Length",
                                            "Transfer-Encoding",
                                            "transfer-encoding",
                                            "Transfer-Encodinf",
                                            "TE",
                                            "te",
                                            "Tf",
                                            "Trailer",
                                            "TRAILER",
                                            "Trailex",
                                            "Upgrade",
                                            "upgrade",
                                            "Upgradf",
                                            "Keep-Alive",
                                            "keep-alive",
                                            "Keep_Alive",
                                            "Proxy-Authenticate",
                                            "proxy-authenticate",
                                            "Proxy-Authenticatf",
                                            "Proxy-Authorization",
                                            "PROXY-AUTHORIZATION",
                                            "Proxy-Authorizatioo",
                                            "Host",
                                            "HTTP2-Settings",
                                            "X-Other"};
    const std::vector<std::string> values = {"close",
                                             "CLOSE",
                                             "Close",
                                             "clos",
                                             "closed",
                                             "keep-alive",
                                             "Keep-Alive",
                                             "keep_alive",
                                             "upgrade",
                                             "UPGRADE",
                                             "upgradf",
                                             "close, x",
                                             "x, close",
                                             "x",
                                             ",close",
                                             "close,",
                                             "keep-alive ,",
                                             "close\tx",
                                             "a b",
                                             "chunked",
                                             "CHUNKED",
                                             "gzip, chunked",
                                             "chunked, gzip",
                                             "0",
                                             "00",
                                             "023",
                                             "5",
                                             "5, 5",
                                             "5,6",
                                             "+5",
                                             "-1",
                                             "1a",
                                             "",
                                             "9999999999999999999",
                                             "99999999999999999999",
                                             "18446744073709551615",
                                             "18446744073709551616",
                                             "12345678901234567890123"};
    for (const auto& n : names)
      for (const auto& v : values) {
        inputs.push_back("HTTP/1.1 200 OK\r\n" + n + ": " + v + "\r\n\r\n");
        inputs.push_back("HTTP/1.1 200 OK\r\nDate: x\r\n" + n + ":" + v +
                         " \r\nContent-Length: 5\r\nServer: s\r\n\r\n");
        inputs.push_back("HTTP/1.0 304 Not Modified\r\n" + n + ":\t" + v + "\r\n" + n + ": " + v +
                         "\r\nX: y\r\n\r\n");
      }
    // Names on the same bit of the parser's same-name filter, and real duplicates.
    inputs.push_back("HTTP/1.1 200 OK\r\nAb: 1\r\nAc: 2\r\nab: 3\r\nContent-Length: 0\r\n\r\n");
    inputs.push_back("HTTP/1.1 200 OK\r\nAb: 1\r\nAc: 2\r\nAd: 3\r\nContent-Length: 0\r\n\r\n");
    for (const auto& input : inputs) compare(input);
    check("fast paths");
    int relayed = 0, differ = 0;
    std::string first;
    for (const auto& input : inputs)
      for (unsigned version : {10u, 11u})
        for (bool keep_alive : {false, true}) {
          RelayHeadEdits e;
          e.version = version;
          e.keep_alive = keep_alive;
          const auto [today, codec] = relayHeads(input, e);
          if (today.empty() && codec.empty()) continue;
          ++relayed;
          if (today != codec && ++differ == 1)
            first = "input \"" + printable(input) + "\" v" + std::to_string(version) +
                    "\n  today: " + printable(today) + "\n  codec: " + printable(codec);
        }
    qInfo("fast paths: %d compared, %d relay heads compared", compared_ - before, relayed);
    QVERIFY(relayed > 10000);
    QVERIFY2(differ == 0, first.c_str());
  }
};

QTEST_APPLESS_MAIN(H1ResponseDifferentialTest)
#include "h1_response_differential_test.moc"
