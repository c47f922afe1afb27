// Tests for common/notify.hpp: `submit --notify` words (Slurm's --mail-type), hostile
// ones included, and the end states each word stands for.

#include "common/notify.hpp"

#include "matchers.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using jobman::test::IsError;
using Words = std::vector<std::string>;

TEST_CASE("notify words: comma lists in any case, each once, in a fixed order; NONE is nothing", "[notify]") {
  CHECK(parse_notify_words({}).empty());
  CHECK(parse_notify_words({"NONE"}).empty());
  CHECK(parse_notify_words({"none"}).empty());
  CHECK(parse_notify_words({"END"}) == Words{"END"});
  CHECK(parse_notify_words({"fail,end"}) == Words{"END", "FAIL"});
  CHECK(parse_notify_words({"TIMEOUT", "FAIL,FAIL"}) == Words{"FAIL", "TIMEOUT"});
  CHECK(parse_notify_words({"TIME_LIMIT"}) == Words{"TIMEOUT"}); // Slurm's spelling
  CHECK(parse_notify_words({"ALL"}) == Words{"ALL"});
}

TEST_CASE("notify words: unknown, empty, non-end and too many words are refused, naming them", "[notify]") {
  auto fails = [](const Words& items, std::initializer_list<std::string> parts) {
    CAPTURE(items);
    CHECK_THROWS_MATCHES(parse_notify_words(items), Error, IsError(ErrorCode::InvalidArgument, parts));
  };
  fails({"FINISH"}, {"unknown word 'FINISH'", "END", "FAIL"});
  fails({"END,bogus"}, {"'bogus'"});
  fails({""}, {"empty word"});
  fails({"END,"}, {"empty word"});
  fails({",END"}, {"empty word"});
  fails({"END, FAIL"}, {"' FAIL'"}); // no trimming: what was typed is what is named
  fails({"BEGIN"}, {"BEGIN", "only when a job ends"});
  fails({"BEGIN,END"}, {"BEGIN", "only when a job ends"});
  fails({"REQUEUE"}, {"only when a job ends"});
  fails({"TIME_LIMIT_80"}, {"only when a job ends"});
  fails({"NONE,END"}, {"NONE cannot be combined"});
  fails({"END\n\x1b[2J"}, {"\\n\\e[2J"});
  fails({std::string(10000, 'X')}, {"unknown word '" + std::string(40, 'X') + "'"});
  fails({std::string(100, ',')}, {"more than 16"});
  fails(Words(17, "END"), {"more than 16"});
}

TEST_CASE("notify states: END and ALL every end, FAIL as Slurm's (not SUCCEEDED or CANCELLED), TIMEOUT only that", "[notify]") {
  using S = JobState;
  CHECK(notify_states({"END"}) == std::vector<S>{S::Succeeded, S::Failed, S::Cancelled, S::Timeout, S::OomKilled, S::Lost});
  CHECK(notify_states({"ALL"}) == notify_states({"END"}));
  CHECK(notify_states({"FAIL"}) == std::vector<S>{S::Failed, S::Timeout, S::OomKilled, S::Lost});
  CHECK(notify_states({"TIMEOUT"}) == std::vector<S>{S::Timeout});
  CHECK(notify_states({}).empty());
  CHECK_FALSE(notify_wants({"END"}, S::Running));
  CHECK_FALSE(notify_wants({"ALL"}, S::Queued));
  CHECK(notify_wants({"FAIL", "TIMEOUT"}, S::Timeout));
  CHECK_FALSE(notify_wants({"FAIL"}, S::Cancelled));
}

TEST_CASE("notify words are stored as a comma list and read back", "[notify]") {
  CHECK(join_notify_words({"END", "FAIL"}) == "END,FAIL");
  CHECK(join_notify_words({}).empty());
  CHECK(split_notify_words("END,FAIL") == Words{"END", "FAIL"});
  CHECK(split_notify_words("").empty());
}
