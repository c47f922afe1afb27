// Tests for common/when.hpp: the times `jobman stats --since/--until` take.

#include "common/when.hpp"

#include <catch2/catch.hpp>
#include <ctime>

using namespace jobman;

namespace {
// Local midnight of `year`-`month`-`day`, plus `seconds`, in ms (what mktime gives).
TimePoint local(int year, int month, int day, int seconds = 0) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_sec = seconds;
  tm.tm_isdst = -1;
  return static_cast<TimePoint>(std::mktime(&tm)) * 1000;
}
constexpr TimePoint k_now = 1'790'000'000'000; // 2026-09-21
} // namespace

TEST_CASE("parse_when takes dates and times in local time", "[when]") {
  CHECK(parse_when("2026-11-01", k_now) == local(2026, 11, 1));
  CHECK(parse_when("2026-11-01T08:30", k_now) == local(2026, 11, 1, 8 * 3600 + 30 * 60));
  CHECK(parse_when("2026-11-01 08:30:15", k_now) == local(2026, 11, 1, 8 * 3600 + 30 * 60 + 15));
  CHECK(parse_when("2024-02-29", k_now) == local(2024, 2, 29)); // a leap day
}

TEST_CASE("parse_when takes now, all and a time ago with its unit", "[when]") {
  CHECK(parse_when("now", k_now) == k_now);
  CHECK(parse_when("all", k_now) == 0);
  CHECK(parse_when("30d", k_now) == k_now - 30LL * 86400 * 1000);
  CHECK(parse_when("12h", k_now) == k_now - 12LL * 3600 * 1000);
  CHECK(parse_when("90m", k_now) == k_now - 90LL * 60 * 1000);
  CHECK(parse_when("5s", k_now) == k_now - 5000);
}

TEST_CASE("parse_when refuses what is not a time", "[when]") {
  for (const char* text : {"", "2026", "1790000000", "2026-02-30", "2023-02-29", "2026-13-01", "2026-00-10", "2026-11-01T24:00",
                           "2026-11-01T08:60", "2026-11-01T08:30:60", "2026-11-1", "2026/11/01", "2026-11-01T08", "2026-11-01X08:30",
                           "1969-12-31", "yesterday", "-5d", "d", "30x", "30 d", "12:00:00", "99999999999999d",
                           "2026-11-01\n"}) {
    INFO(text);
    CHECK_FALSE(parse_when(text, k_now));
  }
  CHECK_FALSE(parse_when(std::string_view("2026-11-01\0", 11), k_now));
  CHECK_FALSE(parse_when("100000d", k_now)); // before the epoch
  CHECK_FALSE(parse_when(std::string(4096, '1') + "d", k_now));
}
