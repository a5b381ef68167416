#pragma once

#include <string>

#include "common/located_error.h"

namespace YAML {
struct Mark;
class Node;
}  // namespace YAML

namespace meshdeck::common {

// A YAML reader's errors are LocatedErrors (common/located_error.h): the loader's refusals
// (limits, syntax, encoding) and the walkers' complaints about one node. These place one at a
// yaml-cpp position.

// The error at yaml-cpp's position `mark` (0-based, -1 when unknown: a node built in code).
LocatedError yamlErrorAt(const std::string& file, const YAML::Mark& mark, std::string field,
                         std::string message);
// The error at the position `node` was parsed from (unknown for an undefined node).
LocatedError yamlErrorAt(const std::string& file, const YAML::Node& node, std::string field,
                         std::string message);

}  // namespace meshdeck::common
