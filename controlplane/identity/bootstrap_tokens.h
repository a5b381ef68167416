#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace meshdeck::common {
class TimeSource;
}

namespace meshdeck::cp::identity {

// BootstrapTokens are the one-time secrets with which a new proxy obtains its first
// certificate. A token is 256 random bits (64 hex digits), bound to one proxy id and the
// identity (namespace, service) it may receive, and expires after a short time. Only a SHA-256
// digest of each token is kept. A proxy has at most one pending token: issuing a new one
// replaces the old.
//
// consume() burns the token on every outcome except "unknown token": a token presented for
// another proxy id is treated as leaked and destroyed, so it cannot be retried.
//
// Thread-safe.
class BootstrapTokens {
 public:
  static constexpr std::chrono::seconds kDefaultTtl{600};
  static constexpr std::chrono::seconds kMaxTtl{3600};

  explicit BootstrapTokens(const common::TimeSource& time) : time_(time) {}

  // A new token for `proxy_id` (ttl <= 0 → kDefaultTtl, capped at kMaxTtl). "" only if the
  // system's random generator fails.
  std::string issue(const std::string& proxy_id, const std::string& ns, const std::string& service,
                    std::chrono::seconds ttl = kDefaultTtl);

  // What a consumed token grants.
  struct Grant {
    std::string ns;
    std::string service;
  };
  // The grant of `token` if it is pending, unexpired and bound to `proxy_id`; the token is
  // then gone. Otherwise nothing, with the reason in `error` (unknown or already used, expired,
  // bound to another proxy).
  std::optional<Grant> consume(std::string_view token, std::string_view proxy_id,
                               std::string* error);

  // Tokens issued and not yet consumed or expired.
  size_t pending() const;

  struct Counters {
    uint64_t issued = 0, consumed = 0;
    uint64_t refused_unknown = 0, refused_expired = 0, refused_wrong_proxy = 0;
  };
  Counters counters() const;

 private:
  struct Entry {
    std::string proxy_id;
    Grant grant;
    std::chrono::steady_clock::time_point expires;
  };
  void pruneLocked(std::chrono::steady_clock::time_point now);

  const common::TimeSource& time_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_digest_;  // hex SHA-256 of the token → entry
  Counters counters_;
};

// Hands a token to a proxy the way docs/security.md prescribes: `dir` is created if needed and
// set to mode 0700, and the token is written atomically to `<dir>/<proxy_id>.token` with mode
// 0600. `proxy_id` must be [A-Za-z0-9._-]+ (not "." or ".."). Returns the file's path, or
// nothing with a reason in `error`.
std::optional<std::filesystem::path> writeTokenFile(const std::filesystem::path& dir,
                                                    const std::string& proxy_id,
                                                    const std::string& token, std::string* error);

}  // namespace meshdeck::cp::identity
