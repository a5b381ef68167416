#pragma once

#include <cstdint>
#include <string>

namespace YAML {
struct Mark;
class Node;
}  // namespace YAML

namespace meshdeck::common {

// A problem in a YAML input, located precisely. The one error type of every YAML reader: the
// loader's refusals (limits, syntax, encoding) and the walkers' complaints about one node.
struct YamlError {
  std::string source;             // file name, or where the text came from ("editor")
  uint32_t line = 0, column = 0;  // 1-based; 0 when unknown (a size limit, an unreadable file)
  std::string message;            // "too many alias expansions (limit 10000)"
  std::string field;              // "spec.http[0].route[1].weight"; empty when not about a field

  // "bomb.yaml:7:9: too many alias expansions (limit 10000)", with "field: " before the message
  // when there is one; the position is left out when unknown, "<input>" stands for no source.
  std::string str() const;
};

// The error at yaml-cpp's position `mark` (0-based, -1 when unknown: a node built in code).
YamlError yamlErrorAt(const std::string& source, const YAML::Mark& mark, std::string field,
                      std::string message);
// The error at the position `node` was parsed from (unknown for an undefined node).
YamlError yamlErrorAt(const std::string& source, const YAML::Node& node, std::string field,
                      std::string message);

}  // namespace meshdeck::common
