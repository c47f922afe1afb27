#include "daemon/backend/container_args.hpp"

#include <array>
#include <fmt/format.h>
#include <string_view>

namespace jobman::daemon::backend {

std::vector<std::string> engine_command(const EngineConfig& engine, std::initializer_list<std::string> subcommand) {
  std::vector<std::string> argv{engine.binary};
  argv.insert(argv.end(), engine.global_args.begin(), engine.global_args.end());
  argv.insert(argv.end(), subcommand.begin(), subcommand.end());
  return argv;
}

std::vector<std::string> container_argv(const Config& config, const Job& job) {
  std::vector<std::string> argv = engine_command(config.engine, {"run"});
  argv.insert(argv.end(), config.engine.run_args.begin(), config.engine.run_args.end());
  const std::string id = std::to_string(job.id);
  std::vector<std::string> forced{
    "--name", job.container,
    "--label", "jobman.job=" + id,
    "--label", "jobman.instance=" + job.instance,
    "--label", "jobman.user=" + job.user,
    "--network", "none",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--user", fmt::format("{}:{}", job.uid, job.gid),
    "--read-only",
    "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777",
    "--pids-limit", std::to_string(config.limits.pids),
    "--init",
    "--pull", "never",
    // The job's log file in the state dir is the only copy of its output.
    "--log-driver", "none",
  };
  argv.insert(argv.end(), forced.begin(), forced.end());
  // Set by jobman for every job; policy refuses user variables named JOBMAN_*.
  argv.push_back("--env=JOBMAN_JOB_ID=" + id);
  argv.push_back("--env=JOBMAN_JOB_NAME=" + job.spec.name);
  argv.push_back("--env=JOBMAN_USER=" + job.user);
  for (const auto& [key, value] : job.spec.env) {
    argv.push_back("--env=" + key + "=" + value);
  }
  auto args = job.spec.args.begin();
  if (job.spec.replace_entrypoint && args != job.spec.args.end()) {
    // One token, so a value starting with '-' can never be read as another flag.
    argv.push_back("--entrypoint=" + *args++);
  }
  argv.push_back(job.spec.image_id);
  argv.insert(argv.end(), args, job.spec.args.end());
  return argv;
}

std::optional<std::string> run_args_problem(const std::vector<std::string>& run_args) {
  // Flags that would undo the forced defaults or open the host to the job.
  constexpr std::array<std::string_view, 31> k_forbidden{
    "--privileged", "--network", "--net", "--cap-add", "--user", "-u", "--volume", "-v", "--mount",
    "--security-opt", "--pid", "--ipc", "--userns", "--uts", "--device", "--gpus", "--entrypoint",
    "--name", "--group-add", "--volumes-from", "--rm", "-d", "--detach", "-t", "--tty", "-i",
    "--interactive", "--sysctl", "--cgroupns", "--cgroup-parent", "--restart"};
  for (const auto& arg : run_args) {
    std::string_view flag = arg;
    if (auto eq = flag.find('='); eq != std::string_view::npos) flag = flag.substr(0, eq);
    // Short flags may carry their value ("-v/a:/b", "-u0") or be bundled ("-itd").
    if (flag.size() > 2 && flag[0] == '-' && flag[1] != '-') {
      for (char c : flag.substr(1))
        for (char bad : {'v', 'u', 'd', 't', 'i'})
          if (c == bad) return fmt::format("engine.run_args: '{}' is not allowed: jobman sets -{} itself to keep jobs sandboxed", arg, bad);
      flag = flag.substr(0, 2);
    }
    for (auto bad : k_forbidden)
      if (flag == bad)
        return fmt::format("engine.run_args: '{}' is not allowed: jobman sets it itself to keep jobs sandboxed", arg);
  }
  return std::nullopt;
}

} // namespace jobman::daemon::backend
