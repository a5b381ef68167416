#include <QtTest>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "unit/proxy/differential_support.h"
#include "unit/proxy/h1_cases.h"
#include "unit/proxy/h1_reference.h"

using namespace meshdeck::proxy;
using namespace meshdeck::proxy::h1test;

namespace {

// The seeds: the codec's rows and every file of the proxy_http1 fuzz corpus.
std::vector<std::string> seeds() {
  std::vector<std::string> out;
  for (const auto& c : framingCases()) out.push_back(c.raw);
  const char* root = std::getenv("MESHDECK_SOURCE_DIR");
  const std::filesystem::path dir =
      std::filesystem::path(root ? root : MESHDECK_SOURCE_DIR_FALLBACK) /
      "tests/fuzz/proxy_http1/corpus";
  appendFiles(dir, out);
  return out;
}

// Pieces the mutations insert: the bytes and words HTTP/1.1 framing turns on.
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
                                             "5",
                                             "/",
                                             "@",
                                             "[",
                                             "]",
                                             "%",
                                             "\x7f",
                                             std::string(1, '\0'),
                                             "\x80",
                                             "\xff",
                                             "(",
                                             "chunked",
                                             "Chunked",
                                             "gzip",
                                             "identity",
                                             "h2c",
                                             "close",
                                             "keep-alive",
                                             "upgrade",
                                             "Transfer-Encoding: chunked\r\n",
                                             "Content-Length: 5\r\n",
                                             "Content-Length: 0\r\n",
                                             "Content-Length: 5, 5\r\n",
                                             "Host: a\r\n",
                                             "Host: \r\n",
                                             "Connection: close\r\n",
                                             "Upgrade: h2c\r\n",
                                             "HTTP2-Settings: x\r\n",
                                             "Transfer-Encoding: gzip\r\n",
                                             "Transfer-Encoding: ,\r\n",
                                             "Proxy-Connection: a b\r\n",
                                             "HTTP/1.0",
                                             "HTTP/1.1",
                                             "http://a/",
                                             " HTTP/1.1\r\n",
                                             "X: a\r\n ",
                                             "Content-Length: +5\r\n"};
  return d;
}

std::string mutate(std::string s, std::mt19937& rng) {
  const auto& d = dictionary();
  const int steps = 1 + static_cast<int>(rng() % 3);
  for (int k = 0; k < steps; ++k) {
    const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 6) {
      case 0:  // insert a dictionary word
        s.insert(at, d[rng() % d.size()]);
        break;
      case 1:  // overwrite a byte
        if (!s.empty()) s[at % s.size()] = static_cast<char>(rng() % 256);
        break;
      case 2:  // delete a few bytes
        if (!s.empty()) s.erase(at % s.size(), 1 + rng() % 4);
        break;
      case 3:  // replace a byte with a dictionary word
        if (!s.empty()) s.replace(at % s.size(), 1, d[rng() % d.size()]);
        break;
      case 4: {  // duplicate a line
        const size_t start = s.rfind("\r\n", at);
        const size_t from = start == std::string::npos ? 0 : start + 2;
        const size_t end = s.find("\r\n", from);
        if (end != std::string::npos) s.insert(from, s.substr(from, end + 2 - from));
        break;
      }
      default:  // flip the case of a byte
        if (!s.empty()) s[at % s.size()] ^= 0x20;
        break;
    }
  }
  return s;
}

}  // namespace

// The differential test of the HTTP/1.1 codec (docs/h1-codec.md): the same bytes through the
// proxy's path of today (the read loop's checks, Beast's parser with the session's reason
// mapping, admission's head checks) and through proxy/http/h1_parser.h must get the same
// verdict: need-more, or refused with the same status and reason, or accepted with the same
// method, target, version, fields, size and body framing.
class H1DifferentialTest : public QObject {
  Q_OBJECT

  int compared_ = 0;
  std::vector<std::string> differences_;

  int accepted_ = 0, refused_ = 0;
  std::vector<std::string> reasons_;

  void compare(const std::string& input) {
    ++compared_;
    const Outcome old_path = referenceVerdict(input);
    accepted_ += old_path.kind == Outcome::kAccept;
    if (old_path.kind == Outcome::kRefuse) {
      ++refused_;
      if (std::find(reasons_.begin(), reasons_.end(), old_path.reason) == reasons_.end())
        reasons_.push_back(old_path.reason);
    }
    const Outcome codec = codecVerdict(input);
    if (old_path == codec) return;
    if (differences_.size() < 10)
      differences_.push_back("input \"" + printable(input.substr(0, 300)) + "\"\n  proxy today: " +
                             old_path.describe() + "\n  h1 codec:    " + codec.describe());
    else
      differences_.emplace_back();
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
    QVERIFY(all.size() > framingCases().size());  // the corpus was found
    for (const auto& s : all) compare(s);
    check("seeds");
  }

  // Heads around the size limits (16 KiB request line, 64 KiB of fields in Beast's window, the
  // 100-field count), where the codec models where Beast runs out of bytes.
  void limitsAgree() {
    const int before = compared_;
    accepted_ = refused_ = 0;
    reasons_.clear();
    for (size_t line = 16370; line <= 16390; ++line) {
      const std::string start = "GET /" + std::string(line - 15, 'a') + " HTTP/1.1";
      compare(start + "\r\nHost: a\r\n\r\n");
      compare(start + "\r\nHost: a\r\nX: a\r\n  b\r\n\r\n");
      compare(start.substr(0, start.size() - 3) + "\r\nHost: a\r\n\r\n");
    }
    for (size_t fields = 65520; fields <= 65545; ++fields) {
      // "Host: a\r\n" + "X: <value>\r\n" + "\r\n" is `fields` bytes after the request line.
      const std::string value(fields - 9 - 5 - 2, 'v');
      const std::string x = "X: " + value + "\r\n";
      compare("GET / HTTP/1.1\r\nHost: a\r\n" + x + "\r\n");
      compare("GET / HTTP/1.1\r\nHost: a\r\n" + x.substr(0, x.size() - 4) + "\x01\r\n\r\n");
      compare("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nHost: a\r\n" +
              x + "\r\n");
      compare("GET / HTTP/1.1\r\nHost: a\r\n" + x + "Transfer-Encoding: chunked\r\n\r\n");
    }
    for (int n = 98; n <= 103; ++n) {
      std::string fields = "Host: a\r\n";
      for (int i = 1; i < n; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
      compare("GET / HTTP/1.1\r\n" + fields + "\r\n");
      compare("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n" + fields +
              "\r\n");
      compare("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n" + fields +
              "X Y: z\r\n\r\n");
    }
    QVERIFY(compared_ - before > 150);
    std::string seen;
    for (const auto& r : reasons_) seen += " " + r;
    qInfo("limits: %d accepted, %d refused by the proxy today:%s", accepted_, refused_,
          seen.c_str());
    // Both sides of each limit are reached.
    for (const char* r : {"header_too_large", "too_many_headers", "obs_fold", "bad_header_value",
                          "content_length_with_transfer_encoding"})
      QVERIFY2(std::find(reasons_.begin(), reasons_.end(), r) != reasons_.end(), r);
    QVERIFY(accepted_ > 20);
    check("limits");
  }

  // Bounded, seeded mutations of every seed (reproducible: a difference names its input).
  void mutationsAgree() {
    std::mt19937 rng(20);
    const auto all = seeds();
    int accepted = 0, refused = 0;
    const int before = compared_;
    for (int round = 0; round < 250; ++round) {
      for (const auto& s : all) {
        const std::string input = mutate(s, rng);
        compare(input);
        const auto o = referenceVerdict(input);
        accepted += o.kind == Outcome::kAccept;
        refused += o.kind == Outcome::kRefuse;
      }
    }
    qInfo("mutations: %d compared, %d accepted and %d refused by the proxy today",
          compared_ - before, accepted, refused);
    QVERIFY(accepted > 100 && refused > 100);  // the mutations exercise both sides
    check("mutations");
  }
};

QTEST_APPLESS_MAIN(H1DifferentialTest)
#include "h1_differential_test.moc"
