#include "daemon/scheduler/scheduler.hpp"

#include "common/errors.hpp"
#include "daemon/log.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

namespace jobman::daemon::scheduler {

namespace {
constexpr int k_adopt_retries = 20;
constexpr std::chrono::milliseconds k_adopt_retry_delay{500};
} // namespace

std::vector<JobId> pick_jobs_to_start(const std::vector<Job>& active, int max_running) {
  int busy = 0;
  for (const auto& job : active)
    if (job.state == JobState::Starting || job.state == JobState::Running) ++busy;
  std::vector<JobId> picked;
  for (const auto& job : active) {
    if (busy >= max_running) break;
    if (job.state != JobState::Queued) continue;
    picked.push_back(job.id);
    ++busy;
  }
  return picked;
}

Scheduler::Scheduler(asio::any_io_executor executor, const Config& config, store::JobStore& store, backend::Backend& backend,
                     JobWatch& watch)
  : m_executor(std::move(executor)), m_config(config), m_store(store), m_backend(backend), m_watch(watch) {}

std::string Scheduler::log_path(JobId id) const { return fmt::format("{}/logs/{}.log", m_config.state_dir, id); }

Job Scheduler::transition(JobId id, JobState to, const std::string& reason, const store::TransitionFields& fields) {
  Job job = m_store.transition(id, to, reason, fields);
  log_info("job {} ({}, {}) -> {}{}{}", id, job.spec.name, job.user, to_string(to), reason.empty() ? "" : ": ", reason);
  m_watch.notify(id);
  return job;
}

void Scheduler::schedule() {
  if (m_shutting_down) return;
  for (JobId id : pick_jobs_to_start(m_store.active(), m_config.limits.max_running)) {
    Job job = transition(id, JobState::Starting, "a slot is free");
    spawn_logged(m_executor, run(std::move(job)), fmt::format("job {}", id));
  }
}

void Scheduler::recover() {
  for (const Job& job : m_store.active())
    if (job.state != JobState::Queued) spawn_logged(m_executor, adopt(job), fmt::format("recovering job {}", job.id));
  schedule();
}

asio::awaitable<void> Scheduler::adopt(Job job) {
  // A run client left behind by the previous daemon may still be creating the container:
  // give it a moment before calling the job lost.
  auto presence = co_await m_backend.presence(job);
  using backend::ContainerPresence;
  auto unsure = [](ContainerPresence p) { return p == ContainerPresence::Missing || p == ContainerPresence::Unknown; };
  for (int attempt = 0; unsure(presence) && attempt < k_adopt_retries; ++attempt) {
    asio::steady_timer timer(m_executor, k_adopt_retry_delay);
    co_await timer.async_wait(asio::use_awaitable);
    presence = co_await m_backend.presence(job);
  }
  if (unsure(presence)) {
    transition(job.id, JobState::Lost, presence == ContainerPresence::Missing
                                         ? "its container disappeared while jobmand was not running"
                                         : "the engine could not tell what became of its container");
    schedule();
    co_return;
  }
  log_info("job {}: re-adopted its {} container", job.id, presence == backend::ContainerPresence::Running ? "running" : "exited");
  if (job.state == JobState::Starting) job = transition(job.id, JobState::Running, "re-adopted after a daemon restart");
  co_await follow(std::move(job));
}

asio::awaitable<void> Scheduler::run(Job job) {
  auto started = m_backend.start(job, log_path(job.id));
  if (!started) {
    transition(job.id, JobState::Failed, started.error().message);
    schedule();
    co_return;
  }
  job = transition(job.id, JobState::Running, "container started");
  co_await follow(std::move(job));
}

asio::awaitable<void> Scheduler::follow(Job job) {
  auto exit = co_await m_backend.wait(job);
  if (m_shutting_down) co_return; // the next daemon re-adopts it
  co_await finish(std::move(job), std::move(exit));
}

asio::awaitable<void> Scheduler::finish(Job job, backend::ContainerExit exit) {
  store::TransitionFields fields{exit.status.code};
  JobState state = JobState::Failed;
  std::string reason;
  if (auto cancelled = m_cancelling.find(job.id); cancelled != m_cancelling.end()) {
    state = JobState::Cancelled;
    reason = cancelled->second;
    m_cancelling.erase(cancelled);
  } else if (exit.engine_failed) {
    reason = "the container engine failed: " + exit.message;
  } else if (exit.status.success()) {
    state = JobState::Succeeded;
  } else {
    reason = "the job exited with " + exit.status.describe();
  }
  try {
    transition(job.id, state, reason, fields);
  } catch (const Error& e) {
    log_warn("job {}: {}", job.id, e.what());
  }
  schedule();
  co_await m_backend.remove(job);
}

void Scheduler::cancel(const Job& job, const std::string& reason) {
  if (job.state == JobState::Queued) {
    transition(job.id, JobState::Cancelled, reason);
    return;
  }
  if (is_terminal(job.state) || !m_cancelling.emplace(job.id, reason).second) return;
  spawn_logged(m_executor, m_backend.stop(job, m_config.limits.kill_grace), fmt::format("stopping job {}", job.id));
}

void Scheduler::shutdown() {
  m_shutting_down = true;
  m_backend.detach_all();
  m_watch.notify_all();
}

} // namespace jobman::daemon::scheduler
