// Tests for daemon/backend/kernel_oom_log.hpp: which cgroups a /dev/kmsg record says the
// OOM killer hit.

#include "daemon/backend/kernel_oom_log.hpp"

#include <catch2/catch.hpp>

using jobman::daemon::backend::oom_memcgs_in;
using Memcgs = std::vector<std::string>;

namespace {
constexpr const char* k_podman_id = "df6408705c2e60e69b09aac4134fa0e1ccbefba1ddc93788667c0cdba4cca629";
constexpr const char* k_docker_id = "3f4e8a1b9c2d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

// A record as read from this machine's /dev/kmsg (podman 4.3, runc, cgroup v1).
const std::string k_podman_record =
  "6,3071,2080402626,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=libpod-df6408705c2e60e69b09aac4134fa0e1ccbefba1ddc93788667c0cdba4cca629,"
  "mems_allowed=0,oom_memcg=/libpod_parent/libpod-df6408705c2e60e69b09aac4134fa0e1ccbefba1ddc93788667c0cdba4cca629,"
  "task_memcg=/libpod_parent/libpod-df6408705c2e60e69b09aac4134fa0e1ccbefba1ddc93788667c0cdba4cca629,task=sh,pid=6287,uid=0";
} // namespace

TEST_CASE("oom_memcgs_in reads both cgroups of a podman oom-kill record", "[kernel_oom_log]") {
  const std::string cgroup = std::string("/libpod_parent/libpod-") + k_podman_id;
  CHECK(oom_memcgs_in(k_podman_record) == Memcgs{cgroup, cgroup});
  // Records read from /dev/kmsg end with a newline.
  CHECK(oom_memcgs_in(k_podman_record + "\n") == Memcgs{cgroup, cgroup});
}

TEST_CASE("oom_memcgs_in ignores the other OOM lines and other records", "[kernel_oom_log]") {
  CHECK(oom_memcgs_in("3,3072,2080402640,-;Memory cgroup out of memory: Killed process 6287 (sh) total-vm:1592kB, anon-rss:0kB, "
                      "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:24kB oom_score_adj:0\n")
          .empty());
  CHECK(oom_memcgs_in("4,3070,2080402600,-;sh invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n").empty());
  CHECK(oom_memcgs_in("6,3073,2080402700,-;memory: usage 65536kB, limit 65536kB, failcnt 12\n").empty());
  CHECK(oom_memcgs_in("").empty());
  CHECK(oom_memcgs_in("6,1,2,-;").empty());
  // "oom-kill:" must start the message, not appear inside it.
  CHECK(oom_memcgs_in("6,3074,2080402800,-;audit: note oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/x,task_memcg=/x\n").empty());
}

TEST_CASE("oom_memcgs_in reads docker's cgroup paths", "[kernel_oom_log]") {
  const std::string v1 = std::string("/docker/") + k_docker_id;
  CHECK(oom_memcgs_in(std::string("6,812,99120531,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=") + k_docker_id +
                      ",mems_allowed=0,oom_memcg=" + v1 + ",task_memcg=" + v1 + ",task=python3,pid=4242,uid=1001\n") == Memcgs{v1, v1});

  const std::string v2 = std::string("/system.slice/docker-") + k_docker_id + ".scope";
  CHECK(oom_memcgs_in(std::string("6,813,99120600,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=docker-") + k_docker_id +
                      ".scope,mems_allowed=0,oom_memcg=" + v2 + ",task_memcg=" + v2 + ",task=stress,pid=5151,uid=1001\n") ==
        Memcgs{v2, v2});
}

TEST_CASE("oom_memcgs_in keeps oom_memcg and task_memcg apart when they differ", "[kernel_oom_log]") {
  const std::string scope = std::string("/system.slice/docker-") + k_docker_id + ".scope";
  CHECK(oom_memcgs_in("6,900,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=" + scope +
                      ",task_memcg=" + scope + "/init,task=sleep,pid=10,uid=0") == Memcgs{scope, scope + "/init"});
}

TEST_CASE("oom_memcgs_in stops a value at a continuation line", "[kernel_oom_log]") {
  CHECK(oom_memcgs_in("6,901,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/a,task_memcg=/b\n SUBSYSTEM=memory\n DEVICE=x\n") ==
        Memcgs{"/a", "/b"});
}

TEST_CASE("a global OOM kill names only the task's cgroup", "[kernel_oom_log]") {
  CHECK(oom_memcgs_in("6,902,1,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
                      "task_memcg=/user.slice/user-1000.slice/session-3.scope,task=chrome,pid=77,uid=1000\n") ==
        Memcgs{"/user.slice/user-1000.slice/session-3.scope"});
}

TEST_CASE("oom_memcgs_in takes a bare message without the kmsg prefix", "[kernel_oom_log]") {
  CHECK(oom_memcgs_in("oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/docker/abc,task_memcg=/docker/abc,task=x,pid=1,uid=0") ==
        Memcgs{"/docker/abc", "/docker/abc"});
}
