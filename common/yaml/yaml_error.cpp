#include "common/yaml/yaml_error.h"

#include <yaml-cpp/yaml.h>

namespace meshdeck::common {

std::string YamlError::str() const {
  std::string s = source.empty() ? "<input>" : source;
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  s += ": ";
  if (!field.empty()) s += field + ": ";
  return s + message;
}

YamlError yamlErrorAt(const std::string& source, const YAML::Mark& mark, std::string field,
                      std::string message) {
  YamlError e{source, 0, 0, std::move(message), std::move(field)};
  if (mark.line >= 0 && mark.column >= 0) {
    e.line = static_cast<uint32_t>(mark.line + 1);
    e.column = static_cast<uint32_t>(mark.column + 1);
  }
  return e;
}

YamlError yamlErrorAt(const std::string& source, const YAML::Node& node, std::string field,
                      std::string message) {
  // An undefined node (a missing key) has no position; yaml-cpp throws when asked for it.
  const YAML::Mark mark = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
  return yamlErrorAt(source, mark, std::move(field), std::move(message));
}

}  // namespace meshdeck::common
