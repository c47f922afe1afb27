// Scheduler recovery (scheduler.hpp): what a jobmand finds at start. Each STARTING or
// RUNNING job of the previous one is looked up in the backend and adopted, started again
// (only when the backend is sure it never had it) or marked LOST; containers of ended
// jobs are removed.

#include "daemon/scheduler/scheduler.hpp"

#include "daemon/log.hpp"
#include "daemon/mounts/staging.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

namespace jobman::daemon::scheduler {

namespace {
// A missing or unanswered container is asked about again, this often, before it is lost.
constexpr int k_adopt_retries = 20;
constexpr std::chrono::milliseconds k_adopt_retry_delay{500};
} // namespace

void Scheduler::recover() {
  std::set<JobId> started;
  for (const Job& job : m_store.active())
    if (job.state != JobState::Queued) started.insert(job.id);
  mounts::sweep(m_config.state_dir, started); // of jobs that ended while no jobmand ran
  for (const Job& job : m_store.active()) {
    if (job.state == JobState::Queued) continue;
    m_gpus.reserve(job.gpu_devices);
    spawn_logged(m_executor, adopt(job), fmt::format("recovering job {}", job.id));
  }
  spawn_logged(m_executor, remove_leftovers(), "removing containers of ended jobs");
  schedule();
}

asio::awaitable<void> Scheduler::remove_leftovers() {
  // The previous daemon may have recorded a job's end and died before removing its container.
  auto names = co_await m_backend.list_containers(m_store.instance());
  if (!names) {
    log_warn("cannot list containers to remove leftovers: {}", names.error().message);
    co_return;
  }
  for (const auto& name : *names) {
    auto id = job_of_container(name, m_store.instance());
    if (!id) continue;
    auto job = m_store.get(*id);
    if (job && !is_terminal(job->state)) continue;
    Job gone = job.value_or(Job{});
    gone.container = name;
    log_info("removing container {} of ended job {}", name, *id);
    co_await m_backend.remove(std::move(gone));
  }
}

asio::awaitable<void> Scheduler::adopt(Job job) {
  // A run client left behind by the previous daemon may still be creating the container,
  // or the engine may be busy: give it a moment before calling the job lost.
  using backend::ContainerPresence;
  auto unsure = [](ContainerPresence p) { return p == ContainerPresence::Missing || p == ContainerPresence::Unknown; };
  auto presence = co_await m_backend.presence(job);
  // A batch system's submit command left running by the previous daemon (sbatch outlives a
  // kill -9) may still be submitting it: "missing" only once that would have timed out.
  const auto missing_until = std::chrono::steady_clock::now() + m_config.engine.command_timeout + std::chrono::seconds(5);
  for (int attempt = 0; unsure(presence) && (attempt < k_adopt_retries ||
                                             (m_backend.queues_jobs() && presence == ContainerPresence::Missing &&
                                              job.state == JobState::Starting && std::chrono::steady_clock::now() < missing_until));
       ++attempt) {
    asio::steady_timer timer(m_executor, k_adopt_retry_delay);
    co_await timer.async_wait(asio::use_awaitable);
    presence = co_await m_backend.presence(job);
  }
  // A batch system that does not answer (slurmctld restarting) is asked until it does:
  // neither "lost" nor "start it again" may be guessed, or a job would run twice.
  for (std::chrono::milliseconds delay{1000}; m_backend.queues_jobs() && presence == ContainerPresence::Unknown && !m_shutting_down;) {
    log_warn("job {}: {} does not say what became of it; asking again in {} ms", job.id, to_string(m_config.backend.kind), delay.count());
    asio::steady_timer timer(m_executor, delay);
    co_await timer.async_wait(asio::use_awaitable);
    delay = std::min(delay * 2, std::chrono::milliseconds(30000));
    presence = co_await m_backend.presence(job);
  }
  if (m_shutting_down) co_return;
  if (unsure(presence) && job.state == JobState::Starting) {
    // The previous daemon stopped between choosing this job and starting its container.
    m_gpus.release(job.gpu_devices);
    log_info("job {}: was STARTING and has no container; starting it now", job.id);
    if (!launch(job)) schedule();
    co_return;
  }
  if (unsure(presence)) {
    m_gpus.release(job.gpu_devices);
    mounts::unstage(m_config.state_dir, job.id);
    const Outcome lost{JobState::Lost, presence == ContainerPresence::Missing ? "its container disappeared while jobmand was not running"
                                                                              : "the engine could not tell what became of its container"};
    co_await record_end(job.id, lost, std::nullopt, false, true);
    schedule();
    co_return;
  }
  log_info("job {}: re-adopted its {} container", job.id, presence == ContainerPresence::Running ? "running" : "exited");
  // An exited container that was STARTING: finish() tells whether it ever ran. On a batch
  // system a STARTING job may still wait there: confirm_started says when it runs.
  const bool wait_for_start = m_backend.queues_jobs() && job.state == JobState::Starting && presence == ContainerPresence::Running;
  if (job.state == JobState::Starting && presence == ContainerPresence::Running && !wait_for_start)
    job = transition(job.id, JobState::Running, "re-adopted after a daemon restart");
  if (job.deleted) cancel(job, "deleted before jobmand restarted"); // the stop may not have reached the engine
  if (wait_for_start) spawn_logged(m_executor, confirm_started(job), fmt::format("start of job {}", job.id));
  else spawn_logged(m_executor, enforce_time_limit(job), fmt::format("time limit of job {}", job.id));
  watch_log(job);
  co_await follow(std::move(job));
}

} // namespace jobman::daemon::scheduler
