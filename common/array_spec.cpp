#include "common/array_spec.hpp"

#include "common/printable.hpp"

#include <algorithm>
#include <charconv>
#include <fmt/format.h>

namespace jobman {

namespace {
// A whole decimal number 0..k_max_array_index, nothing else (no sign, no spaces).
std::optional<int> index_of(std::string_view digits) {
  if (digits.empty() || digits.size() > 7) return std::nullopt;
  int value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size() || value < 0 || value > k_max_array_index) return std::nullopt;
  return value;
}
} // namespace

std::variant<ArraySpec, std::string> parse_array_spec(std::string_view text, int max_count) {
  const std::string shown = escape_controls(text.substr(0, 80));
  auto bad = [&](const std::string& why) { return fmt::format("--array '{}': {}", shown, why); };
  if (text.empty()) return bad("empty; give indices such as 0-99 or 1,3,5-9, and %N to run at most N at once");
  if (text.size() > 4096) return bad("longer than 4096 characters");
  ArraySpec spec;
  std::string_view list = text;
  if (auto percent = text.find('%'); percent != std::string_view::npos) {
    list = text.substr(0, percent);
    auto limit = index_of(text.substr(percent + 1));
    if (!limit || *limit < 1) return bad("%N needs a whole number of at least 1 after the %");
    spec.limit = *limit;
  }
  std::vector<int> indices;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = list.find(',', start);
    std::string_view item = list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) return bad("an empty item (two commas, or one at an end)");
    std::string_view range = item;
    int step = 1;
    if (auto colon = item.find(':'); colon != std::string_view::npos) {
      range = item.substr(0, colon);
      auto parsed = index_of(item.substr(colon + 1));
      if (!parsed || *parsed < 1) return bad(fmt::format("'{}': the step after ':' must be a whole number of at least 1", escape_controls(item)));
      step = *parsed;
    }
    auto dash = range.find('-');
    auto first = index_of(range.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : index_of(range.substr(dash + 1));
    if (!first || !last)
      return bad(fmt::format("'{}' is not an index or a range A-B of indices 0 to {}", escape_controls(item), k_max_array_index));
    if (*last < *first) return bad(fmt::format("'{}' runs backwards", escape_controls(item)));
    if (dash == std::string_view::npos && step != 1) return bad(fmt::format("'{}': a step needs a range (A-B:STEP)", escape_controls(item)));
    for (int i = *first; i <= *last; i += step) {
      indices.push_back(i);
      if (static_cast<int>(indices.size()) > max_count)
        return bad(fmt::format("more than {} jobs, the most an array may have here (limits.max_array_size)", max_count));
      if (*last - i < step) break; // no overflow past the end
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::sort(indices.begin(), indices.end());
  if (auto twice = std::adjacent_find(indices.begin(), indices.end()); twice != indices.end())
    return bad(fmt::format("index {} is given twice", *twice));
  spec.indices = std::move(indices);
  return spec;
}

std::string format_indices(const std::vector<int>& indices) {
  std::string out;
  for (std::size_t i = 0; i < indices.size();) {
    std::size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", indices[i]) : fmt::format("{}-{}", indices[i], indices[j]);
    i = j + 1;
  }
  return out;
}

std::string_view array_name(std::string_view element_name) { return element_name.substr(0, element_name.find('[')); }

std::string with_index(std::string_view arg, int index) {
  constexpr std::string_view placeholder = "{index}";
  std::string out;
  const std::string number = std::to_string(index);
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = arg.find(placeholder, start);
    if (at == std::string_view::npos) break;
    out.append(arg.substr(start, at - start)).append(number);
    start = at + placeholder.size();
  }
  out.append(arg.substr(start));
  return out;
}

} // namespace jobman
