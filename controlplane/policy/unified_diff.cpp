#include "controlplane/policy/unified_diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace meshdeck::cp {
namespace {

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

struct Op {
  char tag;     // ' ', '-', '+'
  size_t a, b;  // line indices in from / to (valid for ' ' and the side of the tag)
};

// Edit script from a longest-common-subsequence table. Policy sets are a few hundred lines, so
// the quadratic table is small; past kMaxCells the texts are shown as replaced wholesale rather
// than spending unbounded memory.
std::vector<Op> editScript(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  constexpr size_t kMaxCells = 16u << 20;
  std::vector<Op> ops;
  const size_t n = a.size(), m = b.size();
  if ((n + 1) * (m + 1) > kMaxCells) {
    for (size_t i = 0; i < n; ++i) ops.push_back({'-', i, 0});
    for (size_t j = 0; j < m; ++j) ops.push_back({'+', n, j});
    return ops;
  }
  std::vector<uint32_t> lcs((n + 1) * (m + 1), 0);
  auto at = [&](size_t i, size_t j) -> uint32_t& { return lcs[i * (m + 1) + j]; };
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      at(i, j) = a[i] == b[j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      ops.push_back({' ', i++, j++});
    } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
      ops.push_back({'-', i++, j});  // deletions first, as diff -u prints them
    } else {
      ops.push_back({'+', i, j++});
    }
  }
  return ops;
}

}  // namespace

std::string unifiedDiff(const std::string& from, const std::string& to,
                        const std::string& from_label, const std::string& to_label) {
  if (from == to) return {};
  const auto a = splitLines(from), b = splitLines(to);
  const auto ops = editScript(a, b);
  constexpr size_t kContext = 3;
  std::string out = fmt::format("--- {}\n+++ {}\n", from_label, to_label);
  size_t k = 0;
  while (k < ops.size()) {
    while (k < ops.size() && ops[k].tag == ' ') ++k;
    if (k == ops.size()) break;
    // A hunk: from kContext lines before this change to kContext lines after the last change
    // that is at most 2*kContext unchanged lines from the next.
    size_t start = k >= kContext ? k - kContext : 0;
    size_t end = k;
    while (end < ops.size()) {
      if (ops[end].tag != ' ') {
        ++end;
        continue;
      }
      size_t run = end;
      while (run < ops.size() && ops[run].tag == ' ') ++run;
      if (run == ops.size() || run - end > 2 * kContext) {
        end = std::min(run, end + kContext);
        break;
      }
      end = run;
    }
    size_t a_start = ops[start].a, b_start = ops[start].b, a_len = 0, b_len = 0;
    std::string body;
    for (size_t x = start; x < end; ++x) {
      const auto& op = ops[x];
      if (op.tag == ' ') {
        body += " " + a[op.a] + "\n";
        ++a_len;
        ++b_len;
      } else if (op.tag == '-') {
        body += "-" + a[op.a] + "\n";
        ++a_len;
      } else {
        body += "+" + b[op.b] + "\n";
        ++b_len;
      }
    }
    out += fmt::format("@@ -{},{} +{},{} @@\n", a_len ? a_start + 1 : a_start, a_len,
                       b_len ? b_start + 1 : b_start, b_len);
    out += body;
    k = end;
  }
  return out;
}

}  // namespace meshdeck::cp
