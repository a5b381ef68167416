#include "tools/meshdeckctl/security_options.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "tools/meshdeckctl/contexts.h"

namespace meshdeck::tools {

void declareSecurityCommands(CLI::App& app, CtlOptions& o, SecurityCommands& s) {
  app.add_option("--credentials", o.credentials,
                 "Operator credentials file (e.g. <state-dir>/admin.credentials, or one written "
                 "by `operator add`): mutual TLS to its server with its certificate");
  s.context_option = app.add_option(
      "--context", s.context_name,
      "Context of the contexts file to use (default: its current context, when neither "
      "--credentials nor --server is given)");

  s.op = app.add_subcommand("operator", "Operators of the management API (admin only)");
  s.op->require_subcommand(1);
  s.op_add = s.op->add_subcommand(
      "add", "Issue a certificate for a new operator and write its credentials file (0600)");
  s.op_add->add_option("name", o.name, "Operator name (a-z 0-9 . _ -)")->required();
  s.op_add->add_option("--role", o.operator_role, "viewer | operator | admin")
      ->check(CLI::IsMember({"viewer", "operator", "admin"}))
      ->required();
  s.op_add->add_option("-o,--output", o.file, "Credentials file to write (never overwritten)")
      ->required();
  s.op_list = s.op->add_subcommand("list", "List operators: role, state, certificate serials");
  s.op_list->add_option("-o,--output", o.output, "table | json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  s.op_revoke =
      s.op->add_subcommand("revoke", "Refuse every certificate of an operator from now on");
  s.op_revoke->add_option("name", o.name, "Operator name")->required();

  s.audit = app.add_subcommand(
      "audit", "Mutating management calls, allowed or refused, with who made them (admin only)");
  s.audit->add_option("--since", o.since, "Only entries of this last duration, e.g. 30m, 2h");
  s.audit->add_option("-o,--output", o.output, "table | json (one JSON object a line)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();

  s.config = app.add_subcommand(
      "config", "Contexts: named credentials files ($XDG_CONFIG_HOME/meshdeck/contexts.yaml)");
  s.config->require_subcommand(1);
  s.add_context = s.config->add_subcommand("add-context", "Add (or replace) a context and save it");
  s.add_context->add_option("name", s.context_name, "Context name")->required();
  s.add_context->add_option("--credentials", s.context_credentials, "Credentials file")->required();
  s.add_context->add_option("--server", s.context_server, "Address overriding the file's");
  s.use_context = s.config->add_subcommand("use-context", "Make a context the current one");
  s.use_context->add_option("name", s.context_name, "Context name")->required();
  s.config->add_subcommand("get-contexts", "List the contexts");
}

std::optional<int> finishSecurityCommands(const SecurityCommands& s, bool server_given,
                                          CtlOptions& o) {
  if (*s.config)
    return configCommand(*s.add_context   ? "add-context"
                         : *s.use_context ? "use-context"
                                          : "get-contexts",
                         s.context_name, s.context_credentials, s.context_server);
  o.server_given = server_given;
  std::string why;
  if (!applyContext(*s.context_option ? std::optional<std::string>(s.context_name) : std::nullopt,
                    o, &why)) {
    std::cerr << "meshdeckctl: " << why << "\n";
    return 1;
  }
  if (*s.op_add) o.operator_action = "add";
  if (*s.op_list) o.operator_action = "list";
  if (*s.op_revoke) o.operator_action = "revoke";
  return std::nullopt;
}

}  // namespace meshdeck::tools
