// Tests for common/platform_env.hpp: which names the admin may set, the value templates'
// placeholders, and a job's resolved variables.

#include "common/platform_env.hpp"

#include <catch2/catch.hpp>

using namespace jobman;

namespace {
const PlatformEnvFields k_fields{"alice", "1001", "42", "train", "gpu"};

Job alice_job() {
  Job job;
  job.id = 42;
  job.user = "alice";
  job.uid = 1001;
  job.spec.name = "train";
  job.spec.flavor = "gpu";
  return job;
}
} // namespace

TEST_CASE("expand_platform_env fills each placeholder and unescapes doubled braces", "[platform_env]") {
  CHECK(expand_platform_env("", k_fields) == "");
  CHECK(expand_platform_env("plain text", k_fields) == "plain text");
  CHECK(expand_platform_env("{user}", k_fields) == "alice");
  CHECK(expand_platform_env("{user}-{uid}-{job_id}-{job_name}-{flavor}", k_fields) == "alice-1001-42-train-gpu");
  CHECK(expand_platform_env("{{user}}", k_fields) == "{user}");
  CHECK(expand_platform_env("{{{user}}}", k_fields) == "{alice}");
  CHECK(expand_platform_env("}}{{", k_fields) == "}{");
  CHECK(expand_platform_env("https://gc.example/api/v1/sessions/{job_id}/?u={user}#x", k_fields) ==
        "https://gc.example/api/v1/sessions/42/?u=alice#x");
  // One pass: a value that brings a placeholder's text in is not expanded again.
  CHECK(expand_platform_env("{user}", {"{uid}", "1", "2", "n", "f"}) == "{uid}");
  // Quotes, spaces, $ and backslashes are text: nothing is ever parsed by a shell.
  CHECK(expand_platform_env(" 'a b' \"$HOME\" \\n `x` ", k_fields) == " 'a b' \"$HOME\" \\n `x` ");
}

TEST_CASE("platform_env_value_problem refuses malformed templates and bytes", "[platform_env]") {
  CHECK_FALSE(platform_env_value_problem(""));
  CHECK_FALSE(platform_env_value_problem("{user}{uid}{job_id}{job_name}{flavor}"));
  CHECK_FALSE(platform_env_value_problem("{{ and }}"));
  CHECK_FALSE(platform_env_value_problem("tab\there é ✓"));
  CHECK_FALSE(platform_env_value_problem(std::string(k_max_platform_env_value, 'x')));
  CHECK(platform_env_value_problem(std::string(k_max_platform_env_value + 1, 'x')));
  CHECK(platform_env_value_problem("{home}"));
  CHECK(platform_env_value_problem("{ user }"));
  CHECK(platform_env_value_problem("{"));
  CHECK(platform_env_value_problem("}"));
  CHECK(platform_env_value_problem("{{{"));
  CHECK(platform_env_value_problem(std::string("a\0b", 3)));
  CHECK(platform_env_value_problem("a\nb"));
  CHECK(platform_env_value_problem("\xc3"));
}

TEST_CASE("platform_env_name_problem keeps jobman's, the GPUs' and the engine client's names", "[platform_env]") {
  for (const char* ok : {"GC_API_ROOT", "GC_TOKEN", "_X", "a1", "CUDA_HOME", "LDX", "HOMEDIR", "GOOGLE_APPLICATION_CREDENTIALS"}) {
    INFO(ok);
    CHECK_FALSE(platform_env_name_problem(ok));
  }
  for (const char* bad : {"", "1A", "A-B", "A B", "A=B", "JOBMAN_USER", "JOBMAN_X", "NVIDIA_DRIVER_CAPABILITIES", "CUDA_VISIBLE_DEVICES",
                          "ZE_AFFINITY_MASK", "PATH", "HOME", "TMPDIR", "LD_LIBRARY_PATH", "XDG_RUNTIME_DIR", "DOCKER_CONFIG",
                          "CONTAINERS_STORAGE_CONF", "CONTAINER_HOST", "PODMAN_USERNS", "GODEBUG"}) {
    INFO(bad);
    CHECK(platform_env_name_problem(bad));
  }
  CHECK(platform_env_name_problem(std::string(k_max_platform_env_name + 1, 'A')));
}

TEST_CASE("resolve_platform_env resolves the job's flavor's variables for that job", "[platform_env]") {
  Config config;
  config.env = {{"GC_SESSION", "{job_id}", false}, {"GC_TOKEN", "{user}-token", true}};
  Flavor gpu;
  gpu.name = "gpu";
  gpu.env = {{"GC_SESSION", "gpu-{job_id}-{job_name}", false}};
  config.flavors = {gpu};
  const auto resolved = resolve_platform_env(config, alice_job());
  REQUIRE(resolved.size() == 2);
  CHECK(resolved[0] == PlatformEnvVar{"GC_SESSION", "gpu-42-train", false});
  CHECK(resolved[1] == PlatformEnvVar{"GC_TOKEN", "alice-token", true});
  CHECK_FALSE(resolved_env_problem(resolved));
  CHECK(shown_value(resolved[0]) == "gpu-42-train");
  CHECK(shown_value(resolved[1]) == "***");
}

TEST_CASE("resolved_env_problem names a variable a hostile user name broke, not its value", "[platform_env]") {
  Config config;
  config.env = {{"GC_TOKEN", "{user}-s3cr3t", true}};
  Job job = alice_job();
  job.user = "evil\nGC_TOKEN=mine";
  const auto problem = resolved_env_problem(resolve_platform_env(config, job));
  REQUIRE(problem);
  CHECK_THAT(*problem, Catch::Matchers::Contains("GC_TOKEN") && Catch::Matchers::Contains("line break"));
  CHECK_THAT(*problem, !Catch::Matchers::Contains("s3cr3t"));
  job.user = "\xff";
  CHECK(resolved_env_problem(resolve_platform_env(config, job)));
}
