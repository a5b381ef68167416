#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace meshdeck::common {

// Writes `contents` to `path` atomically: a temporary file in the same directory is written,
// flushed with fsync, given `mode` permissions and renamed over `path`, and the directory is
// synced. Readers see either the old file or the new one, never a torn one. Returns false and
// fills `error` on failure; the old file is then untouched.
bool writeFileAtomically(const std::filesystem::path& path, std::string_view contents,
                         std::string* error, unsigned mode = 0644);

// Reads a whole file. Returns false and fills `error` when it cannot be read.
bool readFile(const std::filesystem::path& path, std::string* contents, std::string* error);

}  // namespace meshdeck::common
