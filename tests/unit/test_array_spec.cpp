// Tests for common/array_spec.hpp: `submit --array`'s indices, limit and {index}.

#include "common/array_spec.hpp"

#include <catch2/catch.hpp>

using namespace jobman;

namespace {
ArraySpec parsed(std::string_view text, int max_count = 1000) {
  auto result = parse_array_spec(text, max_count);
  if (auto* error = std::get_if<std::string>(&result)) FAIL(*error);
  return std::get<ArraySpec>(result);
}
std::string refused(std::string_view text, int max_count = 1000) {
  auto result = parse_array_spec(text, max_count);
  if (std::holds_alternative<ArraySpec>(result)) FAIL("accepted: " << text);
  return std::get<std::string>(result);
}
std::vector<int> range(int first, int last) {
  std::vector<int> out;
  for (int i = first; i <= last; ++i) out.push_back(i);
  return out;
}
} // namespace

TEST_CASE("array specs take ranges, lists, steps and a limit, as Slurm's --array", "[array_spec]") {
  CHECK(parsed("0-99").indices == range(0, 99));
  CHECK(parsed("0-99").limit == 0);
  CHECK(parsed("0-99%4").limit == 4);
  CHECK(parsed("7").indices == std::vector<int>{7});
  CHECK(parsed("1,3,5-7").indices == std::vector<int>{1, 3, 5, 6, 7});
  CHECK(parsed("9,2,4").indices == std::vector<int>{2, 4, 9}); // sorted
  CHECK(parsed("0-20:5").indices == std::vector<int>{0, 5, 10, 15, 20});
  CHECK(parsed("0-7:3%2").indices == std::vector<int>{0, 3, 6});
  CHECK(parsed("999999").indices == std::vector<int>{999999});
  CHECK(parsed("999990-999999:7").indices == std::vector<int>{999990, 999997});
  CHECK(parsed("0-9", 10).indices.size() == 10);
}

TEST_CASE("array specs refuse what is not one, saying why", "[array_spec]") {
  CHECK_THAT(refused(""), Catch::Contains("empty"));
  CHECK_THAT(refused("5-3"), Catch::Contains("backwards"));
  CHECK_THAT(refused("-1"), Catch::Contains("'-1' is not an index"));
  CHECK_THAT(refused("0-99%0"), Catch::Contains("at least 1"));
  CHECK_THAT(refused("0-99%"), Catch::Contains("%N"));
  CHECK_THAT(refused("0-99%-4"), Catch::Contains("%N"));
  CHECK_THAT(refused("0-99%4%4"), Catch::Contains("%N"));
  CHECK_THAT(refused("a-b"), Catch::Contains("not an index"));
  CHECK_THAT(refused("1,,2"), Catch::Contains("empty item"));
  CHECK_THAT(refused(","), Catch::Contains("empty item"));
  CHECK_THAT(refused("1,"), Catch::Contains("empty item"));
  CHECK_THAT(refused(" 1"), Catch::Contains("not an index"));
  CHECK_THAT(refused("1000000"), Catch::Contains("not an index"));
  CHECK_THAT(refused("99999999999999999999"), Catch::Contains("not an index"));
  CHECK_THAT(refused("0x10"), Catch::Contains("not an index"));
  CHECK_THAT(refused("+5"), Catch::Contains("not an index"));
  CHECK_THAT(refused("0-9:0"), Catch::Contains("step"));
  CHECK_THAT(refused("5:2"), Catch::Contains("a step needs a range"));
  CHECK_THAT(refused("1,2,1"), Catch::Contains("index 1 is given twice"));
  CHECK_THAT(refused("0-3,2-5"), Catch::Contains("index 2 is given twice"));
  CHECK_THAT(refused("0-1000"), Catch::Contains("more than 1000 jobs"));
  CHECK_THAT(refused("0-999999", 10), Catch::Contains("limits.max_array_size"));
  CHECK_THAT(refused(std::string(5000, '1')), Catch::Contains("4096"));
  CHECK_THAT(refused("1\n2"), Catch::Contains("\\n")); // shown escaped
}

TEST_CASE("indices print back as ranges; {index} is replaced everywhere", "[array_spec]") {
  CHECK(format_indices({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8");
  CHECK(format_indices(range(0, 99)) == "0-99");
  CHECK(format_indices({}).empty());
  CHECK(with_index("-i /data/p{index}/in -o out{index}", 7) == "-i /data/p7/in -o out7");
  CHECK(with_index("{index}{index}", 12) == "1212");
  CHECK(with_index("no placeholder {ind} {INDEX}", 3) == "no placeholder {ind} {INDEX}");
  CHECK(with_index("", 3).empty());
}
