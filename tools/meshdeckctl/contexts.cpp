#include "tools/meshdeckctl/contexts.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <iostream>

#include "common/atomic_file.h"
#include "common/bounded_file.h"
#include "common/pki/credentials_file.h"

namespace meshdeck::tools {

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

bool applyContext(const std::optional<std::string>& name, CtlOptions& o, std::string* error) {
  if (!name && (!o.credentials.empty() || o.server_given)) return true;
  const auto config = readContexts(contextsPath(), error);
  if (!config) return false;
  const std::string chosen = name ? *name : config->current;
  if (chosen.empty()) return true;
  const auto* c = config->find(chosen);
  if (!c) {
    *error = "--context: no context \"" + chosen + "\" in " + contextsPath().string();
    return false;
  }
  if (o.credentials.empty()) o.credentials = c->credentials;
  if (!o.server_given && !c->server.empty()) {
    o.server = c->server;
    o.server_given = true;
  }
  return true;
}

int configCommand(const std::string& action, const std::string& name,
                  const std::string& credentials, const std::string& server) {
  const auto path = contextsPath();
  std::string error;
  auto config = readContexts(path, &error);
  if (!config) {
    std::cerr << "meshdeckctl: " << error << "\n";
    return 1;
  }
  if (action == "get-contexts") {
    std::cout << fmt::format("{:<7}   {:<20}   {:<22}   {}\n", "CURRENT", "NAME", "SERVER",
                             "CREDENTIALS");
    for (const auto& c : config->contexts)
      std::cout << fmt::format("{:<7}   {:<20}   {:<22}   {}\n",
                               c.name == config->current ? "*" : "", c.name,
                               c.server.empty() ? "(from file)" : c.server, c.credentials);
    return 0;
  }
  if (action == "use-context") {
    if (!config->find(name)) {
      std::cerr << fmt::format(
          "meshdeckctl: no context \"{}\" in {} (add it with meshdeckctl "
          "config add-context {} --credentials FILE)\n",
          name, path.string(), name);
      return 1;
    }
    config->current = name;
  } else {  // add-context
    std::string warning;
    const auto absolute = std::filesystem::absolute(credentials).lexically_normal();
    if (!pki::readCredentialsFile(absolute, &error, &warning)) {
      std::cerr << "meshdeckctl: --credentials: " << error << "\n";
      return 1;
    }
    if (!warning.empty()) std::cerr << "meshdeckctl: warning: " << warning << "\n";
    Context c{name, absolute.string(), server};
    bool replaced = false;
    for (auto& existing : config->contexts)
      if (existing.name == name) {
        existing = c;
        replaced = true;
      }
    if (!replaced) config->contexts.push_back(c);
    if (config->current.empty()) config->current = name;
  }
  if (!writeContexts(path, *config, &error)) {
    std::cerr << "meshdeckctl: " << error << "\n";
    return 1;
  }
  std::cout << (action == "use-context"
                    ? fmt::format("current context: {}\n", name)
                    : fmt::format("context {} saved in {}\n", name, path.string()));
  return 0;
}

}  // namespace meshdeck::tools
