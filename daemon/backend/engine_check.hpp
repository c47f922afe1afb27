#pragma once
// Checks, before any job runs, that the container engine jobmand is configured with can run
// jobs: the binary runs, its `info` answers, and the OCI runtime and the `--init` binary
// (every job is started with --init) exist. Each problem names the missing piece and the
// Debian package that provides it.

#include "common/config.hpp"
#include "daemon/engine/command_runner.hpp"

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <vector>

namespace jobman::daemon::backend {

struct EngineProblem {
  bool fatal = true; // jobs cannot run; otherwise a warning
  std::string message;
};

struct EngineReport {
  std::vector<EngineProblem> problems;
  std::string summary; // what was found, e.g. "podman 4.3.1, runtime runc (/usr/bin/runc), init /usr/libexec/podman/catatonit"
  bool ok() const;
};

// Whether `path` names an executable file (tests substitute their own).
using ExecutableProbe = std::function<bool(const std::string& path)>;
bool is_executable_file(const std::string& path);

// The Debian package that provides the program `name` (a path or a bare name), or "".
std::string package_for(const std::string& name);

// The `--init` binary podman uses: `--init-path` in `run_args`, else the last `init_path`
// in `containers_conf` (the texts of the containers.conf files in the order podman reads
// them), else podman's default /usr/libexec/podman/catatonit.
std::string podman_init_path(const std::vector<std::string>& run_args, const std::vector<std::string>& containers_conf);

// The containers.conf files podman 4 reads, as jobmand's environment makes them:
// $CONTAINERS_CONF alone if set, else /usr/share/containers/containers.conf,
// /etc/containers/containers.conf and /etc/containers/containers.conf.d/*.conf.
std::vector<std::string> read_containers_conf();

// Judges `info` (the engine's `info` command as it ran) for `engine`: pure, for tests.
// `containers_conf` as for podman_init_path.
EngineReport judge_engine(const EngineConfig& engine, const Result<engine::Captured>& info,
                          const std::vector<std::string>& containers_conf, const ExecutableProbe& executable);

// Runs the engine's `info` through `runner` and judges it.
boost::asio::awaitable<EngineReport> check_engine(EngineConfig engine, engine::CommandRunner& runner);

} // namespace jobman::daemon::backend
