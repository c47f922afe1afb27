#include "common/when.hpp"

#include "common/duration.hpp"

#include <charconv>
#include <ctime>

namespace jobman {

namespace {
// Exactly `width` digits at `text[at]`.
std::optional<int> digits(std::string_view text, std::size_t at, std::size_t width) {
  if (at + width > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = at; i < at + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

std::optional<TimePoint> local_date_time(std::string_view text) {
  // YYYY-MM-DD, then optionally [T ]HH:MM, then optionally :SS.
  if (text.size() != 10 && text.size() != 16 && text.size() != 19) return std::nullopt;
  auto year = digits(text, 0, 4), month = digits(text, 5, 2), day = digits(text, 8, 2);
  if (!year || !month || !day || text[4] != '-' || text[7] != '-') return std::nullopt;
  int hour = 0, minute = 0, second = 0;
  if (text.size() >= 16) {
    auto h = digits(text, 11, 2), m = digits(text, 14, 2);
    if ((text[10] != 'T' && text[10] != ' ') || text[13] != ':' || !h || !m) return std::nullopt;
    hour = *h, minute = *m;
  }
  if (text.size() == 19) {
    auto s = digits(text, 17, 2);
    if (text[16] != ':' || !s) return std::nullopt;
    second = *s;
  }
  if (*year < 1970 || *month < 1 || *month > 12 || *day < 1 || *day > 31 || hour > 23 || minute > 59 || second > 59)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = -1;
  const std::time_t at = std::mktime(&tm);
  // mktime normalises 2026-02-30 into March: such a date was not a date.
  if (at == static_cast<std::time_t>(-1) || tm.tm_mday != *day || tm.tm_mon != *month - 1 || tm.tm_year != *year - 1900)
    return std::nullopt;
  return static_cast<TimePoint>(at) * 1000;
}
} // namespace

std::optional<TimePoint> parse_when(std::string_view text, TimePoint now) {
  if (text == "now") return now;
  if (text == "all") return TimePoint{0};
  if (auto at = local_date_time(text)) return at;
  // A time ago needs its unit: a bare number could be a year or an epoch.
  if (text.size() < 2 || text.back() < 'a' || text.back() > 'z' || text.front() < '0' || text.front() > '9') return std::nullopt;
  auto ago = parse_duration(text);
  if (!ago || ago->count() > now / 1000) return std::nullopt;
  return now - ago->count() * 1000;
}

} // namespace jobman
