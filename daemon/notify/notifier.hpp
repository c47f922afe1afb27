#pragma once
// Notifications (`submit --notify`): when a job that asked ends in a state it asked for and
// the admin allows (notify.states), the admin's hook (notify.command) runs once for it, as
// notify.user, with notify.timeout, the job's JSON on stdin (hook.hpp). At most
// notify.max_running hooks run at once; others wait, up to k_max_waiting, past which an
// end is dropped (logged, and said in the job's events). A hook never holds the event loop
// or a job: the scheduler only hands over the job (Scheduler::transition), and what the
// hook did is logged and recorded as an event of the job's end state; the state is never
// changed. A job's notification is done once Job::notified_at is set; a restarted daemon
// runs those of jobs that ended in the last k_recovery_window without it (recover()), so a
// hook killed by the restart runs again: at least once, not exactly once.

#include "common/config.hpp"
#include "common/job.hpp"
#include "daemon/engine/command_runner.hpp"
#include "daemon/store/job_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <set>

namespace jobman::daemon::notify {

namespace asio = boost::asio;

constexpr std::size_t k_max_waiting = 1000;
constexpr std::chrono::hours k_recovery_window{24};

class Notifier {
public:
  Notifier(asio::any_io_executor executor, const Config& config, store::JobStore& store, engine::CommandRunner& runner);

  // `job` has just ended (as stored): its hook is queued if the job asked for its state and
  // the platform allows it. Never blocks and never throws.
  void job_ended(const Job& job);
  // At start, before the scheduler's recovery: queues the notifications of jobs that ended
  // within k_recovery_window and have none recorded (the previous daemon's pending ones).
  void recover();
  // Daemon shutdown: nothing more starts; what waits is run by the next daemon (recover()).
  void shutdown();

  std::size_t running() const { return m_running; }
  std::size_t waiting() const { return m_waiting.size(); }

private:
  bool wanted(const Job& job) const;
  void enqueue(const Job& job);
  void start_waiting();
  asio::awaitable<void> run(Job job);
  asio::awaitable<Result<engine::Captured>> run_hook(const Job& job, NotifyConfig hook);
  void record(JobId id, const std::string& event);

  asio::any_io_executor m_executor;
  const Config& m_config;
  store::JobStore& m_store;
  engine::CommandRunner& m_runner;
  std::deque<Job> m_waiting;
  std::set<JobId> m_pending; // waiting or running: each job's end is notified once
  std::size_t m_running = 0;
  bool m_shutting_down = false;
};

} // namespace jobman::daemon::notify
