#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tools/meshdeckctl/meshdeckctl.h"

namespace meshdeck::tools {

// One named way to reach a control plane, kubectl-style: a credentials file and optionally an
// address that overrides the file's.
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

// Applies a context to `o`: `name` (--context), or else the current context when neither
// --credentials nor --server was given (o.credentials empty, !o.server_given). Sets
// o.credentials, and o.server (with o.server_given) when the context names one. False with the
// reason for an unreadable contexts file or an unknown context.
bool applyContext(const std::optional<std::string>& name, CtlOptions& o, std::string* error);

// meshdeckctl config add-context | use-context | get-contexts. Prints and returns the exit code.
int configCommand(const std::string& action, const std::string& name,
                  const std::string& credentials, const std::string& server);

}  // namespace meshdeck::tools
