// Tests for daemon/backend/slurm_backend.hpp: what jobmand reads from squeue, sacct and the
// batch script's result (hostile and malformed output included), how a Slurm job's end
// maps to jobman's, and the exact sbatch line and spec file of a job. The batch script
// itself runs in tests/slurm/test_batch_script.py; the real cluster in test_slurm.py.

#include "daemon/backend/cgroup_usage.hpp"
#include "daemon/backend/slurm_backend.hpp"

#include "common/platform_env.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

using namespace jobman;
using namespace jobman::daemon::backend;
using Argv = std::vector<std::string>;

namespace {
constexpr const char* k_prefix = "jobman-0a1b2c3d-";

Config slurm_config() {
  Config config;
  config.state_dir = "/var/lib/jobman";
  config.engine.kind = EngineKind::Podman;
  config.engine.binary = "podman";
  config.engine.global_args = {"--runtime", "runc"};
  config.backend.kind = BackendKind::Slurm;
  config.limits.kill_grace = std::chrono::seconds(10);
  return config;
}

Job slurm_job() {
  Job job;
  job.id = 42;
  job.instance = "0a1b2c3d";
  job.container = container_name(job.instance, job.id);
  job.uid = 1001;
  job.gid = 1001;
  job.user = "alice";
  job.spec.name = "train";
  job.spec.image_id = "sha256:abc";
  job.spec.args = {"sh", "-c", "echo $(id) 'quoted' \"x\"; rm -rf / #", "--partition=evil", "a\nb"};
  job.spec.resources = Resources{1.5, 3LL << 30, 0, 0, 600};
  return job;
}

bool contains(const Argv& argv, const std::string& word) { return std::find(argv.begin(), argv.end(), word) != argv.end(); }

std::vector<std::string> nul_split(const std::string& text) {
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\0', start);
    REQUIRE(end != std::string::npos); // every word ends with a NUL
    words.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return words;
}
} // namespace

TEST_CASE("parse_squeue reads jobman's jobs and skips everything else", "[slurm]") {
  const std::string out = "12|jobman-0a1b2c3d-5|PENDING|Resources|\n"
                          "13|jobman-0a1b2c3d-6|RUNNING|None|n2\n"
                          "14|someone-else|RUNNING|None|n1\n"           // not jobman's
                          "15|jobman-ffffffff-6|RUNNING|None|n1\n"      // another jobmand's
                          "x7|jobman-0a1b2c3d-7|RUNNING|None|n1\n"      // not an id
                          "16|jobman-0a1b2c3d-8|RUNNING|None|n1|extra\n" // a '|' too many
                          "17|jobman-0a1b2c3d-9|COMPLETED|None|(null)\n"
                          "\n";
  auto jobs = parse_squeue(out, k_prefix);
  REQUIRE(jobs.size() == 3);
  CHECK(jobs[0].id == "12");
  CHECK(jobs[0].name == "jobman-0a1b2c3d-5");
  CHECK(jobs[0].state == "PENDING");
  CHECK(jobs[0].reason == "Resources");
  CHECK(jobs[0].node.empty());
  CHECK(jobs[1].reason.empty()); // "None"
  CHECK(jobs[1].node == "n2");
  CHECK(jobs[2].node.empty()); // "(null)"
}

TEST_CASE("parse_squeue survives hostile output", "[slurm]") {
  CHECK(parse_squeue("", k_prefix).empty());
  CHECK(parse_squeue("|||||\n||||\n", k_prefix).empty());
  CHECK(parse_squeue(std::string(100000, '|'), k_prefix).empty());
  CHECK(parse_squeue("99999999999999999999|jobman-0a1b2c3d-1|RUNNING|None|n1\n", k_prefix).empty()); // too long an id
  CHECK(parse_squeue("1|jobman-0a1b2c3d-" + std::string(300, 'x') + "|RUNNING|None|n1\n", k_prefix).empty());
  auto long_reason = parse_squeue("1|jobman-0a1b2c3d-1|PENDING|" + std::string(5000, 'r') + "|\n", k_prefix);
  REQUIRE(long_reason.size() == 1);
  CHECK(long_reason[0].reason.size() <= 200);
}

TEST_CASE("parse_sacct keeps the job's own line, its state word and exit code", "[slurm]") {
  const std::string out = "20|jobman-0a1b2c3d-5|CANCELLED by 0|0:15|n1\n"
                          "20.batch|batch|CANCELLED|0:15|n1\n"
                          "21|jobman-0a1b2c3d-6|FAILED|3:0|n3\n"
                          "22|jobman-0a1b2c3d-7|NODE_FAIL|0:0|n2\n"
                          "23|other|COMPLETED|0:0|n2\n";
  auto jobs = parse_sacct(out, k_prefix);
  REQUIRE(jobs.size() == 3);
  CHECK(jobs[0].state == "CANCELLED");
  CHECK(jobs[0].exit_code == 0);
  CHECK(jobs[1].state == "FAILED");
  CHECK(jobs[1].exit_code == 3);
  CHECK(jobs[1].node == "n3");
  CHECK(jobs[2].state == "NODE_FAIL");
  CHECK(parse_sacct("24|jobman-0a1b2c3d-8|FAILED|x:y|n1\n", k_prefix).at(0).exit_code == std::nullopt);
}

TEST_CASE("Slurm's states: which have ended, which ran", "[slurm]") {
  for (const char* s : {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "DEADLINE"})
    CHECK(slurm_final(s));
  for (const char* s : {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "REQUEUED", ""}) CHECK_FALSE(slurm_final(s));
  CHECK(slurm_started("RUNNING"));
  CHECK(slurm_started("COMPLETING"));
  CHECK(slurm_started("COMPLETED"));
  CHECK_FALSE(slurm_started("PENDING"));
  CHECK_FALSE(slurm_started("CONFIGURING"));
  CHECK_FALSE(slurm_started("CANCELLED")); // may have been cancelled while pending: the result says
}

TEST_CASE("parse_script_result reads the batch script's lines, and nothing else", "[slurm]") {
  auto r = parse_script_result("exit=3\noom=0\nstarted=1\nstopped=\n");
  REQUIRE(r);
  CHECK(r->exit_code == 3);
  CHECK(r->started);
  CHECK_FALSE(r->oom);
  CHECK(r->stopped.empty());
  auto t = parse_script_result("exit=143\noom=0\nstarted=1\nstopped=timeout\n");
  REQUIRE(t);
  CHECK(t->stopped == "timeout");
  CHECK_FALSE(parse_script_result(""));
  CHECK_FALSE(parse_script_result("garbage\n\n"));
  auto odd = parse_script_result("exit=99999999999999\nexit=-1\noom=yes\nstarted=\n");
  REQUIRE(odd);
  CHECK(odd->exit_code == std::nullopt);
  CHECK_FALSE(odd->oom);
  CHECK_FALSE(odd->started);
}

TEST_CASE("parse_script_result takes the usage the node sampled, only with its source and only as numbers", "[slurm]") {
  auto r = parse_script_result("exit=0\noom=0\nstarted=1\nstopped=\npeak_memory=41943040\ncpu_ms=2500\ncpu_user_ms=2000\n"
                               "usage_source=cgroup v2\n");
  REQUIRE(r);
  REQUIRE(r->usage);
  CHECK(*r->usage == Usage{41943040, std::nullopt, 2500, 2000, std::nullopt, "cgroup v2"});
  CHECK(slurm_exit(std::nullopt, r, "").usage == r->usage);
  // No source: the figures are not taken.
  CHECK_FALSE(parse_script_result("exit=0\nstarted=1\npeak_memory=5\n")->usage);
  // A source jobman does not write, or figures that are not numbers: not taken.
  CHECK_FALSE(parse_script_result("exit=0\npeak_memory=5\nusage_source=guess\n")->usage);
  for (const std::string bad : {"-5", "5M", "", "1e3", "9999999999999999999", " 5"}) {
    auto odd = parse_script_result("exit=0\npeak_memory=" + bad + "\nusage_source=cgroup v1\n");
    REQUIRE(odd);
    CHECK_FALSE(odd->usage);
  }
  // Its own lines, as usage_lines writes them, read back the same.
  const Usage usage{1, 5, 2, 3, 4, "cgroup v1"};
  CHECK(*parse_script_result("exit=0\n" + usage_lines(usage))->usage == usage);
}

TEST_CASE("slurm_exit maps Slurm's end and the script's result to jobman's", "[slurm]") {
  auto slurm = [](std::string state, std::string node = "n2") {
    SlurmJob j;
    j.id = "77";
    j.name = "jobman-0a1b2c3d-5";
    j.state = std::move(state);
    j.node = std::move(node);
    return std::optional<SlurmJob>(j);
  };
  auto result = [](int code, bool started = true, std::string stopped = "", bool oom = false) {
    return std::optional<ScriptResult>(ScriptResult{code, oom, started, std::move(stopped)});
  };
  SECTION("completed and failed carry the container's exit code") {
    auto ok = slurm_exit(slurm("COMPLETED"), result(0), "");
    CHECK(ok.status.success());
    CHECK_FALSE(ok.engine_failed);
    CHECK(ok.node == "n2");
    auto failed = slurm_exit(slurm("FAILED"), result(3), "");
    CHECK(failed.status.code == 3);
    CHECK_FALSE(failed.engine_failed);
  }
  SECTION("a node failure or preemption loses the job, naming the node") {
    auto lost = slurm_exit(slurm("NODE_FAIL"), std::nullopt, "");
    CHECK(lost.lost);
    CHECK_THAT(lost.message, Catch::Matchers::Contains("n2") && Catch::Matchers::Contains("NODE_FAIL"));
    CHECK(slurm_exit(slurm("BOOT_FAIL"), std::nullopt, "").lost);
    CHECK(slurm_exit(slurm("PREEMPTED"), result(143), "").lost);
  }
  SECTION("jobman's timer in the script, or Slurm's own limit, is a timeout") {
    CHECK(slurm_exit(slurm("FAILED"), result(143, true, "timeout"), "").timed_out);
    auto by_slurm = slurm_exit(slurm("TIMEOUT"), result(143, true, "term"), "");
    CHECK(by_slurm.timed_out);
    CHECK(by_slurm.message == "by Slurm");
  }
  SECTION("OOM from Slurm or from the engine") {
    CHECK(slurm_exit(slurm("OUT_OF_MEMORY"), std::nullopt, "").oom_killed);
    CHECK(slurm_exit(slurm("FAILED"), result(137, true, "", true), "").oom_killed);
  }
  SECTION("cancelled in Slurm, not through jobman") {
    auto c = slurm_exit(slurm("CANCELLED"), result(143, true, "term"), "");
    CHECK(c.cancelled);
    CHECK_THAT(c.message, Catch::Matchers::Contains("Slurm job 77") && Catch::Matchers::Contains("not through jobman"));
  }
  SECTION("a script that never wrote its result, or a container that never started, failed in the engine") {
    auto none = slurm_exit(slurm("FAILED"), std::nullopt, "Error: no such image\n");
    CHECK(none.engine_failed);
    CHECK(none.message == "no such image");
    auto never = slurm_exit(slurm("FAILED"), result(125, false), "");
    CHECK(never.engine_failed);
    CHECK_THAT(never.message, Catch::Matchers::Contains("never started"));
    CHECK(slurm_exit(std::nullopt, std::nullopt, "").engine_failed);
  }
}

TEST_CASE("sbatch_argv: the flavor's resources, the job's identity, no user text", "[slurm]") {
  Config config = slurm_config();
  config.backend.slurm.partition = "gpu";
  config.backend.slurm.account = "imaging";
  config.backend.slurm.qos = "normal";
  Job job = slurm_job();
  const Argv argv = sbatch_argv(config, job, "/var/lib/jobman/logs/42.log");
  CHECK(argv.front() == "sbatch");
  CHECK(argv[1] == "--parsable");
  CHECK(contains(argv, "--job-name=jobman-0a1b2c3d-42"));
  CHECK(contains(argv, "--comment=jobman instance=0a1b2c3d job=42 user=alice uid=1001"));
  CHECK(contains(argv, "--cpus-per-task=2")); // 1.5 CPUs, rounded up
  CHECK(contains(argv, "--mem=3072M"));
  CHECK(contains(argv, "--time=13")); // 600 s + 10 s grace + 120 s margin = 730 s -> 13 min
  CHECK(contains(argv, "--no-requeue"));
  CHECK(contains(argv, "--export=NONE"));
  CHECK(contains(argv, "--output=/var/lib/jobman/logs/42.log"));
  CHECK(contains(argv, "--partition=gpu"));
  CHECK(contains(argv, "--account=imaging"));
  CHECK(contains(argv, "--qos=normal"));
  CHECK_FALSE(std::any_of(argv.begin(), argv.end(), [](const std::string& a) { return a.rfind("--gres", 0) == 0; }));
  // The script and its arguments last: all jobmand's own values.
  const Argv tail(argv.end() - 9, argv.end());
  // No mount pinned on the node: STAGE is "-"; the helper is this binary unless configured;
  // no platform env: ENV is "-".
  CHECK(tail == Argv{"/var/lib/jobman/slurm/job.sh", "/var/lib/jobman/slurm/42.spec", "/var/lib/jobman/slurm/42.result",
                     "jobman-0a1b2c3d-42", "600", "10", "-", self_executable(), "-"});
  CHECK(self_executable().front() == '/');
  config.backend.slurm.node_helper = "/opt/jobman/sbin/jobmand";
  job.spec.mounts = {Mount{"/run/jobman/slurm/jobman-0a1b2c3d-42/0", "/data", true, "/home/alice/data"}};
  const Argv staged = sbatch_argv(config, job, "/l");
  CHECK(Argv(staged.end() - 3, staged.end()) == Argv{"/var/lib/jobman/slurm/42.stage", "/opt/jobman/sbin/jobmand", "-"});
  job.spec.mounts = {Mount{"/run/jobman/slurm/jobman-0a1b2c3d-4/0", "/data", true, "/home/alice/data"}}; // another job's directory
  CHECK(sbatch_argv(config, job, "/l").end()[-3] == "-");
  for (const auto& a : argv)
    for (std::size_t i = 2; i < job.spec.args.size(); ++i) CHECK(a.find(job.spec.args[i]) == std::string::npos);
  job.spec.resources.gpus = 2;
  CHECK(contains(sbatch_argv(config, job, "/l"), "--gres=gpu:2"));
}

TEST_CASE("slurm_spec holds the engine command word for word, with where the label and GPUs go", "[slurm]") {
  Config config = slurm_config();
  Job job = slurm_job();
  auto words = nul_split(slurm_spec(config, job));
  REQUIRE(words.size() > 4);
  CHECK(words[0] == "3");  // podman --runtime runc
  CHECK(words[1] == "4");  // the label right after "run"
  CHECK(words[2] == "-1"); // no GPUs
  CHECK(words[3] == "podman");
  const Argv argv(words.begin() + 4, words.end());
  CHECK(argv == slurm_container_argv(config, job));
  CHECK(argv[3] == "run");
  // The user's words stay single words, however they look: no shell reads them.
  CHECK(Argv(argv.end() - 5, argv.end()) == job.spec.args);

  job.spec.resources.gpus = 2;
  auto gpu = nul_split(slurm_spec(config, job));
  const long g = std::stol(gpu[2]);
  REQUIRE(g > 0);
  CHECK(gpu.at(static_cast<std::size_t>(g) + 4) == "nvidia.com/gpu=@SLURM_JOB_GPUS@");
  CHECK(gpu.at(static_cast<std::size_t>(g) + 3) == "--device");

  config.engine.kind = EngineKind::Docker;
  config.engine.binary = "/usr/bin/docker";
  config.engine.global_args = {"-H", "unix:///run/d.sock"};
  auto docker = nul_split(slurm_spec(config, job));
  CHECK(docker[3] == "docker");
  const long dg = std::stol(docker[2]);
  CHECK(docker.at(static_cast<std::size_t>(dg) + 4) == "device=@SLURM_JOB_GPUS@");
  CHECK(docker.at(static_cast<std::size_t>(dg) + 3) == "--gpus");
}

TEST_CASE("a Slurm job's platform env: a root-only file the node's helper reads, names only in the spec", "[slurm][platform_env]") {
  Config config = slurm_config();
  config.env = {{"GC_API_ROOT", "https://gc.example/api", false}, {"GC_TOKEN", "{user}-s3cr3t {job_id}", true}};
  Job job = slurm_job();
  const Argv argv = sbatch_argv(config, job, "/l");
  CHECK(argv.back() == "/var/lib/jobman/slurm/42.env");
  CHECK(slurm_paths(config, 42).env == "/var/lib/jobman/slurm/42.env");
  const auto resolved = resolve_platform_env(config, job);
  CHECK(nul_split(slurm_env_file(resolved)) == std::vector<std::string>{"GC_API_ROOT=https://gc.example/api", "GC_TOKEN=alice-s3cr3t 42"});
  CHECK(slurm_env_file({}).empty());
  for (const auto& word : nul_split(slurm_spec(config, job))) {
    CHECK_THAT(word, !Catch::Matchers::Contains("s3cr3t"));
    CHECK_THAT(word, !Catch::Matchers::Contains("gc.example"));
  }
  const auto spec = nul_split(slurm_spec(config, job));
  CHECK(std::find(spec.begin(), spec.end(), "--env=GC_TOKEN") != spec.end());
  for (const auto& word : argv) CHECK_THAT(word, !Catch::Matchers::Contains("s3cr3t"));
  const std::string& script = slurm_batch_script();
  CHECK(script.find("--node-exec \"$envfile\" \"${cmd[@]}\"") != std::string::npos);
}

TEST_CASE("the batch script is the one in slurm_script.sh", "[slurm]") {
  const std::string& script = slurm_batch_script();
  CHECK(script.rfind("#!/bin/bash\n", 0) == 0);
  CHECK(script.find("mapfile -d ''") != std::string::npos);
  CHECK(script.find("eval") == std::string::npos); // nothing it reads is ever run as shell text
}
