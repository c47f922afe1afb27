#pragma once
// Job arrays (`submit --array 0-99%4`): which indices, and how many may run at once.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace jobman {

// The largest index an array may have (Slurm's default MaxArraySize is 1001: 0-1000).
constexpr int k_max_array_index = 999'999;

struct ArraySpec {
  std::vector<int> indices; // ascending, each once
  int limit = 0;            // at most this many elements running at once; 0: no limit of its own
};

// "0-99", "0-99%4", "1,3,5-9", "0-20:5" (every 5th), "7": Slurm's --array syntax. Indices
// 0 to k_max_array_index, at most `max_count` of them. The error says what is wrong.
std::variant<ArraySpec, std::string> parse_array_spec(std::string_view text, int max_count);

// Indices back as ranges: {0,1,2,5,7,8} -> "0-2,5,7-8".
std::string format_indices(const std::vector<int>& indices);

// The array's name in an element's name: "seg[7]" -> "seg" (a name without '[' as it is).
std::string_view array_name(std::string_view element_name);

// `arg` with every "{index}" replaced by `index`.
std::string with_index(std::string_view arg, int index);

} // namespace jobman
