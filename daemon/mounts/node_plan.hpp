#pragma once
// What a Slurm node pins for a job before its container starts (doc/slurm.md, "Mounts on
// the nodes"). jobmand checks a job's mounts as the user when it starts, but it cannot pin
// them for a node: a bind mount on jobmand's host is not seen through NFS. So it writes the
// plan, root-only, into its shared state directory (state_dir/slurm/<id>.stage), and the
// batch script on the node runs `jobmand --node-stage PLAN`: that opens each source again as
// the user, with every check jobmand made (inside its root, no link out of it, readable or
// writable by the user), bind-mounts what it opened under a node-local directory, and fills
// the image copies' tmpfs from their tars. The engine mounts only that directory's entries,
// as a local job's.

#include "common/errors.hpp"
#include "common/job.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobman::daemon::mounts {

// Where a node pins its jobs' mounts: /run/jobman/slurm/<container name>, one directory per job.
inline constexpr std::string_view k_node_staging_root = "/run/jobman/slurm";
std::string node_staging_dir(std::string_view container);
// Whether `name` may name a job's directory there: a container name ([A-Za-z0-9_.-], at
// most 128, no leading '.' or '-').
bool is_node_dir_name(std::string_view name);

struct NodeMount {
  std::size_t index = 0; // pinned at <dir>/<index>
  std::string root;      // the admin's root, for this user, it must lie within
  std::string path;      // what jobmand's check found (the real path)
  std::string target;
  bool read_only = true;
};

struct NodeHome {
  std::size_t index = 0; // a tmpfs at <dir>/home<index>
  std::string tar;       // its content ("" : it stays empty)
  std::int64_t size = 0; // bytes
};

struct NodePlan {
  std::string dir;
  std::string user;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> groups;
  std::vector<NodeMount> mounts;
  std::vector<NodeHome> homes;
};

// The plan for `job`, whose mounts the scheduler made for its node (sources under
// node_staging_dir(job.container)); nothing when none is. `tar_of(index, tar)` says where
// the node finds home `index`'s tar (a link jobmand keeps next to the plan).
std::optional<NodePlan> node_plan(const Job& job, const std::function<std::string(std::size_t, const std::string&)>& tar_of);

std::string plan_to_text(const NodePlan& plan);
// Parses and checks a plan: its directory is node_staging_dir(a container name), every path
// plain and absolute (no ',', line break, NUL or '..'), indexes below 64 and distinct,
// sizes positive. A plan is jobmand's own, but it is read as if it were not.
Result<NodePlan> parse_plan(std::string_view text);

// Reads a plan file: a regular file (not a link) owned by this process's user (root), not
// writable by group or others, at most 1 MiB.
Result<std::string> read_plan_file(const std::string& path);

} // namespace jobman::daemon::mounts
