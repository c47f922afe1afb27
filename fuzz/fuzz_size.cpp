// Memory sizes as admins write them in the config (flavors' memory and shm, limits):
// parse_size, and format_size, which writes them back for engine flags and --check-config.
//   - a parsed size is between 1 byte and 9e18;
//   - parse_size(format_size(n)) == n for every size format_size writes with a unit, and for
//     plain byte counts up to 2^53 (a plain count is read through a double: above 2^53 it is
//     rounded, which nobody writes for memory);
//   - format_bytes never fails.

#include "common/size.hpp"
#include "fuzz/fixtures.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace jobman;
using jobman::fuzz::expect;

void check_format(std::int64_t bytes) {
  const std::string shown = format_size(bytes);
  (void)format_bytes(bytes);
  if (bytes < 1 || bytes > 9'000'000'000'000'000'000LL) return;
  const bool has_unit = shown.find_first_of("KMGT") != std::string::npos;
  if (has_unit || bytes <= (std::int64_t{1} << 53))
    expect(parse_size(shown) == bytes, "parse_size reads back what format_size writes");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = parse_size(text)) {
    expect(*parsed >= 1 && *parsed <= 9'000'000'000'000'000'000LL, "a parsed size is between 1 byte and 9e18");
    check_format(*parsed);
  }
  // format_size of any count of bytes, as the input's first eight bytes.
  if (size >= sizeof(std::int64_t)) {
    std::int64_t raw = 0;
    __builtin_memcpy(&raw, data, sizeof raw);
    check_format(raw);
  }
  return 0;
}
