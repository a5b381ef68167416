#pragma once

#include <emmintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace meshdeck::proxy::h1 {

// Whether the N - 1 bytes at `p` equal the lower-case literal, ASCII case-insensitively, for
// bytes that are tchars or field-value bytes (no CR): the literals are letters and '-', for
// which OR-ing 0x20 maps exactly the upper- and lower-case letter to the letter (and only '-'
// and CR to '-'). Whole words at a time; the caller has the bytes in the buffer.
template <size_t N>
inline bool equalsFolded(const char* p, const char (&lit)[N]) {
  constexpr size_t n = N - 1;
  constexpr uint64_t kFold = 0x2020202020202020ull;
  if constexpr (n < 8) {
    constexpr uint64_t mask = kFold & ((uint64_t{1} << (8 * n)) - 1);
    uint64_t x = 0, y = 0;
    std::memcpy(&x, p, n);
    std::memcpy(&y, lit, n);
    return (x | mask) == y;
  } else {
    uint64_t x, y;
    for (size_t i = 0; i + 8 <= n; i += 8) {
      std::memcpy(&x, p + i, 8);
      std::memcpy(&y, lit + i, 8);
      if ((x | kFold) != y) return false;
    }
    if constexpr (n % 8 != 0) {
      std::memcpy(&x, p + n - 8, 8);
      std::memcpy(&y, lit + n - 8, 8);
      if ((x | kFold) != y) return false;
    }
    return true;
  }
}

// Whether `s` holds an ASCII upper-case letter: 16 bytes at a time (SSE2), the last partial
// block through a copy (never reading past `s`).
inline bool hasUpperCase(std::string_view s) {
  const auto block = [](const char* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
    return _mm_movemask_epi8(upper) != 0;
  };
  size_t i = 0;
  for (; i + 16 <= s.size(); i += 16)
    if (block(s.data() + i)) return true;
  if (i == s.size()) return false;
  char tail[16] = {};
  std::memcpy(tail, s.data() + i, s.size() - i);
  return block(tail);
}

}  // namespace meshdeck::proxy::h1
