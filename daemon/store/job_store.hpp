#pragma once
// The job database (<state_dir>/jobman.db). Owns the SQLite connection; the only code that
// writes job rows. Every state change goes through transition(): one transaction that
// checks the state machine, updates the job and appends a job_events row.

#include "common/job.hpp"

#include "common/errors.hpp"

#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <variant>
#include <string>
#include <vector>

namespace SQLite {
class Database;
}

namespace jobman::daemon::store {

// What a client is told when the database refused a request: busy or locked by another
// process, or its disk full, each as UNAVAILABLE with what to do; nothing for any other
// exception (an internal error, logged as such).
std::optional<ErrorInfo> database_problem(const std::exception& e);

// How long a write waits for another process's lock on the database before it fails.
constexpr std::chrono::milliseconds k_busy_timeout{250};


struct JobEvent {
  TimePoint at = 0;
  std::optional<JobState> from;
  JobState to = JobState::Queued;
  std::string reason;
};

// What the scheduler needs of an active job, without decoding the whole row.
struct QueueEntry {
  JobId id = 0;
  std::uint32_t uid = 0;
  JobState state = JobState::Queued;
  int priority = 0;
  int gpus = 0;
  std::string flavor;
  std::string name;
  struct Dependency {
    JobId id = 0;
    JobState state = JobState::Queued;
    AfterKind kind = AfterKind::Ok;
  };
  std::vector<Dependency> dependencies; // filled for QUEUED jobs
  std::optional<TimePoint> not_before;  // a retried job: not to start before then
  bool held = false;                    // not to start until released
  std::optional<JobId> array_id;        // an array's element: its array (Job::ArrayPart)
  int array_index = 0;                  // ... its index
  int array_limit = 0;                  // ... and how many of its elements may run at once (0: no limit)
};

struct ListFilter {
  std::optional<std::uint32_t> uid; // nothing: all users
  std::optional<JobState> state;
  std::optional<JobId> before; // only jobs with a smaller id (the next page)
  int limit = 50;
  // Read only what job_to_row_json sends (list's table view): no args, env, argv, mounts.
  bool summary = false;
  // An array's elements come as one row, its first listed element's (ArraySummary tells
  // the rest); without, each element is a row of its own.
  bool group_arrays = false;
  std::optional<JobId> array; // only this array's elements
};

// An array as `list` shows it: how many of its elements are listed, in which states, and
// its first start and last end.
struct ArraySummary {
  int listed = 0;
  std::map<JobState, int> states;
  std::vector<int> indices; // of the listed elements, ascending
  std::optional<TimePoint> first_started;
  std::optional<TimePoint> last_ended; // once every listed element has ended
};

// Extra fields a transition may set.
struct TransitionFields {
  std::optional<int> exit_code;
  std::optional<TimePoint> started_at; // to RUNNING: when its wall time began (default: now)
  std::optional<Usage> usage;          // to an end state: what the job used, if measured
};

class JobStore {
public:
  // Opens (creating if needed) and migrates the database at `path`.
  explicit JobStore(const std::string& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Inserts `job` as QUEUED in one transaction. An empty name becomes "<image name>-<id>";
  // `argv_for` computes the engine command once the id is known.
  // Throws Error(Conflict) when the user already has a job of that name.
  using ArgvFor = std::function<std::vector<std::string>(const Job&)>;
  Job insert(Job job, const ArgvFor& argv_for);
  // An array's elements (each with Job::array set, its id 0) in one transaction: the first
  // element's id becomes the array's, names are "NAME[index]" (NAME the array's, or
  // "<image>-<array id>"). Returned as stored.
  std::vector<Job> insert_array(std::vector<Job> elements, const ArgvFor& argv_for);
  // The jobs of concurrent submits in one transaction, one commit for all (GroupCommit).
  // Each is inserted in a savepoint of its own: one that fails (its name is taken) is
  // rolled back alone and its error is returned in its place. Throws, storing nothing,
  // when the transaction itself fails (the disk is full).
  using Inserted = std::variant<Job, std::exception_ptr>;
  std::vector<Inserted> insert_group(std::vector<std::pair<Job, ArgvFor>> jobs);
  // Inserts all of `jobs` in one transaction, or none. In spec.after, -N refers to the
  // N-th job of this batch (1-based), which must come earlier.
  std::vector<Job> insert_batch(std::vector<Job> jobs, const ArgvFor& argv_for);

  // Job `id`, deleted or not.
  std::optional<Job> get(JobId id) const;
  // Job `id` if it is listed (not deleted).
  std::optional<Job> get_listed(JobId id) const;
  // Listed (not deleted) jobs called `name`, of `uid` or of every user.
  // An array's listed elements, by index (summary: list's columns only).
  std::vector<Job> array_elements(JobId array_id, bool summary = false) const;
  // The arrays named `name` (elements "name[i]") with a listed element: (array id, uid).
  std::vector<std::pair<JobId, std::uint32_t>> arrays_named(const std::string& name, std::optional<std::uint32_t> uid) const;
  std::map<JobId, ArraySummary> array_summaries(const std::vector<JobId>& array_ids) const;
  std::vector<Job> find_by_name(const std::string& name, std::optional<std::uint32_t> uid) const;
  // Listed jobs, newest first.
  std::vector<Job> list(const ListFilter& filter) const;
  // QUEUED, STARTING and RUNNING jobs, oldest first.
  std::vector<Job> active() const;
  // The same, light: what scheduling decisions need, with queued jobs' dependencies.
  std::vector<QueueEntry> queue_entries() const;
  int count_queued(std::uint32_t uid) const;
  // The user's QUEUED, STARTING and RUNNING jobs, oldest first.
  std::vector<JobId> active_ids(std::uint32_t uid) const;
  // Jobs STARTING or RUNNING (those that hold one of limits.max_running's slots).
  int count_holding_slots() const;
  // Bytes of args, env and argv the rows of `uid`'s jobs take (deleted ones too, until purged).
  std::int64_t stored_bytes(std::uint32_t uid) const;
  // Bytes the logs of `uid`'s ended jobs take (deleted ones too, until purged).
  std::int64_t log_bytes(std::uint32_t uid) const;
  // Records the size of job `id`'s log once it has ended (and been compacted).
  void set_log_bytes(JobId id, std::int64_t bytes);
  std::vector<JobEvent> events(JobId id) const;

  // Moves job `id` to `to`; throws Error(Conflict) if the state machine forbids it.
  Job transition(JobId id, JobState to, const std::string& reason, const TransitionFields& fields = {});
  // Records what a job is started with: mounts as checked at start, GPU devices, and its
  // final engine command.
  // The backend's id of job `id` and its node (Job::backend_id, Job::node).
  void set_backend_info(JobId id, const std::string& backend_id, const std::string& node);
  // Records that the notification of job `id`'s end is done (Job::notified_at), with
  // `event` as an event of its end state (none if empty). Nothing if the job is gone.
  void set_notified(JobId id, const std::string& event);
  // Ended jobs that asked for notifications (spec.notify) and have none recorded, ended at
  // `since` (ms) or later, oldest end first, at most `limit`: those a restart runs.
  std::vector<Job> pending_notifications(TimePoint since, int limit) const;
  // Replaces the reason of job `id` without a state change: what a job handed to Slurm
  // waits for ("PENDING (Resources)"), shown by queue and details.
  void set_reason(JobId id, const std::string& reason);
  // Queues job `id` (STARTING or RUNNING, whose attempt failed) again as its next attempt,
  // not to start before `not_before` (ms): what the attempt recorded (times, exit code,
  // backend id, node, GPUs, usage) is cleared, `reason` is the event. Throws
  // Error(Conflict) from any other state.
  Job requeue(JobId id, const std::string& reason, TimePoint not_before);
  // Holds (or releases) queued job `id`, with `reason` as its reason and an event; nothing
  // when it already was. Throws Error(Conflict) for a job that is not QUEUED.
  std::optional<Job> set_held(JobId id, bool held, const std::string& reason);
  // The jobs resubmitted from job `id` (`jobman resubmit`), oldest first, at most 100.
  std::vector<JobId> resubmits_of(JobId id) const;
  Job set_launch(JobId id, const std::vector<Mount>& mounts, const std::vector<std::string>& gpu_devices,
                 const std::vector<std::string>& argv);
  // Hides a job from listings; its row and events stay for the record.
  void mark_deleted(JobId id);

  // Ids of jobs that ended before `before` (ms), oldest first, at most `limit`.
  std::vector<JobId> finished_before(TimePoint before, int limit) const;
  // Deletes the rows (and events and dependency links) of `ids`, in one transaction.
  void remove_jobs(const std::vector<JobId>& ids);
  // Accounting rows (migration 10) of jobs that ended before `before` (ms): how many, and
  // removing at most `limit` of them in one transaction (how many were).
  std::int64_t count_accounting_before(TimePoint before) const;
  std::int64_t remove_accounting_before(TimePoint before, int limit);
  // Gives the space of deleted rows back to the file system.
  void vacuum();

  // Random id created with the database; names and labels this installation's containers.
  const std::string& instance() const { return m_instance; }

private:
  std::optional<JobId> listed_job_named(std::uint32_t uid, const std::string& name) const;
  Job insert_in_transaction(Job job, const ArgvFor& argv_for);

  std::unique_ptr<SQLite::Database> m_db;
  std::string m_instance;
  std::uint64_t m_placeholders = 0;
};

} // namespace jobman::daemon::store
