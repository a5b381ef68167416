#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace meshdeck::cp::security {

// One mutating management call, allowed or refused.
struct AuditEntry {
  std::chrono::system_clock::time_point time;
  std::string identity;   // "alice" (an operator), "plaintext" (the plaintext port), or ""
  std::string role;       // the caller's role, "" when it has none
  std::string peer;       // gRPC's peer, e.g. "ipv4:127.0.0.1:53422"
  std::string call;       // the management call (roles.h's names, e.g. "ApplyPolicies")
  std::string outcome;    // "ok", "refused" (authorization), "failed" (the call's own error)
  std::string detail;     // what was asked or why it was refused
  uint64_t revision = 0;  // the policy revision it made, 0 for none
};

// AuditLog appends one JSON object per line to `<state-dir>/audit.log` (mode 0600): every
// entry is written with one write(2) on an O_APPEND descriptor and fsync'd before append()
// returns. When the file would grow past `max_bytes` it is renamed to audit.log.1 (replacing
// the previous one) and a new file begun, so the log holds at most 2 x max_bytes. Without a
// path entries are kept in memory (the last 1000). Thread-safe.
class AuditLog {
 public:
  static constexpr uint64_t kDefaultMaxBytes = 8ull << 20;

  explicit AuditLog(std::filesystem::path path, uint64_t max_bytes = kDefaultMaxBytes);

  // Appends `entry`. False with the reason when it cannot be written (the caller logs it; the
  // call itself has already been decided).
  bool append(const AuditEntry& entry, std::string* error);
  // The JSON lines of entries at or after `since`, oldest first, at most `limit` (the newest).
  std::vector<std::string> read(std::chrono::system_clock::time_point since, size_t limit,
                                std::string* error) const;

  static std::string toJsonLine(const AuditEntry& entry);

 private:
  const std::filesystem::path path_;
  const uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::vector<std::string> memory_;
};

}  // namespace meshdeck::cp::security
