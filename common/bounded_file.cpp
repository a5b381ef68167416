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

}  // namespace meshdeck::common
