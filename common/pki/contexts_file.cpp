#include "common/pki/contexts_file.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

#include "common/atomic_file.h"
#include "common/bounded_file.h"

namespace meshdeck::pki {

const Context* ContextConfig::find(const std::string& name) const {
  for (const auto& c : contexts)
    if (c.name == name) return &c;
  return nullptr;
}

std::filesystem::path contextsPath() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "meshdeck" / "contexts.yaml";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : ".") / ".config" / "meshdeck" /
         "contexts.yaml";
}

std::optional<ContextConfig> readContexts(const std::filesystem::path& path, std::string* error) {
  ContextConfig config;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return config;
  std::string text;
  if (!common::readFileLimited(path, 1 << 20, &text, error)) return std::nullopt;
  try {
    const YAML::Node doc = YAML::Load(text);
    if (doc.IsNull()) return config;
    if (!doc.IsMap()) throw YAML::Exception(YAML::Mark::null_mark(), "not a mapping");
    if (doc["current-context"]) config.current = doc["current-context"].as<std::string>();
    if (const auto list = doc["contexts"]) {
      if (!list.IsSequence()) throw YAML::Exception(list.Mark(), "contexts: not a list");
      for (const auto& n : list) {
        Context c;
        c.name = n["name"].as<std::string>();
        c.credentials = n["credentials"].as<std::string>();
        if (n["server"]) c.server = n["server"].as<std::string>();
        config.contexts.push_back(std::move(c));
      }
    }
  } catch (const YAML::Exception& e) {
    *error = path.string() + ": not a meshdeckctl contexts file (" + e.what() + ")";
    return std::nullopt;
  }
  return config;
}

bool writeContexts(const std::filesystem::path& path, const ContextConfig& config,
                   std::string* error) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "current-context" << YAML::Value << config.current
    << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq;
  for (const auto& c : config.contexts) {
    e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << c.name << YAML::Key
      << "credentials" << YAML::Value << c.credentials;
    if (!c.server.empty()) e << YAML::Key << "server" << YAML::Value << c.server;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    *error = "cannot create " + path.parent_path().string() + ": " + ec.message();
    return false;
  }
  return common::writeFileAtomically(path, std::string(e.c_str()) + "\n", error, 0600);
}

}  // namespace meshdeck::pki
