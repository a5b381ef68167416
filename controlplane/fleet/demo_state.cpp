#include "controlplane/fleet/demo_state.h"

#include <filesystem>

namespace meshdeck::cp::fleet {

std::string demoStateDir(const std::string& data_root, const std::string& demo) {
  std::filesystem::path name = std::filesystem::path(demo).filename();
  // "storefront.yaml" → "storefront"; a bundled name has no extension.
  std::string key = name.has_extension() ? name.stem().string() : name.string();
  for (char& c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) c = '_';
  }
  if (key.empty()) key = "demo";
  return (std::filesystem::path(data_root) / "demo-state" / key).string();
}

bool moveStateAside(const std::string& dir, std::string* moved_aside, std::string* error) {
  moved_aside->clear();
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return true;
  const std::string aside = dir + ".previous";
  std::filesystem::remove_all(aside, ec);
  if (!ec) std::filesystem::rename(dir, aside, ec);
  if (ec) {
    *error = "cannot move the last run's state " + dir + " aside to " + aside + ": " + ec.message();
    return false;
  }
  *moved_aside = aside;
  return true;
}

}  // namespace meshdeck::cp::fleet
