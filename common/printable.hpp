#pragma once
// Text from users (args, env, job names in reasons, directory names, image labels) made
// safe for a terminal and a log line: no escape sequences, no forged line breaks.

#include <cstddef>
#include <string>
#include <string_view>

namespace jobman {

// Length of the valid UTF-8 sequence that starts at `text[i]`, or 0 if none starts there.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i);

// `text` with control characters (C0, DEL, C1) and invalid UTF-8 bytes written as escapes:
// `\n`, `\r`, `\t`, `\e`, `\xNN`, `\u0080`..`\u009f`, and `\\` for a backslash only when
// `escape_backslash` (so that the escapes cannot be forged). Valid UTF-8 is kept.
std::string escape_controls(std::string_view text, bool escape_backslash = false);

} // namespace jobman
