#pragma once
// Which containers the kernel's OOM killer hit, from /dev/kmsg.
//
// Engines do not agree: docker reports State.OOMKilled, podman 4.3 with runc on cgroup v1
// does not, and the container's cgroup (with its oom_kill counter) is gone by the time the
// exit is seen. The kernel log line is the same everywhere (cgroup v1 and v2):
//   oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/libpod_parent/libpod-<id>,task_memcg=...
// and names the container's cgroup, which contains its full id (docker: /docker/<id> or
// docker-<id>.scope).

#include "common/file_descriptor.hpp"

#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace jobman::daemon::backend {

class KernelOomLog {
public:
  // Opens /dev/kmsg at its current end; without it (not root, no kmsg) it reports nothing.
  KernelOomLog();

  bool available() const { return m_kmsg.get() >= 0; }
  // Whether the kernel logged an OOM kill in a cgroup of container `full_id` (64 hex chars).
  bool oom_killed(std::string_view full_id);

private:
  void drain();
  FileDescriptor m_kmsg;
  std::deque<std::string> m_memcgs; // most recent OOM-killed cgroups
};

// The cgroup paths an "oom-kill:" kernel record names (oom_memcg, task_memcg); none for
// other records.
std::vector<std::string> oom_memcgs_in(std::string_view record);

} // namespace jobman::daemon::backend
