#pragma once
// A job's mounts, pinned: each source the submitter opened (policy::open_mounts) is
// bind-mounted from its descriptor (/proc/self/fd/N) onto a root-owned staging path,
// <state_dir>/mounts/<job id>/<n>, and the engine is given that path. Swapping the user's
// directory for a symlink after the check changes nothing that is mounted (issue 9, V2;
// Kubernetes' fix for subPath, CVE-2017-1002101). The staging mounts live in jobmand's
// mount namespace (the host's, which dockerd shares) until the job ends: unstage() then,
// and sweep() at start for jobs that ended while no jobmand ran.

#include "common/errors.hpp"
#include "common/job.hpp"
#include "daemon/policy/mount_policy.hpp"

#include <set>
#include <string>
#include <vector>

namespace jobman::daemon::mounts {

// <state_dir>/mounts/<id>.
std::string staging_dir(const std::string& state_dir, JobId id);

// Bind-mounts each of `opened` under staging_dir (read-only ones remounted read-only) and
// returns the mounts for the engine: `source` is the staging path, `origin` what it holds.
// On failure nothing stays mounted.
Result<std::vector<Mount>> stage(const std::string& state_dir, JobId id, std::vector<policy::OpenedMount> opened);

// stage() into `dir`, <dir>/<n> (`dir` is created root-only; its parent must exist): how a
// Slurm node pins a job's mounts in its own staging directory (node_plan.hpp).
Result<std::vector<Mount>> stage_in(const std::string& dir, std::vector<policy::OpenedMount> opened);

// The mounts stage_in(`dir`, `opened`) will make where the job runs (a Slurm node), without
// pinning anything here: <dir>/<n>, with the real source as `origin` and its root as `root`.
std::vector<Mount> node_mounts(const std::string& dir, const std::vector<policy::OpenedMount>& opened);

// Mounts a fresh tmpfs of `size` bytes at <staging_dir>/home<index>, owned by uid:gid,
// mode 0700, never set-uid or device files, and returns its path: the writable copy of
// an image's directory is then extracted into it (images::ImageHomes::extract). Its pages
// are charged to whoever writes them: jobmand's cgroup for the copy, the job for the rest.
Result<std::string> mount_home_tmpfs(const std::string& state_dir, JobId id, std::size_t index, std::uint32_t uid, std::uint32_t gid,
                                     std::int64_t size);

// mount_home_tmpfs at <dir>/home<index>.
Result<std::string> mount_home_tmpfs_in(const std::string& dir, std::size_t index, std::uint32_t uid, std::uint32_t gid, std::int64_t size);

// Unmounts and removes staging_dir(state_dir, `id`), if there is one. Errors are logged.
void unstage(const std::string& state_dir, JobId id);
// Unmounts and removes every entry of `dir` (never recursively: an entry still mounted or
// not empty stays), then `dir`. Errors are logged.
void unstage_dir(const std::string& dir);

// Unstages every job under <state_dir>/mounts that is not in `active`.
void sweep(const std::string& state_dir, const std::set<JobId>& active);

} // namespace jobman::daemon::mounts
