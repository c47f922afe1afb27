#pragma once
// jobmand configuration (/etc/jobman/jobman.json), validated at load with errors naming the key.
// jobman.json(5) documents every key; keep it in step.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace jobman {

enum class EngineKind { Podman, Docker };
std::string_view to_string(EngineKind kind);

struct SocketConfig {
  std::string path = "/run/jobman/jobman.sock";
  mode_t mode = 0666;
  std::string group; // empty: leave the socket's group as created
};

struct EngineConfig {
  EngineKind kind = EngineKind::Podman;
  std::string binary = "podman";
  std::vector<std::string> global_args; // before the subcommand
  std::vector<std::string> run_args;    // after "run", before jobman's own flags
  // How long an engine command (inspect, stop, rm, images, ...) and a container's start
  // may take before jobmand kills it and says the engine did not answer.
  std::chrono::seconds command_timeout{120};
};

// Where jobs run (issue 11): "local" on this machine's engine, or "slurm": each job one
// sbatch of a batch script jobmand writes, which runs the same engine command on a node.
enum class BackendKind { Local, Slurm };
std::string_view to_string(BackendKind kind);

struct SlurmConfig {
  std::string partition;         // --partition ("" : the cluster's default)
  std::string account;           // --account ("" : none)
  std::string qos;               // --qos ("" : none)
  std::string sbatch = "sbatch", squeue = "squeue", scancel = "scancel", sacct = "sacct", scontrol = "scontrol";
  // Extra arguments of every sacct call: ["-c"] where the cluster has no slurmdbd and keeps
  // its records with JobCompType=jobcomp/filetxt.
  std::vector<std::string> sacct_args;
  std::chrono::milliseconds poll_interval{1000}; // one squeue for all jobs, this often while any is active
  // Slurm's own --time is the job's limit plus this: jobman's exact timer inside the job
  // stops it first; Slurm's (checked on a ~30 s sweep) is the backstop.
  std::chrono::seconds time_margin{120};
  // What the batch script runs on the node to pin a job's mounts (`jobmand --node-stage`):
  // an absolute path; "" : the path of this jobmand (the same package on every node).
  std::string node_helper;
};

struct BackendConfig {
  BackendKind kind = BackendKind::Local;
  SlurmConfig slurm;
};

struct ImagesConfig {
  std::vector<std::string> repositories = {"localhost/"};
  std::vector<std::string> required_labels = {"name", "version"};
  std::chrono::seconds refresh{30}; // how long the catalogue is cached
  std::string default_image;        // "default": what `submit` without -i runs ("" : -i is required)
};

struct LimitsConfig {
  int max_running = 2;
  int pids = 1024;
  std::chrono::seconds kill_grace{10};
  std::chrono::seconds default_time{3600}; // wall time when submit gives none (capped by the flavor)
  int max_running_per_user = 0;            // 0: no limit besides max_running
  int max_queued_per_user = 10000;
  std::int64_t max_stored_bytes_per_user = 1LL << 30; // args, env and argv of a user's jobs in the database
  std::int64_t min_free_disk = 256LL << 20;           // submits are refused below this much free on state_dir
  std::int64_t max_log_bytes_per_user = 10LL << 30;   // all of a user's job logs on state_dir
  int max_active_per_user = 0;                        // queued + running jobs of one user; 0: no limit
  std::int64_t home_size = 1LL << 30;                 // each writable copy of an image's home / WORKDIR (a tmpfs)
  int max_retries = 3;                                // the most `submit --retries` may ask for; 0: no retries
  std::chrono::seconds retry_delay{30};               // a retried job waits this long in the queue
  int max_array_size = 1000;                          // the most jobs one `submit --array` may queue
};

// A variable jobmand sets in every job (`env`, globally and per flavor; common/platform_env.hpp).
struct PlatformEnvVar {
  std::string name;
  // Once resolved for a job, its text; in the config, a template: {user}, {uid}, {job_id},
  // {job_name}, {flavor}, and `{{`/`}}` for braces.
  std::string value;
  bool secret = false; // shown as *** by details, --dry-run and --check-config
  bool operator==(const PlatformEnvVar&) const = default;
};

// A resource flavor users pick with `submit -r NAME`.
struct Flavor {
  std::string name;
  std::string description;
  double cpus = 1;
  std::int64_t memory = 2LL << 30;
  std::int64_t shm = 64LL << 20;
  int gpus = 0;
  std::chrono::seconds max_time{24 * 3600};
  int slots = 0; // jobs of this flavor running at once; 0: no cap of its own
  std::vector<PlatformEnvVar> env{}; // over the global `env` of the same names, by name
};

// GPUs jobs may be given: fixed device ids, or detected with `nvidia-smi -L` at start.
struct GpuConfig {
  bool autodetect = false;
  std::vector<std::string> devices;
};

// A host directory every job gets, e.g. {"source": "/home/{user}/datasets"}.
// Placeholders: {user}, {uid}, {home} in source and target; {source} and (first) {image_home}
// in target.
struct MountTemplate {
  std::string source;
  std::string target = "{source}";
  bool read_only = true;
  bool optional = false;
};

// What `jobman cleanup` keeps.
struct RetentionConfig {
  int days = 30; // finished jobs' rows, events and logs older than this are removed
  // A job's log past this keeps its first and last half and a line saying what was cut; 0: no cap.
  std::int64_t max_log_bytes = 1LL << 30;
  int accounting_days = 730; // ended jobs' accounting (what `jobman stats` reads) older than this is removed
};

// The admin's notification hook (`notify`; daemon/notify/notifier.hpp): run once for each
// job that asked (`submit --notify`) when it ends in one of `states`.
struct NotifyConfig {
  std::vector<std::string> command; // argv, its first word an absolute path; empty: no hook (submit --notify refused)
  std::string user = "nobody";      // as given (a name or a uid); never root
  uid_t uid = 0;                    // resolved at load
  gid_t gid = 0;
  std::chrono::seconds timeout{30};
  std::vector<std::string> states = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "OOM_KILLED", "LOST"};
  int max_running = 4;              // hooks at once; more wait, at most k_max_notify_waiting
};

struct ServerConfig {
  int max_connections = 256;
  int max_connections_per_user = 32; // one user's share; root and admins are not capped
  int admin_reserve = 16;            // of max_connections, only root and admins may use
  std::chrono::seconds idle_timeout{60};  // between requests
  std::chrono::seconds frame_timeout{10}; // for a frame (and the first hello) to arrive whole
};

struct Config {
  SocketConfig socket;
  std::string admin_group; // empty: only root is admin
  std::string state_dir = "/var/lib/jobman";
  EngineConfig engine;
  BackendConfig backend;
  ImagesConfig images;
  LimitsConfig limits;
  ServerConfig server;
  RetentionConfig retention;
  std::vector<Flavor> flavors; // never empty after parsing: a built-in "default" if none given
  std::string default_flavor;
  GpuConfig gpus;
  std::vector<MountTemplate> mounts;
  std::vector<PlatformEnvVar> env; // by name
  NotifyConfig notify;

  const Flavor* find_flavor(std::string_view name) const;
  // The variables a job of flavor `flavor` gets: the global ones with the flavor's over
  // them, by name (templates, not resolved).
  std::vector<PlatformEnvVar> env_for(std::string_view flavor) const;
};

// Parses and validates `text`. Throws Error(InvalidArgument) naming `source` and the key.
Config parse_config(std::string_view text, std::string_view source);
// Reads and parses the file at `path`.
Config load_config(const std::string& path);
// The effective configuration as JSON (for --check-config and logs).
std::string config_to_json(const Config& config);

} // namespace jobman
