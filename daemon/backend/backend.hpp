#pragma once
// Where jobs run: the job executor. LocalBackend drives docker or podman on this machine;
// SlurmBackend hands each job to a Slurm cluster, whose nodes run the same engine command.
// The scheduler decides when a job starts and records what happens; how a job is started,
// followed, stopped, found again after a restart and cleaned up is the backend's.

#include "common/errors.hpp"
#include "common/job.hpp"
#include "daemon/engine/command_runner.hpp"
#include "daemon/policy/image_catalogue.hpp"

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace jobman::daemon::backend {

namespace asio = boost::asio;

// How a job's container ended, as far as the backend can tell.
struct ContainerExit {
  engine::ExitStatus status;
  bool engine_failed = false; // the container never ran (bad image, runtime error)
  bool oom_killed = false;    // the kernel killed it for exceeding its memory limit
  bool timed_out = false;     // the backend stopped it at its time limit (Slurm: jobman's timer in the job, or Slurm's)
  bool cancelled = false;     // cancelled outside jobman (an admin's scancel)
  bool lost = false;          // its node failed or it was preempted: it did not end by itself
  std::string message;        // engine's own words when it failed; what happened when cancelled or lost
  std::string node;           // where it ran, if the backend says (Slurm)
  std::optional<Usage> usage; // what it used, as last sampled while it ran (cgroup_usage.hpp)
};

// Whether a started job's container runs yet, and what the backend says about it.
struct StartState {
  bool started = false;
  std::string node;    // where it runs, once known ("" locally)
  std::string waiting; // why it has not started, in the backend's words (Slurm: "PENDING (Resources)")
};

// Missing: the engine says there is no such container. Unknown: the engine did not answer.
enum class ContainerPresence { Running, Exited, Missing, Unknown };

class Backend {
public:
  virtual ~Backend() = default;
  // Starts `job`'s container with its output appended to `log_path`. Completes once the
  // engine process is started (locally) or the job is queued (Slurm); wait() then completes
  // when it has ended. The value is the backend's id of the job (Job::backend_id; "" locally).
  virtual asio::awaitable<Result<std::string>> start(Job job, std::string log_path) = 0;
  // Completes when the container of `job` has ended: one started by start(), or one that
  // survived a daemon restart (adopted). `log_path` is the job's log: when the container
  // never ran, it holds the engine's own error, which the exit's message then carries.
  // Coroutines here take the job by value: a caller may spawn them detached, and a
  // coroutine keeps a reference parameter, not what it referred to.
  virtual asio::awaitable<ContainerExit> wait(Job job, std::string log_path) = 0;
  // Whether the container of `job` has started (even if it ended since), nothing when the
  // backend cannot tell.
  virtual asio::awaitable<std::optional<StartState>> has_started(Job job) = 0;
  // Asks the container to stop: SIGTERM, then SIGKILL after `grace`.
  virtual asio::awaitable<void> stop(Job job, std::chrono::seconds grace) = 0;
  // Removes the ended container of `job` (perhaps later, batched with others).
  virtual asio::awaitable<void> remove(Job job) = 0;
  virtual asio::awaitable<ContainerPresence> presence(Job job) = 0;
  virtual asio::awaitable<Result<std::vector<policy::ImageInfo>>> list_images() = 0;
  // Names of all containers with label jobman.instance=`instance`, running or not.
  virtual asio::awaitable<Result<std::vector<std::string>>> list_containers(const std::string& instance) = 0;
  // Daemon shutdown: leave every container and engine process running.
  virtual void detach_all() = 0;

  // The exact engine command line that runs `job`'s container (Job::argv; on Slurm with a
  // placeholder where the batch script puts the GPUs Slurm allocated).
  virtual std::vector<std::string> engine_argv(const Job& job) const = 0;
  // A batch system that queues jobs itself (Slurm): a started job may wait there for hours,
  // so it has no start timeout, its wall time counts from when the backend says it runs,
  // and GPUs are the backend's to allocate, not this machine's.
  virtual bool queues_jobs() const { return false; }
  // Where the node that runs `job` pins its mounts, when that is not this machine (Slurm:
  // the scheduler checks them here, the node opens and pins them again; node_plan.hpp).
  // Nothing: the scheduler pins them itself, under the state directory.
  virtual std::optional<std::string> node_staging_dir(const Job& job) const {
    (void)job;
    return std::nullopt;
  }
  // What else runs `job`, for --dry-run and details: on Slurm the sbatch command line and
  // the batch script (the engine command line is Job::argv). Null locally.
  virtual nlohmann::json describe(const Job& job) const {
    (void)job;
    return nullptr;
  }
};

} // namespace jobman::daemon::backend
