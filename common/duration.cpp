#include "common/duration.hpp"

#include <charconv>
#include <cstdint>
#include <fmt/format.h>
#include <limits>

namespace jobman {

namespace {
std::optional<std::int64_t> parse_uint(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}
} // namespace

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.find(':') != std::string_view::npos) {
    // HH:MM:SS (hours unbounded, minutes and seconds < 60)
    auto first = text.find(':');
    auto second = text.find(':', first + 1);
    if (second == std::string_view::npos || text.find(':', second + 1) != std::string_view::npos) return std::nullopt;
    auto h = parse_uint(text.substr(0, first));
    auto m = parse_uint(text.substr(first + 1, second - first - 1));
    auto s = parse_uint(text.substr(second + 1));
    if (!h || !m || !s || *m >= 60 || *s >= 60) return std::nullopt;
    return std::chrono::seconds(*h * 3600 + *m * 60 + *s);
  }
  std::int64_t unit = 1;
  std::string_view digits = text;
  switch (text.back()) {
  case 's': unit = 1; digits.remove_suffix(1); break;
  case 'm': unit = 60; digits.remove_suffix(1); break;
  case 'h': unit = 3600; digits.remove_suffix(1); break;
  case 'd': unit = 86400; digits.remove_suffix(1); break;
  default: break;
  }
  auto n = parse_uint(digits);
  if (!n || *n > std::numeric_limits<std::int64_t>::max() / 86400) return std::nullopt;
  return std::chrono::seconds(*n * unit);
}

std::string format_duration(std::chrono::seconds value) {
  auto total = value.count();
  if (total < 0) total = 0;
  auto d = total / 86400, h = (total % 86400) / 3600, m = (total % 3600) / 60, s = total % 60;
  if (d > 0) return h ? fmt::format("{}d {}h", d, h) : fmt::format("{}d", d);
  if (h > 0) return m ? fmt::format("{}h {}m", h, m) : fmt::format("{}h", h);
  if (m > 0) return s ? fmt::format("{}m {}s", m, s) : fmt::format("{}m", m);
  return fmt::format("{}s", s);
}

} // namespace jobman
