// Tests for daemon/backend/engine_check.hpp: what jobmand says about its engine before any
// job runs, from the engine's `info` output and which files exist.

#include "daemon/backend/engine_check.hpp"

#include <catch2/catch.hpp>
#include <set>

using namespace jobman;
using jobman::daemon::backend::EngineReport;
using jobman::daemon::backend::judge_engine;
using jobman::daemon::backend::package_for;
using jobman::daemon::backend::podman_init_path;
using jobman::daemon::engine::Captured;

namespace {
// `podman info --format json` as podman 4.3.1 printed it here, cut to what is read.
const std::string k_podman_info = R"({"host": {"conmon": {"path": "/usr/bin/conmon"},
  "ociRuntime": {"name": "runc", "path": "/usr/bin/runc"}}, "version": {"Version": "4.3.1"}})";
// `docker info --format '{{json .}}'`, Debian's docker.io 20.10 with tini as docker-init
// (whose --version names no commit), cut likewise. Without docker-init the ID is "N/A".
const std::string k_docker_info = R"({"ServerVersion": "20.10.24", "DefaultRuntime": "runc",
  "Runtimes": {"io.containerd.runc.v2": {"path": "runc"}, "runc": {"path": "runc"}},
  "InitBinary": "docker-init", "InitCommit": {"ID": ""}})";

Result<Captured> answered(const std::string& out, int code = 0, const std::string& err = "") {
  return Captured{{code, std::nullopt}, out, err};
}

EngineReport judge(const EngineConfig& engine, const Result<Captured>& info, std::set<std::string> files,
                   std::vector<std::string> conf = {}) {
  return judge_engine(engine, info, conf, [&](const std::string& path) { return files.contains(path); });
}

const std::set<std::string> k_podman_files{"/usr/bin/conmon", "/usr/bin/runc", "/usr/libexec/podman/catatonit"};

bool mentions(const EngineReport& report, const std::string& text) {
  for (const auto& p : report.problems)
    if (p.message.find(text) != std::string::npos) return true;
  return false;
}
} // namespace

TEST_CASE("judge_engine accepts a complete podman", "[engine_check]") {
  auto report = judge({}, answered(k_podman_info), k_podman_files);
  CHECK(report.ok());
  CHECK(report.problems.empty());
  CHECK(report.summary == "podman 4.3.1, runtime runc (/usr/bin/runc), init /usr/libexec/podman/catatonit");
}

TEST_CASE("judge_engine names a missing catatonit and its package", "[engine_check]") {
  auto report = judge({}, answered(k_podman_info), {"/usr/bin/conmon", "/usr/bin/runc"});
  CHECK_FALSE(report.ok());
  CHECK(mentions(report, "/usr/libexec/podman/catatonit is missing"));
  CHECK(mentions(report, "apt-get install catatonit"));
}

TEST_CASE("judge_engine follows containers.conf and --init-path to the init binary", "[engine_check]") {
  std::vector<std::string> conf{"[containers]\n#init_path = \"/commented/out\"\n", "[containers]\ninit_path = \"/opt/tini\"\n"};
  auto report = judge({}, answered(k_podman_info), k_podman_files, conf);
  CHECK(mentions(report, "/opt/tini is missing"));
  EngineConfig with_flag;
  with_flag.run_args = {"--init-path=/usr/libexec/podman/catatonit"};
  CHECK(judge(with_flag, answered(k_podman_info), k_podman_files, conf).ok());
}

TEST_CASE("podman_init_path reads the last init_path and ignores look-alikes", "[engine_check]") {
  CHECK(podman_init_path({}, {}) == "/usr/libexec/podman/catatonit");
  CHECK(podman_init_path({}, {"init_path = \"/a\"", "  init_path=\"/b\"  # comment"}) == "/b");
  CHECK(podman_init_path({}, {"init_paths = \"/x\"", "# init_path = \"/y\""}) == "/usr/libexec/podman/catatonit");
  CHECK(podman_init_path({"--init-path", "/c"}, {"init_path = \"/a\""}) == "/c");
}

TEST_CASE("judge_engine names a missing runtime or conmon", "[engine_check]") {
  auto report = judge({}, answered(k_podman_info), {"/usr/bin/conmon", "/usr/libexec/podman/catatonit"});
  CHECK_FALSE(report.ok());
  CHECK(mentions(report, "runtime runc (/usr/bin/runc) is missing; install the package runc"));
  report = judge({}, answered(k_podman_info), {"/usr/bin/runc", "/usr/libexec/podman/catatonit"});
  CHECK(mentions(report, "conmon /usr/bin/conmon is missing"));
}

TEST_CASE("judge_engine reports an engine that cannot run or whose info fails", "[engine_check]") {
  auto report = judge({}, Result<Captured>(ErrorInfo{ErrorCode::Unavailable, "container engine 'podman' not found in PATH"}), {});
  CHECK_FALSE(report.ok());
  CHECK(mentions(report, "'podman' cannot be run"));
  CHECK(mentions(report, "apt-get install podman"));
  // As podman said with `--runtime crun` and no crun installed.
  report = judge({}, answered("", 125, "Error: default OCI runtime \"crun\" not found: invalid argument\n"), {});
  CHECK(mentions(report, "'podman info' failed (exit code 125): default OCI runtime \"crun\" not found"));
  CHECK(mentions(report, "apt-get install crun"));
  report = judge({}, answered("not json"), k_podman_files);
  CHECK(mentions(report, "did not print a JSON object"));
}

TEST_CASE("judge_engine checks docker's runtime and init binary", "[engine_check]") {
  EngineConfig docker;
  docker.kind = EngineKind::Docker;
  docker.binary = "/usr/bin/docker";
  CHECK(judge(docker, answered(k_docker_info), {"/usr/bin/runc", "/usr/sbin/runc"}).problems.empty()); // "runc": found in PATH
  std::string no_init = k_docker_info;
  no_init.replace(no_init.find("{\"ID\": \"\"}"), std::string_view("{\"ID\": \"\"}").size(), "{\"ID\": \"N/A\", \"Expected\": \"N/A\"}");
  auto report = judge(docker, answered(no_init), {"/usr/bin/runc"});
  CHECK_FALSE(report.ok());
  CHECK(mentions(report, "--init binary 'docker-init'"));
  CHECK(mentions(report, "apt-get install tini"));
  docker.run_args = {"--runtime", "nvidia"};
  report = judge(docker, answered(k_docker_info), {"/usr/bin/runc"});
  CHECK_FALSE(report.ok());
  CHECK(mentions(report, "docker has no runtime 'nvidia'"));
  CHECK(mentions(report, "io.containerd.runc.v2, runc"));
  // Cannot reach dockerd.
  report = judge(docker, answered("", 1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"), {});
  CHECK(mentions(report, "Is the docker daemon running?"));
}

TEST_CASE("package_for knows the engine's pieces by name or path", "[engine_check]") {
  CHECK(package_for("/usr/libexec/podman/catatonit") == "catatonit");
  CHECK(package_for("docker-init") == "tini");
  CHECK(package_for("/usr/bin/docker") == "docker.io");
  CHECK(package_for("runc") == "runc");
  CHECK(package_for("/opt/something") == "");
}
