#pragma once
// A bound on how deeply JSON text nests, checked on the raw bytes before parsing: nlohmann's
// parser survives deep nesting, but copying or comparing the value recurses once per level,
// and 100,000 levels overflow the stack. Every JSON jobman reads from someone else (frames,
// the config, image labels, --from files) goes through this first.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace jobman {

// The most levels of arrays and objects any JSON jobman reads may nest (a submit request
// needs 4; a batch 5).
constexpr std::size_t k_max_json_depth = 64;

// Why `text` nests deeper than `max_depth` levels of `[` and `{` (outside strings), or nothing.
std::optional<std::string> json_depth_problem(std::string_view text, std::size_t max_depth = k_max_json_depth);

} // namespace jobman
