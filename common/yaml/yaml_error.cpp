#include "common/yaml/yaml_error.h"

#include <yaml-cpp/yaml.h>

#include <cassert>

namespace meshdeck::common {

LocatedError yamlErrorAt(const std::string& file, const YAML::Mark& mark, std::string field,
                         std::string message) {
  assert(!message.empty());
  LocatedError e{file, 0, 0, std::move(field), std::move(message)};
  if (mark.line >= 0 && mark.column >= 0) {
    e.line = static_cast<uint32_t>(mark.line + 1);
    e.column = static_cast<uint32_t>(mark.column + 1);
  }
  return e;
}

LocatedError yamlErrorAt(const std::string& file, const YAML::Node& node, std::string field,
                         std::string message) {
  // An undefined node (a missing key) has no position; yaml-cpp throws when asked for it.
  const YAML::Mark mark = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
  return yamlErrorAt(file, mark, std::move(field), std::move(message));
}

}  // namespace meshdeck::common
