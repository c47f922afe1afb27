#pragma once
// Human durations: "90s", "10m", "2h", "1d", "HH:MM:SS", or plain seconds.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace jobman {

std::optional<std::chrono::seconds> parse_duration(std::string_view text);
// "1d 2h", "3m 4s", "5s": the inverse of parse_duration for display.
std::string format_duration(std::chrono::seconds value);

} // namespace jobman
