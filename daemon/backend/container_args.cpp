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

std::vector<std::string> gpu_flags(EngineKind kind, const std::vector<std::string>& devices) {
  if (devices.empty()) return {"--env=NVIDIA_VISIBLE_DEVICES=void"};
  if (kind == EngineKind::Docker) {
    // docker reads --gpus as CSV: the quotes keep "device=0,2" one field.
    std::string list;
    for (const auto& d : devices) list += (list.empty() ? "" : ",") + d;
    return {"--gpus", devices.size() > 1 ? "\"device=" + list + "\"" : "device=" + list};
  }
  std::vector<std::string> flags; // podman: CDI devices
  for (const auto& d : devices) {
    flags.push_back("--device");
    flags.push_back("nvidia.com/gpu=" + d);
  }
  return flags;
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
    "--stop-timeout", std::to_string(config.limits.kill_grace.count()),
  };
  argv.insert(argv.end(), forced.begin(), forced.end());
  const Resources& r = job.spec.resources;
  if (r.memory > 0) {
    // Equal limits: no swap on top of the flavor's memory.
    argv.insert(argv.end(), {"--memory", std::to_string(r.memory), "--memory-swap", std::to_string(r.memory)});
  }
  if (r.cpus > 0) argv.insert(argv.end(), {"--cpus", fmt::format("{:g}", r.cpus)});
  if (r.shm > 0) argv.insert(argv.end(), {"--shm-size", std::to_string(r.shm)});
  for (auto gid : job.spec.groups) argv.insert(argv.end(), {"--group-add", std::to_string(gid)});
  for (const auto& m : job.spec.mounts)
    argv.push_back(fmt::format("--mount=type=bind,source={},target={}{}", m.source, m.target, m.read_only ? ",readonly" : ""));
  auto gpus = gpu_flags(config.engine.kind, job.gpu_devices);
  argv.insert(argv.end(), gpus.begin(), gpus.end());
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
