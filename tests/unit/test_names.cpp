// Tests for common/names.hpp: job names, environment variable names, job ids.

#include "common/names.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using Catch::Matchers::Contains;

TEST_CASE("job_name_problem accepts valid names", "[names]") {
  for (const char* name : {"a", "Z", "train", "train-v2.1_final", "job.2024-01-01", "A_b-c.d"}) {
    CAPTURE(name);
    CHECK_FALSE(job_name_problem(name).has_value());
  }
  CHECK_FALSE(job_name_problem(std::string(63, 'x')).has_value());
  CHECK_FALSE(job_name_problem("j" + std::string(62, '9')).has_value());
}

TEST_CASE("job_name_problem rejects an empty name", "[names]") {
  auto problem = job_name_problem("");
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("empty"));
}

TEST_CASE("job_name_problem rejects a name of 64 characters", "[names]") {
  auto problem = job_name_problem(std::string(64, 'x'));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("64") && Contains("63"));
}

TEST_CASE("job_name_problem wants a leading letter so names never look like ids", "[names]") {
  for (const char* name : {"1job", "42", "_job", "-job", ".job"}) {
    CAPTURE(name);
    auto problem = job_name_problem(name);
    REQUIRE(problem.has_value());
    CHECK_THAT(*problem, Contains(std::string("'") + name + "'") && Contains("start with a letter"));
  }
}

TEST_CASE("job_name_problem rejects characters outside [A-Za-z0-9_.-]", "[names]") {
  for (const char* name : {"a/b", "a b", "a;b", "a$b", "a:b", "a\tb", "a\nb", "jöb", "a\\b", "a'b"}) {
    CAPTURE(name);
    auto problem = job_name_problem(name);
    REQUIRE(problem.has_value());
    CHECK_THAT(*problem, Contains(std::string("'") + name + "'") && Contains("only letters, digits"));
  }
  std::string with_nul("ab\0c", 4);
  CHECK(job_name_problem(with_nul).has_value());
}

TEST_CASE("is_valid_env_name follows [A-Za-z_][A-Za-z0-9_]*", "[names]") {
  for (const char* name : {"PATH", "_", "_X", "a1", "LD_LIBRARY_PATH", "x_9"}) {
    CAPTURE(name);
    CHECK(is_valid_env_name(name));
  }
  for (const char* name : {"", "1A", "9", "A-B", "A=B", "A B", "A.B", "É"}) {
    CAPTURE(name);
    CHECK_FALSE(is_valid_env_name(name));
  }
}

TEST_CASE("is_job_id accepts 1 to 18 decimal digits only", "[names]") {
  CHECK(is_job_id("0"));
  CHECK(is_job_id("42"));
  CHECK(is_job_id("007"));
  CHECK(is_job_id(std::string(18, '9')));
  CHECK_FALSE(is_job_id(std::string(19, '1')));
  for (const char* text : {"", "-1", "+1", "1a", " 1", "1 ", "0x10", "1.0", "job"}) {
    CAPTURE(text);
    CHECK_FALSE(is_job_id(text));
  }
}
