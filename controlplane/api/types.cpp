#include "controlplane/api/types.h"

#include <fmt/format.h>

namespace meshdeck::cp {

std::string ValidationError::toString() const {
  std::string where = file.empty() ? std::string("<input>") : file;
  if (line > 0) where += fmt::format(":{}:{}", line, column);
  return field.empty() ? fmt::format("{}: {}", where, message)
                       : fmt::format("{}: {}: {}", where, field, message);
}

}  // namespace meshdeck::cp
