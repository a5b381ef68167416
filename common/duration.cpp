#include "duration.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace meshdeck::common {

std::optional<std::chrono::nanoseconds> parseDuration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds{0};
  size_t unit_at = 0;
  while (unit_at < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[unit_at])) || text[unit_at] == '.'))
    ++unit_at;
  if (unit_at == 0 || unit_at == text.size()) return std::nullopt;
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + unit_at, number);
  if (ec != std::errc{} || end != text.data() + unit_at || !std::isfinite(number))
    return std::nullopt;
  const std::string_view unit = text.substr(unit_at);
  double scale = 0;
  if (unit == "us") scale = 1e3;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else if (unit == "m") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else return std::nullopt;
  const double ns = number * scale;
  if (ns > 9.0e18) return std::nullopt;
  return std::chrono::nanoseconds{static_cast<int64_t>(std::llround(ns))};
}

std::string formatDuration(std::chrono::nanoseconds d) {
  const auto ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 3'600'000'000'000 == 0) return fmt::format("{}h", ns / 3'600'000'000'000);
  if (ns % 60'000'000'000 == 0) return fmt::format("{}m", ns / 60'000'000'000);
  if (ns >= 1'000'000'000) return fmt::format("{:g}s", double(ns) / 1e9);
  if (ns >= 1'000'000) return fmt::format("{:g}ms", double(ns) / 1e6);
  return fmt::format("{:g}us", double(ns) / 1e3);
}

}  // namespace meshdeck::common
