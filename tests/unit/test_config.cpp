// Tests for common/config.hpp: parse_config defaults, the example config, and errors that
// name the offending key. Flavors, GPUs and mounts: test_config_resources.cpp.

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
  CHECK(c.engine.command_timeout == 120s);
  CHECK(c.images.repositories == std::vector<std::string>{"localhost/"});
  CHECK(c.images.required_labels == std::vector<std::string>{"name", "version"});
  CHECK(c.images.refresh == 30s);
  CHECK(c.limits.max_running == 2);
  CHECK(c.limits.pids == 1024);
  CHECK(c.limits.kill_grace == 10s);
  CHECK(c.server.max_connections == 256);
  CHECK(c.server.max_connections_per_user == 32);
  CHECK(c.server.admin_reserve == 16);
  CHECK(c.server.idle_timeout == 60s);
  CHECK(c.server.frame_timeout == 10s);
  // The default reserve gives way to a small max_connections.
  CHECK(parse(R"({"server":{"max_connections":8}})").server.admin_reserve == 2);
  CHECK(c.retention.days == 30);
  CHECK(c.retention.max_log_bytes == 1LL << 30);
  CHECK(c.limits.max_stored_bytes_per_user == 1LL << 30);
  CHECK(c.limits.min_free_disk == 256LL << 20);
  CHECK(c.limits.max_log_bytes_per_user == 10LL << 30);
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
  // 999999999999d overflowed the nanoseconds of jobmand's timers (UB); fuzz_config checks it.
  SECTION("duration past 100 years") { fails(R"({"server":{"idle_timeout":"999999999999d"}})", {"server.idle_timeout", "at most 36500d"}); }
  SECTION("duration past 100 years in seconds") { fails(R"({"limits":{"kill_grace":9223372036854775807}})", {"limits.kill_grace", "at most 36500d"}); }
  SECTION("duration below minimum") { fails(R"({"server":{"idle_timeout":"0s"}})", {"server.idle_timeout", "at least 1s"}); }
  SECTION("a reserve that leaves users nothing") {
    fails(R"({"server":{"max_connections":8,"admin_reserve":8}})", {"server.admin_reserve", "below max_connections (8)"});
  }
  SECTION("frame_timeout below a second") { fails(R"({"server":{"frame_timeout":"0s"}})", {"server.frame_timeout", "at least 1s"}); }
  SECTION("log cap too small") { fails(R"({"retention":{"max_log_bytes":"1K"}})", {"retention.max_log_bytes", "at least 64K"}); }
  SECTION("log cap not a size") { fails(R"({"retention":{"max_log_bytes":"lots"}})", {"retention.max_log_bytes", "size like", "0: none"}); }
  SECTION("log cap negative") { fails(R"({"retention":{"max_log_bytes":-1}})", {"retention.max_log_bytes", "size like"}); }
  SECTION("per-user log total too small") {
    fails(R"({"limits":{"max_log_bytes_per_user":"64K"}})", {"limits.max_log_bytes_per_user", "at least 1M"});
  }
  SECTION("per-user log total 0 (there is no 'none')") {
    fails(R"({"limits":{"max_log_bytes_per_user":0}})", {"limits.max_log_bytes_per_user", "size like"});
  }
  SECTION("per-user log total past int64") {
    fails(R"({"limits":{"max_log_bytes_per_user":"99999999999999999999"}})", {"limits.max_log_bytes_per_user"});
  }
  SECTION("engine.command_timeout 0") { fails(R"({"engine":{"command_timeout":"0s"}})", {"engine.command_timeout", "at least 1s"}); }
  SECTION("engine.command_timeout garbage") { fails(R"({"engine":{"command_timeout":"soon"}})", {"engine.command_timeout", "duration"}); }
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

TEST_CASE("backend: local by default; slurm with its own keys", "[config]") {
  CHECK(parse_config("{}", "t").backend.kind == BackendKind::Local);
  Config c = parse_config(R"({"backend":{"kind":"slurm","partition":"gpu-a100","account":"imaging","qos":"normal",
    "sbatch":"/opt/slurm/bin/sbatch","sacct_args":["-c"],"poll_interval":"2s","time_margin":"5m"}})", "t");
  CHECK(c.backend.kind == BackendKind::Slurm);
  CHECK(c.backend.slurm.partition == "gpu-a100");
  CHECK(c.backend.slurm.account == "imaging");
  CHECK(c.backend.slurm.sbatch == "/opt/slurm/bin/sbatch");
  CHECK(c.backend.slurm.squeue == "squeue");
  CHECK(c.backend.slurm.sacct_args == std::vector<std::string>{"-c"});
  CHECK(c.backend.slurm.poll_interval == std::chrono::seconds(2));
  CHECK(parse_config(R"({"backend":{"kind":"slurm","poll_interval":"250ms"}})", "t").backend.slurm.poll_interval == std::chrono::milliseconds(250));
  CHECK(c.backend.slurm.time_margin == std::chrono::minutes(5));
  CHECK(c.backend.slurm.node_helper.empty()); // this jobmand's own binary
  CHECK(parse_config(R"({"backend":{"kind":"slurm","node_helper":"/opt/jobman/jobmand"}})", "t").backend.slurm.node_helper == "/opt/jobman/jobmand");
  CHECK_THAT(config_to_json(c), Catch::Matchers::Contains("\"partition\": \"gpu-a100\""));
  // On Slurm the nodes' GPUs count: a GPU flavor needs no local devices.
  CHECK_NOTHROW(parse_config(R"({"backend":{"kind":"slurm"},"gpus":{"devices":[]},"flavors":[{"name":"g","gpus":2}]})", "t"));
}

TEST_CASE("backend: hostile and misplaced values are refused, naming the key", "[config]") {
  auto fails = [](const std::string& text, std::initializer_list<std::string> parts) {
    CAPTURE(text);
    CHECK_THROWS_MATCHES(parse_config(text, "t"), Error, IsError(ErrorCode::InvalidArgument, parts));
  };
  fails(R"({"backend":{"kind":"k8s"}})", {"backend.kind", "\"k8s\""});
  fails(R"({"backend":{"kind":"slurm","partition":"a b"}})", {"backend.partition", "Slurm name"});
  fails(R"({"backend":{"kind":"slurm","partition":"--uid=0"}})", {"backend.partition", "Slurm name"});
  fails(R"({"backend":{"kind":"slurm","account":"x,y"}})", {"backend.account", "Slurm name"});
  fails(R"({"backend":{"kind":"slurm","qos":")" + std::string(65, 'q') + R"("}})", {"backend.qos", "at most 64"});
  fails(R"({"backend":{"kind":"slurm","sbatch":""}})", {"backend.sbatch", "must not be empty"});
  fails(R"({"backend":{"kind":"slurm","sacct_args":"-c"}})", {"backend.sacct_args"});
  fails(R"({"backend":{"kind":"slurm","poll_interval":"0s"}})", {"backend.poll_interval", "at least 100ms"});
  fails(R"({"backend":{"kind":"slurm","poll_interval":"50ms"}})", {"backend.poll_interval", "at least 100ms"});
  fails(R"({"backend":{"kind":"slurm","poll_interval":"-5ms"}})", {"backend.poll_interval", "250ms"});
  fails(R"({"backend":{"kind":"slurm","poll_interval":"99999999999ms"}})", {"backend.poll_interval", "250ms"});
  fails(R"({"backend":{"kind":"slurm","partiton":"x"}})", {"backend.partiton", "unknown key"});
  fails(R"({"backend":{"partition":"gpu"}})", {"backend.partition", "only to \"kind\": \"slurm\""});
  fails(R"({"backend":{"kind":"slurm","sbatch":"a\u0000b"}})", {"backend.sbatch", "NUL"});
  fails(R"({"backend":{"kind":"slurm","node_helper":"jobmand"}})", {"backend.node_helper", "absolute path"});
  fails(R"({"backend":{"kind":"slurm","node_helper":"/usr/sbin/jobmand\u0000x"}})", {"backend.node_helper", "absolute path"});
  fails(R"({"backend":{"kind":"slurm","node_helper":7}})", {"backend.node_helper", "string"});
  fails(R"({"backend":{"node_helper":"/usr/sbin/jobmand"}})", {"backend.node_helper", "only to \"kind\": \"slurm\""});
}

TEST_CASE("env: strings and {value, secret} objects, globally and per flavor", "[config][platform_env]") {
  Config c = parse(R"({
    "env": {"GC_API_ROOT": "https://gc.example/api", "GC_TOKEN": {"value": "{user}-token", "secret": true}, "PLAIN": {"value": ""}},
    "flavors": [{"name": "small"}, {"name": "gpu", "env": {"GC_API_ROOT": "https://gpu.example/api", "GPU_POOL": "a100"}}]
  })");
  REQUIRE(c.env.size() == 3);
  CHECK(c.env[0] == PlatformEnvVar{"GC_API_ROOT", "https://gc.example/api", false});
  CHECK(c.env[1] == PlatformEnvVar{"GC_TOKEN", "{user}-token", true});
  CHECK(c.env[2] == PlatformEnvVar{"PLAIN", "", false});
  CHECK(c.env_for("small") == c.env);
  CHECK(c.env_for("no-such-flavor") == c.env);
  // The flavor's entry replaces the global one of the same name; the result is by name.
  const auto gpu = c.env_for("gpu");
  REQUIRE(gpu.size() == 4);
  CHECK(gpu[0] == PlatformEnvVar{"GC_API_ROOT", "https://gpu.example/api", false});
  CHECK(gpu[1].name == "GC_TOKEN");
  CHECK(gpu[2] == PlatformEnvVar{"GPU_POOL", "a100", false});
  CHECK(gpu[3].name == "PLAIN");
  CHECK(parse("{}").env.empty());
}

TEST_CASE("env: every hostile name, value and type is a config error naming the key", "[config][platform_env]") {
  const std::string huge(5000, 'x');
  const std::string many = [] {
    std::string text;
    for (int i = 0; i < 65; ++i) text += fmt::format("{}\"V{}\": \"x\"", i ? "," : "", i);
    return text;
  }();
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
    {R"({"env": ["A=1"]})", {"env", "must be an object"}},
    {R"({"env": "A=1"})", {"env", "must be an object"}},
    {R"({"env": {"1BAD": "x"}})", {"env.1BAD", "not a valid variable name"}},
    {R"({"env": {"BAD-NAME": "x"}})", {"env.BAD-NAME", "not a valid variable name"}},
    {R"({"env": {"A=B": "x"}})", {"env.A=B", "not a valid variable name"}},
    {R"({"env": {"": "x"}})", {"env.", "not a valid variable name"}},
    {R"({"env": {"BAD\u001b[31m": "x"}})", {"env.BAD\\e[31m", "not a valid variable name"}},
    {R"({"env": {"JOBMAN_USER": "root"}})", {"env.JOBMAN_USER", "JOBMAN_"}},
    {R"({"env": {"JOBMAN_": "x"}})", {"env.JOBMAN_", "JOBMAN_"}},
    {R"({"env": {"NVIDIA_VISIBLE_DEVICES": "all"}})", {"env.NVIDIA_VISIBLE_DEVICES", "GPU"}},
    {R"({"env": {"CUDA_VISIBLE_DEVICES": "0"}})", {"env.CUDA_VISIBLE_DEVICES", "GPU"}},
    {R"({"env": {"PATH": "/bin"}})", {"env.PATH", "engine's client"}},
    {R"({"env": {"HOME": "/root"}})", {"env.HOME", "engine's client"}},
    {R"({"env": {"LD_PRELOAD": "/x.so"}})", {"env.LD_PRELOAD", "LD_"}},
    {R"({"env": {"DOCKER_HOST": "tcp://x"}})", {"env.DOCKER_HOST", "DOCKER_"}},
    {R"({"env": {"CONTAINERS_CONF": "/x"}})", {"env.CONTAINERS_CONF", "CONTAINERS_"}},
    {R"({"env": {"A": "{foo}"}})", {"env.A", "unknown placeholder {foo}"}},
    {R"({"env": {"A": "{USER}"}})", {"env.A", "unknown placeholder {USER}"}},
    {R"({"env": {"A": "{}"}})", {"env.A", "unknown placeholder {}"}},
    {R"({"env": {"A": "{user"}})", {"env.A", "not closed"}},
    {R"({"env": {"A": "{user{uid}}"}})", {"env.A", "not closed"}},
    {R"({"env": {"A": "user}"}})", {"env.A", "closes nothing"}},
    {R"({"env": {"A": "{user}}"}})", {"env.A", "closes nothing"}},
    {R"({"env": {"A": "a\u0000b"}})", {"env.A", "NUL"}},
    {R"({"env": {"A": "line\nbreak"}})", {"env.A", "line break"}},
    {R"({"env": {"A": "cr\rhere"}})", {"env.A", "line break"}},
    {"{\"env\": {\"A\": \"\xff\xfe\"}}", {"not valid JSON"}}, // (platform_env_value_problem checks UTF-8 too)
    {R"({"env": {"A": ")" + huge + R"("}})", {"env.A", "5000 bytes", "4096"}},
    {R"({"env": {)" + many + "}}", {"env", "65 variables", "at most 64"}},
    {R"({"env": {"A": 1}})", {"env.A", "must be a string or an object"}},
    {R"({"env": {"A": null}})", {"env.A", "must be a string or an object"}},
    {R"({"env": {"A": ["x"]}})", {"env.A", "must be a string or an object"}},
    {R"({"env": {"A": {"secret": true}}})", {"env.A.value", "is required"}},
    {R"({"env": {"A": {"value": 5}}})", {"env.A.value", "must be a string"}},
    {R"({"env": {"A": {"value": "x", "secret": "yes"}}})", {"env.A.secret", "true or false"}},
    {R"({"env": {"A": {"value": "x", "secrte": true}}})", {"env.A.secrte", "unknown key"}},
    {R"({"env": {"A": {"value": "{foo}", "secret": true}}})", {"env.A", "unknown placeholder"}},
    {R"({"flavors": [{"name": "f", "env": {"JOBMAN_JOB_ID": "1"}}]})", {"flavors[0].env.JOBMAN_JOB_ID", "JOBMAN_"}},
    {R"({"flavors": [{"name": "f", "env": {"A": "{bar}"}}]})", {"flavors[0].env.A", "unknown placeholder {bar}"}},
    {R"({"flavors": [{"name": "f", "env": 3}]})", {"flavors[0]", "env", "must be an object"}},
  };
  for (const auto& [text, parts] : cases) {
    INFO(text);
    CHECK_THROWS_MATCHES(parse(text), Error, jobman::test::ErrorMatcher(ErrorCode::InvalidArgument, parts));
  }
}

TEST_CASE("config_to_json shows a secret env value as *** and round-trips the rest", "[config][platform_env]") {
  Config c = parse(R"({"env": {"GC_API_ROOT": "https://gc/{{x}}", "GC_TOKEN": {"value": "s3cr3t-{user}", "secret": true}},
                       "flavors": [{"name": "f", "env": {"K": {"value": "flavor-secret", "secret": true}}}]})");
  const std::string shown = config_to_json(c);
  CHECK_THAT(shown, !Catch::Matchers::Contains("s3cr3t"));
  CHECK_THAT(shown, !Catch::Matchers::Contains("flavor-secret"));
  CHECK_THAT(shown, Catch::Matchers::Contains("https://gc/{{x}}"));
  Config back = parse_config(shown, "config_to_json");
  REQUIRE(back.env.size() == 2);
  CHECK(back.env[0] == c.env[0]);
  CHECK(back.env[1] == PlatformEnvVar{"GC_TOKEN", "***", true});
  CHECK(back.flavors[0].env == std::vector<PlatformEnvVar>{{"K", "***", true}});
  CHECK(config_to_json(back) == shown);
}

TEST_CASE("notify: none by default; a hook as nobody with its defaults, shown by config_to_json", "[config][notify]") {
  CHECK(parse("{}").notify.command.empty());
  Config c = parse(R"({"notify": {"command": ["/usr/lib/jobman/notify-mail", "--quiet"]}})");
  CHECK(c.notify.command == std::vector<std::string>{"/usr/lib/jobman/notify-mail", "--quiet"});
  CHECK(c.notify.user == "nobody");
  CHECK(c.notify.uid == 65534);
  CHECK(c.notify.gid != 0);
  CHECK(c.notify.timeout == 30s);
  CHECK(c.notify.max_running == 4);
  CHECK(c.notify.states.size() == 6);
  c = parse(R"({"notify": {"command": ["/bin/true"], "user": 65534, "timeout": "2m", "states": ["FAILED", "LOST"], "max_running": 1}})");
  CHECK(c.notify.uid == 65534);
  CHECK(c.notify.timeout == 120s);
  CHECK(c.notify.states == std::vector<std::string>{"FAILED", "LOST"});
  CHECK(c.notify.max_running == 1);
  CHECK(config_to_json(c).find("\"notify\"") != std::string::npos);
  CHECK(config_to_json(parse("{}")).find("\"notify\"") == std::string::npos);
}

TEST_CASE("notify: hostile and wrong values are refused at load, naming the key", "[config][notify]") {
  auto fails = [](const std::string& notify, std::initializer_list<std::string> parts) {
    const std::string text = R"({"notify": )" + notify + "}";
    CAPTURE(text);
    CHECK_THROWS_MATCHES(parse_config(text, "t"), Error, IsError(ErrorCode::InvalidArgument, parts));
  };
  fails(R"("/bin/true")", {"notify", "object"});
  fails(R"({})", {"notify.command", "required"});
  fails(R"({"command": []})", {"notify.command", "required"});
  fails(R"({"command": "/bin/true"})", {"notify.command", "list of strings"});
  fails(R"({"command": ["notify-mail"]})", {"notify.command", "absolute path"});
  fails(R"({"command": ["./notify-mail"]})", {"notify.command", "absolute path"});
  fails(R"({"command": ["/usr/lib/../bin/sh"]})", {"notify.command", "absolute path"});
  fails(R"({"command": ["/usr/lib/jobman/"]})", {"notify.command", "absolute path"});
  fails(R"({"command": [""]})", {"notify.command", "empty"});
  fails(R"({"command": ["/bin/true", 3]})", {"notify.command", "list of strings"});
  fails(R"({"command": ["/bin/tr\u0000ue"]})", {"notify.command", "NUL"});
  fails(R"({"command": ["/bin/true", ")" + std::string(5000, 'a') + R"("]})", {"notify.command", "4096"});
  fails(R"({"command": ["/bin/true"], "user": "root"})", {"notify.user", "root"});
  fails(R"({"command": ["/bin/true"], "user": 0})", {"notify.user", "root"});
  fails(R"({"command": ["/bin/true"], "user": "0"})", {"notify.user", "root"});
  fails(R"({"command": ["/bin/true"], "user": "no-such-user-jobman"})", {"notify.user", "not a user"});
  fails(R"({"command": ["/bin/true"], "user": "nobody\nroot"})", {"notify.user", "not a user", "\\n"});
  fails(R"({"command": ["/bin/true"], "user": 4000000000})", {"notify.user", "name or a uid"});
  fails(R"({"command": ["/bin/true"], "user": -1})", {"notify.user", "name or a uid"});
  fails(R"({"command": ["/bin/true"], "user": "99999999999999999999"})", {"notify.user", "not a user"});
  fails(R"({"command": ["/bin/true"], "user": ""})", {"notify.user", "name or a uid"});
  fails(R"({"command": ["/bin/true"], "user": true})", {"notify.user", "name or a uid"});
  fails(R"({"command": ["/bin/true"], "timeout": "0s"})", {"notify.timeout", "at least 1s"});
  fails(R"({"command": ["/bin/true"], "timeout": "2h"})", {"notify.timeout", "at most 1h"});
  fails(R"({"command": ["/bin/true"], "timeout": "soon"})", {"notify.timeout", "duration"});
  fails(R"({"command": ["/bin/true"], "states": []})", {"notify.states", "at least one"});
  fails(R"({"command": ["/bin/true"], "states": ["RUNNING"]})", {"notify.states", "'RUNNING' is not an end state"});
  fails(R"({"command": ["/bin/true"], "states": ["failed"]})", {"notify.states", "not an end state"});
  fails(R"({"command": ["/bin/true"], "states": ["FAILED", "FAILED"]})", {"notify.states", "twice"});
  fails(R"({"command": ["/bin/true"], "states": ["\u001b[2J"]})", {"notify.states", "\\e"});
  fails(R"({"command": ["/bin/true"], "max_running": 0})", {"notify.max_running", "between 1 and 64"});
  fails(R"({"command": ["/bin/true"], "max_running": 1000})", {"notify.max_running", "between 1 and 64"});
  fails(R"({"command": ["/bin/true"], "comand": ["/bin/true"]})", {"notify.comand", "unknown key"});
}
