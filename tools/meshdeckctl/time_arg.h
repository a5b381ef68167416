#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace meshdeck::tools {

// Reads a point in time given on meshdeckctl's command line (`--at`, `--since`, `--until`):
//  - "now";
//  - a duration before `now`: "-15m", "15m", "1.5h", "2d" (the sign is optional: "--since 1h"
//    means an hour ago; units us, ms, s, m, h, d);
//  - an RFC 3339 time: "2026-12-06T14:05:00Z", "2026-12-06T15:05:00.250+01:00" (a space may
//    stand for the T; the offset is required).
// Nothing with a clear reason in `error` for anything else (a time in the future is allowed).
std::optional<std::chrono::system_clock::time_point> parseTimeArg(
    std::string_view text, std::chrono::system_clock::time_point now, std::string* error);

// "2026-12-06T14:05:00Z" (UTC, whole seconds).
std::string formatRfc3339(std::chrono::system_clock::time_point t);

}  // namespace meshdeck::tools
