#include "common/located_error.h"

namespace meshdeck::common {

std::string LocatedError::toString() const {
  std::string s;
  if (!file.empty() || line > 0) {
    s = file.empty() ? "<input>" : file;
    if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
    s += ": ";
  }
  if (!field.empty()) s += field + ": ";
  return s + message;
}

std::string toString(const std::vector<LocatedError>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += '\n';
    out += e.toString();
  }
  return out;
}

}  // namespace meshdeck::common
