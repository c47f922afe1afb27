#include "daemon/backend/local_backend.hpp"

#include "common/platform_env.hpp"
#include "daemon/backend/container_args.hpp"
#include "daemon/backend/engine_error.hpp"
#include "daemon/log.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <cctype>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <csignal>
#include <cstring>
#include <set>

namespace jobman::daemon::backend {

using nlohmann::json;

namespace {
std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

constexpr std::chrono::milliseconds k_remove_batch_delay{2000};

asio::awaitable<void> sleep_for(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}
} // namespace

LocalBackend::LocalBackend(const Config& config, engine::CommandRunner& runner) : m_config(config), m_runner(runner) {}

asio::awaitable<Result<std::string>> LocalBackend::start(Job job, std::string log_path) {
  // The platform's variables, which the argv names (--env=NAME): their values go into the
  // run client's environment only (root's to read), resolved for this job now.
  const std::vector<PlatformEnvVar> platform = resolve_platform_env(m_config, job);
  const std::optional<std::string> env_problem = resolved_env_problem(platform);
  if (env_problem) co_return ErrorInfo{ErrorCode::InvalidArgument, *env_problem};
  std::vector<EnvVar> env;
  for (const auto& var : platform) env.emplace_back(var.name, var.value);
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot open log file {}: {}", log_path, std::strerror(errno))};
  auto process = m_runner.spawn(job.argv, fd, env);
  ::close(fd);
  if (!process) co_return process.error();
  m_processes[job.id] = std::move(*process);
  co_return std::string{};
}

asio::awaitable<std::optional<json>> LocalBackend::inspect(const Job& job) {
  auto argv = engine_command(m_config.engine, {"container", "inspect", job.container});
  auto result = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
  if (!result || !result->status.success()) co_return std::nullopt;
  json parsed = json::parse(result->out, nullptr, false);
  if (parsed.is_array() && !parsed.empty()) parsed = parsed.front();
  if (!parsed.is_object() || !parsed.contains("State") || !parsed["State"].is_object()) co_return std::nullopt;
  co_return parsed;
}

namespace {
// The time a container started, as `inspect` says; podman and docker say 0001-01-01 for never.
bool has_run(const json& state) { return state.value("StartedAt", std::string{}).rfind("0001-01-01", 0) != 0; }

// What the engine printed into the log of a container that never ran (nothing else is in it).
std::optional<std::string> engine_words(const std::string& log_path) {
  auto tail = read_tail(log_path, 16 << 10);
  return tail ? engine_error_line(*tail) : std::nullopt;
}
} // namespace

asio::awaitable<std::optional<StartState>> LocalBackend::has_started(Job job) {
  auto inspected = co_await inspect(job);
  if (!inspected) co_return std::nullopt;
  StartState state;
  state.started = has_run((*inspected)["State"]);
  if (state.started) track_usage(job.id, *inspected);
  co_return state;
}

void LocalBackend::track_usage(JobId id, const json& inspected) {
  auto it = m_usage.find(id);
  if (it == m_usage.end() || it->second.dirs) return;
  const json& state = inspected["State"];
  const json pid = state.value("Pid", json(0));
  const json container_id = inspected.value("Id", json(""));
  if (!state.value("Running", false) || !pid.is_number_integer() || !container_id.is_string()) return;
  auto cgroups = read_proc_cgroup(pid.get<int>());
  // The container's id in the cgroup's path: a pid reused since (the container ended) is refused.
  auto dirs = cgroups ? container_cgroup(*cgroups, container_id.get<std::string>()) : std::nullopt;
  if (!dirs) return;
  it->second.dirs = dirs;
  it->second.usage = read_usage(*dirs, it->second.usage);
}

asio::awaitable<void> LocalBackend::sample_usage(Job job) {
  auto executor = co_await asio::this_coro::executor;
  // At function scope, not in the block that may not run: GCC 12 left the in-scope flag of
  // such a block's locals unset and destroyed them with the frame anyway (ASan: a heap
  // overflow once Job grew; UBSan saw the same in SlurmBackend::remove).
  std::optional<json> inspected;
  for (int tick = 1;; ++tick) {
    asio::steady_timer timer(executor, k_usage_sample_interval);
    co_await timer.async_wait(asio::use_awaitable); // cancelled (throws) when the job ends
    auto it = m_usage.find(job.id);
    if (it == m_usage.end()) continue;
    if (!it->second.dirs && !it->second.usage && (tick == 3 || tick == 10 || tick == 30)) {
      // Not found yet (has_started saw it before it ran, or a read failed): ask again, a
      // few times only (each ask is an engine call).
      inspected = co_await inspect(job);
      if (inspected) track_usage(job.id, *inspected);
      continue;
    }
    if (!it->second.dirs) continue;
    auto sample = read_usage(*it->second.dirs, it->second.usage);
    if (sample) it->second.usage = sample;
    else it->second.dirs.reset(); // the cgroup is gone: the container ended
  }
}

asio::awaitable<ContainerExit> LocalBackend::wait(Job job, std::string log_path) {
  using namespace asio::experimental::awaitable_operators;
  ContainerExit exit;
  // (No co_await in an if's condition or initializer: GCC 12 miscompiles them.)
  auto it = m_processes.find(job.id);
  const bool ours = it != m_processes.end();
  m_usage[job.id]; // sampled from when has_started (or the inspect below) finds its cgroup
  if (ours) {
    engine::RunningProcess& process = *it->second;
    // (`||` cancels the sampler when the wait succeeds; the wait never throws.)
    auto ended = co_await (process.wait() || sample_usage(job));
    exit.status = std::get<0>(ended);
    m_processes.erase(job.id);
  } else {
    // Adopted after a daemon restart: the engine's own wait blocks until the container ends.
    auto inspected = co_await inspect(job);
    if (inspected) track_usage(job.id, *inspected);
    auto argv = engine_command(m_config.engine, {"wait", job.container});
    auto ended = co_await (m_runner.capture(std::move(argv), std::nullopt) || sample_usage(job)); // as long as the job runs
    auto& waited = std::get<0>(ended);
    if (waited && waited->status.success()) {
      try {
        exit.status.code = std::stoi(waited->out);
      } catch (const std::exception&) {
      }
    }
  }
  exit.usage = m_usage[job.id].usage;
  m_usage.erase(job.id);
  // The run client's status is the container's, except that 125-127 may be the engine's
  // own errors and 137 may be the OOM killer: only then ask the engine (it costs a call
  // per job, and the benchmark shows it).
  const bool ambiguous = !exit.status.code || (*exit.status.code >= 125 && *exit.status.code <= 127) ||
                         *exit.status.code == 128 + SIGKILL;
  if (!ambiguous) co_return exit;
  auto inspected = co_await inspect(job);
  if (inspected) {
    const json& s = (*inspected)["State"];
    std::string error = s.value("Error", std::string{});
    const bool ran = has_run(s);
    // A container that never ran has no exit code of its own (podman says 0).
    if (ran && s.contains("ExitCode") && s["ExitCode"].is_number_integer())
      exit.status = engine::ExitStatus{s["ExitCode"].get<int>(), std::nullopt};
    if (!error.empty() || !ran) {
      exit.engine_failed = true;
      // The run client's last error line says more than State.Error ("container create failed").
      auto words = ran ? std::nullopt : engine_words(log_path);
      exit.message = words ? *words : error.empty() ? "the container never started" : printable_message(error, k_max_engine_message);
    }
    // docker says so itself; podman on cgroup v1 does not, but the kernel log does.
    exit.oom_killed = !exit.status.success() &&
                      (s.value("OOMKilled", false) ||
                       (exit.status.code == 128 + SIGKILL && m_oom_log.oom_killed(inspected->value("Id", std::string{}))));
  } else if (!exit.status.code || *exit.status.code >= 125) {
    exit.engine_failed = true;
    auto words = engine_words(log_path);
    exit.message = words ? *words : fmt::format("the engine could not create the container ({})", exit.status.describe());
  }
  co_return exit;
}

asio::awaitable<void> LocalBackend::stop(Job job, std::chrono::seconds grace) {
  // Until the run client has gone, stop again: the container may not exist yet, and both
  // engines answer `stop` with success for a container that is created but not started,
  // which then starts anyway.
  for (int attempt = 0; attempt < 40; ++attempt) {
    auto argv = engine_command(m_config.engine, {"stop", "--time", std::to_string(grace.count()), job.container});
    auto result = co_await m_runner.capture(std::move(argv), grace + m_config.engine.command_timeout);
    if (!result && result.error().code == ErrorCode::Unavailable) {
      // The engine did not answer (or is gone): asking again would take as long again.
      log_warn("job {}: {}; ending its run client instead (its container may be left for jobman cleanup)", job.id, result.error().message);
      break;
    }
    if (!m_processes.contains(job.id)) {
      if (result && result->status.success()) co_return; // adopted job: the engine's word is all we have
      if (attempt > 0) co_return;
    }
    co_await sleep_for(std::chrono::milliseconds(250));
    if (!m_processes.contains(job.id)) co_return;
  }
  // The engine would not stop it: the run client forwards signals to its container; one
  // that does not end within the grace is killed, so the job ends whatever the engine does.
  auto it = m_processes.find(job.id);
  if (it == m_processes.end()) co_return;
  it->second->send_signal(SIGTERM);
  co_await sleep_for(grace + std::chrono::seconds(1));
  if (auto still = m_processes.find(job.id); still != m_processes.end()) still->second->send_signal(SIGKILL);
}

asio::awaitable<void> LocalBackend::remove(Job job) {
  // One `rm` for every container that ended meanwhile: a call per container costs the
  // engine's start-up each time and competes with running jobs for the CPUs.
  m_to_remove.push_back(job.container);
  if (m_removing) co_return; // the loop below, in an earlier call, takes it
  m_removing = true;
  // Cleared however the loop ends, or no container would be removed again until a restart:
  // a cancelled request's sleep throws. (Not by a guard object: at shutdown the frame is
  // destroyed after this backend, and the guard would write to freed memory.)
  try {
    // Gather what ends in the next moment: at a steady rate jobs end further apart than
    // one rm takes, so without this wait nothing would ever be batched. A daemon that dies
    // meanwhile leaves them to the next one's recovery.
    co_await sleep_for(k_remove_batch_delay);
    while (!m_to_remove.empty()) {
      std::vector<std::string> batch;
      batch.swap(m_to_remove);
      auto result = co_await m_runner.capture(remove_command(m_config.engine, batch), m_config.engine.command_timeout);
      if (result && result->status.success()) continue;
      // One bad name must not keep the others: try each on its own. What still fails stays
      // for the next daemon's start or `jobman cleanup`, which remove leftovers.
      for (const auto& name : batch) {
        auto argv = remove_command(m_config.engine, std::vector<std::string>(1, name)); // GCC 12: no braces in co_await
        auto single = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
        if (!single) {
          log_warn("cannot remove container {}: {}", name, single.error().message);
        } else if (!single->status.success() && single->err.find("No such container") == std::string::npos) {
          log_warn("cannot remove container {}: {}", name, last_line(single->err));
        }
      }
    }
  } catch (...) {
    m_removing = false;
    throw;
  }
  m_removing = false;
}

asio::awaitable<ContainerPresence> LocalBackend::presence(Job job) {
  auto argv = engine_command(m_config.engine, {"container", "inspect", job.container});
  auto result = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
  if (!result) co_return ContainerPresence::Unknown;
  if (!result->status.success()) {
    std::string err = result->err;
    std::transform(err.begin(), err.end(), err.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    co_return err.find("no such") != std::string::npos ? ContainerPresence::Missing : ContainerPresence::Unknown;
  }
  json parsed = json::parse(result->out, nullptr, false);
  if (parsed.is_array() && !parsed.empty()) parsed = parsed.front();
  if (!parsed.is_object() || !parsed.contains("State") || !parsed["State"].is_object()) co_return ContainerPresence::Unknown;
  co_return parsed["State"].value("Running", false) ? ContainerPresence::Running : ContainerPresence::Exited;
}

asio::awaitable<Result<std::vector<policy::ImageInfo>>> LocalBackend::list_images() {
  auto argv = engine_command(m_config.engine, {"images", "--quiet", "--no-trunc"});
  auto ids = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
  if (!ids) co_return ids.error();
  if (!ids->status.success())
    co_return ErrorInfo{ErrorCode::EngineError, fmt::format("'{} images' failed: {}", m_config.engine.binary, last_line(ids->err))};
  std::vector<std::string> inspect = engine_command(m_config.engine, {"image", "inspect"});
  std::set<std::string> seen;
  std::size_t start = 0;
  const std::string& out = ids->out;
  while (start < out.size()) {
    auto end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    std::string id = out.substr(start, end - start);
    if (!id.empty() && seen.insert(id).second) inspect.push_back(id);
    start = end + 1;
  }
  if (seen.empty()) co_return std::vector<policy::ImageInfo>{};
  auto inspected = co_await m_runner.capture(std::move(inspect), m_config.engine.command_timeout);
  if (!inspected) co_return inspected.error();
  if (!inspected->status.success())
    co_return ErrorInfo{ErrorCode::EngineError, fmt::format("'{} image inspect' failed: {}", m_config.engine.binary, last_line(inspected->err))};
  try {
    co_return policy::parse_image_inspect(inspected->out);
  } catch (const Error& e) {
    co_return e.info();
  }
}

asio::awaitable<Result<std::vector<std::string>>> LocalBackend::list_containers(const std::string& instance) {
  auto argv = engine_command(m_config.engine, {"ps", "--all", "--filter", "label=jobman.instance=" + instance, "--format", "{{.Names}}"});
  auto result = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
  if (!result) co_return result.error();
  if (!result->status.success())
    co_return ErrorInfo{ErrorCode::EngineError, fmt::format("'{} ps' failed: {}", m_config.engine.binary, last_line(result->err))};
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start < result->out.size()) {
    auto end = result->out.find('\n', start);
    if (end == std::string::npos) end = result->out.size();
    if (end > start) names.push_back(result->out.substr(start, end - start));
    start = end + 1;
  }
  co_return names;
}

std::vector<std::string> LocalBackend::engine_argv(const Job& job) const { return container_argv(m_config, job); }

void LocalBackend::detach_all() {
  for (auto& [id, process] : m_processes) process->detach();
}

} // namespace jobman::daemon::backend
