#include "duration.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

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
  struct Unit {
    std::string_view name;
    double ns;
  };
  static constexpr Unit kUnits[] = {
      {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  double scale = 0;
  for (const Unit& u : kUnits)
    if (u.name == unit) scale = u.ns;
  if (scale == 0) return std::nullopt;
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
