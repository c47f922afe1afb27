// Tests for daemon/policy/submit_policy.hpp: build_job turns a submit request into a job
// or an error naming what is wrong.

#include "daemon/policy/submit_policy.hpp"

#include "matchers.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using namespace jobman::daemon::policy;
using jobman::test::IsErrorInfo;

namespace {

ImageInfo image(std::string id, std::string tag, std::map<std::string, std::string> labels) {
  ImageInfo info;
  info.id = std::move(id);
  info.repo_tags = {std::move(tag)};
  info.labels = std::move(labels);
  return info;
}

Catalogue catalogue() {
  return build_catalogue(ImagesConfig{}, {
    image("sha256:app1", "localhost/app:1.0", {{"name", "app"}, {"version", "1.0"}}),
    image("sha256:app2", "localhost/app:2.0", {{"name", "app"}, {"version", "2.0"}}),
    image("sha256:bare", "localhost/bare:1", {{"name", "bare"}}),
  });
}

const Submitter k_alice{1001, 1002, "alice", "/home/alice", {1002}};

// build_job with the default config (one "default" flavor), no GPUs and no mounts.
Result<Job> build_job(const Catalogue& catalogue, const Submitter& submitter, const SubmitRequest& r) {
  static const Config config = parse_config("{}", "test");
  return jobman::daemon::policy::build_job(SubmitContext{config, catalogue, 0, {}}, submitter, r);
}

SubmitRequest request(std::string image_ref = "app") {
  SubmitRequest r;
  r.image = std::move(image_ref);
  return r;
}

ErrorInfo refused(const SubmitRequest& r) {
  auto result = build_job(catalogue(), k_alice, r);
  REQUIRE_FALSE(result.ok());
  return result.error();
}

} // namespace

TEST_CASE("build_job builds a queued job from a valid request", "[submit_policy]") {
  SubmitRequest r = request("app:1.0");
  r.name = "train-1";
  r.args = {"python", "train.py", ""};
  r.env = {"SEED=7", "EXPR=a=b", "EMPTY="};
  auto result = build_job(catalogue(), k_alice, r);
  REQUIRE(result.ok());
  const Job& job = *result;
  CHECK(job.id == 0);
  CHECK(job.uid == 1001);
  CHECK(job.gid == 1002);
  CHECK(job.user == "alice");
  CHECK(job.state == JobState::Queued);
  CHECK(job.spec.name == "train-1");
  CHECK(job.spec.image == "app:1.0");
  CHECK(job.spec.image_id == "sha256:app1");
  CHECK(job.spec.args == std::vector<std::string>{"python", "train.py", ""});
  CHECK_FALSE(job.spec.replace_entrypoint);
  CHECK(job.spec.env == std::vector<EnvVar>{{"SEED", "7"}, {"EXPR", "a=b"}, {"EMPTY", ""}});
  CHECK(job.argv.empty());
}

TEST_CASE("build_job resolves a bare name to the newest version and leaves the name empty", "[submit_policy]") {
  auto result = build_job(catalogue(), k_alice, request("app"));
  REQUIRE(result.ok());
  CHECK(result->spec.image == "app:2.0");
  CHECK(result->spec.image_id == "sha256:app2");
  CHECK(result->spec.name.empty()); // the store names it "<image>-<id>"
}

TEST_CASE("build_job refuses a bad job name with the name's problem", "[submit_policy]") {
  SubmitRequest r = request();
  r.name = "1st-run";
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"'1st-run'", "start with a letter"}));
  r.name = "a/b";
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"'a/b'"}));
  r.name = std::string(64, 'n');
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"64"}));
}

TEST_CASE("build_job refuses environment entries without '='", "[submit_policy]") {
  SubmitRequest r = request();
  r.env = {"OK=1", "NOVALUE"};
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"'NOVALUE'", "KEY=VALUE"}));
}

TEST_CASE("build_job refuses invalid environment names", "[submit_policy]") {
  SubmitRequest r = request();
  r.env = {"1A=x"};
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"'1A'", "invalid"}));
  r.env = {"A-B=x"};
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"'A-B'"}));
  r.env = {"=x"};
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"''", "invalid"}));
}

TEST_CASE("build_job reserves the JOBMAN_ prefix", "[submit_policy]") {
  SubmitRequest r = request();
  r.env = {"JOBMAN_X=1"};
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"'JOBMAN_X'", "reserved"}));
  r.env = {"JOBMAN_JOB_ID=99"};
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"'JOBMAN_JOB_ID'", "reserved"}));
  // Only the exact upper-case prefix is reserved.
  r.env = {"JOBMANX=1", "jobman_x=2"};
  CHECK(build_job(catalogue(), k_alice, r).ok());
}

TEST_CASE("build_job reserves the variables that steer GPU access", "[submit_policy]") {
  // Issue 9, V7: -e NVIDIA_VISIBLE_DEVICES=all came after jobman's own value and won.
  auto r = request();
  for (const char* item : {"NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=all", "NVIDIA_REQUIRE_CUDA=x",
                           "CUDA_VISIBLE_DEVICES=0,1", "ROCR_VISIBLE_DEVICES=0", "HIP_VISIBLE_DEVICES=0", "ZE_AFFINITY_MASK=0"}) {
    r.env = {"OK=1", item};
    std::string key = std::string(item).substr(0, std::string(item).find('='));
    CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"'" + key + "'", "reserved", "--gpus"}));
  }
  r.env = {"NVIDIA=1", "MY_CUDA_VISIBLE_DEVICES=0", "nvidia_visible_devices=all", "CUDA_HOME=/usr/local/cuda"};
  auto result = build_job(catalogue(), k_alice, r);
  REQUIRE(result.ok());
  CHECK(result->spec.env.size() == 4);
}

TEST_CASE("build_job keeps the last value of a repeated environment key", "[submit_policy]") {
  SubmitRequest r = request();
  r.env = {"A=1", "B=2", "A=3"};
  auto result = build_job(catalogue(), k_alice, r);
  REQUIRE(result.ok());
  CHECK(result->spec.env == std::vector<EnvVar>{{"B", "2"}, {"A", "3"}});
}

TEST_CASE("build_job refuses NUL characters", "[submit_policy]") {
  SubmitRequest r = request();
  r.args = {"ok", std::string("bad\0arg", 7)};
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"NUL"}));
  r.args.clear();
  r.env = {std::string("KEY=va\0lue", 10)};
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"'KEY'", "NUL"}));
}

TEST_CASE("build_job with -c needs a non-empty command", "[submit_policy]") {
  SubmitRequest r = request();
  r.replace_entrypoint = true;
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"-c", "'--'"}));
  r.args = {"", "x"};
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"-c", "empty"}));
  r.args = {"/bin/sh", "-c", "true"};
  auto result = build_job(catalogue(), k_alice, r);
  REQUIRE(result.ok());
  CHECK(result->spec.replace_entrypoint);
  CHECK(result->spec.args == r.args);
}

TEST_CASE("build_job limits the number of arguments and environment variables", "[submit_policy]") {
  SubmitRequest r = request();
  r.args.assign(k_max_args, "x");
  CHECK(build_job(catalogue(), k_alice, r).ok());
  r.args.assign(k_max_args + 1, "x");
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"too many arguments", std::to_string(k_max_args + 1),
                                                                  std::to_string(k_max_args)}));
  r.args.clear();
  r.env.assign(k_max_env + 1, "A=1");
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {"too many environment variables", std::to_string(k_max_env)}));
}

TEST_CASE("build_job limits the total size of arguments and environment", "[submit_policy]") {
  SubmitRequest r = request();
  r.args = {std::string(k_max_command_bytes, 'a')};
  CHECK(build_job(catalogue(), k_alice, r).ok());
  r.args = {std::string(k_max_command_bytes - 2, 'a')};
  r.env = {"A=1"}; // 3 more bytes
  CHECK_THAT(refused(r), IsErrorInfo(ErrorCode::InvalidArgument, {std::to_string(k_max_command_bytes + 1), "bytes"}));
}

TEST_CASE("build_job passes image errors through with their codes", "[submit_policy]") {
  CHECK_THAT(refused(request("nosuch")), IsErrorInfo(ErrorCode::ImageNotFound, {"'nosuch'"}));
  CHECK_THAT(refused(request("app:9.9")), IsErrorInfo(ErrorCode::ImageNotFound, {"'9.9'", "2.0, 1.0"}));
  CHECK_THAT(refused(request("bare")), IsErrorInfo(ErrorCode::ImageRejected, {"'version' label"}));
  CHECK_THAT(refused(request("localhost/bare:1")), IsErrorInfo(ErrorCode::ImageRejected, {"'version' label"}));
  CHECK_THAT(refused(request("app 1")), IsErrorInfo(ErrorCode::InvalidArgument, {"not a valid image reference"}));
  CHECK_THAT(refused(request("")), IsErrorInfo(ErrorCode::InvalidArgument, {"empty"}));
}

// --- flavors, time limits, GPUs, mounts and groups --------------------------------------

namespace {

// Three flavors, default "medium", two GPUs listed; default_time 2h.
const Config& flavor_config() {
  static const Config config = parse_config(R"({
    "limits": {"default_time": "2h"},
    "flavors": [
      {"name": "small", "cpus": 1, "memory": "1G", "shm": "64M", "max_time": "1h"},
      {"name": "medium", "cpus": 4, "memory": "8G", "shm": "1G", "max_time": "1d"},
      {"name": "gpu", "cpus": 8.5, "memory": "32G", "shm": "2G", "gpus": 2, "max_time": "3d"}
    ],
    "default_flavor": "medium",
    "gpus": {"devices": ["0", "1"]}
  })", "test");
  return config;
}

using MountsFn = std::function<Result<std::vector<Mount>>(const Submitter&)>;

Result<Job> build(const SubmitRequest& r, int gpu_count = 2, MountsFn mounts = {}, const Submitter& submitter = k_alice) {
  static const Catalogue images = catalogue();
  return jobman::daemon::policy::build_job(SubmitContext{flavor_config(), images, gpu_count, std::move(mounts)}, submitter, r);
}

ErrorInfo refused_by(const SubmitRequest& r, int gpu_count = 2) {
  auto result = build(r, gpu_count);
  REQUIRE_FALSE(result.ok());
  return result.error();
}

SubmitRequest with_flavor(std::string flavor, std::string time = {}, std::optional<int> gpus = std::nullopt) {
  SubmitRequest r = request();
  r.flavor = std::move(flavor);
  r.time = std::move(time);
  r.gpus = gpus;
  return r;
}

} // namespace

TEST_CASE("build_job gives the default flavor's resources when none is asked", "[submit_policy]") {
  auto result = build(request());
  REQUIRE(result.ok());
  const Job& job = *result;
  CHECK(job.spec.flavor == "medium");
  CHECK(job.spec.resources.cpus == 4);
  CHECK(job.spec.resources.memory == 8LL << 30);
  CHECK(job.spec.resources.shm == 1LL << 30);
  CHECK(job.spec.resources.gpus == 0);
  CHECK(job.spec.resources.time_limit == 2 * 3600); // limits.default_time, under the flavor's 1d
}

TEST_CASE("build_job takes the resources of the flavor asked for", "[submit_policy]") {
  auto small = build(with_flavor("small"));
  REQUIRE(small.ok());
  CHECK(small->spec.flavor == "small");
  CHECK(small->spec.resources.cpus == 1);
  CHECK(small->spec.resources.memory == 1LL << 30);
  CHECK(small->spec.resources.shm == 64LL << 20);
  CHECK(small->spec.resources.gpus == 0);

  auto gpu = build(with_flavor("gpu"));
  REQUIRE(gpu.ok());
  CHECK(gpu->spec.flavor == "gpu");
  CHECK(gpu->spec.resources.cpus == 8.5);
  CHECK(gpu->spec.resources.memory == 32LL << 30);
  CHECK(gpu->spec.resources.shm == 2LL << 30);
  CHECK(gpu->spec.resources.gpus == 2); // the flavor's GPUs by default
  CHECK(gpu->spec.resources.time_limit == 2 * 3600);
}

TEST_CASE("build_job refuses an unknown flavor and lists the valid ones", "[submit_policy]") {
  CHECK_THAT(refused_by(with_flavor("huge")),
             IsErrorInfo(ErrorCode::InvalidArgument, {"unknown flavor 'huge'", "valid flavors: small, medium, gpu"}));
  CHECK_THAT(refused_by(with_flavor("Small")), IsErrorInfo(ErrorCode::InvalidArgument, {"'Small'", "small, medium, gpu"}));
  CHECK_THAT(refused_by(with_flavor("default")), IsErrorInfo(ErrorCode::InvalidArgument, {"'default'"}));
}

TEST_CASE("the default time limit is capped by the flavor's maximum", "[submit_policy]") {
  auto small = build(with_flavor("small"));
  REQUIRE(small.ok());
  CHECK(small->spec.resources.time_limit == 3600); // min(2h, small's 1h)
  auto medium = build(with_flavor("medium"));
  REQUIRE(medium.ok());
  CHECK(medium->spec.resources.time_limit == 7200); // min(2h, 1d)
}

TEST_CASE("build_job takes the time limit asked for in any duration form", "[submit_policy]") {
  const std::vector<std::pair<std::string, std::int64_t>> cases{
    {"90s", 90}, {"10m", 600}, {"5h", 18000}, {"1d", 86400}, {"01:30:00", 5400}, {"45", 45}, {"23:59:59", 86399}};
  for (const auto& [text, seconds] : cases) {
    CAPTURE(text);
    auto result = build(with_flavor("medium", text));
    REQUIRE(result.ok());
    CHECK(result->spec.resources.time_limit == seconds);
  }
  // Over limits.default_time is fine as long as the flavor allows it.
  auto gpu = build(with_flavor("gpu", "3d"));
  REQUIRE(gpu.ok());
  CHECK(gpu->spec.resources.time_limit == 3 * 86400);
}

TEST_CASE("build_job refuses a time limit that is not a duration", "[submit_policy]") {
  for (const char* text : {"abc", "0s", "0", "00:00:00", "-5m", "1.5h", "10x", "1:60:00", "2 h"}) {
    CAPTURE(text);
    CHECK_THAT(refused_by(with_flavor("medium", text)),
               IsErrorInfo(ErrorCode::InvalidArgument, {"time limit '" + std::string(text) + "' is not a duration", "HH:MM:SS"}));
  }
}

TEST_CASE("build_job refuses a time limit over the flavor's maximum", "[submit_policy]") {
  CHECK_THAT(refused_by(with_flavor("small", "61m")),
             IsErrorInfo(ErrorCode::LimitExceeded, {"time limit 1h 1m", "maximum of flavor 'small'", "(1h)"}));
  CHECK_THAT(refused_by(with_flavor("medium", "2d")), IsErrorInfo(ErrorCode::LimitExceeded, {"time limit 2d", "'medium'", "(1d)"}));
  CHECK_THAT(refused_by(with_flavor("", "25:00:00")), IsErrorInfo(ErrorCode::LimitExceeded, {"'medium'"})); // the default flavor's
  // Exactly the maximum is allowed.
  auto exact = build(with_flavor("small", "1h"));
  REQUIRE(exact.ok());
  CHECK(exact->spec.resources.time_limit == 3600);
}

TEST_CASE("build_job lets a job ask for fewer GPUs than its flavor gives", "[submit_policy]") {
  auto one = build(with_flavor("gpu", {}, 1));
  REQUIRE(one.ok());
  CHECK(one->spec.resources.gpus == 1);
  auto none = build(with_flavor("gpu", {}, 0));
  REQUIRE(none.ok());
  CHECK(none->spec.resources.gpus == 0);
  auto zero_on_cpu = build(with_flavor("medium", {}, 0));
  REQUIRE(zero_on_cpu.ok());
  CHECK(zero_on_cpu->spec.resources.gpus == 0);
}

TEST_CASE("build_job refuses more GPUs than the flavor allows", "[submit_policy]") {
  CHECK_THAT(refused_by(with_flavor("gpu", {}, 3)), IsErrorInfo(ErrorCode::LimitExceeded, {"flavor 'gpu' allows at most 2 GPUs", "-r"}));
  CHECK_THAT(refused_by(with_flavor("medium", {}, 1)), IsErrorInfo(ErrorCode::LimitExceeded, {"flavor 'medium' allows at most 0 GPUs"}));
  CHECK_THAT(refused_by(with_flavor("", {}, 1)), IsErrorInfo(ErrorCode::LimitExceeded, {"'medium'"}));
}

TEST_CASE("build_job refuses more GPUs than the machine has", "[submit_policy]") {
  CHECK_THAT(refused_by(with_flavor("gpu"), 1), IsErrorInfo(ErrorCode::LimitExceeded, {"2 GPUs asked", "this machine has 1"}));
  CHECK_THAT(refused_by(with_flavor("gpu", {}, 1), 0), IsErrorInfo(ErrorCode::LimitExceeded, {"1 GPUs asked", "this machine has 0"}));
  auto fits = build(with_flavor("gpu", {}, 1), 1);
  REQUIRE(fits.ok());
  CHECK(fits->spec.resources.gpus == 1);
  // A CPU flavor does not need GPUs on the machine.
  CHECK(build(with_flavor("medium"), 0).ok());
}

TEST_CASE("build_job refuses a negative GPU count", "[submit_policy]") {
  CHECK_THAT(refused_by(with_flavor("gpu", {}, -1)), IsErrorInfo(ErrorCode::InvalidArgument, {"--gpus", "negative"}));
}

TEST_CASE("build_job takes the mounts the mounts function resolves for the submitter", "[submit_policy]") {
  std::vector<std::uint32_t> asked_for;
  MountsFn mounts = [&](const Submitter& who) -> Result<std::vector<Mount>> {
    asked_for.push_back(who.uid);
    return std::vector<Mount>{{"/data/alice/datasets", "/data/alice/datasets", true}, {"/data/alice/persistent", "/persistent", false}};
  };
  auto result = build(request(), 2, mounts);
  REQUIRE(result.ok());
  CHECK(asked_for == std::vector<std::uint32_t>{1001});
  REQUIRE(result->spec.mounts.size() == 2);
  CHECK(result->spec.mounts[0].source == "/data/alice/datasets");
  CHECK(result->spec.mounts[0].target == "/data/alice/datasets");
  CHECK(result->spec.mounts[0].read_only);
  CHECK(result->spec.mounts[1].source == "/data/alice/persistent");
  CHECK(result->spec.mounts[1].target == "/persistent");
  CHECK_FALSE(result->spec.mounts[1].read_only);

  // Without a mounts function a job gets no mounts.
  auto bare = build(request());
  REQUIRE(bare.ok());
  CHECK(bare->spec.mounts.empty());
}

TEST_CASE("build_job passes a mount error through unchanged", "[submit_policy]") {
  MountsFn denied = [](const Submitter&) -> Result<std::vector<Mount>> {
    return ErrorInfo{ErrorCode::PermissionDenied, "you (alice) cannot read /data/alice/datasets; jobs only get what you can access yourself"};
  };
  auto result = build(request(), 2, denied);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::PermissionDenied);
  CHECK(result.error().message == "you (alice) cannot read /data/alice/datasets; jobs only get what you can access yourself");

  MountsFn missing = [](const Submitter&) -> Result<std::vector<Mount>> {
    return ErrorInfo{ErrorCode::InvalidArgument, "mount source /data/alice/persistent does not exist"};
  };
  CHECK_THAT(build(request(), 2, missing).error(), IsErrorInfo(ErrorCode::InvalidArgument, {"/data/alice/persistent does not exist"}));
}

TEST_CASE("build_job keeps the submitter's supplementary groups without the primary one", "[submit_policy]") {
  const Submitter carol{1003, 1003, "carol", "/home/carol", {1003, 27, 44, 2001}};
  auto result = build(request(), 2, {}, carol);
  REQUIRE(result.ok());
  CHECK(result->spec.groups == std::vector<std::uint32_t>{27, 44, 2001});
  CHECK(result->gid == 1003);

  // The primary group is left out wherever it is in the list.
  const Submitter dave{1004, 2001, "dave", "/home/dave", {27, 2001, 1004}};
  auto dave_job = build(request(), 2, {}, dave);
  REQUIRE(dave_job.ok());
  CHECK(dave_job->spec.groups == std::vector<std::uint32_t>{27, 1004});

  // Only the primary group: none to add.
  auto alice_job = build(request());
  REQUIRE(alice_job.ok());
  CHECK(alice_job->spec.groups.empty());
}

TEST_CASE("build_job refuses a user's -e of a name the platform sets, globally or for the flavor", "[submit_policy][platform_env]") {
  Config config;
  config.env = {{"GC_TOKEN", "{user}-token", true}};
  config.flavors = {Flavor{"default"}, Flavor{"gpu"}};
  config.flavors[1].env = {{"GC_POOL", "a100", false}};
  config.default_flavor = "default";
  const Catalogue images = catalogue();
  auto build = [&](std::vector<std::string> env, std::string flavor) {
    SubmitRequest r = request();
    r.env = std::move(env);
    r.flavor = std::move(flavor);
    return jobman::daemon::policy::build_job(SubmitContext{config, images, 0, {}}, k_alice, r);
  };
  auto global = build({"A=1", "GC_TOKEN=mine"}, "");
  REQUIRE_FALSE(global.ok());
  CHECK_THAT(global.error(), IsErrorInfo(ErrorCode::InvalidArgument, {"'GC_TOKEN'", "set by the platform", "-e"}));
  auto of_flavor = build({"GC_POOL=h100"}, "gpu");
  REQUIRE_FALSE(of_flavor.ok());
  CHECK_THAT(of_flavor.error(), IsErrorInfo(ErrorCode::InvalidArgument, {"'GC_POOL'", "flavor 'gpu'"}));
  // Another flavor's variable is the user's to set; names differ by case.
  CHECK(build({"GC_POOL=h100", "gc_token=x"}, "default").ok());
}
