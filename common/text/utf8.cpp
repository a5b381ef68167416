#include "common/text/utf8.h"

#include <cstdint>
#include <cstdio>

namespace meshdeck::common {
namespace {

std::string hex(unsigned char c, bool upper) {
  char buf[8];
  std::snprintf(buf, sizeof buf, upper ? "0x%02X" : "0x%02x", c);
  return buf;
}

}  // namespace

std::string Utf8Error::what() const {
  switch (kind) {
    case Kind::kInvalidByte:
      return "invalid byte " + hex(byte, true);
    case Kind::kInvalidSequence:
      return "invalid sequence at byte " + hex(byte, true);
    case Kind::kTruncated:
      return "truncated sequence at byte " + hex(byte, true);
    case Kind::kControl:
      return "control character " + hex(byte, true);
  }
  return {};
}

std::string Utf8Error::toString() const {
  return "byte " + hex(byte, false) + " at line " + std::to_string(line) + ", column " +
         std::to_string(column);
}

std::optional<Utf8Error> findInvalidUtf8(std::string_view text, bool refuse_controls) {
  size_t line = 1, column = 1;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  const auto fail = [&](Utf8Error::Kind kind) { return Utf8Error{kind, i, s[i], line, column}; };
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      if (refuse_controls && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F))
        return fail(Utf8Error::Kind::kControl);
      ++i;
      if (c == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return fail(Utf8Error::Kind::kInvalidByte);
    }
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= n || (s[i + k] & 0xC0) != 0x80) return fail(Utf8Error::Kind::kTruncated);
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return fail(Utf8Error::Kind::kInvalidSequence);
    i += len;
    ++column;
  }
  return std::nullopt;
}

}  // namespace meshdeck::common
