// Tests for common/duration.hpp: parse_duration and format_duration.

#include "common/duration.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using namespace std::chrono_literals;

TEST_CASE("parse_duration reads units", "[duration]") {
  CHECK(parse_duration("90s") == 90s);
  CHECK(parse_duration("10m") == 600s);
  CHECK(parse_duration("2h") == 7200s);
  CHECK(parse_duration("1d") == 86400s);
  CHECK(parse_duration("0s") == 0s);
  CHECK(parse_duration("007m") == 420s);
}

TEST_CASE("parse_duration reads plain seconds", "[duration]") {
  CHECK(parse_duration("45") == 45s);
  CHECK(parse_duration("0") == 0s);
  CHECK(parse_duration("86400") == 86400s);
}

TEST_CASE("parse_duration reads HH:MM:SS", "[duration]") {
  CHECK(parse_duration("01:02:03") == 3723s);
  CHECK(parse_duration("0:00:00") == 0s);
  CHECK(parse_duration("1:59:59") == 7199s);
  CHECK(parse_duration("100:00:00") == 360000s); // hours are unbounded
  CHECK(parse_duration("0:0:5") == 5s);
}

TEST_CASE("parse_duration rejects malformed text", "[duration]") {
  const char* bad[] = {
    "",       "1x",    "-5s",     "-5",     "+5s",     " 5s",      "5s ",    "5S",    "s",      "m",
    "1.5h",   "1h30m", "1:60:00", "1:00:60", "a:b:c",  "1:2",      "1:2:3:4", "::",    "1::3",   ":1:2",
    "1:2:",   "1:-1:0", "5 s",    "0x10",   "1e3",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

TEST_CASE("parse_duration refuses numbers that would overflow", "[duration]") {
  CHECK_FALSE(parse_duration("99999999999999999999").has_value());
  CHECK_FALSE(parse_duration("99999999999999999999d").has_value());
  CHECK_FALSE(parse_duration("9223372036854775807s").has_value());
  CHECK_FALSE(parse_duration("9999999999999:00:00").has_value());
  // The largest accepted values still fit without wrapping.
  CHECK(parse_duration("999999999999d") == std::chrono::seconds(999999999999LL * 86400));
  CHECK(parse_duration("999999999999:59:59") == std::chrono::seconds(999999999999LL * 3600 + 59 * 60 + 59));
}

TEST_CASE("format_duration shows the two largest units", "[duration]") {
  CHECK(format_duration(0s) == "0s");
  CHECK(format_duration(5s) == "5s");
  CHECK(format_duration(59s) == "59s");
  CHECK(format_duration(60s) == "1m");
  CHECK(format_duration(61s) == "1m 1s");
  CHECK(format_duration(90s) == "1m 30s");
  CHECK(format_duration(3600s) == "1h");
  CHECK(format_duration(3660s) == "1h 1m");
  CHECK(format_duration(3661s) == "1h 1m");
  CHECK(format_duration(86400s) == "1d");
  CHECK(format_duration(90000s) == "1d 1h");
  CHECK(format_duration(86400s + 59s) == "1d");
  CHECK(format_duration(-5s) == "0s");
}

TEST_CASE("format_duration of a single unit parses back", "[duration]") {
  for (auto value : {0s, 45s, 600s, 7200s, 172800s}) {
    CAPTURE(value.count());
    CHECK(parse_duration(format_duration(value)) == value);
  }
}
