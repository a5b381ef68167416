#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/pki/contexts_file.h"
#include "tools/meshdeckctl/meshdeckctl.h"

namespace meshdeck::tools {

using pki::Context;
using pki::ContextConfig;
using pki::contextsPath;
using pki::readContexts;
using pki::writeContexts;

// Applies a context to `o`: `name` (--context), or else the current context when neither
// --credentials nor --server was given (o.credentials empty, !o.server_given). Sets
// o.credentials, and o.server (with o.server_given) when the context names one. False with the
// reason for an unreadable contexts file or an unknown context.
bool applyContext(const std::optional<std::string>& name, CtlOptions& o, std::string* error);

// meshdeckctl config add-context | use-context | get-contexts. Prints and returns the exit code.
int configCommand(const std::string& action, const std::string& name,
                  const std::string& credentials, const std::string& server);

}  // namespace meshdeck::tools
