#include "common/size.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace jobman {

std::optional<std::int64_t> parse_size(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::int64_t unit = 1;
  char last = text.back();
  if (last == 'b' || last == 'B') {
    text.remove_suffix(1);
    if (text.empty()) return std::nullopt;
    last = text.back();
  }
  switch (last) {
  case 'k': case 'K': unit = 1LL << 10; break;
  case 'm': case 'M': unit = 1LL << 20; break;
  case 'g': case 'G': unit = 1LL << 30; break;
  case 't': case 'T': unit = 1LL << 40; break;
  default: break;
  }
  if (unit != 1) text.remove_suffix(1);
  if (unit == 1 && text.find('.') != std::string_view::npos) return std::nullopt; // no fractional bytes
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string_view::npos || text.front() == '.') return std::nullopt;
  if (std::count(text.begin(), text.end(), '.') > 1) return std::nullopt;
  double value = std::stod(std::string(text));
  double bytes = value * static_cast<double>(unit);
  if (!(bytes >= 1) || bytes > 9.0e18) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(bytes));
}

std::string format_size(std::int64_t bytes) {
  const char* units[] = {"T", "G", "M", "K"};
  const std::int64_t sizes[] = {1LL << 40, 1LL << 30, 1LL << 20, 1LL << 10};
  for (int i = 0; i < 4; ++i)
    if (bytes >= sizes[i] && bytes % sizes[i] == 0) return fmt::format("{}{}", bytes / sizes[i], units[i]);
  return std::to_string(bytes);
}

std::string format_bytes(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

} // namespace jobman
