#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace meshdeck::common {

// Reads a whole file of at most `max_bytes`. Returns false and fills `error` with a message
// naming the file when it cannot be opened or read, is not a regular file, or is larger than
// the limit ("state.json is 30.2 MiB; the limit is 16 MiB"). The size is checked before reading
// and again while reading (a file that grows meanwhile is refused too), so at most
// `max_bytes` + 1 bytes are ever held.
bool readFileLimited(const std::filesystem::path& path, uint64_t max_bytes, std::string* contents,
                     std::string* error);

// "8 MiB", "14.4 MiB", "512 KiB", "17 bytes": binary units, one decimal when not
// whole.
std::string formatBytes(uint64_t bytes);

// Where a text stops being UTF-8: the first offending byte and its 1-based line and column
// (the column counts characters).
struct Utf8Error {
  size_t offset = 0;
  unsigned char byte = 0;
  size_t line = 1, column = 1;
  // "byte 0xff at line 3, column 7"
  std::string toString() const;
};
// Nothing when `text` is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
std::optional<Utf8Error> findInvalidUtf8(std::string_view text);

}  // namespace meshdeck::common
