#include "tools/meshdeckctl/contexts.h"

#include <fmt/format.h>

#include <cstdlib>
#include <iostream>

#include "common/pki/credentials_file.h"

namespace meshdeck::tools {

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
