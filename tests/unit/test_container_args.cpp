// Tests for daemon/backend/container_args.hpp: the exact engine command line of a job.

#include "daemon/backend/container_args.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

using namespace jobman;
using namespace jobman::daemon::backend;
using Catch::Matchers::Contains;
using Argv = std::vector<std::string>;

namespace {

Config podman_config() {
  Config config;
  config.engine.kind = EngineKind::Podman;
  config.engine.binary = "podman";
  config.engine.global_args = {"--runtime", "runc"};
  config.engine.run_args = {"--ulimit", "nofile=1024:1024"};
  config.limits.pids = 512;
  return config;
}

Job alice_job() {
  Job job;
  job.id = 42;
  job.instance = "0a1b2c3d";
  job.container = container_name(job.instance, job.id);
  job.uid = 1001;
  job.gid = 1001;
  job.user = "alice";
  job.spec.name = "train";
  job.spec.image = "app:1.0";
  job.spec.image_id = "sha256:abc";
  job.spec.args = {"python", "train.py", "--epochs", "3"};
  job.spec.env = {{"SEED", "7"}, {"MODE", "fast=yes"}};
  return job;
}

std::ptrdiff_t index_of(const Argv& argv, const std::string& item) {
  auto it = std::find(argv.begin(), argv.end(), item);
  return it == argv.end() ? -1 : it - argv.begin();
}

// Whether `flag value` appear next to each other before position `limit`.
bool has_flag_pair(const Argv& argv, const std::string& flag, const std::string& value, std::ptrdiff_t limit) {
  for (std::ptrdiff_t i = 0; i + 1 < limit; ++i)
    if (argv[static_cast<std::size_t>(i)] == flag && argv[static_cast<std::size_t>(i + 1)] == value) return true;
  return false;
}

} // namespace

TEST_CASE("container_argv for podman is exactly the documented command line", "[container_args]") {
  const Argv expected{
    "podman", "--runtime", "runc",
    "run",
    "--ulimit", "nofile=1024:1024",
    "--name", "jobman-0a1b2c3d-42",
    "--label", "jobman.job=42",
    "--label", "jobman.instance=0a1b2c3d",
    "--label", "jobman.user=alice",
    "--network", "none",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--user", "1001:1001",
    "--read-only",
    "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777,U",
    "--pids-limit", "512",
    "--init",
    "--pull", "never",
    "--log-driver", "none",
    "--stop-timeout", "10",
    "--cpus", "1",
    "--env=NVIDIA_VISIBLE_DEVICES=void",
    "--env=JOBMAN_JOB_ID=42",
    "--env=JOBMAN_JOB_NAME=train",
    "--env=JOBMAN_USER=alice",
    "--env=SEED=7",
    "--env=MODE=fast=yes",
    "sha256:abc",
    "python", "train.py", "--epochs", "3",
  };
  CHECK(container_argv(podman_config(), alice_job()) == expected);
}

TEST_CASE("container_argv puts global args before run and run_args right after it", "[container_args]") {
  Argv argv = container_argv(podman_config(), alice_job());
  REQUIRE(argv.size() > 6);
  CHECK(Argv(argv.begin(), argv.begin() + 6) == Argv{"podman", "--runtime", "runc", "run", "--ulimit", "nofile=1024:1024"});
  CHECK(argv[6] == "--name");
}

TEST_CASE("container_argv forces every sandbox flag before the image", "[container_args]") {
  Argv argv = container_argv(podman_config(), alice_job());
  const auto image = index_of(argv, "sha256:abc");
  REQUIRE(image > 0);
  CHECK(has_flag_pair(argv, "--network", "none", image));
  CHECK(has_flag_pair(argv, "--cap-drop", "ALL", image));
  CHECK(has_flag_pair(argv, "--security-opt", "no-new-privileges", image));
  CHECK(has_flag_pair(argv, "--user", "1001:1001", image));
  CHECK(has_flag_pair(argv, "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777,U", image));
  CHECK(has_flag_pair(argv, "--pids-limit", "512", image));
  CHECK(has_flag_pair(argv, "--pull", "never", image));
  CHECK(has_flag_pair(argv, "--log-driver", "none", image));
  CHECK(has_flag_pair(argv, "--label", "jobman.job=42", image));
  CHECK(has_flag_pair(argv, "--name", "jobman-0a1b2c3d-42", image));
  CHECK(has_flag_pair(argv, "--label", "jobman.instance=0a1b2c3d", image));
  CHECK(has_flag_pair(argv, "--label", "jobman.user=alice", image));
  for (const char* flag : {"--read-only", "--init", "--env=JOBMAN_JOB_ID=42", "--env=JOBMAN_JOB_NAME=train", "--env=JOBMAN_USER=alice"}) {
    CAPTURE(flag);
    auto at = index_of(argv, flag);
    CHECK(at > 0);
    CHECK(at < image);
  }
  // Forced flags come after the admin's run_args so they win where the last value counts.
  CHECK(index_of(argv, "--ulimit") < index_of(argv, "--network"));
}

TEST_CASE("container_argv uses the job's own uid and gid", "[container_args]") {
  Job job = alice_job();
  job.uid = 2000;
  job.gid = 3000;
  Argv argv = container_argv(podman_config(), job);
  CHECK(has_flag_pair(argv, "--user", "2000:3000", index_of(argv, "sha256:abc")));
  CHECK(index_of(argv, "1001:1001") == -1);
}

TEST_CASE("container_argv with replace_entrypoint makes the first argument the entrypoint", "[container_args]") {
  Job job = alice_job();
  job.spec.replace_entrypoint = true;
  job.spec.args = {"/bin/sh", "-c", "echo hi; exit 3"};
  job.spec.env.clear();
  Argv argv = container_argv(podman_config(), job);
  REQUIRE(argv.size() >= 5);
  CHECK(Argv(argv.end() - 5, argv.end()) ==
        Argv{"--env=JOBMAN_USER=alice", "--entrypoint=/bin/sh", "sha256:abc", "-c", "echo hi; exit 3"});
  CHECK(std::count_if(argv.begin(), argv.end(), [](const std::string& a) { return a.rfind("--entrypoint", 0) == 0; }) == 1);
}

TEST_CASE("an entrypoint that looks like a flag stays one token", "[container_args]") {
  Job job = alice_job();
  job.spec.replace_entrypoint = true;
  job.spec.args = {"--privileged", "x"};
  Argv argv = container_argv(podman_config(), job);
  CHECK(index_of(argv, "--privileged") == -1);
  CHECK(Argv(argv.end() - 3, argv.end()) == Argv{"--entrypoint=--privileged", "sha256:abc", "x"});
}

TEST_CASE("replace_entrypoint without arguments adds no --entrypoint", "[container_args]") {
  Job job = alice_job();
  job.spec.replace_entrypoint = true;
  job.spec.args.clear();
  Argv argv = container_argv(podman_config(), job);
  CHECK(argv.back() == "sha256:abc");
  CHECK(std::none_of(argv.begin(), argv.end(), [](const std::string& a) { return a.rfind("--entrypoint", 0) == 0; }));
}

TEST_CASE("job arguments that look like engine flags stay after the image", "[container_args]") {
  Job job = alice_job();
  job.spec.args = {"--privileged", "--network=host", "-v", "/:/host", "--entrypoint=/bin/sh"};
  Argv argv = container_argv(podman_config(), job);
  const auto image = index_of(argv, "sha256:abc");
  REQUIRE(image > 0);
  CHECK(Argv(argv.begin() + image + 1, argv.end()) == job.spec.args);
  CHECK(index_of(argv, "--privileged") > image);
  CHECK(index_of(argv, "--network=host") > image);
}

TEST_CASE("without args the image is the last word", "[container_args]") {
  Job job = alice_job();
  job.spec.args.clear();
  CHECK(container_argv(podman_config(), job).back() == "sha256:abc");
}

TEST_CASE("container_argv for docker uses the docker binary and the same flags", "[container_args]") {
  Config config;
  config.engine.kind = EngineKind::Docker;
  config.engine.binary = "docker";
  Job job = alice_job();
  Argv argv = container_argv(config, job);
  REQUIRE(argv.size() > 3);
  CHECK(argv[0] == "docker");
  CHECK(argv[1] == "run");
  CHECK(argv[2] == "--name");
  CHECK(index_of(argv, "podman") == -1);
  const auto image = index_of(argv, "sha256:abc");
  CHECK(has_flag_pair(argv, "--network", "none", image));
  CHECK(has_flag_pair(argv, "--pids-limit", "1024", image)); // default limits.pids
}

TEST_CASE("engine_command prefixes binary and global args", "[container_args]") {
  Config config = podman_config();
  CHECK(engine_command(config.engine, {"image", "inspect"}) == Argv{"podman", "--runtime", "runc", "image", "inspect"});
  EngineConfig docker;
  docker.binary = "/usr/bin/docker";
  CHECK(engine_command(docker, {"ps"}) == Argv{"/usr/bin/docker", "ps"});
  CHECK(engine_command(docker, {}) == Argv{"/usr/bin/docker"});
}

TEST_CASE("run_args_problem refuses flags that weaken the sandbox", "[container_args]") {
  const std::vector<Argv> bad{
    {"--privileged"},
    {"--network=host"},
    {"--network", "host"},
    {"--net=host"},
    {"-v", "/:/host"},
    {"--volume=/:/host"},
    {"--mount", "type=bind,src=/,dst=/host"},
    {"--cap-add", "SYS_ADMIN"},
    {"--cap-add=ALL"},
    {"--security-opt", "seccomp=unconfined"},
    {"--user", "0"},
    {"-u", "0"},
    {"--pid=host"},
    {"--ipc=host"},
    {"--userns=host"},
    {"--uts=host"},
    {"--device", "/dev/sda"},
    {"--gpus", "all"},
    {"--entrypoint", "/bin/sh"},
    {"--name", "x"},
    {"--group-add", "docker"},
    {"--volumes-from", "other"},
    {"--rm"},
    {"-d"},
    {"--ulimit", "nofile=1024:1024", "--privileged"},
  };
  for (const auto& args : bad) {
    CAPTURE(args);
    auto problem = run_args_problem(args);
    REQUIRE(problem.has_value());
    CHECK_THAT(*problem, Contains("engine.run_args") && Contains("not allowed"));
  }
  auto problem = run_args_problem({"--ulimit", "nproc=64", "--network=host"});
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("'--network=host'"));
}

TEST_CASE("run_args_problem accepts the allowed flags, with values", "[container_args]") {
  CHECK_FALSE(run_args_problem({}).has_value());
  CHECK_FALSE(run_args_problem({"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=512:512"}).has_value());
  CHECK_FALSE(run_args_problem({"--cpuset-cpus=0-1", "--hostname", "job", "--runtime", "runc", "--label", "a=b"}).has_value());
}

TEST_CASE("run_args_problem is an allowlist", "[container_args]") {
  // Flags jobman sets from flavors, and anything not on the list, are refused and the
  // message lists what is allowed.
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
         {"--memory", "4g"}, {"--network-alias=x"}, {"--pod", "p"}, {"--uidmap", "0:1:1"}, {"--env-host"}, {"job-arg"}}) {
    INFO(args.front());
    auto problem = run_args_problem(args);
    REQUIRE(problem.has_value());
    CHECK_THAT(*problem, Contains("allowed: --ulimit"));
  }
  auto missing = run_args_problem({"--ulimit"});
  REQUIRE(missing.has_value());
  CHECK_THAT(*missing, Contains("needs a value"));
}

TEST_CASE("run_args_problem sees short flags with attached values and bundles", "[container_args]") {
  for (const char* arg : {"-v/:/host", "-u0", "-dit", "-it", "--cgroupns=host", "--sysctl", "--restart=always"}) {
    INFO(arg);
    CHECK(run_args_problem({arg}).has_value());
  }
  CHECK_FALSE(run_args_problem({"--ulimit=nofile=10:10"}).has_value());
}

// --- resources, groups, mounts and GPUs -------------------------------------------------

namespace {

// alice_job() with a flavor's resources, two supplementary groups and two mounts.
Job resourced_job() {
  Job job = alice_job();
  job.spec.flavor = "big";
  job.spec.resources.cpus = 2.5;
  job.spec.resources.memory = 4LL << 30;
  job.spec.resources.shm = 256LL << 20;
  job.spec.resources.time_limit = 3600;
  job.spec.groups = {27, 1005};
  job.spec.mounts = {{"/data/alice/datasets", "/data/alice/datasets", true}, {"/data/alice/persistent", "/persistent", false}};
  return job;
}

// The part of `argv` between --log-driver none and the first JOBMAN_ variable.
Argv launch_flags(const Argv& argv) {
  auto start = std::find(argv.begin(), argv.end(), "--log-driver");
  auto end = std::find(argv.begin(), argv.end(), "--env=JOBMAN_JOB_ID=42");
  REQUIRE(start != argv.end());
  REQUIRE(end != argv.end());
  return Argv(start + 2, end);
}

} // namespace

TEST_CASE("container_argv with resources, groups, mounts and GPUs is exactly this on podman", "[container_args]") {
  Config config = podman_config();
  config.limits.kill_grace = std::chrono::seconds(30);
  Job job = resourced_job();
  job.gpu_devices = {"0", "2"};
  const Argv expected{
    "podman", "--runtime", "runc",
    "run",
    "--ulimit", "nofile=1024:1024",
    "--name", "jobman-0a1b2c3d-42",
    "--label", "jobman.job=42",
    "--label", "jobman.instance=0a1b2c3d",
    "--label", "jobman.user=alice",
    "--network", "none",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--user", "1001:1001",
    "--read-only",
    "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777,U",
    "--pids-limit", "512",
    "--init",
    "--pull", "never",
    "--log-driver", "none",
    "--stop-timeout", "30",
    "--memory", "4294967296",
    "--memory-swap", "4294967296",
    "--cpus", "2.5",
    "--shm-size", "268435456",
    "--group-add", "27",
    "--group-add", "1005",
    "--mount=type=bind,source=/data/alice/datasets,target=/data/alice/datasets,readonly",
    "--mount=type=bind,source=/data/alice/persistent,target=/persistent",
    "--device", "nvidia.com/gpu=0",
    "--device", "nvidia.com/gpu=2",
    "--env=JOBMAN_JOB_ID=42",
    "--env=JOBMAN_JOB_NAME=train",
    "--env=JOBMAN_USER=alice",
    "--env=SEED=7",
    "--env=MODE=fast=yes",
    "sha256:abc",
    "python", "train.py", "--epochs", "3",
  };
  CHECK(container_argv(config, job) == expected);
}

TEST_CASE("container_argv with resources and GPUs is exactly this on docker", "[container_args]") {
  Config config;
  config.engine.kind = EngineKind::Docker;
  config.engine.binary = "docker";
  Job job = resourced_job();
  job.spec.groups = {};
  job.spec.mounts = {};
  job.spec.env = {};
  job.spec.args = {};
  job.gpu_devices = {"1"};
  const Argv expected{
    "docker", "run",
    "--name", "jobman-0a1b2c3d-42",
    "--label", "jobman.job=42",
    "--label", "jobman.instance=0a1b2c3d",
    "--label", "jobman.user=alice",
    "--network", "none",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--user", "1001:1001",
    "--read-only",
    "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777,uid=1001,gid=1001",
    "--pids-limit", "1024",
    "--init",
    "--pull", "never",
    "--log-driver", "none",
    "--stop-timeout", "10",
    "--memory", "4294967296",
    "--memory-swap", "4294967296",
    "--cpus", "2.5",
    "--shm-size", "268435456",
    "--gpus", "device=1",
    "--env=JOBMAN_JOB_ID=42",
    "--env=JOBMAN_JOB_NAME=train",
    "--env=JOBMAN_USER=alice",
    "sha256:abc",
  };
  CHECK(container_argv(config, job) == expected);
}

TEST_CASE("container_argv: --stop-timeout is limits.kill_grace in seconds", "[container_args]") {
  Config config = podman_config();
  config.limits.kill_grace = std::chrono::seconds(0);
  Argv argv = container_argv(config, alice_job());
  CHECK(has_flag_pair(argv, "--stop-timeout", "0", index_of(argv, "sha256:abc")));
  config.limits.kill_grace = std::chrono::minutes(2);
  argv = container_argv(config, alice_job());
  CHECK(has_flag_pair(argv, "--stop-timeout", "120", index_of(argv, "sha256:abc")));
  CHECK(std::count(argv.begin(), argv.end(), "--stop-timeout") == 1);
}

TEST_CASE("container_argv: --memory-swap always equals --memory: no swap on top", "[container_args]") {
  for (std::int64_t memory : {6LL << 20, 1LL << 30, (5LL << 30) / 2, 64LL << 30}) {
    CAPTURE(memory);
    Job job = alice_job();
    job.spec.resources.memory = memory;
    Argv argv = container_argv(podman_config(), job);
    const auto image = index_of(argv, "sha256:abc");
    CHECK(has_flag_pair(argv, "--memory", std::to_string(memory), image));
    CHECK(has_flag_pair(argv, "--memory-swap", std::to_string(memory), image));
    CHECK(index_of(argv, "--memory-swap") == index_of(argv, "--memory") + 2);
  }
}

TEST_CASE("container_argv: --cpus is written without trailing zeros", "[container_args]") {
  const std::vector<std::pair<double, std::string>> cases{{0.5, "0.5"}, {1, "1"}, {2, "2"}, {0.01, "0.01"}, {12.25, "12.25"}, {4096, "4096"}};
  for (const auto& [cpus, text] : cases) {
    CAPTURE(cpus);
    Job job = alice_job();
    job.spec.resources.cpus = cpus;
    Argv argv = container_argv(podman_config(), job);
    CHECK(has_flag_pair(argv, "--cpus", text, index_of(argv, "sha256:abc")));
  }
}

TEST_CASE("resource flags are left out when a resource is zero", "[container_args]") {
  Job job = alice_job();
  job.spec.resources = Resources{0, 0, 0, 0, 0};
  Argv argv = container_argv(podman_config(), job);
  for (const char* flag : {"--memory", "--memory-swap", "--cpus", "--shm-size"}) {
    CAPTURE(flag);
    CHECK(index_of(argv, flag) == -1);
  }
  CHECK(launch_flags(argv) == Argv{"--stop-timeout", "10", "--env=NVIDIA_VISIBLE_DEVICES=void"});
}

TEST_CASE("every supplementary group becomes one --group-add, in order", "[container_args]") {
  Job job = alice_job();
  job.spec.groups = {1005, 27, 44};
  Argv flags = launch_flags(container_argv(podman_config(), job));
  CHECK(flags == Argv{"--stop-timeout", "10", "--cpus", "1", "--group-add", "1005", "--group-add", "27", "--group-add", "44",
                      "--env=NVIDIA_VISIBLE_DEVICES=void"});
  job.spec.groups.clear();
  Argv none = container_argv(podman_config(), job);
  CHECK(index_of(none, "--group-add") == -1);
}

TEST_CASE("mounts are bind mounts, read-only ones marked readonly", "[container_args]") {
  Job job = alice_job();
  job.spec.mounts = {{"/srv/data/alice", "/data", true}, {"/srv/scratch/1001", "/scratch", false}, {"/srv/shared", "/srv/shared", true}};
  Argv flags = launch_flags(container_argv(podman_config(), job));
  CHECK(flags == Argv{"--stop-timeout", "10", "--cpus", "1",
                      "--mount=type=bind,source=/srv/data/alice,target=/data,readonly",
                      "--mount=type=bind,source=/srv/scratch/1001,target=/scratch",
                      "--mount=type=bind,source=/srv/shared,target=/srv/shared,readonly",
                      "--env=NVIDIA_VISIBLE_DEVICES=void"});
  // Each mount is one token: a path can never be read as another flag.
  CHECK(index_of(flags, "--mount") == -1);
}

TEST_CASE("gpu_flags for docker: one device plain, several quoted for docker's CSV parser", "[container_args]") {
  CHECK(gpu_flags(EngineKind::Docker, {"0"}) == Argv{"--gpus", "device=0"});
  CHECK(gpu_flags(EngineKind::Docker, {"3"}) == Argv{"--gpus", "device=3"});
  CHECK(gpu_flags(EngineKind::Docker, {"0", "2"}) == Argv{"--gpus", "\"device=0,2\""});
  CHECK(gpu_flags(EngineKind::Docker, {"1", "0", "3"}) == Argv{"--gpus", "\"device=1,0,3\""});
  CHECK(gpu_flags(EngineKind::Docker, {"GPU-5a3c9b1e"}) == Argv{"--gpus", "device=GPU-5a3c9b1e"});
}

TEST_CASE("gpu_flags for podman: one CDI --device per GPU", "[container_args]") {
  CHECK(gpu_flags(EngineKind::Podman, {"0"}) == Argv{"--device", "nvidia.com/gpu=0"});
  CHECK(gpu_flags(EngineKind::Podman, {"0", "2"}) == Argv{"--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=2"});
  CHECK(gpu_flags(EngineKind::Podman, {"GPU-5a3c9b1e"}) == Argv{"--device", "nvidia.com/gpu=GPU-5a3c9b1e"});
}

TEST_CASE("without GPUs the NVIDIA runtime is told to expose none", "[container_args]") {
  CHECK(gpu_flags(EngineKind::Docker, {}) == Argv{"--env=NVIDIA_VISIBLE_DEVICES=void"});
  CHECK(gpu_flags(EngineKind::Podman, {}) == Argv{"--env=NVIDIA_VISIBLE_DEVICES=void"});
  Argv argv = container_argv(podman_config(), alice_job());
  CHECK(std::count(argv.begin(), argv.end(), "--env=NVIDIA_VISIBLE_DEVICES=void") == 1);
  CHECK(index_of(argv, "--device") == -1);
  CHECK(index_of(argv, "--gpus") == -1);
}

TEST_CASE("container_argv takes the GPUs from the job's allocated devices, not its request", "[container_args]") {
  Job job = alice_job();
  job.spec.resources.gpus = 2; // asked for; nothing allocated yet
  Argv argv = container_argv(podman_config(), job);
  CHECK(index_of(argv, "--env=NVIDIA_VISIBLE_DEVICES=void") > 0);
  CHECK(index_of(argv, "--device") == -1);

  job.gpu_devices = {"1", "3"};
  Config docker;
  docker.engine.kind = EngineKind::Docker;
  docker.engine.binary = "docker";
  argv = container_argv(docker, job);
  CHECK(has_flag_pair(argv, "--gpus", "\"device=1,3\"", index_of(argv, "sha256:abc")));
  CHECK(index_of(argv, "--env=NVIDIA_VISIBLE_DEVICES=void") == -1);
}

TEST_CASE("remove_command names each container once and makes podman skip missing ones", "[container_args]") {
  Config podman = podman_config();
  CHECK(remove_command(podman.engine, {"jobman-a-1", "jobman-a-2", "jobman-a-1"}) ==
        Argv{"podman", "--runtime", "runc", "rm", "--force", "--ignore", "jobman-a-1", "jobman-a-2"});
  Config docker;
  docker.engine.kind = EngineKind::Docker;
  docker.engine.binary = "docker";
  CHECK(remove_command(docker.engine, {"jobman-a-3"}) == Argv{"docker", "rm", "--force", "jobman-a-3"});
}

TEST_CASE("container_argv names the platform's variables without their values", "[container_args][platform_env]") {
  Config config = podman_config();
  config.env = {{"GC_API_ROOT", "https://gc.example/api", false}, {"GC_TOKEN", "{user}-s3cr3t", true}};
  Flavor gpu;
  gpu.name = "gpu";
  gpu.env = {{"GPU_POOL", "pool-{job_id}", true}};
  config.flavors = {gpu};
  Job job = alice_job();
  // A user's variable of a name the admin set since (a reload) gives way to the admin's.
  job.spec.env.emplace_back("GC_TOKEN", "users-own");
  Argv argv = container_argv(config, job);
  const auto image = index_of(argv, "sha256:abc");
  for (const char* flag : {"--env=GC_API_ROOT", "--env=GC_TOKEN", "--env=SEED=7"}) {
    CAPTURE(flag);
    CHECK(index_of(argv, flag) > 0);
    CHECK(index_of(argv, flag) < image);
  }
  CHECK(index_of(argv, "--env=GPU_POOL") < 0); // another flavor's
  for (const auto& word : argv) {
    CHECK_THAT(word, !Contains("s3cr3t"));
    CHECK_THAT(word, !Contains("gc.example"));
    CHECK_THAT(word, !Contains("users-own"));
  }
  job.spec.flavor = "gpu";
  argv = container_argv(config, job);
  CHECK(index_of(argv, "--env=GPU_POOL") > 0);
  for (const auto& word : argv) CHECK_THAT(word, !Contains("pool-"));
}
