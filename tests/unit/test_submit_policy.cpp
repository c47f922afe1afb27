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

const Submitter k_alice{1001, 1002, "alice"};

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
