#include "daemon/scheduler/scheduler.hpp"

#include "common/duration.hpp"
#include "common/errors.hpp"
#include "common/size.hpp"
#include "daemon/backend/container_args.hpp"
#include "daemon/log.hpp"
#include "daemon/mounts/staging.hpp"
#include "daemon/notify/notifier.hpp"
#include "daemon/policy/mount_policy.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <algorithm>
#include <iterator>
#include <fmt/format.h>

namespace jobman::daemon::scheduler {

namespace {
// How often the engine is asked whether a job's container started: every 250 ms for the
// first 3 s (a loaded machine takes that long), then less and less often, up to every 2 s.
constexpr std::chrono::milliseconds k_start_poll_first{250};
constexpr std::chrono::milliseconds k_start_poll_steady_for{3000};
constexpr std::chrono::milliseconds k_start_poll_max{2000};
// Jobs launched at once (from chosen to handed to the engine or sbatch).
constexpr std::size_t k_max_launching = 4;

} // namespace

Scheduler::Scheduler(asio::any_io_executor executor, const Config& config, store::JobStore& store, backend::Backend& backend,
                     JobWatch& watch, GpuAllocator& gpus)
  : m_executor(std::move(executor)), m_config(config), m_store(store), m_backend(backend), m_watch(watch), m_gpus(gpus) {}

std::string Scheduler::log_path(JobId id) const { return fmt::format("{}/logs/{}.log", m_config.state_dir, id); }

Job Scheduler::transition(JobId id, JobState to, const std::string& reason, const store::TransitionFields& fields) {
  Job job = m_store.transition(id, to, reason, fields);
  log_info("job {} ({}, {}) -> {}{}{}", id, job.spec.name, job.user, to_string(to), reason.empty() ? "" : ": ", reason);
  m_watch.notify(id);
  // Whatever the backend, every end passes here: the hook is queued, never awaited.
  if (m_notifier && is_terminal(to) && !job.spec.notify.empty()) m_notifier->job_ended(job);
  return job;
}

QueuePlan Scheduler::plan(const std::vector<store::QueueEntry>& entries) const {
  // On a batch system the GPUs are its own to count (Slurm holds a job PENDING until it has them).
  const int free_gpus = m_backend.queues_jobs() ? 1 << 30 : m_gpus.free_count();
  QueueLimits limits{m_config.limits.max_running, m_config.limits.max_running_per_user, free_gpus, {}, now_ms()};
  for (const auto& flavor : m_config.flavors)
    if (flavor.slots > 0) limits.flavor_slots[flavor.name] = flavor.slots;
  return plan_queue(entries, limits, m_last_starts);
}

void Scheduler::schedule() {
  if (m_shutting_down) return;
  QueuePlan queue = plan(m_store.queue_entries());
  while (!queue.cancel.empty()) { // a cancelled job may doom its own dependents: plan again
    for (const auto& [id, reason] : queue.cancel) transition(id, JobState::Cancelled, reason);
    queue = plan(m_store.queue_entries());
  }
  if (queue.wake_at) wake_at(*queue.wake_at); // a retried job waits for its time
  bool failed = false;
  for (JobId id : queue.start) {
    // A few launches at a time: each checks its mounts in a child of the submitter (8 at
    // most per user: more are refused) and runs the engine or sbatch. On Slurm, with
    // hundreds of slots, all at once failed jobs and flooded slurmctld. The rest stay
    // QUEUED until one of these has been handed over.
    if (m_launching.size() >= k_max_launching) {
      m_launch_capped = true;
      break;
    }
    if (!m_backend.queues_jobs() && m_gpus.free_count() < m_store.get(id).value().spec.resources.gpus) continue; // plan_queue counted them
    Job job = transition(id, JobState::Starting, "a slot is free");
    m_last_starts[job.uid] = now_ms();
    failed = !launch(std::move(job)) || failed;
  }
  if (failed) schedule(); // its slot is free again, and its dependents may end
}

bool Scheduler::queued() {
  try {
    if (m_shutting_down || m_store.count_holding_slots() >= m_config.limits.max_running) return false;
    schedule();
  } catch (const std::exception& e) { // the next end or submit plans again
    log_warn("scheduling after a submit: {}", e.what());
  }
  return true;
}

bool Scheduler::launch(Job job) {
  const JobId id = job.id;
  if (job.deleted) { // deleted while the previous daemon was starting it
    mounts::unstage(m_config.state_dir, id); // what that daemon had staged (its home copies)
    transition(id, JobState::Cancelled, "deleted before it started");
    return false;
  }
  // On a batch system its GPUs are the backend's to allocate (Slurm's --gres): none here.
  auto devices = m_backend.queues_jobs() ? std::optional<std::vector<std::string>>(std::vector<std::string>{})
                                         : m_gpus.allocate(job.spec.resources.gpus);
  if (!devices) {
    mounts::unstage(m_config.state_dir, id);
    transition(id, JobState::Failed, fmt::format("{} GPUs are not free", job.spec.resources.gpus));
    return false;
  }
  job.gpu_devices = *devices;
  m_checking_mounts.insert(id);
  m_launching.insert(id);
  spawn_logged(m_executor, start(std::move(job)), fmt::format("job {}", id));
  return true;
}

asio::awaitable<Result<std::vector<Mount>>> Scheduler::stage_image_copies(Job job, std::optional<std::string> node_dir) {
  if (!m_homes || !m_catalogue) co_return ErrorInfo{ErrorCode::Internal, "this jobmand makes no copies of images' homes"};
  Result<images::ImageHome> home = ErrorInfo{ErrorCode::Internal, "not probed"};
  // (No co_await in an if with a declaration: GCC 12 miscompiles it.)
  const images::ImageHome* cached = m_homes->cached(job.spec.image_id);
  if (cached) home = *cached; // as at submit: no engine call
  if (!cached) { // probed by an earlier jobmand: again, from the image's config
    std::shared_ptr<const policy::Catalogue> catalogue;
    try {
      auto listed = co_await m_catalogue->get();
      catalogue = std::move(listed);
    } catch (const std::exception& e) {
      co_return ErrorInfo{ErrorCode::Unavailable, fmt::format("the engine could not list images: {}", e.what())};
    }
    auto image = std::find_if(catalogue->all.begin(), catalogue->all.end(), [&](const policy::ImageInfo& i) { return i.id == job.spec.image_id; });
    if (image == catalogue->all.end())
      co_return ErrorInfo{ErrorCode::ImageNotFound, fmt::format("image {} is no longer on this machine", job.spec.image)};
    policy::ImageInfo info = *image; // named, then moved in (GCC 12)
    auto probed = co_await m_homes->get(std::move(info));
    home = std::move(probed);
  }
  if (!home) co_return home.error();
  std::vector<Mount> made;
  std::size_t index = 0;
  for (const Mount& m : job.spec.mounts) {
    if (!m.image_copy) continue;
    auto copy = std::find_if(home->copies.begin(), home->copies.end(), [&](const images::HomeCopy& c) { return c.dir == m.target; });
    // Not copied this time (probed again since the submit: too big now): the image's own
    // directory stays, read-only, rather than an empty one hiding it.
    if (copy == home->copies.end()) continue;
    // limits.home_size for what the job writes, on top of the copy (tmpfs takes a page per
    // small file, so the copy may need several times its tar's size).
    const std::int64_t size = m_config.limits.home_size + 8 * copy->tar_bytes;
    if (node_dir) { // the node mounts and fills it (node_plan.hpp)
      Mount planned = m;
      planned.source = fmt::format("{}/home{}", *node_dir, index++);
      planned.origin = fmt::format("a copy of the image's {}", m.target);
      planned.copy_tar = copy->tar;
      planned.copy_size = size;
      made.push_back(std::move(planned));
      continue;
    }
    auto path = mounts::mount_home_tmpfs(m_config.state_dir, job.id, index++, job.uid, job.gid, size);
    if (!path) co_return path.error();
    std::string tar = copy->tar;
    if (!tar.empty()) {
      std::string dir = *path;
      auto extracted = co_await m_homes->extract(std::move(tar), std::move(dir), job.uid, job.gid);
      if (!extracted) {
        if (extracted.error().code == ErrorCode::Unavailable) m_homes->forget(job.spec.image_id); // its tar is gone: probe again next time
        co_return ErrorInfo{extracted.error().code, fmt::format("copying the image's {}: {}", m.target, extracted.error().message)};
      }
    }
    Mount staged = m;
    staged.source = *path;
    staged.origin = fmt::format("a copy of the image's {}", m.target);
    made.push_back(std::move(staged));
  }
  co_return made;
}

asio::awaitable<void> Scheduler::start(Job job) {
  const JobId id = job.id;
  // Not inline in the launch: co_spawn runs a coroutine at once up to its first real wait,
  // and a start that fails before one (a refused check, a database that refuses) would end
  // its job and schedule() again inside the schedule() that launched it, with a stale plan.
  co_await asio::post(m_executor, asio::use_awaitable);
  // Check the mounts again: a queued job may start long after submit, and the user could
  // have changed their directories meanwhile (e.g. swapped one for a symlink). What the
  // submitter opens now is pinned under the state dir; the engine mounts only that. The
  // check is awaited: a path that hangs (NFS, the user's FUSE) holds this job, no one else.
  // Named, then moved in: GCC 12 destroys an aggregate temporary passed by value inside
  // co_await twice.
  std::vector<MountTemplate> templates = m_config.mounts;
  for (auto& t : templates) t.target = policy::with_image_home(t.target, job.spec.image_home);
  policy::Submitter submitter = policy::submitter_of(job);
  Result<std::vector<policy::OpenedMount>> opened = ErrorInfo{ErrorCode::Internal, "not checked"};
  Result<std::vector<Mount>> copies = std::vector<Mount>{};
  const bool needs_copies = std::any_of(job.spec.mounts.begin(), job.spec.mounts.end(), [](const Mount& m) { return m.image_copy; });
  // Where the job's node pins them, when it is not this machine (Slurm): checked here all the
  // same, for a clear error now, and checked again there.
  std::optional<std::string> node_dir = m_backend.node_staging_dir(job);
  try {
    auto checked = co_await policy::open_mounts_async(std::move(templates), std::move(submitter));
    opened = std::move(checked);
    if (opened && needs_copies) {
      std::optional<std::string> copies_dir = node_dir; // named, then moved in (GCC 12)
      auto made = co_await stage_image_copies(job, std::move(copies_dir));
      copies = std::move(made);
    }
  } catch (const std::exception& e) { // nothing may leave the job STARTING with its GPUs held
    opened = ErrorInfo{ErrorCode::Internal, e.what()};
  }
  m_checking_mounts.erase(id);
  if (m_shutting_down) {
    m_launching.erase(id);
    co_return; // still STARTING, with no container: the next daemon starts it
  }
  // (No co_await inside an if with an initializer: GCC 12 miscompiles it.)
  const auto cancelled = m_cancelling.find(id);
  if (cancelled != m_cancelling.end()) { // deleted while its mounts were checked
    const Outcome outcome{JobState::Cancelled, cancelled->second};
    m_cancelling.erase(cancelled);
    co_await end_unstarted(std::move(job), outcome);
    co_return;
  }
  if (!opened) {
    co_await end_unstarted(std::move(job), Outcome{JobState::Failed, "mount check at start: " + opened.error().message});
    co_return;
  }
  if (!copies) {
    co_await end_unstarted(std::move(job), Outcome{JobState::Failed, "writable home at start: " + copies.error().message});
    co_return;
  }
  Result<std::vector<Mount>> staged = node_dir ? Result<std::vector<Mount>>(mounts::node_mounts(*node_dir, *opened))
                                              : mounts::stage(m_config.state_dir, id, std::move(*opened));
  opened = std::vector<policy::OpenedMount>{}; // their descriptors: closed now, not when the job ends
  if (!staged) {
    co_await end_unstarted(std::move(job), Outcome{JobState::Failed, "mounts at start: " + staged.error().message});
    co_return;
  }
  // The copies first: the engine mounts the admin's mounts inside them (persistent-home).
  job.spec.mounts = std::move(*copies);
  job.spec.mounts.insert(job.spec.mounts.end(), std::make_move_iterator(staged->begin()), std::make_move_iterator(staged->end()));
  // The final command line is known only now: it names the GPUs allocated at launch.
  bool recorded = false;
  try {
    job = m_store.set_launch(id, job.spec.mounts, job.gpu_devices, m_backend.engine_argv(job));
    recorded = true;
  } catch (const std::exception& e) { // the database refused (disk full): nothing may stay held
    log_error("job {}: cannot record its start: {}", id, e.what());
  }
  if (!recorded) {
    co_await end_unstarted(std::move(job), Outcome{JobState::Failed, "jobmand could not record its start; see jobmand's log"});
    co_return;
  }
  co_await run(std::move(job));
}

asio::awaitable<void> Scheduler::end_unstarted(Job job, Outcome outcome) {
  m_launching.erase(job.id);
  mounts::unstage(m_config.state_dir, job.id);
  m_gpus.release(job.gpu_devices);
  co_await record_end(job.id, std::move(outcome), std::nullopt, false);
  schedule_logged(); // its slot is free again, and its dependents may end
}

asio::awaitable<void> Scheduler::run(Job job) {
  std::string log = log_path(job.id);
  auto started = co_await m_backend.start(job, std::move(log));
  m_launching.erase(job.id);
  if (m_launch_capped && !m_shutting_down) { // jobs were left QUEUED for this launch to finish
    m_launch_capped = false;
    schedule_logged();
  }
  if (!started) {
    m_gpus.release(job.gpu_devices);
    mounts::unstage(m_config.state_dir, job.id);
    co_await record_end(job.id, Outcome{JobState::Failed, started.error().message}, std::nullopt, false, true);
    schedule_logged();
    co_return;
  }
  if (!started->empty()) {
    job.backend_id = *started;
    try {
      m_store.set_backend_info(job.id, job.backend_id, "");
    } catch (const std::exception& e) { // recovery finds it by name all the same
      log_warn("job {}: cannot record its {} id {}: {}", job.id, to_string(m_config.backend.kind), job.backend_id, e.what());
    }
  }
  watch_log(job);
  // The job is RUNNING once the engine says its container started (confirm_started, or
  // finish() for one that ended first): a container the engine failed to create never
  // was. Locally its wall time counts from now; on a batch system from when it runs there
  // (confirm_started), as it may wait there for hours.
  job.started_at = now_ms();
  m_launched_at[job.id] = *job.started_at;
  if (!m_backend.queues_jobs()) spawn_logged(m_executor, enforce_time_limit(job), fmt::format("time limit of job {}", job.id));
  spawn_logged(m_executor, confirm_started(job), fmt::format("start of job {}", job.id));
  co_await follow(std::move(job));
}

Job Scheduler::mark_running(JobId id, const std::string& node) {
  auto launched = m_launched_at.find(id);
  const bool at_launch = launched != m_launched_at.end() && !m_backend.queues_jobs();
  return transition(id, JobState::Running, node.empty() ? "container started" : "container started on node " + node,
                    store::TransitionFields{std::nullopt, at_launch ? launched->second : now_ms(), std::nullopt});
}

asio::awaitable<void> Scheduler::confirm_started(Job job) {
  auto still_starting = [&] { // this attempt: a retried job starting again has a poller of its own
    auto current = m_store.get(job.id);
    return !m_shutting_down && current && current->state == JobState::Starting && current->attempt == job.attempt;
  };
  std::chrono::milliseconds delay = k_start_poll_first;
  const auto back_off_from = std::chrono::steady_clock::now() + k_start_poll_steady_for;
  const auto give_up_at = std::chrono::steady_clock::now() + m_config.engine.command_timeout;
  std::string waiting = job.reason;
  while (still_starting()) {
    asio::steady_timer timer(m_executor, delay);
    co_await timer.async_wait(asio::use_awaitable);
    // A batch system's answer is its last poll, in memory: asked often, it costs nothing.
    // (Each ask is a database read: with 1,000 jobs pending, at the poll's own pace.)
    if (m_backend.queues_jobs()) delay = std::max(k_start_poll_first, std::chrono::duration_cast<std::chrono::milliseconds>(m_config.backend.slurm.poll_interval));
    else if (std::chrono::steady_clock::now() >= back_off_from) delay = std::min(delay * 2, k_start_poll_max);
    if (m_shutting_down) co_return;
    auto started = co_await m_backend.has_started(job);
    // Still waiting there, for the same reason: nothing to read or write (the database is
    // read only when something changed; with 1,000 jobs pending each read counted).
    if (m_backend.queues_jobs() && started && !started->started && started->waiting == waiting) continue;
    if (!still_starting()) co_return;
    if (started && started->started && still_starting()) {
      if (!started->node.empty()) m_store.set_backend_info(job.id, job.backend_id, started->node);
      Job running = mark_running(job.id, started->node);
      // On a batch system its wall time counts from now: it may have waited there for hours.
      if (m_backend.queues_jobs()) spawn_logged(m_executor, enforce_time_limit(running), fmt::format("time limit of job {}", job.id));
      co_return;
    }
    if (started && !started->started && !started->waiting.empty() && started->waiting != waiting && still_starting()) {
      waiting = started->waiting; // what it waits for in the batch system, for queue and details
      m_store.set_reason(job.id, waiting);
      m_watch.notify(job.id);
    }
    if (m_backend.queues_jobs()) continue; // it may wait there as long as the cluster is busy
    if (std::chrono::steady_clock::now() >= give_up_at && still_starting()) {
      // A hung engine: the job would hold its slot (and GPUs) until its wall time.
      log_warn("job {}: the engine has not started its container within {} (engine.command_timeout); stopping it", job.id,
               format_duration(m_config.engine.command_timeout));
      m_start_stuck.insert(job.id);
      co_await m_backend.stop(job, m_config.limits.kill_grace);
      co_return;
    }
  }
}

asio::awaitable<void> Scheduler::enforce_time_limit(Job job) {
  if (job.spec.resources.time_limit <= 0 || !job.started_at) co_return;
  const TimePoint deadline = *job.started_at + job.spec.resources.time_limit * 1000;
  auto timer = std::make_shared<asio::steady_timer>(m_executor, std::chrono::milliseconds(std::max<TimePoint>(0, deadline - now_ms())));
  m_deadlines[job.id] = timer;
  boost::system::error_code ec;
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (ec || m_shutting_down || !m_deadlines.contains(job.id)) co_return; // the job ended first
  m_timed_out.insert(job.id);
  log_info("job {}: time limit of {} reached; stopping it", job.id, format_duration(std::chrono::seconds(job.spec.resources.time_limit)));
  co_await m_backend.stop(job, m_config.limits.kill_grace);
}

asio::awaitable<void> Scheduler::follow(Job job) {
  auto exit = co_await m_backend.wait(job, log_path(job.id));
  if (m_shutting_down) co_return; // the next daemon re-adopts it
  co_await finish(std::move(job), std::move(exit));
}

asio::awaitable<void> Scheduler::finish(Job job, backend::ContainerExit exit) {
  if (auto deadline = m_deadlines.find(job.id); deadline != m_deadlines.end()) {
    deadline->second->cancel();
    m_deadlines.erase(deadline);
  }
  StopCause cause = StopCause::None;
  std::string cancel_reason;
  if (auto cancelled = m_cancelling.find(job.id); cancelled != m_cancelling.end()) {
    cause = StopCause::Cancelled;
    cancel_reason = cancelled->second;
    m_cancelling.erase(cancelled);
  } else if (m_timed_out.contains(job.id)) {
    cause = StopCause::TimedOut;
  }
  m_timed_out.erase(job.id);
  // Only if the engine then said it never ran: one that started in between ran.
  if (m_start_stuck.erase(job.id) > 0 && cause == StopCause::None && exit.engine_failed) {
    exit.message = fmt::format("it did not start the container within {} (engine.command_timeout)", format_duration(m_config.engine.command_timeout));
  }
  if (auto current = m_store.get(job.id)) job = *current; // started_at as recorded
  if (!exit.node.empty() && exit.node != job.node) { // it ended before a poll saw it run
    try {
      m_store.set_backend_info(job.id, job.backend_id, exit.node);
    } catch (const std::exception& e) {
      log_warn("job {}: {}", job.id, e.what());
    }
  }
  // A container that ran, however briefly, was RUNNING; one the engine failed to create never was.
  if (job.state == JobState::Starting && !exit.engine_failed) {
    try {
      job = mark_running(job.id);
    } catch (const std::exception& e) {
      log_warn("job {}: {}", job.id, e.what());
    }
  }
  Outcome outcome = decide_outcome(job, cause, cancel_reason, exit, m_config);
  co_await close_log(job.id); // before the end is recorded: a daemon dying meanwhile redoes it
  mounts::unstage(m_config.state_dir, job.id);
  m_gpus.release(job.gpu_devices);
  // Lost, or the engine failed to run it: not the job's own doing, so it may be retried.
  const bool retryable = cause == StopCause::None && (outcome.state == JobState::Lost || exit.engine_failed);
  const bool again = co_await record_end(job.id, outcome, exit.status.code, !exit.engine_failed, retryable);
  m_launched_at.erase(job.id);
  if (again) co_await m_backend.remove(job); // its container's name is the next attempt's
  schedule_logged();
  if (!again) co_await m_backend.remove(job);
}

void Scheduler::schedule_logged() {
  try {
    schedule();
  } catch (const std::exception& e) { // the database refused: the next end or submit plans again
    log_warn("scheduling: {}", e.what());
  }
}

asio::awaitable<bool> Scheduler::record_end(JobId id, Outcome outcome, std::optional<int> exit_code, bool ran, bool retryable) {
  // The database may be locked by another process or its disk full: the end is tried again
  // until it is recorded (a daemon that dies meanwhile finds the container exited and
  // records it then). A job still STARTING whose container ran goes through RUNNING first
  // (its mark may have failed too): STARTING -> SUCCEEDED is refused, and a job left
  // STARTING would be started again by the next daemon. The state machine refusing
  // otherwise (the job already ended) is final.
  std::chrono::milliseconds delay{250};
  for (int attempt = 1;; ++attempt) {
    try {
      std::optional<Job> current = m_store.get(id);
      if (current && retryable && retry(*current, outcome)) co_return true;
      if (ran && current && current->state == JobState::Starting) mark_running(id);
      // A job that had retries says which attempt its end was.
      const std::string reason = current && current->spec.retries > 0
                                   ? fmt::format("{} (attempt {} of {})", outcome.reason, current->attempt, current->spec.retries + 1)
                                   : outcome.reason;
      transition(id, outcome.state, reason, store::TransitionFields{exit_code, std::nullopt, outcome.usage});
      if (attempt > 1) log_info("job {}: its end recorded at attempt {}", id, attempt);
      co_return false;
    } catch (const Error& e) {
      log_warn("job {}: {}", id, e.what());
      co_return false;
    } catch (const std::exception& e) {
      if (!store::database_problem(e)) { // not the database refusing for now: trying again would not help
        log_error("job {}: cannot record its end ({}: {}): {}", id, to_string(outcome.state), outcome.reason, e.what());
        co_return false;
      }
      if (attempt == 1 || attempt % 20 == 0)
        log_warn("job {}: cannot record its end ({}: {}): {}; trying again (attempt {})", id, to_string(outcome.state), outcome.reason,
                 e.what(), attempt);
    }
    if (m_shutting_down) co_return false;
    asio::steady_timer timer(m_executor, delay);
    co_await timer.async_wait(asio::use_awaitable);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

void Scheduler::cancel(const Job& job, const std::string& reason) {
  if (job.state == JobState::Queued) {
    transition(job.id, JobState::Cancelled, reason);
    return;
  }
  if (is_terminal(job.state) || !m_cancelling.emplace(job.id, reason).second) return;
  if (m_checking_mounts.contains(job.id)) return; // no container yet: start() ends it instead
  spawn_logged(m_executor, m_backend.stop(job, m_config.limits.kill_grace), fmt::format("stopping job {}", job.id));
}

void Scheduler::shutdown() {
  m_shutting_down = true;
  for (auto& [id, timer] : m_deadlines) timer->cancel();
  if (m_wake) m_wake->cancel();
  m_backend.detach_all();
  m_watch.notify_all();
}

} // namespace jobman::daemon::scheduler
