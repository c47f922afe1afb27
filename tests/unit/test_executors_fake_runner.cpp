// LocalBackend and SlurmBackend against a fake command runner with scripted replies (as
// ninja's builder is tested): which commands they run and how they read the answers. The
// real engines and the real cluster are in the end-to-end suites.

#include "daemon/backend/local_backend.hpp"
#include "daemon/backend/slurm_backend.hpp"
#include "daemon/mounts/node_plan.hpp"

#include "fake_command_runner.hpp"
#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using namespace jobman;
using namespace jobman::daemon::backend;
namespace asio = boost::asio;
using jobman::test::FakeCommandRunner;

namespace {

// Runs `task` on `io` to completion (or `limit`), returning its value.
template <class T> T run(asio::io_context& io, asio::awaitable<T> task, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  std::optional<T> value;
  io.restart(); // a run_for that ran out of work left the context stopped
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { value = co_await std::move(task); }, asio::detached);
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!value && std::chrono::steady_clock::now() < until) io.run_for(std::chrono::milliseconds(10));
  INFO("the task did not finish within " << limit.count() << " ms");
  REQUIRE(value);
  return std::move(*value);
}

Job a_job(const std::string& instance, JobId id) {
  Job job;
  job.id = id;
  job.instance = instance;
  job.container = container_name(instance, id);
  job.uid = 1001;
  job.gid = 1001;
  job.user = "alice";
  job.spec.image_id = "sha256:abc";
  job.spec.args = {"true"};
  job.spec.resources = Resources{1, 1 << 30, 0, 0, 60};
  return job;
}

struct SlurmWorld {
  test::TempDir dir;
  asio::io_context io;
  Config config;
  FakeCommandRunner runner;
  std::unique_ptr<SlurmBackend> slurm;
  SlurmWorld() {
    config.state_dir = dir.path().string();
    std::filesystem::create_directories(dir.path() / "logs");
    config.backend.kind = BackendKind::Slurm;
    config.backend.slurm.poll_interval = std::chrono::milliseconds(100);
    config.engine.command_timeout = std::chrono::seconds(2); // how long stop() keeps trying for an unanswered sbatch
    slurm = std::make_unique<SlurmBackend>(io.get_executor(), config, runner, "0a1b2c3d");
    REQUIRE(slurm->install_script());
  }
  std::string log(JobId id) const { return dir.file("logs/" + std::to_string(id) + ".log"); }
  void result(JobId id, const std::string& text) { std::ofstream(dir.file("slurm/" + std::to_string(id) + ".result")) << text; }
};

struct LocalWorld {
  test::TempDir dir;
  asio::io_context io;
  Config config;
  FakeCommandRunner runner;
  std::unique_ptr<LocalBackend> local;
  LocalWorld() {
    config.state_dir = dir.path().string();
    local = std::make_unique<LocalBackend>(config, runner);
  }
};

} // namespace

TEST_CASE("SlurmBackend::start writes the spec, runs sbatch once and keeps its job id", "[slurm][executor]") {
  SlurmWorld w;
  w.runner.on({"sbatch", "--parsable"}, 0, "4242;jobmantest\n");
  Job job = a_job("0a1b2c3d", 7);
  auto id = run(w.io, w.slurm->start(job, w.log(7)));
  REQUIRE(id);
  CHECK(*id == "4242");
  REQUIRE(w.runner.calls.size() == 1);
  CHECK(w.runner.calls[0] == sbatch_argv(w.config, job, w.log(7)));
  std::ifstream spec(w.dir.file("slurm/7.spec"), std::ios::binary);
  const std::string written((std::istreambuf_iterator<char>(spec)), std::istreambuf_iterator<char>());
  CHECK(written == slurm_spec(w.config, job));
  CHECK(std::filesystem::exists(w.log(7)));
  CHECK((std::filesystem::status(w.dir.path() / "slurm").permissions() & std::filesystem::perms::others_all) == std::filesystem::perms::none);
}

TEST_CASE("SlurmBackend::start writes the node's plan of the job's mounts, keeps its image copy's tar, and remove() drops both",
          "[slurm][executor]") {
  SlurmWorld w;
  w.runner.on({"sbatch", "--parsable"}, 0, "4243\n");
  std::filesystem::create_directories(w.dir.path() / "image-homes");
  const std::string tar = w.dir.file("image-homes/abc.0.tar");
  std::ofstream(tar) << "tar bytes";
  Job job = a_job("0a1b2c3d", 8);
  const std::string node = "/run/jobman/slurm/" + job.container;
  Mount home{node + "/home0", "/home/chaimeleon", false, "a copy of the image's /home/chaimeleon"};
  home.image_copy = true;
  home.copy_tar = tar;
  home.copy_size = 4 << 20;
  Mount data{node + "/0", "/home/chaimeleon/datasets", true, "/home/alice/datasets"};
  data.root = "/home/alice";
  job.spec.mounts = {home, data};
  REQUIRE(w.slurm->node_staging_dir(job) == node);
  REQUIRE(run(w.io, w.slurm->start(job, w.log(8))));
  const std::string stage = w.dir.file("slurm/8.stage"), link = w.dir.file("slurm/8.home0.tar");
  REQUIRE(w.runner.calls.size() == 1);
  CHECK(w.runner.calls[0].end()[-3] == stage); // the batch script's STAGE (then HELPER, ENV)
  std::ifstream in(stage);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto plan = jobman::daemon::mounts::parse_plan(text);
  REQUIRE(plan);
  CHECK(plan->dir == node);
  REQUIRE(plan->mounts.size() == 1);
  CHECK(plan->mounts[0].path == "/home/alice/datasets");
  REQUIRE(plan->homes.size() == 1);
  CHECK(plan->homes[0].tar == link);
  CHECK(std::filesystem::equivalent(tar, link)); // a hard link: the cache may drop its own
  CHECK((std::filesystem::status(stage).permissions() & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
        std::filesystem::perms::none);
  // Started again after a restart that cleared the cache: the link it kept serves.
  std::filesystem::remove(tar);
  REQUIRE(run(w.io, w.slurm->start(job, w.log(8))));
  CHECK(std::filesystem::exists(link));
  w.runner.on({"scancel"}, 0, "");
  CHECK(run(w.io, [&]() -> asio::awaitable<bool> {
    co_await w.slurm->remove(job);
    co_return true;
  }()));
  CHECK_FALSE(std::filesystem::exists(stage));
  CHECK_FALSE(std::filesystem::exists(link));
  // Neither the tar nor a link: the start fails, saying so, and submits nothing.
  const auto calls = w.runner.calls.size();
  auto gone = run(w.io, w.slurm->start(job, w.log(8)));
  REQUIRE_FALSE(gone);
  CHECK_THAT(gone.error().message, Catch::Matchers::Contains("cannot keep the image copy"));
  CHECK(w.runner.calls.size() == calls);
}

TEST_CASE("SlurmBackend::start: a refusal or an answer without an id fails the start in Slurm's words", "[slurm][executor]") {
  SlurmWorld w;
  w.runner.on({"sbatch"}, 1, "", "sbatch: error: Batch job submission failed: Invalid partition name specified\n");
  auto refused = run(w.io, w.slurm->start(a_job("0a1b2c3d", 1), w.log(1)));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "Slurm refused the job: sbatch: error: Batch job submission failed: Invalid partition name specified");
  SlurmWorld g;
  g.runner.on({"sbatch"}, 0, "Submitted batch job \x1b[31m9\n");
  auto garbage = run(g.io, g.slurm->start(a_job("0a1b2c3d", 1), g.log(1)));
  REQUIRE_FALSE(garbage);
  CHECK_THAT(garbage.error().message, Catch::Matchers::StartsWith("sbatch printed no job id"));
  SlurmWorld h;
  h.runner.fail({"sbatch"}, "did not answer within 2m");
  CHECK(run(h.io, h.slurm->start(a_job("0a1b2c3d", 1), h.log(1))).error().code == ErrorCode::Unavailable);
}

TEST_CASE("SlurmBackend follows every job with one squeue per poll, and ends them from the script's result", "[slurm][executor]") {
  SlurmWorld w;
  w.runner.on({"sbatch", "--job-name=jobman-0a1b2c3d-1"}, 0, "101\n");
  w.runner.on({"sbatch", "--job-name=jobman-0a1b2c3d-2"}, 0, "102\n");
  w.runner.on({"squeue"}, 0, "101|jobman-0a1b2c3d-1|RUNNING|None|n1\n102|jobman-0a1b2c3d-2|PENDING|Resources|\n"
                             "103|someone-else|RUNNING|None|n3\n");
  Job one = a_job("0a1b2c3d", 1), two = a_job("0a1b2c3d", 2);
  REQUIRE(run(w.io, w.slurm->start(one, w.log(1))));
  REQUIRE(run(w.io, w.slurm->start(two, w.log(2))));
  w.io.restart();
  w.io.run_for(std::chrono::milliseconds(450)); // about 4 polls
  const auto polls = w.runner.count({"squeue"});
  CHECK(polls >= 2);
  CHECK(polls <= 6); // one call per poll for both jobs, not one per job
  auto first = run(w.io, w.slurm->has_started(one));
  REQUIRE(first);
  CHECK(first->started);
  CHECK(first->node == "n1");
  auto second = run(w.io, w.slurm->has_started(two));
  REQUIRE(second);
  CHECK_FALSE(second->started);
  CHECK(second->waiting == "Slurm job 102: PENDING (Resources)");
  // Job 1's script writes its result: it ends at the next look, with the container's code.
  w.result(1, "exit=3\noom=0\nstarted=1\nstopped=\n");
  auto exit = run(w.io, w.slurm->wait(one, w.log(1)));
  CHECK(exit.status.code == 3);
  CHECK_FALSE(exit.engine_failed);
  CHECK(exit.node == "n1");
}

TEST_CASE("SlurmBackend: a job squeue forgot is looked up in sacct, in one call", "[slurm][executor]") {
  SlurmWorld w;
  w.config.backend.slurm.sacct_args = {"-c"};
  w.runner.on({"sbatch"}, 0, "201\n");
  w.runner.on({"squeue"}, 0, "");
  w.runner.on({"sacct", "-c", "--jobs=201"}, 0, "201|jobman-0a1b2c3d-5|NODE_FAIL|0:0|n2\n");
  Job job = a_job("0a1b2c3d", 5);
  REQUIRE(run(w.io, w.slurm->start(job, w.log(5))));
  auto exit = run(w.io, w.slurm->wait(job, w.log(5)));
  CHECK(exit.lost);
  CHECK(exit.message == "Slurm job 201 ended NODE_FAIL: node n2 failed");
  CHECK(w.runner.count({"sacct"}) >= 1);
}

TEST_CASE("SlurmBackend::presence finds a job by name in squeue, then sacct; says Unknown when Slurm does not answer", "[slurm][executor]") {
  SlurmWorld running;
  running.runner.on({"squeue", "--name=jobman-0a1b2c3d-3"}, 0, "301|jobman-0a1b2c3d-3|PENDING|Priority|\n");
  CHECK(run(running.io, running.slurm->presence(a_job("0a1b2c3d", 3))) == ContainerPresence::Running);
  CHECK(running.runner.calls[0][0] == "squeue");

  SlurmWorld ended;
  ended.runner.on({"squeue"}, 0, "");
  ended.runner.on({"sacct", "--name=jobman-0a1b2c3d-3"}, 0, "301|jobman-0a1b2c3d-3|COMPLETED|0:0|n1\n");
  ended.result(3, "exit=0\noom=0\nstarted=1\nstopped=\n");
  CHECK(run(ended.io, ended.slurm->presence(a_job("0a1b2c3d", 3))) == ContainerPresence::Exited);
  CHECK(run(ended.io, ended.slurm->wait(a_job("0a1b2c3d", 3), ended.log(3))).status.success());

  SlurmWorld never;
  never.runner.on({"squeue"}, 0, "");
  never.runner.on({"sacct"}, 0, "");
  CHECK(run(never.io, never.slurm->presence(a_job("0a1b2c3d", 3))) == ContainerPresence::Missing);

  SlurmWorld down;
  down.runner.on({"squeue"}, 1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n");
  CHECK(run(down.io, down.slurm->presence(a_job("0a1b2c3d", 3))) == ContainerPresence::Unknown);

  // A user's own job with jobman's name, not root's, is not listed by squeue --user=root: the
  // name alone never makes a job jobman's (parse_squeue also wants the exact name).
  SlurmWorld other;
  other.runner.on({"squeue"}, 0, "302|jobman-0a1b2c3d-30|RUNNING|None|n1\n");
  other.runner.on({"sacct"}, 0, "");
  CHECK(run(other.io, other.slurm->presence(a_job("0a1b2c3d", 3))) == ContainerPresence::Missing);
}

TEST_CASE("SlurmBackend::stop cancels by id, or by name before sbatch answered", "[slurm][executor]") {
  SlurmWorld w;
  w.runner.on({"sbatch"}, 0, "401\n");
  w.runner.on({"scancel"}, 0, "");
  w.runner.on({"squeue"}, 0, "401|jobman-0a1b2c3d-4|RUNNING|None|n1\n");
  Job job = a_job("0a1b2c3d", 4);
  REQUIRE(run(w.io, w.slurm->start(job, w.log(4))));
  run(w.io, [&]() -> asio::awaitable<bool> {
    co_await w.slurm->stop(job, std::chrono::seconds(1));
    co_return true;
  }());
  CHECK(w.runner.count({"scancel", "401"}) == 1);

  SlurmWorld early;
  early.runner.on({"scancel"}, 0, "");
  Job unsent = a_job("0a1b2c3d", 9);
  run(early.io, [&]() -> asio::awaitable<bool> {
    co_await early.slurm->stop(unsent, std::chrono::seconds(1));
    co_return true;
  }(), std::chrono::milliseconds(20000));
  CHECK(early.runner.count({"scancel", "--name=jobman-0a1b2c3d-9"}) >= 1);
}

TEST_CASE("LocalBackend: an ambiguous exit asks inspect; OOM, a never-started container and the engine's words", "[local][executor]") {
  LocalWorld oom;
  oom.runner.spawn_exit = {137, std::nullopt};
  oom.runner.on({"container", "inspect"}, 0, R"([{"Id":"abc","State":{"Running":false,"ExitCode":137,"OOMKilled":true,"StartedAt":"2026-12-02T10:00:00Z"}}])");
  Job job = a_job("0a1b2c3d", 1);
  job.argv = {"podman", "run", "img"};
  const std::string log = oom.dir.file("1.log");
  REQUIRE(run(oom.io, oom.local->start(job, log)));
  auto exit = run(oom.io, oom.local->wait(job, log));
  CHECK(exit.oom_killed);
  CHECK(exit.status.code == 137);
  CHECK(oom.runner.count({"container", "inspect", job.container}) == 1);

  LocalWorld never;
  never.runner.spawn_exit = {125, std::nullopt};
  never.runner.on({"container", "inspect"}, 0, R"([{"Id":"abc","State":{"Running":false,"ExitCode":0,"Error":"","StartedAt":"0001-01-01T00:00:00Z"}}])");
  const std::string log2 = never.dir.file("2.log");
  std::ofstream(log2) << "Error: short-name resolution enforced\n";
  REQUIRE(run(never.io, never.local->start(job, log2)));
  auto failed = run(never.io, never.local->wait(job, log2));
  CHECK(failed.engine_failed);
  CHECK(failed.message == "short-name resolution enforced");

  LocalWorld plain;
  plain.runner.spawn_exit = {3, std::nullopt};
  REQUIRE(run(plain.io, plain.local->start(job, plain.dir.file("3.log"))));
  CHECK(run(plain.io, plain.local->wait(job, plain.dir.file("3.log"))).status.code == 3);
  CHECK(plain.runner.count({"container", "inspect"}) == 0); // a plain exit costs no engine call
}

TEST_CASE("LocalBackend::presence reads inspect: running, exited, missing, unknown", "[local][executor]") {
  Job job = a_job("0a1b2c3d", 1);
  LocalWorld a;
  a.runner.on({"inspect"}, 0, R"([{"State":{"Running":true}}])");
  CHECK(run(a.io, a.local->presence(job)) == ContainerPresence::Running);
  LocalWorld b;
  b.runner.on({"inspect"}, 0, R"([{"State":{"Running":false}}])");
  CHECK(run(b.io, b.local->presence(job)) == ContainerPresence::Exited);
  LocalWorld c;
  c.runner.on({"inspect"}, 125, "", "Error: no such container jobman-0a1b2c3d-1\n");
  CHECK(run(c.io, c.local->presence(job)) == ContainerPresence::Missing);
  LocalWorld d;
  d.runner.fail({"inspect"}, "did not answer");
  CHECK(run(d.io, d.local->presence(job)) == ContainerPresence::Unknown);
  LocalWorld e;
  e.runner.on({"inspect"}, 0, "not json {");
  CHECK(run(e.io, e.local->presence(job)) == ContainerPresence::Unknown);
}

TEST_CASE("LocalBackend::remove batches the containers that end together into one rm", "[local][executor]") {
  LocalWorld w;
  w.runner.on({"rm"}, 0, "");
  Job first = a_job("0a1b2c3d", 1), second = a_job("0a1b2c3d", 2);
  asio::co_spawn(w.io, w.local->remove(first), asio::detached);
  asio::co_spawn(w.io, w.local->remove(second), asio::detached);
  w.io.restart();
  w.io.run_for(std::chrono::milliseconds(2500)); // the 2 s batch delay
  REQUIRE(w.runner.count({"rm"}) == 1);
  CHECK(w.runner.count({"rm", "jobman-0a1b2c3d-1", "jobman-0a1b2c3d-2"}) == 1);
}

TEST_CASE("LocalBackend::start hands the platform's values to the run client's environment, resolved for the job",
          "[local][executor][platform_env]") {
  LocalWorld w;
  w.config.env = {{"GC_API_ROOT", "https://gc.example/api", false}, {"GC_TOKEN", "{user}-{job_id}-s3cr3t", true}};
  Job job = a_job("0a1b2c3d", 5);
  job.argv = {"podman", "run", "--env=GC_API_ROOT", "--env=GC_TOKEN", "img"};
  REQUIRE(run(w.io, w.local->start(job, w.dir.file("5.log"))));
  REQUIRE(w.runner.spawn_envs.size() == 1);
  CHECK(w.runner.spawn_envs[0] == std::vector<EnvVar>{{"GC_API_ROOT", "https://gc.example/api"}, {"GC_TOKEN", "alice-5-s3cr3t"}});
  CHECK(w.runner.calls.back() == job.argv); // the argv as stored: names only

  // A value this job's fields would break (a line break from the user name) starts nothing.
  LocalWorld broken;
  broken.config.env = w.config.env;
  Job odd = job;
  odd.user = "a\nb";
  auto refused = run(broken.io, broken.local->start(odd, broken.dir.file("5.log")));
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Matchers::Contains("GC_TOKEN") && !Catch::Matchers::Contains("s3cr3t"));
  CHECK(broken.runner.calls.empty());
}

TEST_CASE("SlurmBackend::start writes the platform's values to a root-only file, removed with the job", "[slurm][executor][platform_env]") {
  SlurmWorld w;
  w.config.env = {{"GC_TOKEN", "{user}-s3cr3t", true}};
  w.runner.on({"sbatch", "--parsable"}, 0, "4243\n");
  Job job = a_job("0a1b2c3d", 6);
  REQUIRE(run(w.io, w.slurm->start(job, w.log(6))));
  const auto env = w.dir.path() / "slurm" / "6.env";
  REQUIRE(std::filesystem::exists(env));
  CHECK((std::filesystem::status(env).permissions() & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
        std::filesystem::perms::none);
  std::ifstream in(env, std::ios::binary);
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(written == std::string("GC_TOKEN=alice-s3cr3t\0", 22));
  CHECK(w.runner.calls[0].back() == env.string());
  for (const auto& word : w.runner.calls[0]) CHECK_THAT(word, !Catch::Matchers::Contains("s3cr3t"));
  w.result(6, "exit=0\noom=0\nstarted=1\nstopped=\n");
  run(w.io, [&]() -> asio::awaitable<bool> {
    co_await w.slurm->remove(job);
    co_return true;
  }());
  CHECK_FALSE(std::filesystem::exists(env));
}
