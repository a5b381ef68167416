#include "common/bounded_file.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace meshdeck::common {

namespace {
bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

std::string tooLarge(const std::filesystem::path& path, uint64_t size, bool at_least,
                     uint64_t max_bytes) {
  return fmt::format("{} is {}{}; the limit is {}", path.string(), at_least ? "over " : "",
                     formatBytes(size), formatBytes(max_bytes));
}
}  // namespace

bool readFileLimited(const std::filesystem::path& path, uint64_t max_bytes, std::string* contents,
                     std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    return fail(error, fmt::format("cannot open {}: {}", path.string(), std::strerror(e)));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(error, "cannot open " + path.string());
  if (!S_ISREG(st.st_mode)) return fail(error, path.string() + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return fail(error, tooLarge(path, static_cast<uint64_t>(st.st_size), false, max_bytes));
  std::string text;
  text.resize(static_cast<size_t>(st.st_size));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad() || static_cast<size_t>(in.gcount()) != text.size())
    return fail(error, "cannot read " + path.string() + " (it changed while being read)");
  // A file that grew after stat(): read on, but never past the limit.
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes) return fail(error, tooLarge(path, max_bytes, true, max_bytes));
  }
  if (in.bad()) return fail(error, "cannot read " + path.string());
  *contents = std::move(text);
  return true;
}

std::string formatBytes(uint64_t bytes) {
  constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  auto scaled = [bytes](uint64_t unit, const char* name) {
    if (bytes % unit == 0) return fmt::format("{} {}", bytes / unit, name);
    return fmt::format("{:.1f} {}", static_cast<double>(bytes) / static_cast<double>(unit), name);
  };
  if (bytes >= kGiB) return scaled(kGiB, "GiB");
  if (bytes >= kMiB) return scaled(kMiB, "MiB");
  if (bytes >= kKiB) return scaled(kKiB, "KiB");
  return fmt::format("{} byte{}", bytes, bytes == 1 ? "" : "s");
}

std::string Utf8Error::toString() const {
  return fmt::format("byte 0x{:02x} at line {}, column {}", byte, line, column);
}

std::optional<Utf8Error> findInvalidUtf8(std::string_view text) {
  size_t line = 1, column = 1;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    size_t len = 0;
    uint32_t min = 0, cp = 0;
    if (c < 0x80) {
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= n;
    size_t bad = i;  // the offending byte
    for (size_t k = 1; ok && k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        ok = false;
        bad = i + k;
      } else {
        cp = (cp << 6) | (s[i + k] & 0x3F);
      }
    }
    if (ok && len > 1 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (!ok) {
      // The lead byte, or the byte where a continuation byte was expected.
      return Utf8Error{bad, s[bad], line, column};
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += len;
  }
  return std::nullopt;
}

}  // namespace meshdeck::common
