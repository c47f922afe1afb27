#pragma once
// Memory sizes as admins write them: "64M", "1G", "512m", "1.5G", or plain bytes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jobman {

// Binary units (K = 1024). Returns nothing for anything else, or for zero.
std::optional<std::int64_t> parse_size(std::string_view text);
// "1G", "64M", "1536M": exact when possible, for engine flags and messages.
std::string format_size(std::int64_t bytes);
// For people: "300 B", "1.9 MiB", "1.2 GiB".
std::string format_bytes(std::int64_t bytes);

} // namespace jobman
