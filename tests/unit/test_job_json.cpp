// Tests for common/job_json.hpp: the JSON forms of Resources and Mount, shared by the wire
// protocol and the database.

#include "common/job_json.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using nlohmann::json;

TEST_CASE("Resources to JSON has every field under its name", "[job_json]") {
  json out = Resources{2.5, 4LL << 30, 256LL << 20, 1, 3600};
  CHECK(out == json{{"cpus", 2.5}, {"memory", 4294967296LL}, {"shm", 268435456LL}, {"gpus", 1}, {"time_limit", 3600}});
}

TEST_CASE("Resources round-trip through JSON", "[job_json]") {
  const Resources in{0.25, 64LL << 40, 1LL << 20, 8, 7 * 86400};
  Resources back = json(in).get<Resources>();
  CHECK(back.cpus == 0.25);
  CHECK(back.memory == 64LL << 40);
  CHECK(back.shm == 1LL << 20);
  CHECK(back.gpus == 8);
  CHECK(back.time_limit == 7 * 86400);
}

TEST_CASE("Resources missing from JSON read as zero: no limit", "[job_json]") {
  Resources r = json::object().get<Resources>();
  CHECK(r.cpus == 0);
  CHECK(r.memory == 0);
  CHECK(r.shm == 0);
  CHECK(r.gpus == 0);
  CHECK(r.time_limit == 0);
  Resources partial = json{{"memory", 1024}}.get<Resources>();
  CHECK(partial.memory == 1024);
  CHECK(partial.cpus == 0);
}

TEST_CASE("Mount to JSON and back", "[job_json]") {
  json out = Mount{"/data/alice", "/data", false};
  CHECK(out == json{{"source", "/data/alice"}, {"target", "/data"}, {"read_only", false}});
  Mount back = out.get<Mount>();
  CHECK(back.source == "/data/alice");
  CHECK(back.target == "/data");
  CHECK_FALSE(back.read_only);
}

TEST_CASE("a Mount without read_only reads as read-only", "[job_json]") {
  Mount m = json{{"source", "/a"}, {"target", "/b"}}.get<Mount>();
  CHECK(m.read_only);
}

TEST_CASE("a Mount without source or target does not parse", "[job_json]") {
  CHECK_THROWS_AS(json({{"target", "/b"}}).get<Mount>(), json::out_of_range);
  CHECK_THROWS_AS(json({{"source", "/a"}}).get<Mount>(), json::out_of_range);
  CHECK_THROWS_AS(json({{"source", 1}, {"target", "/b"}}).get<Mount>(), json::type_error);
}

TEST_CASE("lists of mounts keep their order", "[job_json]") {
  std::vector<Mount> mounts{{"/a", "/x", true}, {"/b", "/y", false}};
  auto back = json(mounts).get<std::vector<Mount>>();
  REQUIRE(back.size() == 2);
  CHECK(back[0].source == "/a");
  CHECK(back[1].source == "/b");
  CHECK_FALSE(back[1].read_only);
}
