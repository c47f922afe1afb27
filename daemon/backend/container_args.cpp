#include "daemon/backend/container_args.hpp"

#include <algorithm>
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

std::vector<std::string> remove_command(const EngineConfig& engine, const std::vector<std::string>& names) {
  std::vector<std::string> argv = engine_command(engine, {"rm", "--force"});
  if (engine.kind == EngineKind::Podman) argv.emplace_back("--ignore");
  const std::size_t first_name = argv.size();
  for (const auto& name : names)
    if (std::find(argv.begin() + static_cast<std::ptrdiff_t>(first_name), argv.end(), name) == argv.end()) argv.push_back(name);
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

std::string tmp_mount(EngineKind kind, std::uint32_t uid, std::uint32_t gid) {
  // runc 1.1 (Debian bookworm) chmods a tmpfs to the mode of the image's directory under
  // it, whatever mode= says: a 0755 root /tmp stayed unwritable. So the tmpfs is the
  // submitter's own: podman's U chowns it to --user, docker passes uid=/gid= to the mount.
  if (kind == EngineKind::Podman) return "/tmp:rw,nosuid,nodev,mode=1777,U";
  return fmt::format("/tmp:rw,nosuid,nodev,mode=1777,uid={},gid={}", uid, gid);
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
    "--tmpfs", tmp_mount(config.engine.kind, job.uid, job.gid),
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
  if (job.array) { // an array's element (Slurm: SLURM_ARRAY_JOB_ID, _TASK_ID, _TASK_COUNT)
    argv.push_back("--env=JOBMAN_ARRAY_ID=" + std::to_string(job.array->id));
    argv.push_back("--env=JOBMAN_ARRAY_INDEX=" + std::to_string(job.array->index));
    argv.push_back("--env=JOBMAN_ARRAY_COUNT=" + std::to_string(job.array->count));
  }
  // The admin's variables by name only: the engine client takes each value from its own
  // environment (common/platform_env.hpp), never from an argv every local user can read.
  // A user's variable of such a name (set before a reload made it the admin's) gives way.
  const std::vector<PlatformEnvVar> platform = config.env_for(job.spec.flavor);
  auto is_platform = [&](const std::string& key) {
    return std::any_of(platform.begin(), platform.end(), [&](const PlatformEnvVar& var) { return var.name == key; });
  };
  for (const auto& [key, value] : job.spec.env) {
    if (!is_platform(key)) argv.push_back("--env=" + key + "=" + value);
  }
  for (const auto& var : platform) argv.push_back("--env=" + var.name);
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
  // An allowlist: every other flag could undo the sandbox (--privileged, --pod, -v,
  // --uidmap, --env-host, ...), and new engine releases add more. All of these take a value.
  constexpr std::array<std::string_view, 16> k_allowed{
    "--ulimit", "--cpuset-cpus", "--cpuset-mems", "--cpu-shares", "--memory-reservation", "--blkio-weight",
    "--hostname", "--stop-signal", "--tz", "--label", "--annotation", "--runtime", "--log-opt", "--pids-limit",
    "--health-cmd", "--dns"};
  auto allowed_list = [&] {
    std::string list;
    for (auto flag : k_allowed) list += (list.empty() ? "" : ", ") + std::string(flag);
    return list;
  };
  for (std::size_t i = 0; i < run_args.size(); ++i) {
    const std::string& arg = run_args[i];
    std::string_view flag = arg;
    bool has_value = false;
    if (auto eq = flag.find('='); eq != std::string_view::npos) {
      flag = flag.substr(0, eq);
      has_value = true;
    }
    if (std::find(k_allowed.begin(), k_allowed.end(), flag) == k_allowed.end())
      return fmt::format("engine.run_args: '{}' is not allowed (allowed: {}); jobman sets the sandbox flags itself", arg, allowed_list());
    if (!has_value && ++i >= run_args.size()) return fmt::format("engine.run_args: '{}' needs a value", arg);
  }
  return std::nullopt;
}

} // namespace jobman::daemon::backend
