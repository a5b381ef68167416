#include "controlplane/identity/bootstrap_tokens.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

#include "common/atomic_file.h"
#include "common/clock.h"

namespace meshdeck::cp::identity {
namespace {

std::string hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string digest(std::string_view token) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
  return hex(md, len);
}

}  // namespace

void BootstrapTokens::pruneLocked(std::chrono::steady_clock::time_point now) {
  std::erase_if(by_digest_, [&](const auto& kv) { return kv.second.expires <= now; });
}

std::string BootstrapTokens::issue(const std::string& proxy_id, const std::string& ns,
                                   const std::string& service, std::chrono::seconds ttl) {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return {};
  const std::string token = hex(raw, sizeof raw);
  const std::string key = digest(token);
  if (key.empty()) return {};
  if (ttl <= std::chrono::seconds::zero()) ttl = kDefaultTtl;
  ttl = std::min(ttl, kMaxTtl);
  std::lock_guard lock(mu_);
  const auto now = time_.monotonicNow();
  pruneLocked(now);
  std::erase_if(by_digest_, [&](const auto& kv) { return kv.second.proxy_id == proxy_id; });
  by_digest_[key] = Entry{proxy_id, Grant{ns, service}, now + ttl};
  ++counters_.issued;
  return token;
}

std::optional<BootstrapTokens::Grant> BootstrapTokens::consume(std::string_view token,
                                                               std::string_view proxy_id,
                                                               std::string* error) {
  auto refuse = [&](uint64_t& counter, const char* why) -> std::optional<Grant> {
    ++counter;
    if (error) *error = why;
    return std::nullopt;
  };
  std::lock_guard lock(mu_);
  const auto it = token.empty() ? by_digest_.end() : by_digest_.find(digest(token));
  if (it == by_digest_.end())
    return refuse(counters_.refused_unknown, "unknown or already used bootstrap token");
  const Entry entry = std::move(it->second);
  by_digest_.erase(it);  // burnt whatever happens next
  if (entry.expires <= time_.monotonicNow())
    return refuse(counters_.refused_expired, "the bootstrap token has expired");
  if (entry.proxy_id != proxy_id)
    return refuse(counters_.refused_wrong_proxy,
                  "the bootstrap token was issued to another proxy (it is now revoked)");
  ++counters_.consumed;
  return entry.grant;
}

size_t BootstrapTokens::pending() const {
  std::lock_guard lock(mu_);
  const auto now = time_.monotonicNow();
  return static_cast<size_t>(
      std::count_if(by_digest_.begin(), by_digest_.end(),
                    [&](const auto& kv) { return kv.second.expires > now; }));
}

BootstrapTokens::Counters BootstrapTokens::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

std::optional<std::filesystem::path> writeTokenFile(const std::filesystem::path& dir,
                                                    const std::string& proxy_id,
                                                    const std::string& token, std::string* error) {
  const bool name_ok = !proxy_id.empty() && proxy_id != "." && proxy_id != ".." &&
                       std::all_of(proxy_id.begin(), proxy_id.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
                       });
  if (!name_ok) {
    if (error) *error = "proxy id \"" + proxy_id + "\" cannot name a token file";
    return std::nullopt;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!ec)
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  if (ec) {
    if (error) *error = "cannot prepare " + dir.string() + ": " + ec.message();
    return std::nullopt;
  }
  const auto path = dir / (proxy_id + ".token");
  if (!common::writeFileAtomically(path, token, error, 0600)) return std::nullopt;
  return path;
}

}  // namespace meshdeck::cp::identity
