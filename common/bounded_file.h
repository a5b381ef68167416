#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/text/utf8.h"  // findInvalidUtf8, for the readers of text files

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

}  // namespace meshdeck::common
