#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace meshdeck::pki {

// One named way to reach a control plane, kubectl-style: a credentials file and optionally an
// address that overrides the file's. Written by `meshdeckctl config add-context`, read by
// meshdeckctl (--context) and the desktop (`meshdeck --connect NAME`).
struct Context {
  std::string name;
  std::string credentials;  // absolute path
  std::string server;       // "" : the credentials file's
};

struct ContextConfig {
  std::string current;
  std::vector<Context> contexts;
  const Context* find(const std::string& name) const;
};

// $XDG_CONFIG_HOME/meshdeck/contexts.yaml, else ~/.config/meshdeck/contexts.yaml.
std::filesystem::path contextsPath();
// Reads the file (a missing file is an empty config); nothing with the reason when it is not
// a contexts file.
std::optional<ContextConfig> readContexts(const std::filesystem::path& path, std::string* error);
// Writes it atomically (0600: it names credentials files).
bool writeContexts(const std::filesystem::path& path, const ContextConfig& config,
                   std::string* error);

}  // namespace meshdeck::pki
