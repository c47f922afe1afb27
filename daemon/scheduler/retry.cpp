// Automatic retries (`submit --retries N`): a job whose attempt was lost, or that the
// engine failed to run, goes back to the queue as its next attempt, the same job (its id,
// name, dependents and waiters stay), after limits.retry_delay. Each attempt is an event.

#include "common/duration.hpp"
#include "daemon/log.hpp"
#include "daemon/scheduler/scheduler.hpp"

#include <fmt/format.h>

namespace jobman::daemon::scheduler {

bool Scheduler::retry(const Job& job, const Outcome& outcome) {
  if (job.deleted || m_shutting_down || m_cancelling.contains(job.id) || job.attempt > job.spec.retries) return false;
  if (job.state != JobState::Starting && job.state != JobState::Running) return false;
  const auto delay = m_config.limits.retry_delay;
  const TimePoint at = now_ms() + static_cast<TimePoint>(delay.count()) * 1000;
  const std::string reason = fmt::format("attempt {} of {} ended {}: {}; queued again to start in {}", job.attempt,
                                         job.spec.retries + 1, to_string(outcome.state), outcome.reason, format_duration(delay));
  m_store.requeue(job.id, reason, at);
  log_info("job {} ({}, {}) -> QUEUED: {}", job.id, job.spec.name, job.user, reason);
  m_watch.notify(job.id);
  wake_at(at);
  return true;
}

void Scheduler::wake_at(TimePoint at) {
  if (m_shutting_down || (m_wake_at && *m_wake_at <= at)) return;
  if (!m_wake) m_wake = std::make_shared<asio::steady_timer>(m_executor);
  m_wake_at = at;
  m_wake->expires_after(std::chrono::milliseconds(std::max<TimePoint>(0, at - now_ms())));
  // The timer, not `this`, is what the handler owns: cancelled at shutdown, it returns
  // before it touches the scheduler.
  m_wake->async_wait([this, timer = m_wake](const boost::system::error_code& ec) {
    if (ec) return;
    m_wake_at.reset();
    schedule_logged();
  });
}

} // namespace jobman::daemon::scheduler
