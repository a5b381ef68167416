#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace meshdeck::common {

// Where a text stops being UTF-8 text a person could have typed. One validator for every input
// that must be text: policy files (meshdeckctl, the management API, the UI's remote client) and
// every YAML input (common/yaml).
struct Utf8Error {
  enum class Kind {
    kInvalidByte,      // a byte that never starts a sequence (0x80-0xC1, 0xF5-0xFF)
    kInvalidSequence,  // a lead byte whose sequence is overlong, a surrogate or past U+10FFFF
    kTruncated,        // a lead byte with missing continuation bytes (text ends or another starts)
    kControl,          // a control character other than tab, LF and CR (only when refused)
  };
  Kind kind = Kind::kInvalidByte;
  size_t offset = 0;            // of `byte`, the first byte of the offending sequence
  unsigned char byte = 0;       // that byte
  size_t line = 1, column = 1;  // 1-based; columns count characters, as an editor does

  // "invalid byte 0xFF", "truncated sequence at byte 0xE2", "control character 0x00"
  std::string what() const;
  // "byte 0xff at line 3, column 7"
  std::string toString() const;
};

// Nothing when `text` is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF)
// and, when `refuse_controls`, holds no control character but tab, LF and CR (YAML's printable
// set). O(size), no allocation unless an error is returned.
std::optional<Utf8Error> findInvalidUtf8(std::string_view text, bool refuse_controls = false);

}  // namespace meshdeck::common
