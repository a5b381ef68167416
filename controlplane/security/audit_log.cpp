#include "controlplane/security/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/bounded_file.h"

namespace meshdeck::cp::security {
namespace json = boost::json;

namespace {
std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(buf) + millis;
}

// The "unix_ms" field of a line, or -1.
int64_t timeOf(const std::string& line) {
  json::error_code ec;
  const auto v = json::parse(line, ec);
  if (ec || !v.is_object()) return -1;
  const auto* t = v.as_object().if_contains("unix_ms");
  return t && t->is_int64() ? t->as_int64() : -1;
}
}  // namespace

AuditLog::AuditLog(std::filesystem::path path, uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {}

std::string AuditLog::toJsonLine(const AuditEntry& e) {
  const json::object o{
      {"time", rfc3339(e.time)},
      {"unix_ms",
       std::chrono::duration_cast<std::chrono::milliseconds>(e.time.time_since_epoch()).count()},
      {"identity", e.identity},
      {"role", e.role},
      {"peer", e.peer},
      {"call", e.call},
      {"outcome", e.outcome},
      {"detail", e.detail},
      {"revision", e.revision}};
  return json::serialize(o) + "\n";
}

bool AuditLog::append(const AuditEntry& entry, std::string* error) {
  const std::string line = toJsonLine(entry);
  std::lock_guard lock(mu_);
  if (path_.empty()) {
    memory_.push_back(line.substr(0, line.size() - 1));
    if (memory_.size() > 1000) memory_.erase(memory_.begin());
    return true;
  }
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 &&
      static_cast<uint64_t>(st.st_size) + line.size() > max_bytes_) {
    std::error_code ec;
    std::filesystem::rename(path_, path_.string() + ".1", ec);
    if (ec) {
      *error = "cannot rotate " + path_.string() + ": " + ec.message();
      return false;
    }
  }
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot open " + path_.string() + ": " + std::strerror(errno);
    return false;
  }
  const ssize_t n = ::write(fd, line.data(), line.size());
  const bool ok = n == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  if (!ok) *error = "cannot write " + path_.string() + ": " + std::strerror(errno);
  ::close(fd);
  return ok;
}

std::vector<std::string> AuditLog::read(std::chrono::system_clock::time_point since, size_t limit,
                                        std::string* error) const {
  const int64_t since_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(since.time_since_epoch()).count();
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  auto take = [&](const std::string& line) {
    if (!line.empty() && timeOf(line) >= since_ms) out.push_back(line);
  };
  if (path_.empty()) {
    for (const auto& l : memory_) take(l);
  } else {
    for (const auto& file : {std::filesystem::path(path_.string() + ".1"), path_}) {
      if (!std::filesystem::exists(file)) continue;
      std::string text;
      // A little over max_bytes: the rotation keeps each file under it.
      if (!common::readFileLimited(file, max_bytes_ + (64 << 10), &text, error)) return {};
      size_t start = 0;
      while (start < text.size()) {
        const auto end = text.find('\n', start);
        take(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) break;
        start = end + 1;
      }
    }
  }
  if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(limit));
  return out;
}

}  // namespace meshdeck::cp::security
