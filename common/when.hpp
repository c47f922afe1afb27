#pragma once
// Points in time as users type them, for `jobman stats --since/--until`.

#include "common/job.hpp"

#include <optional>
#include <string_view>

namespace jobman {

// `text` as ms since the epoch: "now"; "all" (the epoch: no lower bound); a local date
// "YYYY-MM-DD" (its midnight) or date and time "YYYY-MM-DDTHH:MM[:SS]" (a space may stand
// for the T); or a time ago, a number with a unit: "90m", "12h", "30d". Nothing for
// anything else, an impossible date (2026-02-30) included. `now` is "now" in ms.
std::optional<TimePoint> parse_when(std::string_view text, TimePoint now);

} // namespace jobman
