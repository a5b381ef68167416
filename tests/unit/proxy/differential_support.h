// What the HTTP/1.1 differential tests and their fuzz targets share: how an input is printed
// when two verdicts differ, and the files of a fuzz corpus read as seeds.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace meshdeck::proxy::h1test {

// The input with every byte outside printable ASCII (and the backslash) as \xNN.
inline std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// Appends the bytes of every file in `dir` to `out`.
inline void appendFiles(const std::filesystem::path& dir, std::vector<std::string>& out) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out.push_back(ss.str());
  }
}

}  // namespace meshdeck::proxy::h1test
