#pragma once
// Where jobs run. LocalBackend drives docker or podman on this machine; a Slurm backend
// will implement the same interface.

#include "common/errors.hpp"
#include "common/job.hpp"
#include "daemon/engine/command_runner.hpp"
#include "daemon/policy/image_catalogue.hpp"

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <vector>

namespace jobman::daemon::backend {

namespace asio = boost::asio;

// How a job's container ended, as far as the engine can tell.
struct ContainerExit {
  engine::ExitStatus status;
  bool engine_failed = false; // the container never ran (bad image, runtime error)
  bool oom_killed = false;    // the kernel killed it for exceeding its memory limit
  std::string message;        // engine's own words when it failed
};

// Missing: the engine says there is no such container. Unknown: the engine did not answer.
enum class ContainerPresence { Running, Exited, Missing, Unknown };

class Backend {
public:
  virtual ~Backend() = default;
  // Starts `job`'s container with its output appended to `log_path`. Returns once the engine
  // process is started; wait() then completes when the container has ended.
  virtual Result<Unit> start(const Job& job, const std::string& log_path) = 0;
  // Completes when the container of `job` has ended: one started by start(), or one that
  // survived a daemon restart (adopted). `log_path` is the job's log: when the container
  // never ran, it holds the engine's own error, which the exit's message then carries.
  // Coroutines here take the job by value: a caller may spawn them detached, and a
  // coroutine keeps a reference parameter, not what it referred to.
  virtual asio::awaitable<ContainerExit> wait(Job job, std::string log_path) = 0;
  // Whether the container of `job` has started: true once it has (even if it ended since),
  // false while it has not, nothing when the engine cannot tell.
  virtual asio::awaitable<std::optional<bool>> has_started(Job job) = 0;
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
};

} // namespace jobman::daemon::backend
