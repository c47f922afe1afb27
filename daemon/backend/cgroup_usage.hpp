#pragma once
// What a running container uses, read from its cgroup: peak memory and CPU time. The
// engines remove a container's cgroup as soon as it ends, so the figures are sampled while
// it runs (LocalBackend every k_usage_sample_interval; on a Slurm node `jobmand
// --node-usage`, node_helper.hpp) and the last sample is what the job used.
//   cgroup v1: memory.max_usage_in_bytes (the kernel's own high-water mark), memory.stat
//              (total_rss + total_shmem: what it cannot drop), cpuacct.usage (ns) and
//              cpuacct.stat (user and system, in clock ticks);
//   cgroup v2: memory.peak (Linux 5.19; before that, the highest memory.current sampled),
//              memory.stat (anon + shmem) and cpu.stat (usage_usec, user_usec, system_usec).
// What the job did after the last sample (up to a second before it ended) is not counted;
// the high-water mark is the kernel's, so exact up to the last sample; the resident peak
// is the highest sampled.

#include "common/job.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace jobman::daemon::backend {

constexpr std::chrono::milliseconds k_usage_sample_interval{1000};

// Where a container's figures are: its memory and CPU accounting directories.
struct CgroupDirs {
  int version = 0;    // 1 or 2
  std::string memory; // v1: the memory controller's directory; v2: the cgroup's
  std::string cpu;    // v1: the cpuacct controller's directory; v2: the cgroup's
  bool operator==(const CgroupDirs&) const = default;
};

// The cgroup of the container whose full id is `container_id` (64 hex digits), from the
// text of /proc/PID/cgroup of its process, under `cgroup_root`: the directory of the
// path's component that names the container (its processes may sit in a child of it).
// Nothing when the process is in no cgroup of that container (it ended, and its pid is
// someone else's now), the id is not one, or a line is not what the kernel writes.
std::optional<CgroupDirs> container_cgroup(std::string_view proc_cgroup, std::string_view container_id,
                                           const std::string& cgroup_root = "/sys/fs/cgroup");

// /proc/`pid`/cgroup under `proc_root`, nothing if there is no such process.
std::optional<std::string> read_proc_cgroup(int pid, const std::string& proc_root = "/proc");

// The figures in `dirs` now, merged with the `previous` sample (the peak never goes down).
// Nothing when the cgroup is gone (the container ended) or its files are not numbers.
std::optional<Usage> read_usage(const CgroupDirs& dirs, const std::optional<Usage>& previous);

// `usage` as the key=value lines a Slurm node reports it in (jobmand --node-usage writes
// them, the batch script adds them to its result): peak_memory, peak_resident, cpu_ms,
// cpu_user_ms, cpu_system_ms (those measured) and usage_source.
std::string usage_lines(const Usage& usage);
// Takes one such line's `key` and `value` into `usage`; false for any other key, or a value
// that is not one usage_lines writes.
bool read_usage_line(std::string_view key, std::string_view value, Usage& usage);

} // namespace jobman::daemon::backend
