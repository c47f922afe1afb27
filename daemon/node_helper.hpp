#pragma once
// jobmand's two node-side modes, run as root by jobman's Slurm batch script on the node
// that runs a job (daemon/mounts/node_plan.hpp, doc/slurm.md):
//   jobmand --node-stage PLAN   opens the job's mounts again as its user, pins them under
//                               the plan's /run/jobman/slurm/<container>, fills its image
//                               copies, and prints that directory;
//   jobmand --node-unstage DIR  unmounts and removes such a directory;
//   jobmand --node-usage PID ID NAME
//                               samples the cgroup of container ID (its process PID, named
//                               NAME) every k_usage_sample_interval until it ends, each time
//                               replacing /run/jobman/usage/NAME with what it used so far
//                               (backend/cgroup_usage.hpp); then waits for the batch
//                               script's KILL (or dies with the script).
//   jobmand --node-exec ENV COMMAND...
//                               runs COMMAND (the engine's run) with the platform's
//                               variables (common/platform_env.hpp) from ENV, the root-only
//                               file jobmand wrote (NUL-separated NAME=VALUE words), added to
//                               its environment, and removes ENV: their values are never
//                               in an argv. It execs COMMAND: the same process.
// Each takes only what jobmand wrote (a root-owned plan; a directory under
// /run/jobman/slurm) and prints "Error: jobman on node N: ..." on stderr when it fails: the
// batch script's log line jobmand takes the job's reason from.

#include <string>
#include <vector>

namespace jobman::daemon {

int node_stage_main(const std::string& plan_path);
int node_unstage_main(const std::string& dir);
// Where --node-usage keeps the samples: node-local (the state directory may be NFS).
inline constexpr const char* k_node_usage_root = "/run/jobman/usage";
std::string node_usage_path(const std::string& container);
int node_exec_main(const std::string& env_path, const std::vector<std::string>& command);
int node_usage_main(const std::string& pid, const std::string& container_id, const std::string& container);

} // namespace jobman::daemon
