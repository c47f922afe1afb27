#include "daemon/backend/slurm_backend.hpp"

#include "common/atomic_file.hpp"

#include "common/duration.hpp"
#include "common/file_descriptor.hpp"
#include "common/platform_env.hpp"
#include "daemon/backend/container_args.hpp"
#include "daemon/backend/engine_error.hpp"
#include "daemon/log.hpp"
#include "daemon/mounts/node_plan.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace jobman::daemon::backend {

extern const char* const k_slurm_batch_script; // generated from slurm_script.sh

namespace {
// Polls in a row a job may be missing from squeue (and sacct) before it counts as lost: a
// job squeue no longer lists after MinJobAge (300 s by default) is looked up in sacct.
// (Counted in polls of at least 30 s in all: slurmdbd may lag.)
constexpr int k_unseen_before_lost = 30;
constexpr std::chrono::seconds k_unseen_for_at_least{30};
// How often the result files of running jobs are looked at, between squeue polls: the
// batch script writes one as its container ends, so an end is seen within this, without
// asking slurmctld (a stat in the shared state directory).
constexpr std::chrono::milliseconds k_result_check{100};

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto nl = text.rfind('\n');
  return printable_message(nl == std::string::npos ? text : text.substr(nl + 1), k_max_engine_message);
}

asio::awaitable<void> sleep_for(asio::any_io_executor executor, std::chrono::milliseconds delay) {
  asio::steady_timer timer(executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

std::optional<std::string> read_small_file(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return std::nullopt;
  std::string text(4096, '\0');
  ssize_t n = ::read(fd.get(), text.data(), text.size());
  if (n < 0) return std::nullopt;
  text.resize(static_cast<std::size_t>(n));
  return text;
}

} // namespace

std::string self_executable() {
  std::string path(4096, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) return "/usr/sbin/jobmand";
  path.resize(static_cast<std::size_t>(n));
  constexpr std::string_view k_deleted = " (deleted)"; // replaced by an upgrade: the new one is at the same path
  if (path.ends_with(k_deleted)) path.resize(path.size() - k_deleted.size());
  return path;
}

namespace {
std::string home_tar_link(const Config& config, JobId id, std::size_t index) { return fmt::format("{}/slurm/{}.home{}.tar", config.state_dir, id, index); }

// Keeps a link to the image copy's `tar` next to the plan at `link`: the cache may drop it
// (a restart, the image leaving the catalogue) while the job waits in Slurm. An existing
// link stays when the tar itself is gone (a resubmission after a restart).
Result<Unit> keep_tar(const std::string& tar, const std::string& link) {
  const std::string tmp = link + ".tmp";
  ::unlink(tmp.c_str());
  if (::link(tar.c_str(), tmp.c_str()) == 0) {
    if (::rename(tmp.c_str(), link.c_str()) == 0) return Unit{};
    ::unlink(tmp.c_str());
  }
  struct stat st {};
  if (errno == ENOENT && ::lstat(link.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return Unit{};
  return ErrorInfo{ErrorCode::Unavailable, fmt::format("cannot keep the image copy {} for the node at {}: {}", tar, link, std::strerror(errno))};
}
} // namespace

const std::string& slurm_batch_script() {
  static const std::string script(k_slurm_batch_script);
  return script;
}

SlurmBackend::SlurmBackend(asio::any_io_executor executor, const Config& config, engine::CommandRunner& runner, std::string instance)
  : m_executor(std::move(executor)), m_config(config), m_runner(runner), m_local(config, runner), m_instance(std::move(instance)) {
  const passwd* pw = ::getpwuid(::geteuid());
  m_user = pw ? pw->pw_name : std::to_string(::geteuid());
}

Result<Unit> SlurmBackend::install_script() {
  const std::string dir = m_config.state_dir + "/slurm";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return ErrorInfo{ErrorCode::Internal, fmt::format("cannot create {}: {}", dir, std::strerror(errno))};
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid()) {
      ::chmod(dir.c_str(), 0700);
    } else {
      return ErrorInfo{ErrorCode::Internal, fmt::format("{} must be a directory of jobmand's own, not a link", dir)};
    }
  }
  return write_file(slurm_paths(m_config, 0).script, slurm_batch_script(), 0700);
}

std::optional<std::string> SlurmBackend::node_staging_dir(const Job& job) const { return mounts::node_staging_dir(job.container); }

nlohmann::json SlurmBackend::describe(const Job& job) const {
  const std::string log = fmt::format("{}/logs/{}.log", m_config.state_dir, job.id);
  return {{"kind", "slurm"}, {"sbatch", sbatch_argv(m_config, job, log)}, {"script", slurm_paths(m_config, job.id).script},
          {"spec", slurm_paths(m_config, job.id).spec}, {"stage", stages_on_node(job) ? slurm_paths(m_config, job.id).stage : ""}};
}

SlurmBackend::Tracked& SlurmBackend::track(const Job& job, const std::string& slurm_id) {
  auto [it, fresh] = m_tracked.try_emplace(job.id);
  Tracked& t = it->second;
  if (fresh) {
    t.id = job.id;
    t.ended = std::make_shared<asio::steady_timer>(m_executor, asio::steady_timer::time_point::max());
  }
  if (!slurm_id.empty()) t.slurm_id = slurm_id;
  t.log_path = fmt::format("{}/logs/{}.log", m_config.state_dir, job.id);
  ensure_polling();
  return t;
}

asio::awaitable<Result<std::string>> SlurmBackend::start(Job job, std::string log_path) {
  // The log exists before Slurm opens it (--open-mode=append): jobmand's, 0600.
  FileDescriptor log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (log.get() < 0) co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot open log file {}: {}", log_path, std::strerror(errno))};
  const SlurmPaths paths = slurm_paths(m_config, job.id);
  ::unlink(paths.result.c_str()); // one left by an attempt of an earlier jobmand
  // The platform's variables, for the node's `jobmand --node-exec` (root only, like the spec;
  // never in an argv); resolved for this job now.
  // (At function scope, not in a block that may not run: GCC 12, see LocalBackend::sample_usage.)
  const std::vector<PlatformEnvVar> platform = resolve_platform_env(m_config, job);
  const std::optional<std::string> env_problem = resolved_env_problem(platform);
  if (env_problem) co_return ErrorInfo{ErrorCode::InvalidArgument, *env_problem};
  ::unlink(paths.env.c_str());
  Result<Unit> env_written = platform.empty() ? Result<Unit>(Unit{}) : write_file(paths.env, slurm_env_file(platform), 0600);
  if (!env_written) co_return env_written.error();
  auto written = write_file(paths.spec, slurm_spec(m_config, job), 0600);
  if (!written) {
    ::unlink(paths.env.c_str());
    co_return written.error();
  }
  // What the node pins before the container starts (its mounts, opened again there as the user).
  std::optional<ErrorInfo> kept;
  const auto homes = std::count_if(job.spec.mounts.begin(), job.spec.mounts.end(), [](const Mount& m) { return m.image_copy; });
  auto drop_plan = [&] { // a start that failed: nothing may keep its tars alive (nor its values)
    ::unlink(paths.env.c_str());
    ::unlink(paths.stage.c_str());
    for (std::size_t i = 0; i < static_cast<std::size_t>(homes); ++i) ::unlink(home_tar_link(m_config, job.id, i).c_str());
  };
  auto plan = mounts::node_plan(job, [&](std::size_t index, const std::string& tar) {
    const std::string link = home_tar_link(m_config, job.id, index);
    if (auto linked = keep_tar(tar, link); !linked && !kept) kept = linked.error();
    return link;
  });
  if (kept) {
    drop_plan();
    co_return *kept;
  }
  ::unlink(paths.stage.c_str());
  if (plan) {
    auto staged = write_file(paths.stage, mounts::plan_to_text(*plan), 0600);
    if (!staged) {
      drop_plan();
      co_return staged.error();
    }
  }
  auto argv = sbatch_argv(m_config, job, log_path);
  auto submitted = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
  const bool refused = !submitted || !submitted->status.success();
  if (refused) {
    // sbatch can fail after slurmctld took the job (a timeout, "Socket timed out"): the job
    // ends FAILED here, so nothing of it may run there.
    std::vector<std::string> cancel{m_config.backend.slurm.scancel, "--user=" + m_user, "--name=" + job.container};
    auto cancelled = co_await m_runner.capture(std::move(cancel), m_config.engine.command_timeout);
    if (!cancelled || !cancelled->status.success())
      log_warn("job {}: sbatch failed, and scancel of whatever it left failed too: {}", job.id,
               cancelled ? last_line(cancelled->err) : cancelled.error().message);
  }
  if (refused) drop_plan(); // scancelled above
  if (!submitted) co_return ErrorInfo{ErrorCode::Unavailable, "sbatch: " + submitted.error().message};
  if (!submitted->status.success())
    co_return ErrorInfo{ErrorCode::EngineError, fmt::format("Slurm refused the job: {}", last_line(submitted->err.empty() ? submitted->out : submitted->err))};
  std::string out = submitted->out;
  std::string id = out.substr(0, out.find_first_of(";\n"));
  if (!is_slurm_job_id(id)) co_return ErrorInfo{ErrorCode::EngineError, fmt::format("sbatch printed no job id: '{}'", last_line(out))};
  track(job, id);
  log_info("job {}: submitted to Slurm as job {}", job.id, id);
  co_return id;
}

void SlurmBackend::ensure_polling() {
  if (m_polling) return;
  m_polling = true;
  spawn_logged(m_executor, poll_loop(), "following Slurm jobs");
}

asio::awaitable<void> SlurmBackend::poll_loop() {
  // Cleared however the loop ends (a throw included), or no job would be followed again.
  try {
    auto next_poll = std::chrono::steady_clock::now() + m_config.backend.slurm.poll_interval;
    while (std::any_of(m_tracked.begin(), m_tracked.end(), [](const auto& t) { return !t.second.exit; })) {
      co_await sleep_for(m_executor, k_result_check);
      check_results();
      if (std::chrono::steady_clock::now() < next_poll) continue;
      co_await poll_once();
      next_poll = std::chrono::steady_clock::now() + m_config.backend.slurm.poll_interval;
    }
  } catch (...) {
    m_polling = false;
    throw;
  }
  m_polling = false;
}

asio::awaitable<void> SlurmBackend::poll_once() {
  const SlurmConfig& s = m_config.backend.slurm;
  std::vector<std::string> argv{s.squeue, "--noheader", "--states=all", "--user=" + m_user, "--format=%i|%j|%T|%r|%N"};
  auto listed = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
  if (!listed || !listed->status.success()) {
    if (!m_poll_failed)
      log_warn("squeue: {}; jobs handed to Slurm are followed again once it answers",
               listed ? last_line(listed->err) : listed.error().message);
    m_poll_failed = true;
    co_return;
  }
  if (m_poll_failed) log_info("squeue answers again");
  m_poll_failed = false;
  std::map<std::string, SlurmJob> by_name;
  for (auto& j : parse_squeue(listed->out, prefix())) {
    // A name seen twice (an earlier attempt's job, already ended): the newest id wins.
    auto [it, fresh] = by_name.try_emplace(j.name, j);
    if (!fresh && std::stoll(j.id) > std::stoll(it->second.id)) it->second = j;
  }
  std::vector<JobId> unseen;
  for (auto& [id, t] : m_tracked) {
    if (t.exit) continue;
    auto found = by_name.find(container_name(m_instance, id));
    if (found != by_name.end() && (t.slurm_id.empty() || found->second.id == t.slurm_id || std::stoll(found->second.id) > std::stoll(t.slurm_id))) {
      t.slurm_id = found->second.id;
      t.last = found->second;
      t.unseen = 0;
      if (slurm_final(t.last->state)) end(t, t.last);
      continue;
    }
    ++t.unseen;
    if (t.unseen >= 2) unseen.push_back(id);
  }
  if (unseen.empty()) co_return;
  // squeue forgot them (MinJobAge passed while jobmand was away, or slurmctld restarted):
  // one sacct call for all.
  std::string ids;
  for (JobId id : unseen)
    if (!m_tracked[id].slurm_id.empty()) ids += (ids.empty() ? "" : ",") + m_tracked[id].slurm_id;
  std::map<std::string, SlurmJob> accounted;
  if (!ids.empty()) {
    std::vector<std::string> sacct{s.sacct};
    sacct.insert(sacct.end(), s.sacct_args.begin(), s.sacct_args.end());
    sacct.insert(sacct.end(), {"--noheader", "--parsable2", "--allocations", "--user=" + m_user, "--jobs=" + ids,
                               "--format=JobID,JobName,State,ExitCode,NodeList"});
    auto acct = co_await m_runner.capture(std::move(sacct), m_config.engine.command_timeout);
    if (acct && acct->status.success())
      for (auto& j : parse_sacct(acct->out, prefix())) accounted[j.id] = j;
  }
  for (JobId id : unseen) {
    auto it = m_tracked.find(id);
    if (it == m_tracked.end() || it->second.exit) continue;
    Tracked& t = it->second;
    auto acct = accounted.find(t.slurm_id);
    // By id and name: a reused id (a rebuilt slurmctld) is not this job.
    if (acct != accounted.end() && acct->second.name == container_name(m_instance, id) && slurm_final(acct->second.state)) {
      end(t, acct->second);
      continue;
    }
    // Neither knows it, but the script wrote its result: it ended.
    if (auto text = read_small_file(slurm_paths(m_config, id).result); text && parse_script_result(*text)) {
      end(t, t.last);
      continue;
    }
    if (t.unseen >= unseen_before_lost()) {
      ContainerExit exit;
      exit.lost = true;
      exit.message = fmt::format("Slurm no longer knows its job {} (squeue and sacct list nothing)", t.slurm_id.empty() ? "?" : t.slurm_id);
      t.exit = exit;
      t.ended->cancel();
    }
  }
}

int SlurmBackend::unseen_before_lost() const {
  const auto interval = std::max<std::int64_t>(1, m_config.backend.slurm.poll_interval.count());
  const auto polls = std::chrono::duration_cast<std::chrono::milliseconds>(k_unseen_for_at_least).count() / interval;
  return static_cast<int>(std::max<std::int64_t>(k_unseen_before_lost, polls));
}

void SlurmBackend::check_results() {
  for (auto& [id, t] : m_tracked) {
    // A result file exists only once the script ran (start() removes an old one): not for a
    // job the last poll saw pending (1,000 pending jobs made 10,000 opens a second).
    if (t.exit || (t.last && !slurm_started(t.last->state))) continue;
    auto text = read_small_file(slurm_paths(m_config, id).result);
    if (!text) continue;
    auto result = parse_script_result(*text);
    // Stopped by a TERM: whether that was a cancel, Slurm's limit or a node going down is
    // Slurm's to say at the next poll.
    if (!result || result->stopped == "term") continue;
    end(t, t.last);
  }
}

void SlurmBackend::end(Tracked& t, const std::optional<SlurmJob>& slurm) {
  auto text = read_small_file(slurm_paths(m_config, t.id).result);
  std::optional<ScriptResult> result = text ? parse_script_result(*text) : std::nullopt;
  auto tail = read_tail(t.log_path, 16 << 10);
  t.exit = slurm_exit(slurm, result, tail.value_or(""));
  t.ended->cancel();
}

asio::awaitable<ContainerExit> SlurmBackend::wait(Job job, std::string log_path) {
  (void)log_path;
  Tracked& t = track(job, job.backend_id);
  std::shared_ptr<asio::steady_timer> ended = t.ended; // `t` may move as the map grows: keep the timer
  const JobId id = job.id;
  while (!m_tracked.at(id).exit) {
    boost::system::error_code ec;
    co_await ended->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!m_tracked.contains(id)) co_return ContainerExit{};
  }
  ContainerExit exit = *m_tracked.at(id).exit;
  co_return exit;
}

asio::awaitable<std::optional<StartState>> SlurmBackend::has_started(Job job) {
  auto it = m_tracked.find(job.id);
  if (it == m_tracked.end() || !it->second.last) co_return std::nullopt;
  const SlurmJob& j = *it->second.last;
  StartState state;
  state.started = slurm_started(j.state);
  state.node = j.node;
  if (!state.started)
    state.waiting = fmt::format("Slurm job {}: {}{}", j.id, j.state, j.reason.empty() ? "" : " (" + j.reason + ")");
  co_return state;
}

asio::awaitable<void> SlurmBackend::stop(Job job, std::chrono::seconds grace) {
  (void)grace; // the batch script gives the container engine.kill_grace (its GRACE argument)
  // sbatch may not have answered yet: then by name (only jobmand's own jobs), again until
  // the job shows up or ends.
  const auto give_up = std::chrono::steady_clock::now() + m_config.engine.command_timeout + std::chrono::seconds(10); // as long as an sbatch may take
  while (std::chrono::steady_clock::now() < give_up) {
    auto it = m_tracked.find(job.id);
    const std::string slurm_id = it != m_tracked.end() ? it->second.slurm_id : job.backend_id;
    std::vector<std::string> argv{m_config.backend.slurm.scancel};
    if (!slurm_id.empty()) argv.push_back(slurm_id);
    else argv.insert(argv.end(), {"--user=" + m_user, "--name=" + job.container});
    auto result = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
    if (result && result->status.success() && !slurm_id.empty()) co_return;
    if (!result || !result->status.success())
      log_warn("job {}: scancel: {}", job.id, result ? last_line(result->err) : result.error().message);
    it = m_tracked.find(job.id);
    if (it != m_tracked.end() && it->second.exit) co_return;
    co_await sleep_for(m_executor, std::chrono::milliseconds(500));
  }
}

asio::awaitable<void> SlurmBackend::cancel_by_name(Job job) {
  std::vector<std::string> argv{m_config.backend.slurm.scancel, "--user=" + m_user, "--name=" + job.container};
  auto result = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
  if (!result || !result->status.success())
    log_warn("job {}: scancel: {}", job.id, result ? last_line(result->err) : result.error().message);
}

asio::awaitable<void> SlurmBackend::remove(Job job) {
  auto it = m_tracked.find(job.id);
  const bool ended = it != m_tracked.end() && it->second.exit;
  if (it != m_tracked.end()) {
    it->second.ended->cancel();
    m_tracked.erase(it);
  }
  // A leftover of an ended job (recovery, cleanup) that Slurm still runs: cancel it. (In a
  // coroutine of its own: GCC 12 left the in-scope flag of this block's locals unset when
  // the block did not run, and read it when the frame was destroyed; UBSan saw it.)
  if (!ended) co_await cancel_by_name(job);
  const SlurmPaths paths = slurm_paths(m_config, job.id);
  ::unlink(paths.spec.c_str());
  ::unlink(paths.result.c_str());
  ::unlink(paths.stage.c_str());
  ::unlink(paths.env.c_str()); // the node removes it once read; not if the job never ran
  const auto homes = std::count_if(job.spec.mounts.begin(), job.spec.mounts.end(), [](const Mount& m) { return m.image_copy; });
  for (std::size_t i = 0; i < static_cast<std::size_t>(homes); ++i) ::unlink(home_tar_link(m_config, job.id, i).c_str());
}

asio::awaitable<Result<std::optional<SlurmJob>>> SlurmBackend::find(const std::string& name) {
  const SlurmConfig& s = m_config.backend.slurm;
  std::vector<std::string> argv{s.squeue, "--noheader", "--states=all", "--user=" + m_user, "--name=" + name, "--format=%i|%j|%T|%r|%N"};
  auto listed = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
  if (!listed) co_return listed.error();
  if (!listed->status.success()) co_return ErrorInfo{ErrorCode::Unavailable, "squeue: " + last_line(listed->err)};
  std::optional<SlurmJob> newest;
  for (auto& j : parse_squeue(listed->out, name))
    if (j.name == name && (!newest || std::stoll(j.id) > std::stoll(newest->id))) newest = j;
  if (newest) co_return newest;
  std::vector<std::string> sacct{s.sacct};
  sacct.insert(sacct.end(), s.sacct_args.begin(), s.sacct_args.end());
  sacct.insert(sacct.end(), {"--noheader", "--parsable2", "--allocations", "--user=" + m_user, "--name=" + name,
                             "--starttime=2000-01-01", "--format=JobID,JobName,State,ExitCode,NodeList"});
  auto acct = co_await m_runner.capture(std::move(sacct), m_config.engine.command_timeout);
  if (acct && acct->status.success())
    for (auto& j : parse_sacct(acct->out, name))
      if (j.name == name && (!newest || std::stoll(j.id) > std::stoll(newest->id))) newest = j;
  co_return newest;
}

asio::awaitable<ContainerPresence> SlurmBackend::presence(Job job) {
  auto it = m_tracked.find(job.id);
  if (it != m_tracked.end() && it->second.last)
    co_return it->second.exit || slurm_final(it->second.last->state) ? ContainerPresence::Exited : ContainerPresence::Running;
  auto found = co_await find(job.container);
  if (!found) {
    log_warn("job {}: cannot ask Slurm about it: {}", job.id, found.error().message);
    co_return ContainerPresence::Unknown;
  }
  if (!*found) {
    // Not in Slurm, but the script wrote its result: it ran and ended (records forgotten).
    if (auto text = read_small_file(slurm_paths(m_config, job.id).result); text && parse_script_result(*text)) {
      Tracked& t = track(job, job.backend_id);
      end(t, std::nullopt);
      co_return ContainerPresence::Exited;
    }
    co_return ContainerPresence::Missing;
  }
  const SlurmJob j = **found;
  Tracked& t = track(job, j.id);
  t.last = j;
  if (slurm_final(j.state)) {
    end(t, j);
    co_return ContainerPresence::Exited;
  }
  co_return ContainerPresence::Running;
}

asio::awaitable<Result<std::vector<std::string>>> SlurmBackend::list_containers(const std::string& instance) {
  // The Slurm jobs of `instance` still active: recovery cancels those whose job has ended.
  const SlurmConfig& s = m_config.backend.slurm;
  std::vector<std::string> argv{s.squeue, "--noheader", "--user=" + m_user, "--format=%i|%j|%T|%r|%N"};
  auto listed = co_await m_runner.capture(std::move(argv), m_config.engine.command_timeout);
  if (!listed) co_return listed.error();
  if (!listed->status.success()) co_return ErrorInfo{ErrorCode::EngineError, "squeue: " + last_line(listed->err)};
  std::vector<std::string> names;
  for (auto& j : parse_squeue(listed->out, "jobman-" + instance + "-"))
    if (!slurm_final(j.state)) names.push_back(j.name);
  co_return names;
}

} // namespace jobman::daemon::backend
