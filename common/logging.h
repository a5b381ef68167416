#pragma once

#include <string>
#include <string_view>

namespace meshdeck::common {

// Configures spdlog's default logger for a Meshdeck binary: "[time] [name] [level] message" on
// stderr. `level` is one of trace, debug, info, warn, error, off. Returns false for an unknown
// level (the logger is then left at info).
bool setupLogging(std::string_view program, std::string_view level = "info");

// Changes the level at run time (the proxy's POST /log-level). Returns false if unknown.
bool setLogLevel(std::string_view level);

}  // namespace meshdeck::common
