#pragma once
// Decides when queued jobs start, runs them through the backend, enforces wall-time
// limits, and records every state change (JobStore::transition) and wakes watchers
// (JobWatch). Event-driven: it acts when a job is submitted, starts, ends, is cancelled
// or reaches its time limit; nothing polls.

#include "common/config.hpp"
#include "daemon/backend/backend.hpp"
#include "daemon/images/catalogue_cache.hpp"
#include "daemon/images/image_home.hpp"
#include "daemon/logs/log_file.hpp"
#include "daemon/scheduler/outcome.hpp"
#include "daemon/scheduler/gpu_allocator.hpp"
#include "daemon/scheduler/job_watch.hpp"
#include "daemon/scheduler/queue_plan.hpp"
#include "daemon/store/job_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <set>
#include <memory>
#include <string>

namespace jobman::daemon::notify {
class Notifier;
}

namespace jobman::daemon::scheduler {

class Scheduler {
public:
  Scheduler(asio::any_io_executor executor, const Config& config, store::JobStore& store, backend::Backend& backend,
            JobWatch& watch, GpuAllocator& gpus);

  // Re-attaches jobs left STARTING or RUNNING by a previous daemon, then schedules.
  void recover();
  // Cancels queued jobs whose dependencies failed, then starts what plan_queue says.
  void schedule();
  // After jobs were queued: schedule() only if one could start now. A new job changes no
  // other job's fate (its dependencies had not failed, or the submit was refused), and with
  // every slot taken it cannot start; planning reads the whole queue, so 10,000 queued jobs
  // made each submit read 10,000 rows (bench/load.py). A database that refuses is logged,
  // not thrown: the jobs are stored, and the client must be told so.
  bool queued(); // true when it planned (a slot was free: the job may have started)
  // The queue as `schedule` sees it now, from `entries` (JobStore::queue_entries).
  QueuePlan plan(const std::vector<store::QueueEntry>& entries) const;
  // Cancels `job`: a queued job ends CANCELLED at once; a running one is stopped first.
  void cancel(const Job& job, const std::string& reason);
  // Records a state change and wakes everyone watching the job.
  Job transition(JobId id, JobState to, const std::string& reason, const store::TransitionFields& fields = {});

  // Where writable copies of images' homes come from (images/image_home.hpp); without
  // them a job that needs one fails at start.
  void use_image_homes(images::ImageHomes& homes, images::CatalogueCache& catalogue) {
    m_homes = &homes;
    m_catalogue = &catalogue;
  }

  // Who is told of jobs' ends (`submit --notify`): every end recorded by transition().
  void use_notifier(notify::Notifier& notifier) { m_notifier = &notifier; }

  std::string log_path(JobId id) const;
  bool is_shutting_down() const { return m_shutting_down; }
  // Daemon shutdown: stop starting jobs; running containers keep running.
  void shutdown();

private:
  // Starts `job` (already STARTING): GPUs now, then start(). False if it ended at once
  // (deleted, no GPUs); one that ends in start() schedules again itself.
  bool launch(Job job);
  // The rest of a launch, awaited: mounts checked again (as the submitter, off the daemon's
  // thread) and pinned, the final argv recorded, then run().
  asio::awaitable<void> start(Job job);
  // The job's writable copies of its image's directories (Mount::image_copy), each a
  // tmpfs under its staging directory filled as the submitter: the mounts for the engine.
  // With `node_dir` (Slurm) only planned there: the node mounts and fills them.
  asio::awaitable<Result<std::vector<Mount>>> stage_image_copies(Job job, std::optional<std::string> node_dir);
  // Ends `job` (STARTING, no container) as `outcome`: its staging and GPUs released.
  asio::awaitable<void> end_unstarted(Job job, Outcome outcome);
  asio::awaitable<void> run(Job job);
  asio::awaitable<void> adopt(Job job);
  asio::awaitable<void> remove_leftovers();
  asio::awaitable<void> follow(Job job);
  // STARTING -> RUNNING once the engine says the container of `job` has started.
  asio::awaitable<void> confirm_started(Job job);
  Job mark_running(JobId id, const std::string& node = {});
  asio::awaitable<void> finish(Job job, backend::ContainerExit exit);
  // Records the end of job `id`, again and again while the database refuses (locked, full).
  // `ran`: the container ran (a job still STARTING goes through RUNNING first).
  // `retryable`: the attempt was lost or the engine failed to run it, so a job with retries
  // left is queued again instead (retry()): true then.
  asio::awaitable<bool> record_end(JobId id, Outcome outcome, std::optional<int> exit_code, bool ran, bool retryable = false);
  // Queues `job` again as its next attempt if it has one left (retry.cpp); false if not.
  bool retry(const Job& job, const Outcome& outcome);
  // Plans the queue again at `at` (ms), when a retried job may start; the soonest wins.
  void wake_at(TimePoint at);
  // schedule(), with a database that refuses logged instead of thrown.
  void schedule_logged();
  // Stops `job` when its wall time is up (counted from started_at).
  asio::awaitable<void> enforce_time_limit(Job job);
  // retention.max_log_bytes, and limits.max_log_bytes_per_user shared by a user's running
  // jobs: running jobs' logs are checked every k_log_cap_interval (while any runs) and once
  // more when the job ends, then rewritten without the hole and their size recorded.
  struct WatchedLog {
    FileDescriptor fd;
    std::uint32_t uid = 0;
    bool cut = false;    // said so in the daemon's log
    bool failed = false; // the file system refused; said so once
  };
  void watch_log(const Job& job);
  // The cap for each running log of `uid` now: retention.max_log_bytes, or less when the
  // user's ended jobs' logs and these running ones would pass limits.max_log_bytes_per_user.
  std::int64_t log_cap_for(std::uint32_t uid, std::size_t running_logs) const;
  void cap_log(JobId id, WatchedLog& log, std::int64_t cap);
  void cap_all_logs();
  asio::awaitable<void> cap_logs();
  asio::awaitable<void> close_log(JobId id);

  asio::any_io_executor m_executor;
  const Config& m_config;
  store::JobStore& m_store;
  backend::Backend& m_backend;
  JobWatch& m_watch;
  GpuAllocator& m_gpus;
  images::ImageHomes* m_homes = nullptr;
  images::CatalogueCache* m_catalogue = nullptr;
  notify::Notifier* m_notifier = nullptr;
  std::map<JobId, std::string> m_cancelling; // job -> reason
  std::map<JobId, std::shared_ptr<asio::steady_timer>> m_deadlines;
  std::set<JobId> m_timed_out;
  std::set<JobId> m_checking_mounts; // launched, mount check not answered yet: no container to stop
  std::set<JobId> m_launching;       // launched, not handed to the backend yet (k_max_launching)
  bool m_launch_capped = false;      // schedule() left startable jobs QUEUED for the cap
  std::set<JobId> m_start_stuck; // the engine did not start them within engine.command_timeout
  std::map<JobId, TimePoint> m_launched_at; // when the engine's run client started, until the job ends
  LastStarts m_last_starts; // for fair turns between users; forgotten at restart
  bool m_shutting_down = false;
  std::map<JobId, WatchedLog> m_logs; // running jobs' logs
  bool m_capping_logs = false;
  std::shared_ptr<asio::steady_timer> m_wake; // wake_at()
  std::optional<TimePoint> m_wake_at;
};

} // namespace jobman::daemon::scheduler
