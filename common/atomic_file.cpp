#include "atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace meshdeck::common {

namespace {
bool fail(std::string* error, const std::string& what) {
  if (error) *error = what + ": " + std::strerror(errno);
  return false;
}
}  // namespace

bool writeFileAtomically(const std::filesystem::path& path, std::string_view contents,
                         std::string* error, unsigned mode) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return fail(error, "cannot create a temporary file in " + dir.string());
  auto cleanup = [&](const std::string& what) {
    const int saved = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    errno = saved;
    return fail(error, what);
  };
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return cleanup("cannot write " + tmpl);
    }
    written += static_cast<size_t>(n);
  }
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return cleanup("cannot chmod " + tmpl);
  if (::fsync(fd) != 0) return cleanup("cannot sync " + tmpl);
  if (::close(fd) != 0) {
    ::unlink(tmpl.c_str());
    return fail(error, "cannot close " + tmpl);
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmpl.c_str());
    errno = saved;
    return fail(error, "cannot rename onto " + path.string());
  }
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool readFile(const std::filesystem::path& path, std::string* contents, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(error, "cannot open " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(error, "cannot read " + path.string());
  *contents = std::move(ss).str();
  return true;
}

}  // namespace meshdeck::common
