#pragma once

#include <optional>
#include <string>

#include "tools/meshdeckctl/meshdeckctl.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace meshdeck::tools {

// meshdeckctl's options and commands of operators and contexts (docs/security.md, "Operators
// and roles"): --credentials, --context, operator add|list|revoke, audit, config.
struct SecurityCommands {
  CLI::Option* context_option = nullptr;
  CLI::App *op = nullptr, *op_add = nullptr, *op_list = nullptr, *op_revoke = nullptr;
  CLI::App *audit = nullptr, *config = nullptr, *add_context = nullptr, *use_context = nullptr;
  std::string context_name, context_credentials, context_server;
};

// Declares them on `app`, bound to `o` and `s` (both must outlive the parse).
void declareSecurityCommands(CLI::App& app, CtlOptions& o, SecurityCommands& s);

// After the parse: runs `config ...` and returns its exit code; otherwise applies the context
// (--context, or the current one) and the operator action to `o` and returns nothing, or an
// exit code with the error printed. `server_given`: --server was on the command line.
std::optional<int> finishSecurityCommands(const SecurityCommands& s, bool server_given,
                                          CtlOptions& o);

}  // namespace meshdeck::tools
