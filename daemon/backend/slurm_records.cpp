// The pure half of the Slurm backend (slurm_backend.hpp): reading squeue, sacct and the
// batch script's result, mapping a Slurm job's end to jobman's, and the exact sbatch line
// and spec file of a job. No I/O: unit-tested and fuzzed on their own.

#include "daemon/backend/slurm_backend.hpp"

#include "daemon/backend/cgroup_usage.hpp"
#include "daemon/backend/container_args.hpp"
#include "daemon/backend/engine_error.hpp"
#include "daemon/mounts/node_plan.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <set>

namespace jobman::daemon::backend {

namespace {
constexpr const char* k_gpu_placeholder = "@SLURM_JOB_GPUS@";

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    auto end = text.find(sep, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

bool is_digits(std::string_view s) { return !s.empty() && s.size() <= 18 && s.find_first_not_of("0123456789") == std::string_view::npos; }

std::string clean_node(std::string_view node) {
  if (node == "(null)" || node == "None assigned" || node == "None") return {};
  return std::string(node.substr(0, 256));
}

} // namespace

bool is_slurm_job_id(std::string_view text) { return is_digits(text); }

std::vector<SlurmJob> parse_squeue(std::string_view out, std::string_view prefix) {
  std::vector<SlurmJob> jobs;
  for (std::string_view line : split(out, '\n')) {
    auto f = split(line, '|');
    if (f.size() != 5 || !is_digits(f[0]) || f[1].substr(0, prefix.size()) != prefix || f[1].size() > 200) continue;
    SlurmJob job;
    job.id = std::string(f[0]);
    job.name = std::string(f[1]);
    job.state = std::string(f[2].substr(0, 64));
    job.reason = std::string(f[3].substr(0, 200));
    if (job.reason == "None") job.reason.clear();
    job.node = clean_node(f[4]);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

std::vector<SlurmJob> parse_sacct(std::string_view out, std::string_view prefix) {
  std::vector<SlurmJob> jobs;
  for (std::string_view line : split(out, '\n')) {
    auto f = split(line, '|');
    // JobID is "123" for the job, "123.batch" / "123.0" for its steps: the job's own line only.
    if (f.size() < 5 || !is_digits(f[0]) || f[1].substr(0, prefix.size()) != prefix || f[1].size() > 200) continue;
    SlurmJob job;
    job.id = std::string(f[0]);
    job.name = std::string(f[1]);
    std::string_view state = f[2].substr(0, f[2].find(' ')); // "CANCELLED by 0"
    job.state = std::string(state.substr(0, 64));
    auto colon = f[3].find(':'); // "exit:signal"
    if (colon != std::string_view::npos && colon <= 3 && is_digits(f[3].substr(0, colon))) job.exit_code = std::stoi(std::string(f[3].substr(0, colon)));
    job.node = clean_node(f[4]);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

bool slurm_final(std::string_view state) {
  static const std::set<std::string_view> k_final{"COMPLETED", "FAILED",   "CANCELLED", "TIMEOUT",  "OUT_OF_MEMORY", "NODE_FAIL",
                                                  "BOOT_FAIL", "PREEMPTED", "DEADLINE", "REVOKED", "SPECIAL_EXIT"};
  return k_final.contains(state);
}

bool slurm_started(std::string_view state) {
  return state == "RUNNING" || state == "COMPLETING" || state == "SUSPENDED" || state == "STOPPED" || state == "SIGNALING" ||
         state == "STAGE_OUT" || (slurm_final(state) && state != "CANCELLED" && state != "DEADLINE" && state != "REVOKED");
}

std::optional<ScriptResult> parse_script_result(std::string_view text) {
  ScriptResult result;
  Usage usage;
  bool any = false, measured = false;
  for (std::string_view line : split(text, '\n')) {
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    any = true;
    if (key == "exit" && value.size() <= 3 && is_digits(value)) result.exit_code = std::stoi(std::string(value));
    else if (key == "oom") result.oom = value == "1";
    else if (key == "started") result.started = value == "1";
    else if (key == "stopped") result.stopped = std::string(value.substr(0, 16));
    else if (read_usage_line(key, value, usage)) measured = measured || key != "usage_source";
  }
  if (!any) return std::nullopt;
  // Figures only with the source that says how they were measured.
  if (measured && !usage.source.empty()) result.usage = usage;
  return result;
}

ContainerExit slurm_exit(const std::optional<SlurmJob>& slurm, const std::optional<ScriptResult>& result, const std::string& log_tail) {
  ContainerExit exit;
  if (slurm) exit.node = slurm->node;
  const std::string state = slurm ? slurm->state : "";
  const std::string where = slurm && !slurm->node.empty() ? " on node " + slurm->node : "";
  const std::string slurm_id = slurm ? "Slurm job " + slurm->id : "its Slurm job";
  if (result) {
    exit.status.code = result->exit_code;
    exit.usage = result->usage;
  } else if (slurm && slurm->exit_code) exit.status.code = slurm->exit_code;
  if (state == "NODE_FAIL" || state == "BOOT_FAIL") {
    exit.lost = true;
    exit.message = fmt::format("{} ended {}: {} failed", slurm_id, state, slurm && !slurm->node.empty() ? "node " + slurm->node : "its node");
  } else if (state == "PREEMPTED") {
    exit.lost = true;
    exit.message = fmt::format("{} was preempted{}", slurm_id, where);
  } else if (state == "TIMEOUT" || (result && result->stopped == "timeout")) {
    exit.timed_out = true;
    if (state == "TIMEOUT" && !(result && result->stopped == "timeout")) exit.message = "by Slurm";
  } else if (state == "OUT_OF_MEMORY" || (result && result->oom)) {
    exit.oom_killed = true;
  } else if (state == "CANCELLED" || state == "DEADLINE" || state == "REVOKED") {
    exit.cancelled = true;
    exit.message = fmt::format("{} was cancelled in Slurm ({}), not through jobman", slurm_id, state);
  } else if (!result) {
    // The batch script did not get to write its result: it failed before its container
    // ran (a node without the engine, a spec it could not read), or was killed.
    exit.engine_failed = true;
    auto words = engine_error_line(log_tail);
    exit.message = words ? *words
                         : fmt::format("{} ended {}{} without running the container", slurm_id, state.empty() ? "unseen" : state, where);
  } else if (!result->started) {
    exit.engine_failed = true;
    auto words = engine_error_line(log_tail);
    exit.message = words ? *words : fmt::format("the container never started{}", where);
  }
  return exit;
}

SlurmPaths slurm_paths(const Config& config, JobId id) {
  const std::string dir = config.state_dir + "/slurm";
  return {dir + "/job.sh", fmt::format("{}/{}.spec", dir, id), fmt::format("{}/{}.result", dir, id), fmt::format("{}/{}.stage", dir, id),
          fmt::format("{}/{}.env", dir, id)};
}

std::string slurm_env_file(const std::vector<PlatformEnvVar>& env) {
  std::string text;
  for (const auto& var : env) {
    text += var.name + "=" + var.value;
    text.push_back('\0');
  }
  return text;
}

bool stages_on_node(const Job& job) {
  const std::string dir = mounts::node_staging_dir(job.container) + "/";
  return std::any_of(job.spec.mounts.begin(), job.spec.mounts.end(), [&](const Mount& m) { return m.source.starts_with(dir); });
}

std::vector<std::string> slurm_container_argv(const Config& config, const Job& job) {
  Job placed = job;
  placed.gpu_devices.clear();
  if (job.spec.resources.gpus > 0) placed.gpu_devices = {k_gpu_placeholder}; // the script puts Slurm's GPUs there
  return container_argv(config, placed);
}

std::string slurm_spec(const Config& config, const Job& job) {
  const std::vector<std::string> argv = slurm_container_argv(config, job);
  const std::size_t prefix = 1 + config.engine.global_args.size(); // binary, global args; then "run"
  long gpu = -1;
  for (std::size_t i = 0; i < argv.size(); ++i)
    if (argv[i].find(k_gpu_placeholder) != std::string::npos) gpu = static_cast<long>(i);
  std::string spec;
  auto word = [&](std::string_view w) {
    spec.append(w);
    spec.push_back('\0');
  };
  word(std::to_string(prefix));
  word(std::to_string(prefix + 1)); // the label goes right after "run"
  word(std::to_string(gpu));
  word(to_string(config.engine.kind));
  for (const auto& a : argv) word(a);
  return spec;
}

std::vector<std::string> sbatch_argv(const Config& config, const Job& job, const std::string& log_path) {
  const SlurmConfig& s = config.backend.slurm;
  const Resources& r = job.spec.resources;
  const SlurmPaths paths = slurm_paths(config, job.id);
  std::vector<std::string> argv{s.sbatch, "--parsable", "--job-name=" + job.container,
                                // who it is for, for admins' squeue -o %k and after any restart
                                fmt::format("--comment=jobman instance={} job={} user={} uid={}", job.instance, job.id, job.user, job.uid),
                                "--no-requeue", // a job that started runs once: a node failure ends it LOST
                                "--export=NONE", "--chdir=" + config.state_dir + "/slurm", "--output=" + log_path, "--open-mode=append",
                                "--nodes=1", "--ntasks=1", fmt::format("--cpus-per-task={}", std::max(1, static_cast<int>(std::ceil(r.cpus))))};
  if (r.memory > 0) argv.push_back(fmt::format("--mem={}M", (r.memory + (1 << 20) - 1) >> 20));
  if (r.gpus > 0) argv.push_back(fmt::format("--gres=gpu:{}", r.gpus));
  if (r.time_limit > 0) {
    const std::int64_t seconds = r.time_limit + config.limits.kill_grace.count() + s.time_margin.count();
    argv.push_back(fmt::format("--time={}", (seconds + 59) / 60));
  }
  if (!s.partition.empty()) argv.push_back("--partition=" + s.partition);
  if (!s.account.empty()) argv.push_back("--account=" + s.account);
  if (!s.qos.empty()) argv.push_back("--qos=" + s.qos);
  argv.insert(argv.end(), {paths.script, paths.spec, paths.result, job.container, std::to_string(r.time_limit),
                           std::to_string(config.limits.kill_grace.count()), stages_on_node(job) ? paths.stage : "-",
                           s.node_helper.empty() ? self_executable() : s.node_helper,
                           config.env_for(job.spec.flavor).empty() ? "-" : paths.env});
  return argv;
}

} // namespace jobman::daemon::backend
