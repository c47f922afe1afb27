// Tests for common/json_depth.hpp, and that every reader of others' JSON applies it
// (issue 9, V1: a 100,000-deep frame overflowed jobmand's stack).

#include "common/config.hpp"
#include "common/json_depth.hpp"
#include "common/protocol.hpp"
#include "daemon/policy/image_catalogue.hpp"

#include "matchers.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using jobman::test::IsError;

namespace {
std::string nested(std::size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}
} // namespace

TEST_CASE("json_depth_problem counts arrays and objects, not brackets in strings", "[json_depth]") {
  CHECK_FALSE(json_depth_problem("{}"));
  CHECK_FALSE(json_depth_problem(nested(k_max_json_depth)));
  CHECK(json_depth_problem(nested(k_max_json_depth + 1)) == "JSON nests deeper than 64 levels");
  CHECK(json_depth_problem(R"({"a":{"b":[{"c":[]}]}})", 4));
  CHECK_FALSE(json_depth_problem(R"({"a":{"b":[{"c":[]}]}})", 5));
  // Brackets inside strings, escaped quotes included, are text.
  CHECK_FALSE(json_depth_problem(R"({"x":")" + nested(1000) + R"("})", 2));
  CHECK_FALSE(json_depth_problem(R"({"x":"\"[[[[[[[[","y":"\\"})", 1));
  CHECK(json_depth_problem(R"({"x":"\\",  "y":[[]]})", 2)); // \\ ends the escape: the arrays count
  // Unbalanced closers cannot lower the count below zero and hide an opener run.
  CHECK(json_depth_problem("]]]]]]" + nested(3), 2));
}

TEST_CASE("parse_request refuses a frame nested 100,000 deep, naming the limit", "[json_depth][protocol]") {
  const std::string frame = R"({"id":1,"op":"hello","args":{"x":)" + nested(100000) + "}}";
  CHECK_THROWS_MATCHES(protocol::parse_request(frame), Error, IsError(ErrorCode::BadRequest, {"deeper than 64 levels"}));
  const std::string objects = R"({"id":1,"op":"submit","args":{"env":)" + nested(50000, '{', '}') + "}}";
  CHECK_THROWS_MATCHES(protocol::parse_request(objects), Error, IsError(ErrorCode::BadRequest, {"deeper than"}));
  // A normal request is far below it.
  CHECK_NOTHROW(protocol::parse_request(R"({"id":1,"op":"submit_batch","args":{"jobs":[{"args":["a"],"env":{"K":"v"}}]}})"));
}

TEST_CASE("parse_config and parse_image_inspect refuse deep nesting", "[json_depth]") {
  CHECK_THROWS_MATCHES(parse_config(R"({"flavors":)" + nested(100000) + "}", "test.json"), Error,
                       IsError(ErrorCode::InvalidArgument, {"config test.json", "deeper than"}));
  CHECK_THROWS_MATCHES(daemon::policy::parse_image_inspect("[{\"Labels\":" + nested(100000, '{', '}') + "}]"), Error,
                       IsError(ErrorCode::EngineError, {"deeper than"}));
}
