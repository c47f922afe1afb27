#pragma once
// Decides when queued jobs start, runs them through the backend, and records every state
// change (JobStore::transition) and wakes watchers (JobWatch). Event-driven: it acts when a
// job is submitted, ends or is cancelled; nothing polls.

#include "common/config.hpp"
#include "daemon/backend/backend.hpp"
#include "daemon/scheduler/job_watch.hpp"
#include "daemon/store/job_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <map>
#include <string>

namespace jobman::daemon::scheduler {

// Which queued jobs to start now, given how many slots are free: oldest first.
std::vector<JobId> pick_jobs_to_start(const std::vector<Job>& active, int max_running);

class Scheduler {
public:
  Scheduler(asio::any_io_executor executor, const Config& config, store::JobStore& store, backend::Backend& backend,
            JobWatch& watch);

  // Re-attaches jobs left STARTING or RUNNING by a previous daemon, then schedules.
  void recover();
  // Starts queued jobs while slots are free.
  void schedule();
  // Cancels `job`: a queued job ends CANCELLED at once; a running one is stopped first.
  void cancel(const Job& job, const std::string& reason);
  // Records a state change and wakes everyone watching the job.
  Job transition(JobId id, JobState to, const std::string& reason, const store::TransitionFields& fields = {});

  std::string log_path(JobId id) const;
  bool is_shutting_down() const { return m_shutting_down; }
  // Daemon shutdown: stop starting jobs; running containers keep running.
  void shutdown();

private:
  asio::awaitable<void> run(Job job);
  asio::awaitable<void> adopt(Job job);
  asio::awaitable<void> follow(Job job);
  asio::awaitable<void> finish(Job job, backend::ContainerExit exit);

  asio::any_io_executor m_executor;
  const Config& m_config;
  store::JobStore& m_store;
  backend::Backend& m_backend;
  JobWatch& m_watch;
  std::map<JobId, std::string> m_cancelling; // job -> reason
  bool m_shutting_down = false;
};

} // namespace jobman::daemon::scheduler
