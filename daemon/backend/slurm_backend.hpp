#pragma once
// Backend on a Slurm cluster (issue 11; doc/slurm.md). Each job is one `sbatch --parsable`
// of a fixed batch script jobmand writes into its state directory (no user text in it).
// The script runs, as root on the node, the same hardened engine command a local job gets,
// read word for word from a file jobmand wrote (NUL-separated: no shell ever parses a
// user's value), with jobman's own exact timer and a TERM trap that stops the container;
// it writes the container's exit into a result file next to it. The state directory must
// be shared with the nodes (NFS), as it holds the scripts, the results and the logs.
//
// One `squeue` call per poll follows every job; `sacct` only for those squeue forgot.

#include "common/config.hpp"
#include "daemon/backend/backend.hpp"
#include "daemon/backend/local_backend.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace jobman::daemon::backend {

// One job as squeue or sacct lists it.
struct SlurmJob {
  std::string id;    // Slurm job id
  std::string name;  // --job-name: jobman's container name
  std::string state; // PENDING, RUNNING, COMPLETED, ... (without sacct's "CANCELLED by 0")
  std::string reason; // squeue: why it is pending (Resources, Priority, Dependency)
  std::string node;   // where it runs or ran ("" while pending)
  std::optional<int> exit_code; // sacct's ExitCode (the batch script's)
};

// `squeue -h -o %i|%j|%T|%r|%N` output: its jobs whose name starts with `prefix` (others' jobs
// and malformed lines are skipped).
std::vector<SlurmJob> parse_squeue(std::string_view out, std::string_view prefix);
// `sacct -n -P -o JobID,JobName,State,ExitCode,NodeList` output, the same way.
std::vector<SlurmJob> parse_sacct(std::string_view out, std::string_view prefix);
// Whether `text` is a Slurm job id as jobmand takes one: 1 to 18 digits.
bool is_slurm_job_id(std::string_view text);
// Whether a Slurm job in `state` has ended for good.
bool slurm_final(std::string_view state);
// Whether a Slurm job in `state` has started running (or ran, for an ended one).
bool slurm_started(std::string_view state);

// What the batch script wrote when the container ended.
struct ScriptResult {
  std::optional<int> exit_code;
  bool oom = false;
  bool started = false;  // the container ran (inspect's StartedAt)
  std::string stopped;   // "timeout": jobman's timer; "term": a TERM (scancel, Slurm's limit); "" : it ended itself
  std::optional<Usage> usage; // what the container used, as the node sampled it (jobmand --node-usage)
};
std::optional<ScriptResult> parse_script_result(std::string_view text);
// How the job ended, from Slurm's final record (if any) and the script's result (if any).
ContainerExit slurm_exit(const std::optional<SlurmJob>& slurm, const std::optional<ScriptResult>& result, const std::string& log_tail);

// Where a job's files live under state_dir/slurm.
struct SlurmPaths {
  std::string script; // the batch script (one for all jobs)
  std::string spec;   // the job's engine command, NUL-separated
  std::string result; // what the script writes at the end
  std::string stage;  // the plan of its mounts on the node (daemon/mounts/node_plan.hpp), if any
  std::string env;    // the platform's variables for it, NUL-separated NAME=VALUE (root only), if any
};
SlurmPaths slurm_paths(const Config& config, JobId id);
// Whether the node pins mounts for `job` (the scheduler made them under its node directory).
bool stages_on_node(const Job& job);
// This jobmand's own binary (/proc/self/exe): the node helper when backend.node_helper is "".
std::string self_executable();
// The sbatch command line for `job` (its engine command already in Job::argv). The batch
// script's arguments last: SPEC RESULT NAME LIMIT GRACE STAGE ("-": none) HELPER ENV ("-": none).
std::vector<std::string> sbatch_argv(const Config& config, const Job& job, const std::string& log_path);
// The spec file's bytes: the engine prefix, where the script puts its Slurm label and the
// GPUs Slurm allocated, the engine kind, and the run argv.
std::string slurm_spec(const Config& config, const Job& job);
// The env file's bytes: each of `env` as NAME=VALUE and a NUL (what `jobmand --node-exec` reads).
std::string slurm_env_file(const std::vector<PlatformEnvVar>& env);
// The engine argv of a Slurm job: that of a local one, with a placeholder for its GPUs.
std::vector<std::string> slurm_container_argv(const Config& config, const Job& job);
// The batch script's text.
const std::string& slurm_batch_script();

class SlurmBackend final : public Backend {
public:
  SlurmBackend(asio::any_io_executor executor, const Config& config, engine::CommandRunner& runner, std::string instance);
  asio::awaitable<Result<std::string>> start(Job job, std::string log_path) override;
  asio::awaitable<ContainerExit> wait(Job job, std::string log_path) override;
  asio::awaitable<std::optional<StartState>> has_started(Job job) override;
  asio::awaitable<void> stop(Job job, std::chrono::seconds grace) override;
  asio::awaitable<void> remove(Job job) override;
  asio::awaitable<ContainerPresence> presence(Job job) override;
  asio::awaitable<Result<std::vector<policy::ImageInfo>>> list_images() override { return m_local.list_images(); }
  asio::awaitable<Result<std::vector<std::string>>> list_containers(const std::string& instance) override;
  void detach_all() override {}
  bool queues_jobs() const override { return true; }
  std::vector<std::string> engine_argv(const Job& job) const override { return slurm_container_argv(m_config, job); }
  std::optional<std::string> node_staging_dir(const Job& job) const override;
  nlohmann::json describe(const Job& job) const override;

  // The batch script in state_dir/slurm: written at start (root-owned, 0700 directory).
  Result<Unit> install_script();

private:
  // scancel --name of `job`'s container name, its failure logged.
  asio::awaitable<void> cancel_by_name(Job job);
  struct Tracked {
    JobId id = 0;
    std::string slurm_id;
    std::optional<SlurmJob> last; // as the last poll saw it
    int unseen = 0;               // polls in a row that did not list it
    std::optional<ContainerExit> exit;
    std::string log_path;
    std::shared_ptr<asio::steady_timer> ended; // cancelled when `exit` is set
  };
  Tracked& track(const Job& job, const std::string& slurm_id);
  void ensure_polling();
  asio::awaitable<void> poll_loop();
  asio::awaitable<void> poll_once();
  void end(Tracked& t, const std::optional<SlurmJob>& slurm);
  // Ends the running jobs whose batch script wrote its result (between polls).
  void check_results();
  // Polls in a row a job may be missing from squeue and sacct before it is LOST.
  int unseen_before_lost() const;
  std::string prefix() const { return "jobman-" + m_instance + "-"; }
  // squeue for one job name (recovery), then sacct.
  asio::awaitable<Result<std::optional<SlurmJob>>> find(const std::string& name);

  asio::any_io_executor m_executor;
  const Config& m_config;
  engine::CommandRunner& m_runner;
  LocalBackend m_local; // this machine's engine: the image catalogue
  std::string m_instance;
  std::string m_user; // who jobmand submits as: only its own Slurm jobs are jobman's
  std::map<JobId, Tracked> m_tracked;
  bool m_polling = false;
  bool m_poll_failed = false; // said so in the log, until it answers again
};

} // namespace jobman::daemon::backend
