// Tests for common/config.hpp: parse_config defaults, the example config, and errors that
// name the offending key.

#include "common/config.hpp"

#include "matchers.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fstream>

using namespace jobman;
using namespace std::chrono_literals;
using jobman::test::IsError;
using jobman::test::TempDir;

namespace {

// The example configuration from the issue.
constexpr const char* k_example = R"({
  "socket": {"path": "/run/jobman/jobman.sock", "mode": "0660", "group": "jobman"},
  "admin_group": "jobman-admins",
  "state_dir": "/srv/jobman",
  "engine": {
    "kind": "podman",
    "global_args": ["--runtime", "runc"],
    "run_args": ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=512:512"]
  },
  "images": {
    "repositories": ["localhost/", "registry.example.org/science/"],
    "required_labels": ["name", "version", "maintainer"]
  },
  "limits": {"max_running": 4, "pids": 2048, "kill_grace": "30s"},
  "server": {"max_connections": 64, "idle_timeout": "2m"}
})";

Config parse(const std::string& text) { return parse_config(text, "test.json"); }

} // namespace

TEST_CASE("parse_config of {} gives the documented defaults", "[config]") {
  Config c = parse("{}");
  CHECK(c.socket.path == "/run/jobman/jobman.sock");
  CHECK(c.socket.mode == 0666);
  CHECK(c.socket.group.empty());
  CHECK(c.admin_group.empty());
  CHECK(c.state_dir == "/var/lib/jobman");
  CHECK(c.engine.kind == EngineKind::Podman);
  CHECK(c.engine.binary == "podman");
  CHECK(c.engine.global_args.empty());
  CHECK(c.engine.run_args.empty());
  CHECK(c.images.repositories == std::vector<std::string>{"localhost/"});
  CHECK(c.images.required_labels == std::vector<std::string>{"name", "version"});
  CHECK(c.images.refresh == 30s);
  CHECK(c.limits.max_running == 2);
  CHECK(c.limits.pids == 1024);
  CHECK(c.limits.kill_grace == 10s);
  CHECK(c.server.max_connections == 256);
  CHECK(c.server.idle_timeout == 60s);
  CHECK(c.retention.days == 30);
  CHECK(c.retention.max_log_bytes == 1LL << 30);
}

TEST_CASE("parse_config reads the example config", "[config]") {
  Config c = parse(k_example);
  CHECK(c.socket.path == "/run/jobman/jobman.sock");
  CHECK(c.socket.mode == 0660);
  CHECK(c.socket.group == "jobman");
  CHECK(c.admin_group == "jobman-admins");
  CHECK(c.state_dir == "/srv/jobman");
  CHECK(c.engine.kind == EngineKind::Podman);
  CHECK(c.engine.binary == "podman");
  CHECK(c.engine.global_args == std::vector<std::string>{"--runtime", "runc"});
  CHECK(c.engine.run_args == std::vector<std::string>{"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=512:512"});
  CHECK(c.images.repositories == std::vector<std::string>{"localhost/", "registry.example.org/science/"});
  CHECK(c.images.required_labels == std::vector<std::string>{"name", "version", "maintainer"});
  CHECK(c.limits.max_running == 4);
  CHECK(c.limits.pids == 2048);
  CHECK(c.limits.kill_grace == 30s);
  CHECK(c.server.max_connections == 64);
  CHECK(c.server.idle_timeout == 120s);
}

TEST_CASE("socket.mode is octal", "[config]") {
  CHECK(parse(R"({"socket":{"mode":"0666"}})").socket.mode == 0666);
  CHECK(parse(R"({"socket":{"mode":"660"}})").socket.mode == 0660);
  CHECK(parse(R"({"socket":{"mode":"0777"}})").socket.mode == 0777);
  CHECK(parse(R"({"socket":{"mode":"0"}})").socket.mode == 0);
}

TEST_CASE("engine.kind docker defaults the binary to docker", "[config]") {
  Config c = parse(R"({"engine":{"kind":"docker"}})");
  CHECK(c.engine.kind == EngineKind::Docker);
  CHECK(c.engine.binary == "docker");
  CHECK(to_string(c.engine.kind) == "docker");

  Config custom = parse(R"({"engine":{"kind":"docker","binary":"/opt/docker/bin/docker"}})");
  CHECK(custom.engine.kind == EngineKind::Docker);
  CHECK(custom.engine.binary == "/opt/docker/bin/docker");

  Config podman = parse(R"({"engine":{"binary":"/usr/local/bin/podman"}})");
  CHECK(podman.engine.kind == EngineKind::Podman);
  CHECK(podman.engine.binary == "/usr/local/bin/podman");
}

TEST_CASE("durations accept strings and plain seconds", "[config]") {
  CHECK(parse(R"({"limits":{"kill_grace":"30s"}})").limits.kill_grace == 30s);
  CHECK(parse(R"({"limits":{"kill_grace":90}})").limits.kill_grace == 90s);
  CHECK(parse(R"({"limits":{"kill_grace":0}})").limits.kill_grace == 0s);
  CHECK(parse(R"({"images":{"refresh":"10m"}})").images.refresh == 600s);
  CHECK(parse(R"({"server":{"idle_timeout":"01:00:00"}})").server.idle_timeout == 3600s);
}

TEST_CASE("parse_config errors name the offending key", "[config]") {
  auto fails = [](const std::string& text, std::initializer_list<std::string> parts) {
    CAPTURE(text);
    CHECK_THROWS_MATCHES(parse(text), Error, IsError(ErrorCode::InvalidArgument, parts));
  };

  SECTION("invalid JSON") { fails(R"({"socket": )", {"test.json", "not valid JSON"}); }
  SECTION("top level not an object") { fails("[]", {"test.json", "(top level)", "must be an object"}); }
  SECTION("unknown top-level key") { fails(R"({"sockets":{}})", {"test.json", "sockets", "unknown key"}); }
  SECTION("unknown nested key") { fails(R"({"engine":{"kindd":"podman"}})", {"engine.kindd", "unknown key"}); }
  SECTION("unknown key deeper in limits") { fails(R"({"limits":{"max_runing":3}})", {"limits.max_runing", "unknown key"}); }
  SECTION("section not an object") { fails(R"({"engine":["podman"]})", {"engine", "must be an object"}); }
  SECTION("engine.kind misspelled") { fails(R"({"engine":{"kind":"dockr"}})", {"engine.kind", "\"dockr\""}); }
  SECTION("engine.kind not a string") { fails(R"({"engine":{"kind":1}})", {"engine.kind", "must be a string"}); }
  SECTION("socket.mode 999") { fails(R"({"socket":{"mode":"999"}})", {"socket.mode", "\"999\""}); }
  SECTION("socket.mode abc") { fails(R"({"socket":{"mode":"abc"}})", {"socket.mode", "\"abc\""}); }
  SECTION("socket.mode too large") { fails(R"({"socket":{"mode":"1777"}})", {"socket.mode", "\"1777\""}); }
  SECTION("socket.mode trailing garbage") { fails(R"({"socket":{"mode":"0666x"}})", {"socket.mode", "\"0666x\""}); }
  SECTION("socket.mode as a number") { fails(R"({"socket":{"mode":438}})", {"socket.mode", "must be a string"}); }
  SECTION("relative state_dir") { fails(R"({"state_dir":"var/lib/jobman"})", {"state_dir", "absolute"}); }
  SECTION("empty state_dir") { fails(R"({"state_dir":""})", {"state_dir", "must not be empty"}); }
  SECTION("relative socket.path") { fails(R"({"socket":{"path":"run/jobman.sock"}})", {"socket.path", "absolute"}); }
  SECTION("socket.path too long for sun_path") {
    fails(R"({"socket":{"path":"/)" + std::string(107, 's') + R"("}})", {"socket.path", "too long"});
  }
  SECTION("non-string in run_args") { fails(R"({"engine":{"run_args":["--ulimit", 5]}})", {"engine.run_args", "list of strings"}); }
  SECTION("run_args not a list") { fails(R"({"engine":{"run_args":"--ulimit nofile=1"}})", {"engine.run_args", "list of strings"}); }
  SECTION("empty string in global_args") { fails(R"({"engine":{"global_args":[""]}})", {"engine.global_args", "empty"}); }
  SECTION("limits.max_running 0") { fails(R"({"limits":{"max_running":0}})", {"limits.max_running", "between 1 and", "not 0"}); }
  SECTION("limits.max_running not an integer") { fails(R"({"limits":{"max_running":"2"}})", {"limits.max_running", "integer"}); }
  SECTION("limits.max_running fractional") { fails(R"({"limits":{"max_running":1.5}})", {"limits.max_running", "integer"}); }
  SECTION("limits.pids below minimum") { fails(R"({"limits":{"pids":15}})", {"limits.pids", "not 15"}); }
  SECTION("images.repositories empty") { fails(R"({"images":{"repositories":[]}})", {"images.repositories", "at least one"}); }
  SECTION("bad duration string") { fails(R"({"limits":{"kill_grace":"bad"}})", {"limits.kill_grace", "duration"}); }
  SECTION("negative duration") { fails(R"({"limits":{"kill_grace":-5}})", {"limits.kill_grace", "duration"}); }
  SECTION("fractional duration") { fails(R"({"limits":{"kill_grace":1.5}})", {"limits.kill_grace", "duration"}); }
  SECTION("duration below minimum") { fails(R"({"server":{"idle_timeout":"0s"}})", {"server.idle_timeout", "at least 1s"}); }
  SECTION("log cap too small") { fails(R"({"retention":{"max_log_bytes":"1K"}})", {"retention.max_log_bytes", "at least 64K"}); }
  SECTION("log cap not a size") { fails(R"({"retention":{"max_log_bytes":"lots"}})", {"retention.max_log_bytes", "size like", "0: none"}); }
  SECTION("log cap negative") { fails(R"({"retention":{"max_log_bytes":-1}})", {"retention.max_log_bytes", "size like"}); }
  SECTION("retention.days 0") { fails(R"({"retention":{"days":0}})", {"retention.days", "not 0"}); }
}

TEST_CASE("retention.max_log_bytes takes sizes, bytes, and 0 for no cap", "[config]") {
  CHECK(parse(R"({"retention":{"max_log_bytes":"100M"}})").retention.max_log_bytes == 100LL << 20);
  CHECK(parse(R"({"retention":{"max_log_bytes":65536}})").retention.max_log_bytes == 65536);
  CHECK(parse(R"({"retention":{"max_log_bytes":0}})").retention.max_log_bytes == 0);
  CHECK(parse(R"({"retention":{"max_log_bytes":"0"}})").retention.max_log_bytes == 0);
  for (const char* cap : {R"("100M")", "0"}) {
    Config c = parse(fmt::format(R"({{"retention":{{"max_log_bytes":{}}}}})", cap));
    CHECK(parse_config(config_to_json(c), "config_to_json").retention.max_log_bytes == c.retention.max_log_bytes);
  }
}

TEST_CASE("socket.path of exactly 107 bytes fits", "[config]") {
  std::string path = "/" + std::string(106, 's');
  CHECK(parse(R"({"socket":{"path":")" + path + R"("}})").socket.path == path);
}

TEST_CASE("config_to_json output parses back to the same config", "[config]") {
  Config c = parse(k_example);
  std::string text = config_to_json(c);
  Config back = parse_config(text, "config_to_json");
  CHECK(back.socket.path == c.socket.path);
  CHECK(back.socket.mode == c.socket.mode);
  CHECK(back.socket.group == c.socket.group);
  CHECK(back.admin_group == c.admin_group);
  CHECK(back.state_dir == c.state_dir);
  CHECK(back.engine.kind == c.engine.kind);
  CHECK(back.engine.binary == c.engine.binary);
  CHECK(back.engine.global_args == c.engine.global_args);
  CHECK(back.engine.run_args == c.engine.run_args);
  CHECK(back.images.repositories == c.images.repositories);
  CHECK(back.images.required_labels == c.images.required_labels);
  CHECK(back.images.refresh == c.images.refresh);
  CHECK(back.limits.max_running == c.limits.max_running);
  CHECK(back.limits.pids == c.limits.pids);
  CHECK(back.limits.kill_grace == c.limits.kill_grace);
  CHECK(back.server.max_connections == c.server.max_connections);
  CHECK(back.server.idle_timeout == c.server.idle_timeout);
}

TEST_CASE("load_config reports an unreadable file by path", "[config]") {
  CHECK_THROWS_MATCHES(load_config("/nonexistent/jobman-unit/jobman.json"), Error,
                       IsError(ErrorCode::InvalidArgument, {"/nonexistent/jobman-unit/jobman.json"}));
}

TEST_CASE("load_config reads a file and names it in errors", "[config]") {
  TempDir dir;
  const std::string good = dir.file("jobman.json");
  std::ofstream(good) << k_example;
  Config c = load_config(good);
  CHECK(c.engine.global_args == std::vector<std::string>{"--runtime", "runc"});
  CHECK(c.socket.mode == 0660);

  const std::string bad = dir.file("bad.json");
  std::ofstream(bad) << R"({"engine":{"kind":"dockr"}})";
  CHECK_THROWS_MATCHES(load_config(bad), Error, IsError(ErrorCode::InvalidArgument, {bad, "engine.kind", "dockr"}));
}

TEST_CASE("the default config printed by config_to_json parses back", "[config]") {
  // The effective default is what parse_config gives for "{}" (with its built-in flavor);
  // a bare Config{} has no flavor yet and is not a valid configuration.
  Config config = parse(config_to_json(parse("{}")));
  CHECK(config.socket.group.empty());
  CHECK(config.socket.mode == 0666);
  CHECK(config.limits.max_running == Config{}.limits.max_running);
  CHECK(config.limits.default_time == 3600s);
  REQUIRE(config.flavors.size() == 1);
  CHECK(config.flavors[0].name == "default");
  CHECK(config.default_flavor == "default");
}

TEST_CASE("socket.mode takes only octal digits", "[config]") {
  for (const char* mode : {" 666", "+666", "-0", "0x1ff", "07777"}) {
    INFO(mode);
    CHECK_THROWS_MATCHES(parse(fmt::format(R"({{"socket": {{"mode": "{}"}}}})", mode)), Error, IsError(ErrorCode::InvalidArgument, {"socket.mode"}));
  }
  CHECK(parse(R"({"socket": {"mode": "660"}})").socket.mode == 0660);
}

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
    check_fails(R"({"mounts": [{"source": "/a", "target": "/x/{name}"}]})", {"mounts[0].target", "unknown placeholder", "or {source}"});
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
