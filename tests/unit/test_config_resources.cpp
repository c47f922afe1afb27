// Tests for common/config.hpp's resource sections: flavors, default_flavor,
// limits.default_time, gpus and mount templates (the rest is in test_config.cpp).

#include "common/config.hpp"

#include "matchers.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <fmt/format.h>

using namespace jobman;
using namespace std::chrono_literals;
using jobman::test::IsError;

namespace {
Config parse(const std::string& text) { return parse_config(text, "test.json"); }
} // namespace

// --- flavors, default_flavor, limits.default_time --------------------------------------

namespace {

constexpr const char* k_flavors = R"({
  "limits": {"default_time": "30m"},
  "flavors": [
    {"name": "small", "description": "1 CPU, 1 GiB", "cpus": 1, "memory": "1G", "shm": "64M", "gpus": 0, "max_time": "2h"},
    {"name": "big", "cpus": 8.5, "memory": 17179869184, "shm": "1.5G", "max_time": "1d"},
    {"name": "gpu", "cpus": 16, "memory": "64G", "gpus": 2, "max_time": 259200}
  ],
  "default_flavor": "big",
  "gpus": {"devices": ["0", "1", "GPU-5a3c9b1e-7d2f-4c8a-9e61-0b4f2d7c8a11"]}
})";

// A config with one flavor whose `key` is set to the JSON `value`.
std::string flavor_with(const std::string& key, const std::string& value) {
  return fmt::format(R"({{"flavors": [{{"name": "small", "{}": {}}}]}})", key, value);
}

void check_fails(const std::string& text, std::initializer_list<std::string> parts) {
  CAPTURE(text);
  CHECK_THROWS_MATCHES(parse(text), Error, IsError(ErrorCode::InvalidArgument, parts));
}

} // namespace

TEST_CASE("without flavors the config has the built-in default flavor", "[config]") {
  Config c = parse("{}");
  REQUIRE(c.flavors.size() == 1);
  const Flavor& f = c.flavors[0];
  CHECK(f.name == "default");
  CHECK(f.description == "1 CPU, 2 GiB");
  CHECK(f.cpus == 1);
  CHECK(f.memory == 2LL << 30);
  CHECK(f.shm == 64LL << 20);
  CHECK(f.gpus == 0);
  CHECK(f.max_time == 24h);
  CHECK(c.default_flavor == "default");
  CHECK(c.limits.default_time == 1h);
  CHECK_FALSE(c.gpus.autodetect);
  CHECK(c.gpus.devices.empty());
  CHECK(c.mounts.empty());
  // An empty list is the same as none.
  Config empty = parse(R"({"flavors": []})");
  REQUIRE(empty.flavors.size() == 1);
  CHECK(empty.flavors[0].name == "default");
  CHECK(empty.default_flavor == "default");
  // default_flavor may name the built-in one.
  CHECK(parse(R"({"default_flavor": "default"})").default_flavor == "default");
}

TEST_CASE("parse_config reads flavors in order with every field", "[config]") {
  Config c = parse(k_flavors);
  CHECK(c.limits.default_time == 30min);
  REQUIRE(c.flavors.size() == 3);

  const Flavor& small = c.flavors[0];
  CHECK(small.name == "small");
  CHECK(small.description == "1 CPU, 1 GiB");
  CHECK(small.cpus == 1);
  CHECK(small.memory == 1LL << 30);
  CHECK(small.shm == 64LL << 20);
  CHECK(small.gpus == 0);
  CHECK(small.max_time == 2h);

  const Flavor& big = c.flavors[1];
  CHECK(big.name == "big");
  CHECK(big.description.empty());
  CHECK(big.cpus == 8.5);
  CHECK(big.memory == 16LL << 30);
  CHECK(big.shm == 1536LL << 20);
  CHECK(big.gpus == 0);
  CHECK(big.max_time == 24h);

  const Flavor& gpu = c.flavors[2];
  CHECK(gpu.name == "gpu");
  CHECK(gpu.cpus == 16);
  CHECK(gpu.memory == 64LL << 30);
  CHECK(gpu.shm == 64LL << 20); // default
  CHECK(gpu.gpus == 2);
  CHECK(gpu.max_time == 72h);

  CHECK(c.default_flavor == "big");
  CHECK(c.gpus.devices == std::vector<std::string>{"0", "1", "GPU-5a3c9b1e-7d2f-4c8a-9e61-0b4f2d7c8a11"});
  CHECK_FALSE(c.gpus.autodetect);
}

TEST_CASE("a flavor that sets only its name gets the documented defaults", "[config]") {
  Config c = parse(R"({"flavors": [{"name": "tiny"}]})");
  REQUIRE(c.flavors.size() == 1);
  const Flavor& f = c.flavors[0];
  CHECK(f.name == "tiny");
  CHECK(f.description.empty());
  CHECK(f.cpus == 1);
  CHECK(f.memory == 2LL << 30);
  CHECK(f.shm == 64LL << 20);
  CHECK(f.gpus == 0);
  CHECK(f.max_time == 24h);
}

TEST_CASE("default_flavor is the first flavor unless set", "[config]") {
  Config c = parse(R"({"flavors": [{"name": "b"}, {"name": "a"}]})");
  CHECK(c.default_flavor == "b");
  CHECK(parse(R"({"flavors": [{"name": "b"}, {"name": "a"}], "default_flavor": "a"})").default_flavor == "a");
}

TEST_CASE("find_flavor finds flavors by exact name", "[config]") {
  Config c = parse(k_flavors);
  REQUIRE(c.find_flavor("gpu") != nullptr);
  CHECK(c.find_flavor("gpu") == &c.flavors[2]);
  CHECK(c.find_flavor("small") == &c.flavors[0]);
  CHECK(c.find_flavor("GPU") == nullptr);
  CHECK(c.find_flavor("default") == nullptr); // no built-in when flavors are given
  CHECK(c.find_flavor("") == nullptr);
}

TEST_CASE("flavor sizes take units, bytes and fractions", "[config]") {
  CHECK(parse(flavor_with("memory", "\"512M\"")).flavors[0].memory == 512LL << 20);
  CHECK(parse(flavor_with("memory", "\"6M\"")).flavors[0].memory == 6LL << 20); // the minimum
  CHECK(parse(flavor_with("memory", "8589934592")).flavors[0].memory == 8LL << 30);
  CHECK(parse(flavor_with("memory", "\"2.5g\"")).flavors[0].memory == (5LL << 30) / 2);
  CHECK(parse(flavor_with("shm", "\"1M\"")).flavors[0].shm == 1LL << 20);
  CHECK(parse(flavor_with("cpus", "0.01")).flavors[0].cpus == 0.01);
  CHECK(parse(flavor_with("cpus", "4096")).flavors[0].cpus == 4096);
  CHECK(parse(flavor_with("gpus", "0")).flavors[0].gpus == 0);
  CHECK(parse(flavor_with("max_time", "\"01:30:00\"")).flavors[0].max_time == 90min);
  CHECK(parse(flavor_with("max_time", "1")).flavors[0].max_time == 1s);
}

TEST_CASE("flavor errors name the flavor's index and key", "[config]") {
  SECTION("flavors not a list") { check_fails(R"({"flavors": {"name": "x"}})", {"test.json", "flavors", "must be a list of flavors"}); }
  SECTION("flavor not an object") { check_fails(R"({"flavors": ["small"]})", {"flavors[0]", "must be an object"}); }
  SECTION("name missing") { check_fails(R"({"flavors": [{"cpus": 2}]})", {"flavors[0].name", "is required"}); }
  SECTION("name empty") { check_fails(R"({"flavors": [{"name": ""}]})", {"flavors[0].name", "must not be empty"}); }
  SECTION("name not a string") { check_fails(R"({"flavors": [{"name": 5}]})", {"flavors[0].name", "must be a string"}); }
  SECTION("name not a valid name") {
    check_fails(R"({"flavors": [{"name": "ok"}, {"name": "2big"}]})", {"flavors[1].name", "'2big'", "start with a letter"});
  }
  SECTION("name with a space") { check_fails(R"({"flavors": [{"name": "a b"}]})", {"flavors[0].name", "'a b'"}); }
  SECTION("description not a string") { check_fails(flavor_with("description", "1"), {"flavors[0].description", "must be a string"}); }
  SECTION("cpus zero") { check_fails(flavor_with("cpus", "0"), {"flavors[0].cpus", "between 0.01 and 4096"}); }
  SECTION("cpus too many") { check_fails(flavor_with("cpus", "4097"), {"flavors[0].cpus", "between 0.01 and 4096"}); }
  SECTION("cpus a string") { check_fails(flavor_with("cpus", "\"2\""), {"flavors[0].cpus", "must be a number"}); }
  SECTION("memory not a size") { check_fails(flavor_with("memory", "\"lots\""), {"flavors[0].memory", "must be a size like"}); }
  SECTION("memory zero") { check_fails(flavor_with("memory", "0"), {"flavors[0].memory", "must be a size like"}); }
  SECTION("memory negative") { check_fails(flavor_with("memory", "-5"), {"flavors[0].memory", "must be a size like"}); }
  SECTION("memory fractional bytes") { check_fails(flavor_with("memory", "1.5e9"), {"flavors[0].memory", "must be a size like"}); }
  SECTION("memory below the minimum") { check_fails(flavor_with("memory", "\"5M\""), {"flavors[0].memory", "must be at least 6M"}); }
  SECTION("shm below the minimum") { check_fails(flavor_with("shm", "\"512K\""), {"flavors[0].shm", "must be at least 1M"}); }
  SECTION("shm not a size") { check_fails(flavor_with("shm", "true"), {"flavors[0].shm", "must be a size like"}); }
  SECTION("gpus negative") { check_fails(flavor_with("gpus", "-1"), {"flavors[0].gpus", "between 0 and 64", "not -1"}); }
  SECTION("gpus too many") { check_fails(flavor_with("gpus", "65"), {"flavors[0].gpus", "between 0 and 64", "not 65"}); }
  SECTION("gpus fractional") { check_fails(flavor_with("gpus", "1.5"), {"flavors[0].gpus", "must be an integer"}); }
  SECTION("max_time zero") { check_fails(flavor_with("max_time", "\"0s\""), {"flavors[0].max_time", "must be at least 1s"}); }
  SECTION("max_time not a duration") { check_fails(flavor_with("max_time", "\"forever\""), {"flavors[0].max_time", "must be a duration"}); }
  SECTION("unknown flavor key") { check_fails(flavor_with("memroy", "\"1G\""), {"flavors[0].memroy", "unknown key"}); }
  SECTION("error in a later flavor") {
    check_fails(R"({"flavors": [{"name": "a"}, {"name": "b"}, {"name": "c", "memory": "1K"}]})", {"flavors[2].memory", "at least 6M"});
  }
  SECTION("default_time zero") { check_fails(R"({"limits": {"default_time": 0}})", {"limits.default_time", "at least 1s"}); }
  SECTION("default_time not a duration") { check_fails(R"({"limits": {"default_time": "soon"}})", {"limits.default_time", "duration"}); }
}

TEST_CASE("a flavor name may be defined only once", "[config]") {
  check_fails(R"({"flavors": [{"name": "small"}, {"name": "big"}, {"name": "small", "cpus": 2}]})",
              {"flavors[2].name", "'small' is defined twice"});
  // Names are case-sensitive.
  CHECK(parse(R"({"flavors": [{"name": "small"}, {"name": "Small"}]})").flavors.size() == 2);
}

TEST_CASE("default_flavor must name a flavor", "[config]") {
  check_fails(R"({"flavors": [{"name": "small"}, {"name": "big"}], "default_flavor": "huge"})",
              {"test.json", "default_flavor", "no flavor is named 'huge'"});
  // The built-in "default" exists only when no flavors are given.
  check_fails(R"({"flavors": [{"name": "small"}], "default_flavor": "default"})", {"default_flavor", "'default'"});
  check_fails(R"({"default_flavor": "small"})", {"default_flavor", "no flavor is named 'small'"});
  check_fails(R"({"default_flavor": ""})", {"default_flavor", "must not be empty"});
  check_fails(R"({"default_flavor": 1})", {"default_flavor", "must be a string"});
}

// --- gpus -------------------------------------------------------------------------------

TEST_CASE("gpus.devices is a list of indices or UUIDs, or \"auto\"", "[config]") {
  Config listed = parse(R"({"gpus": {"devices": ["0", "2", "GPU-5a3c9b1e-7d2f", "MIG-1:0.3"]}})");
  CHECK(listed.gpus.devices == std::vector<std::string>{"0", "2", "GPU-5a3c9b1e-7d2f", "MIG-1:0.3"});
  CHECK_FALSE(listed.gpus.autodetect);

  Config automatic = parse(R"({"gpus": {"devices": "auto"}})");
  CHECK(automatic.gpus.autodetect);
  CHECK(automatic.gpus.devices.empty());

  Config none = parse(R"({"gpus": {"devices": []}})");
  CHECK(none.gpus.devices.empty());
  CHECK_FALSE(none.gpus.autodetect);

  Config empty_section = parse(R"({"gpus": {}})");
  CHECK(empty_section.gpus.devices.empty());
  CHECK_FALSE(empty_section.gpus.autodetect);
}

TEST_CASE("gpus errors name the key", "[config]") {
  SECTION("invalid id") { check_fails(R"({"gpus": {"devices": ["0", "1;rm"]}})", {"gpus.devices", "'1;rm' is not a GPU index or UUID"}); }
  SECTION("id with a space") { check_fails(R"({"gpus": {"devices": ["0 1"]}})", {"gpus.devices", "'0 1'"}); }
  SECTION("id with a comma") { check_fails(R"({"gpus": {"devices": ["0,1"]}})", {"gpus.devices", "'0,1' is not a GPU"}); }
  SECTION("id with a quote") { check_fails(R"({"gpus": {"devices": ["0\""]}})", {"gpus.devices", "is not a GPU"}); }
  SECTION("duplicate id") { check_fails(R"({"gpus": {"devices": ["0", "1", "0"]}})", {"gpus.devices", "'0' is listed twice"}); }
  SECTION("empty id") { check_fails(R"({"gpus": {"devices": [""]}})", {"gpus.devices", "empty"}); }
  SECTION("a number instead of a string") { check_fails(R"({"gpus": {"devices": [0]}})", {"gpus.devices", "list of strings"}); }
  SECTION("a string other than auto") { check_fails(R"({"gpus": {"devices": "all"}})", {"gpus.devices", "list of strings"}); }
  SECTION("gpus not an object") { check_fails(R"({"gpus": ["0"]})", {"gpus", "must be an object"}); }
  SECTION("unknown key") { check_fails(R"({"gpus": {"count": 2}})", {"gpus.count", "unknown key"}); }
}

TEST_CASE("a flavor may not ask for more GPUs than gpus.devices lists", "[config]") {
  check_fails(R"({"flavors": [{"name": "cpu"}, {"name": "gpu2", "gpus": 2}], "gpus": {"devices": ["0"]}})",
              {"flavors", "flavor 'gpu2' asks for 2 GPUs but gpus.devices lists 1"});
  check_fails(R"({"flavors": [{"name": "gpu1", "gpus": 1}]})", {"flavors", "flavor 'gpu1' asks for 1 GPUs but gpus.devices lists 0"});
  // As many as listed is fine; with "auto" the count is only known at start.
  CHECK(parse(R"({"flavors": [{"name": "gpu2", "gpus": 2}], "gpus": {"devices": ["0", "1"]}})").flavors[0].gpus == 2);
  CHECK(parse(R"({"flavors": [{"name": "gpu8", "gpus": 8}], "gpus": {"devices": "auto"}})").flavors[0].gpus == 8);
}

// --- mounts -----------------------------------------------------------------------------

TEST_CASE("mount templates default to a read-only, required mount at the same path", "[config]") {
  Config c = parse(R"({"mounts": [{"source": "/data/{user}/datasets"}]})");
  REQUIRE(c.mounts.size() == 1);
  CHECK(c.mounts[0].source == "/data/{user}/datasets");
  CHECK(c.mounts[0].target == "{source}");
  CHECK(c.mounts[0].read_only == true);
  CHECK(c.mounts[0].optional == false);
}

TEST_CASE("parse_config reads every mount template field", "[config]") {
  Config c = parse(R"({"mounts": [
    {"source": "/data/{user}/datasets"},
    {"source": "/scratch/{uid}", "target": "/scratch", "read_only": false, "optional": true},
    {"source": "/srv/shared", "target": "{source}/in", "read_only": true, "optional": false},
    {"source": "/home/{user}/persistent", "target": "/mnt/{user}-{uid}"}
  ]})");
  REQUIRE(c.mounts.size() == 4);
  CHECK(c.mounts[1].source == "/scratch/{uid}");
  CHECK(c.mounts[1].target == "/scratch");
  CHECK(c.mounts[1].read_only == false);
  CHECK(c.mounts[1].optional == true);
  CHECK(c.mounts[2].source == "/srv/shared");
  CHECK(c.mounts[2].target == "{source}/in");
  CHECK(c.mounts[2].read_only == true);
  CHECK(c.mounts[2].optional == false);
  CHECK(c.mounts[3].target == "/mnt/{user}-{uid}");
}

TEST_CASE("mount template errors name the template's index and key", "[config]") {
  SECTION("mounts not a list") { check_fails(R"({"mounts": {"source": "/x"}})", {"mounts", "must be a list of mount templates"}); }
  SECTION("template not an object") { check_fails(R"({"mounts": ["/data"]})", {"mounts[0]", "must be an object"}); }
  SECTION("source missing") { check_fails(R"({"mounts": [{"target": "/x"}]})", {"mounts[0].source", "is required"}); }
  SECTION("relative source") { check_fails(R"({"mounts": [{"source": "data/{user}"}]})", {"mounts[0].source", "must be an absolute path"}); }
  SECTION("source starting with {source}") {
    check_fails(R"({"mounts": [{"source": "{source}/x"}]})", {"mounts[0].source", "must be an absolute path"});
  }
  SECTION("unknown placeholder in source") {
    check_fails(R"({"mounts": [{"source": "/data/{usr}"}]})", {"mounts[0].source", "unknown placeholder in '/data/{usr}'", "{user}"});
  }
  SECTION("{source} is not a source placeholder") {
    check_fails(R"({"mounts": [{"source": "/data/{source}"}]})", {"mounts[0].source", "unknown placeholder"});
  }
  SECTION("unclosed placeholder") { check_fails(R"({"mounts": [{"source": "/data/{user"}]})", {"mounts[0].source", "unknown placeholder"}); }
  SECTION("comma in source") {
    check_fails(R"({"mounts": [{"source": "/data/a,readonly=false"}]})", {"mounts[0].source", "must not contain ','"});
  }
  SECTION("line break in source") { check_fails(R"({"mounts": [{"source": "/data/a\nb"}]})", {"mounts[0].source", "line breaks"}); }
  SECTION("dot-dot in source") { check_fails(R"({"mounts": [{"source": "/data/{user}/../etc"}]})", {"mounts[0].source", "plain absolute path"}); }
  SECTION("trailing dot-dot in source") { check_fails(R"({"mounts": [{"source": "/data/.."}]})", {"mounts[0].source", "plain absolute path"}); }
  SECTION("dot in source") { check_fails(R"({"mounts": [{"source": "/data/./x"}]})", {"mounts[0].source", "plain absolute path"}); }
  SECTION("bare slash") { check_fails(R"({"mounts": [{"source": "/"}]})", {"mounts[0].source", "'/'", "plain absolute path"}); }
  SECTION("relative target") {
    check_fails(R"({"mounts": [{"source": "/a"}, {"source": "/b", "target": "data"}]})", {"mounts[1].target", "must be an absolute path"});
  }
  SECTION("comma in target") { check_fails(R"({"mounts": [{"source": "/a", "target": "/x,y"}]})", {"mounts[0].target", "must not contain ','"}); }
  SECTION("unknown placeholder in target") {
    check_fails(R"({"mounts": [{"source": "/a", "target": "/x/{name}"}]})", {"mounts[0].target", "unknown placeholder", "{source} or {image_home}"});
  }
  SECTION("dot-dot in target") { check_fails(R"({"mounts": [{"source": "/a", "target": "{source}/../x"}]})", {"mounts[0].target", "plain"}); }
  SECTION("empty target") { check_fails(R"({"mounts": [{"source": "/a", "target": ""}]})", {"mounts[0].target", "must not be empty"}); }
  SECTION("read_only not a boolean") { check_fails(R"({"mounts": [{"source": "/a", "read_only": "yes"}]})", {"mounts[0].read_only", "true or false"}); }
  SECTION("optional not a boolean") { check_fails(R"({"mounts": [{"source": "/a", "optional": 1}]})", {"mounts[0].optional", "true or false"}); }
  SECTION("unknown key") { check_fails(R"({"mounts": [{"source": "/a", "readonly": true}]})", {"mounts[0].readonly", "unknown key"}); }
}

TEST_CASE("config_to_json round-trips flavors, GPUs and mounts", "[config]") {
  Config c = parse(k_flavors);
  Config back = parse_config(config_to_json(c), "config_to_json");
  CHECK(back.limits.default_time == c.limits.default_time);
  REQUIRE(back.flavors.size() == c.flavors.size());
  for (std::size_t i = 0; i < c.flavors.size(); ++i) {
    CAPTURE(i);
    CHECK(back.flavors[i].name == c.flavors[i].name);
    CHECK(back.flavors[i].description == c.flavors[i].description);
    CHECK(back.flavors[i].cpus == c.flavors[i].cpus);
    CHECK(back.flavors[i].memory == c.flavors[i].memory);
    CHECK(back.flavors[i].shm == c.flavors[i].shm);
    CHECK(back.flavors[i].gpus == c.flavors[i].gpus);
    CHECK(back.flavors[i].max_time == c.flavors[i].max_time);
  }
  CHECK(back.default_flavor == "big");
  CHECK(back.gpus.devices == c.gpus.devices);
  CHECK_FALSE(back.gpus.autodetect);

  Config automatic = parse(R"({"gpus": {"devices": "auto"},
    "mounts": [{"source": "/data/{user}"}, {"source": "/scratch/{uid}", "target": "/scratch", "read_only": false, "optional": true}]})");
  Config again = parse_config(config_to_json(automatic), "config_to_json");
  CHECK(again.gpus.autodetect);
  REQUIRE(again.mounts.size() == 2);
  CHECK(again.mounts[0].source == "/data/{user}");
  CHECK(again.mounts[0].target == "{source}");
  CHECK(again.mounts[0].read_only);
  CHECK_FALSE(again.mounts[0].optional);
  CHECK(again.mounts[1].source == "/scratch/{uid}");
  CHECK(again.mounts[1].target == "/scratch");
  CHECK_FALSE(again.mounts[1].read_only);
  CHECK(again.mounts[1].optional);
}

TEST_CASE("issue 10's keys: images.default, limits.max_active_per_user and home_size, flavors[].slots, {image_home}", "[config]") {
  Config c = parse(R"({"images": {"default": "ubuntu-python:latest"}, "limits": {"max_active_per_user": 1, "home_size": "2G"},
                      "flavors": [{"name": "no-gpu", "slots": 4}],
                      "mounts": [{"source": "/home/{user}/p", "target": "{image_home}/p", "read_only": false}]})");
  CHECK(c.images.default_image == "ubuntu-python:latest");
  CHECK(c.limits.max_active_per_user == 1);
  CHECK(c.limits.home_size == 2LL << 30);
  CHECK(c.flavors[0].slots == 4);
  CHECK(c.mounts[0].target == "{image_home}/p");
  Config defaults = parse("{}");
  CHECK(defaults.images.default_image.empty());
  CHECK(defaults.limits.max_active_per_user == 0);
  CHECK(defaults.flavors[0].slots == 0);

  check_fails(R"({"images": {"default": "two words"}})", {"images.default", "image reference"});
  check_fails(R"({"images": {"default": "a\"b"}})", {"images.default"});
  check_fails(R"({"images": {"default": 3}})", {"images.default"});
  check_fails(R"({"limits": {"max_active_per_user": -1}})", {"limits.max_active_per_user"});
  check_fails(R"({"limits": {"home_size": "1K"}})", {"limits.home_size"});
  check_fails(flavor_with("slots", "-1"), {"flavors[0].slots"});
  check_fails(flavor_with("slots", "\"4\""), {"flavors[0].slots"});
  check_fails(R"({"mounts": [{"source": "/a", "target": "/x/{image_home}"}]})", {"mounts[0].target", "may only start a target"});
  check_fails(R"({"mounts": [{"source": "{image_home}/a"}]})", {"mounts[0].source"});
  check_fails(R"({"mounts": [{"source": "/a", "target": "{image_home}"}]})", {"mounts[0].target", "absolute path"});
}

TEST_CASE("the shipped CHAIMELEON example config parses: 4 flavor queues, one active job per user", "[config]") {
  Config c = load_config(JOBMAN_SOURCE_DIR "/packaging/examples/chaimeleon.json");
  CHECK(c.limits.max_active_per_user == 1);
  CHECK(c.images.default_image == "ubuntu-python");
  CHECK(c.default_flavor == "no-gpu");
  std::map<std::string, int> slots;
  for (const auto& f : c.flavors) slots[f.name] = f.slots;
  CHECK(slots == std::map<std::string, int>{{"no-gpu", 4}, {"small-gpu", 8}, {"medium-gpu", 4}, {"large-gpu", 5}});
  CHECK(c.limits.max_running == 21);
}
