// Durations as users and admins type them (submit --time, cleanup --older-than, the
// config's timeouts): parse_duration, and format_duration, which shows them.
//   - a parsed duration is not negative, and reads back from its seconds and HH:MM:SS;
//   - format_duration shows at most two units and drops only what is below the smaller
//     one ("1d 2h" for 1d 2h 3m), each part parsing back.

#include "common/duration.hpp"
#include "fuzz/fixtures.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fmt/format.h>
#include <string>
#include <string_view>

namespace {

using namespace jobman;
using jobman::fuzz::expect;

void check_format(std::chrono::seconds value) {
  const std::string shown = format_duration(value);
  const std::int64_t total = value.count() < 0 ? 0 : value.count();
  std::int64_t sum = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t space = shown.find(' ', start);
    auto part = parse_duration(std::string_view(shown).substr(start, space == std::string::npos ? std::string::npos : space - start));
    expect(part.has_value(), "each part of format_duration parses");
    sum += part->count();
    if (space == std::string::npos) break;
    start = space + 1;
  }
  const std::int64_t dropped = total >= 86400 ? 3600 : total >= 3600 ? 60 : 1;
  expect(sum <= total && total - sum < dropped, "format_duration drops only what is below its smaller unit");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = parse_duration(text)) {
    const std::int64_t seconds = parsed->count();
    expect(seconds >= 0, "a parsed duration is not negative");
    const std::string plain = std::to_string(seconds);
    if (plain.size() <= 12) { // parse_duration reads at most 12 digits
      expect(parse_duration(plain) == parsed, "a duration reads back from its seconds");
      expect(parse_duration(plain + "s") == parsed, "a duration reads back from its seconds with 's'");
    }
    const std::string clock = fmt::format("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    if (seconds / 3600 < 1'000'000'000'000) expect(parse_duration(clock) == parsed, "a duration reads back as HH:MM:SS");
    check_format(*parsed);
  }
  // format_duration of any count of seconds, as the input's first eight bytes.
  if (size >= sizeof(std::int64_t)) {
    std::int64_t raw = 0;
    __builtin_memcpy(&raw, data, sizeof raw);
    if (raw <= 999'999'999'999LL * 86400) check_format(std::chrono::seconds(raw));
  }
  return 0;
}
