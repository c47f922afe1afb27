// The plan a Slurm node pins a job's mounts from (daemon/mounts/node_plan.hpp): what jobmand
// writes, and that the node refuses any plan that is not exactly what jobmand would write.
// Pinning itself (as the user, on a real node) is in tests/integration/test_slurm.py.

#include "daemon/mounts/node_plan.hpp"
#include "daemon/node_helper.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <vector>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

using namespace jobman;
using namespace jobman::daemon::mounts;

namespace {
Job node_job() {
  Job job;
  job.id = 42;
  job.container = "jobman-0a1b2c3d-42";
  job.uid = 1001;
  job.gid = 1001;
  job.user = "alice";
  job.spec.groups = {27, 100};
  const std::string dir = "/run/jobman/slurm/jobman-0a1b2c3d-42";
  Mount home{dir + "/home0", "/home/chaimeleon", false, "a copy of the image's /home/chaimeleon"};
  home.image_copy = true;
  home.copy_tar = "/var/lib/jobman/image-homes/abc.0.tar";
  home.copy_size = 1 << 30;
  Mount data{dir + "/0", "/home/chaimeleon/datasets", true, "/home/alice/datasets"};
  data.root = "/home/alice";
  Mount out{dir + "/1", "/home/chaimeleon/persistent-home", false, "/home/alice/results"};
  out.root = "/home/alice";
  job.spec.mounts = {home, data, out};
  return job;
}

nlohmann::json valid_plan() { return nlohmann::json::parse(plan_to_text(*node_plan(node_job(), [](std::size_t, const std::string& t) { return t; }))); }
} // namespace

TEST_CASE("node_plan: the job's node mounts, in order, with their roots and tars", "[node_plan]") {
  std::vector<std::size_t> asked;
  auto plan = node_plan(node_job(), [&](std::size_t index, const std::string& tar) {
    asked.push_back(index);
    CHECK(tar == "/var/lib/jobman/image-homes/abc.0.tar");
    return "/var/lib/jobman/slurm/42.home0.tar";
  });
  REQUIRE(plan);
  CHECK(asked == std::vector<std::size_t>{0});
  CHECK(plan->dir == "/run/jobman/slurm/jobman-0a1b2c3d-42");
  CHECK(plan->uid == 1001);
  CHECK(plan->groups == std::vector<std::uint32_t>{1001, 27, 100});
  REQUIRE(plan->mounts.size() == 2);
  CHECK(plan->mounts[0].index == 0);
  CHECK(plan->mounts[0].path == "/home/alice/datasets");
  CHECK(plan->mounts[0].root == "/home/alice");
  CHECK(plan->mounts[0].read_only);
  CHECK(plan->mounts[1].index == 1);
  CHECK_FALSE(plan->mounts[1].read_only);
  REQUIRE(plan->homes.size() == 1);
  CHECK(plan->homes[0].tar == "/var/lib/jobman/slurm/42.home0.tar");
  CHECK(plan->homes[0].size == 1 << 30);
  // What the node reads back is what jobmand meant.
  auto parsed = parse_plan(plan_to_text(*plan));
  REQUIRE(parsed);
  CHECK(plan_to_text(*parsed) == plan_to_text(*plan));
  // A job whose mounts are pinned elsewhere (locally, another job's directory) has no plan.
  Job local = node_job();
  for (auto& m : local.spec.mounts) m.source = "/var/lib/jobman/mounts/42/" + m.source.substr(m.source.rfind('/') + 1);
  CHECK_FALSE(node_plan(local, [](std::size_t, const std::string& t) { return t; }));
  Job other = node_job();
  for (auto& m : other.spec.mounts) m.source.replace(m.source.find("-42/"), 4, "-4/");
  CHECK_FALSE(node_plan(other, [](std::size_t, const std::string& t) { return t; }));
}

TEST_CASE("parse_plan refuses every plan jobmand would not write, naming what is wrong", "[node_plan][hostile]") {
  REQUIRE(parse_plan(valid_plan().dump()));
  auto refused = [](const nlohmann::json& plan, const std::string& part) {
    CAPTURE(plan.dump());
    auto parsed = parse_plan(plan.dump());
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == ErrorCode::InvalidArgument);
    CHECK_THAT(parsed.error().message, Catch::Matchers::Contains(part));
  };
  auto with = [](const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json plan = valid_plan();
    change(plan);
    return plan;
  };
  for (const std::string& dir : std::vector<std::string>{"/run/jobman/slurm", "/run/jobman/slurm/", "/run/jobman/slurm/..", "/run/jobman/slurm/../../etc",
                                 "/run/jobman/slurm/a/b", "/tmp/x", "/run/jobman/slurm/.hidden", "/run/jobman/slurm/-x",
                                 "relative", "/run/jobman/slurm/a,b", "/run/jobman/slurm/a\nb", std::string("/run/jobman/slurm/a\0b", 21),
                                 "/run/jobman/slurm/" + std::string(129, 'a')})
    refused(with([&](auto& p) { p["dir"] = dir; }), "its directory");
  refused(with([](auto& p) { p["version"] = 2; }), "version");
  refused(with([](auto& p) { p.erase("version"); }), "version");
  CHECK(parse_plan(with([](auto& p) { p["uid"] = 0; }).dump())); // root's own job: opened as root, as jobmand's check did
  refused(with([](auto& p) { p["uid"] = -1; }), "user id");
  refused(with([](auto& p) { p["uid"] = "1001"; }), "user id");
  refused(with([](auto& p) { p["uid"] = 4294967295ULL; }), "user id");
  refused(with([](auto& p) { p["gid"] = 1.5; }), "user id");
  refused(with([](auto& p) { p["user"] = ""; }), "user");
  refused(with([](auto& p) { p["groups"] = "27"; }), "groups");
  refused(with([](auto& p) { p["groups"] = nlohmann::json::array({-3}); }), "group");
  for (const std::string& path : std::vector<std::string>{"relative/x", "/home/alice/a,b", "/home/alice/../bob", "/home/alice/..", "/a\nb", "", std::string("/a\0b", 4),
                                  "/" + std::string(5000, 'x')}) {
    refused(with([&](auto& p) { p["mounts"][0]["path"] = path; }), "plain absolute paths");
    refused(with([&](auto& p) { p["mounts"][0]["root"] = path; }), "plain absolute paths");
    refused(with([&](auto& p) { p["mounts"][1]["target"] = path; }), "plain absolute paths");
    if (!path.empty()) refused(with([&](auto& p) { p["homes"][0]["tar"] = path; }), "plain absolute path");
  }
  refused(with([](auto& p) { p["mounts"][1]["index"] = 0; }), "distinct index");
  refused(with([](auto& p) { p["mounts"][0]["index"] = 64; }), "distinct index");
  refused(with([](auto& p) { p["mounts"][0]["index"] = -1; }), "distinct index");
  refused(with([](auto& p) { std::swap(p["mounts"][0], p["mounts"][1]); }), "in order");
  refused(with([](auto& p) { p["mounts"][0].erase("read_only"); }), "read_only");
  refused(with([](auto& p) { p["mounts"][0]["read_only"] = "yes"; }), "read_only");
  refused(with([](auto& p) { p["mounts"] = nlohmann::json::array({1}); }), "not an object");
  refused(with([](auto& p) { p["homes"][0]["size"] = 0; }), "positive");
  refused(with([](auto& p) { p["homes"][0]["size"] = -4096; }), "positive");
  refused(with([](auto& p) { p["homes"].push_back(p["homes"][0]); }), "distinct index");
  refused(with([](auto& p) { p.erase("homes"); }), "homes");
  nlohmann::json many = valid_plan();
  for (int i = 2; i < 70; ++i) many["mounts"].push_back({{"index", i}, {"root", "/r"}, {"path", "/r/x"}, {"target", "/t"}, {"read_only", true}});
  refused(many, "mounts");
  // Not a plan at all.
  for (const std::string& text : {std::string{}, std::string("[]"), std::string("null"), std::string("{\"version\":1"), std::string(1 << 21, ' '),
                                  std::string(100, '[') + std::string(100, ']')}) {
    auto parsed = parse_plan(text);
    CHECK_FALSE(parsed);
  }
  // An empty tar: the copy stays empty (the image has no such directory).
  CHECK(parse_plan(with([](auto& p) { p["homes"][0]["tar"] = ""; }).dump()));
}

TEST_CASE("read_plan_file takes only a small regular file of root's (this user's) that no one else may write", "[node_plan][hostile]") {
  test::TempDir dir;
  const std::string plan = dir.file("42.stage");
  std::ofstream(plan) << valid_plan().dump();
  ::chmod(plan.c_str(), 0600);
  auto read = read_plan_file(plan);
  REQUIRE(read);
  CHECK(parse_plan(*read));
  auto refused = [](const std::string& path, const std::string& part) {
    auto text = read_plan_file(path);
    REQUIRE_FALSE(text);
    CHECK(text.error().code == ErrorCode::PermissionDenied);
    CHECK_THAT(text.error().message, Catch::Matchers::Contains(part));
  };
  ::chmod(plan.c_str(), 0620);
  refused(plan, "writable by group or others");
  ::chmod(plan.c_str(), 0602);
  refused(plan, "writable by group or others");
  ::chmod(plan.c_str(), 0600);
  const std::string link = dir.file("link.stage");
  REQUIRE(::symlink(plan.c_str(), link.c_str()) == 0);
  refused(link, "symbolic links"); // O_NOFOLLOW: ELOOP
  const std::string fifo = dir.file("fifo.stage");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  refused(fifo, "not a regular file"); // and no hang on open
  refused(dir.path().string(), "not a regular file");
  refused(dir.file("missing.stage"), "No such file");
  const std::string big = dir.file("big.stage");
  std::ofstream(big) << std::string((1 << 20) + 1, ' ');
  ::chmod(big.c_str(), 0600);
  refused(big, "larger than 1 MiB");
  if (::geteuid() == 0) { // someone else's file
    REQUIRE(::chown(plan.c_str(), 1001, 1001) == 0);
    refused(plan, "owned by uid 1001");
  }
}

TEST_CASE("jobmand --node-usage refuses what the batch script would not pass", "[node_plan]") {
  using jobman::daemon::node_usage_main;
  const std::string id(64, 'a');
  // Checked before anything else (root or not), so none of these samples or waits.
  for (const std::string pid : {"", "x", "-1", "12a", "1234567890", "$(id)"}) CHECK(node_usage_main(pid, id, "jobman-x-1") == 1);
  for (const std::string& name : std::vector<std::string>{"", "..", "../etc", "a/b", "jobman-x-1\n", std::string(300, 'a')})
    CHECK(node_usage_main(std::to_string(::getpid()), id, name) == 1);
  CHECK(jobman::daemon::node_usage_path("jobman-x-1") == "/run/jobman/usage/jobman-x-1");
}
