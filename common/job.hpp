#pragma once
// The job model: what a job is, independent of the wire format and the database.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jobman {

using JobId = std::int64_t;
// Milliseconds since the Unix epoch.
using TimePoint = std::int64_t;

TimePoint now_ms();

enum class JobState {
  Queued,
  Starting,
  Running,
  Succeeded,
  Failed,
  Cancelled,
  Timeout,
  OomKilled,
  Lost,
};

std::string_view to_string(JobState state);
std::optional<JobState> job_state_from_string(std::string_view text);
bool is_terminal(JobState state);
// Whether the state machine allows `from` -> `to`. Jobs never go backwards and
// terminal states are final.
bool is_allowed_transition(JobState from, JobState to);

using EnvVar = std::pair<std::string, std::string>;

// What a job may use, from its flavor and the submit request.
struct Resources {
  double cpus = 1;
  std::int64_t memory = 0; // bytes; swap is not allowed on top
  std::int64_t shm = 0;    // bytes of /dev/shm
  int gpus = 0;
  std::int64_t time_limit = 0; // seconds of wall time from RUNNING
};

// A host directory bound into the job, resolved and checked at submit.
struct Mount {
  std::string source; // the host path the engine is given (a staging path once the job started)
  std::string target;
  bool read_only = true;
  std::string origin; // once staged: the user's directory mounted at `source`, as it really was
  // A writable throwaway copy of the image's own `target` (its home, its WORKDIR), owned by
  // the submitter: made at start (images/image_home.hpp), `source` until then says so.
  bool image_copy = false;
  // Pinned on a Slurm node when the job runs there (`source` is then under the node's
  // staging directory, daemon/mounts/node_plan.hpp):
  std::string root;     // a user's directory: the admin's root (`origin` must lie within it there too)
  std::string copy_tar; // an image copy: the tar it is filled from (in the shared state directory)
  std::int64_t copy_size = 0; // an image copy: the size of its tmpfs, in bytes
};

// What a job waits for of another (`submit --after [KIND:]JOB`; Slurm's afterok, afterany,
// afternotok): that it SUCCEEDED, that it ended in whatever state, that it ended otherwise.
enum class AfterKind { Ok, Any, NotOk };
std::string_view to_string(AfterKind kind); // "ok", "any", "notok"
std::optional<AfterKind> after_kind_from_string(std::string_view text);
// Whether a job that waits `kind` for one that ended `state` may run (nothing: not yet, it has not ended).
std::optional<bool> dependency_met(AfterKind kind, JobState state);

struct Dependency {
  JobId id = 0;
  AfterKind kind = AfterKind::Ok;
  bool operator==(const Dependency&) const = default;
};

// What a user asked for, after policy validated and resolved it.
struct JobSpec {
  std::string name;
  std::string image;    // catalogue reference "name:version"
  std::string image_id; // engine image id the job is pinned to
  std::vector<std::string> args;
  bool replace_entrypoint = false;
  std::vector<EnvVar> env;
  std::string flavor;
  Resources resources;
  std::vector<Mount> mounts;
  std::vector<std::uint32_t> groups; // submitter's supplementary groups, kept inside the job
  int priority = 0;                   // higher first among the owner's jobs; > 100 (admins) before others'
  std::vector<Dependency> after;      // start only when each of these ended as its kind asks
  std::string image_home;             // the image user's home: HOME, {image_home} in mount targets ("" : none)
  int retries = 0;                    // queued again this many times at most after LOST or an engine failure
  std::vector<std::string> notify;    // `submit --notify`: words of common/notify.hpp, checked ({}: none)
};

// What a job used, measured while it ran (daemon/backend/cgroup_usage.hpp): each figure
// only when it was measured. CPU time is user + system over all of the job's processes.
struct Usage {
  // Bytes: the most the job's memory cgroup held at once, the kernel's own high-water mark
  // (page cache it could have dropped included: it is what the limit counts).
  std::optional<std::int64_t> peak_memory;
  // Bytes: the most the job held that the kernel cannot drop (anonymous memory and
  // /dev/shm), as sampled: what it needed. details and its hints go by this one.
  std::optional<std::int64_t> peak_resident;
  std::optional<std::int64_t> cpu_ms;      // user + system
  std::optional<std::int64_t> cpu_user_ms;
  std::optional<std::int64_t> cpu_system_ms;
  std::string source; // how it was measured ("cgroup v1", "cgroup v2"), for details
  bool operator==(const Usage&) const = default;
};
// The peak a job needed: peak_resident if measured, else all it was charged (peak_memory).
std::optional<std::int64_t> needed_memory(const Usage& usage);

// A job as the daemon knows it.
struct Job {
  JobId id = 0;
  JobSpec spec;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;
  JobState state = JobState::Queued;
  std::optional<int> exit_code;
  std::string reason;
  std::vector<std::string> argv; // exact engine command line
  std::string container;
  // The backend's own id of the job and where it runs, once it has them: on Slurm the
  // Slurm job id and the node ("" locally, and until sbatch answered / the job started).
  std::string backend_id;
  std::string node;
  std::string instance; // id of the jobmand database that owns the job
  std::vector<std::string> gpu_devices; // allocated when the job starts, held until it ends
  std::optional<Usage> usage;           // recorded when it ends (nothing: not measured)
  bool deleted = false;                 // removed from its owner's list (cancelled if it was active)
  int attempt = 1;                      // 1, then 2 once retried (spec.retries) ...
  std::optional<TimePoint> not_before;  // a retried job waits in the queue until then
  std::optional<JobId> resubmit_of;     // `jobman resubmit`: the job this one repeats
  bool held = false;                    // QUEUED, and not to start until released (`submit --hold`, `jobman hold`)
  // An element of a job array (`submit --array`): the array's id (that of its first
  // element), this element's index, how many of its elements run at once at most (0: no
  // limit of its own) and how many it has.
  struct ArrayPart {
    JobId id = 0;
    int index = 0;
    int limit = 0;
    int count = 0;
    bool operator==(const ArrayPart&) const = default;
  };
  std::optional<ArrayPart> array;
  // When the admin's hook ran for its end (or was given up: dropped, not wanted by the
  // admin's notify.states); nothing while the job is active or its notification pending.
  std::optional<TimePoint> notified_at;
  TimePoint submitted_at = 0;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
};

// "jobman-<instance>-<id>": `instance` tells apart databases (and so daemons) sharing
// one engine, so job 1 of a reinstalled or second jobmand never meets another's container.
std::string container_name(std::string_view instance, JobId id);
// The job id in container name `name` of `instance`; nothing for any other name.
std::optional<JobId> job_of_container(std::string_view name, std::string_view instance);

} // namespace jobman
