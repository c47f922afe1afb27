// Tests for daemon/backend/cgroup_usage.hpp: finding a container's cgroup from
// /proc/PID/cgroup (and refusing what is not its own), and reading its figures.

#include "daemon/backend/cgroup_usage.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <vector>
#include <unistd.h>

using namespace jobman;
using namespace jobman::daemon::backend;

namespace {
constexpr const char* k_id = "645499bc4263119487cb5c0da396eb2134a776997e2f35538407f77863eaa1ab";
const std::string k_other = std::string(64, 'b');

// As read on this machine (podman 4.3, runc, hybrid cgroup v1).
std::string podman_v1(const std::string& id) {
  const std::string p = "/libpod_parent/libpod-" + id;
  return "9:name=systemd:" + p + "\n8:pids:" + p + "\n4:memory:" + p + "\n2:cpuacct:" + p + "\n1:cpu:" + p + "\n0::" + p + "\n";
}

void write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}
} // namespace

TEST_CASE("container_cgroup finds a podman container's v1 memory and cpuacct directories", "[cgroup_usage]") {
  auto dirs = container_cgroup(podman_v1(k_id), k_id, "/sys/fs/cgroup");
  REQUIRE(dirs);
  CHECK(dirs->version == 1);
  CHECK(dirs->memory == std::string("/sys/fs/cgroup/memory/libpod_parent/libpod-") + k_id);
  CHECK(dirs->cpu == std::string("/sys/fs/cgroup/cpuacct/libpod_parent/libpod-") + k_id);
}

TEST_CASE("container_cgroup takes a joint cpu,cpuacct hierarchy as its directory name", "[cgroup_usage]") {
  const std::string p = std::string("/docker/") + k_id;
  auto dirs = container_cgroup("4:memory:" + p + "\n3:cpu,cpuacct:" + p + "\n", k_id);
  REQUIRE(dirs);
  CHECK(dirs->cpu == "/sys/fs/cgroup/cpu,cpuacct" + p);
}

TEST_CASE("container_cgroup reads a v2 system's one line, up to the container's own component", "[cgroup_usage]") {
  // podman with systemd: the processes sit in a child of the container's scope.
  const std::string scope = std::string("/machine.slice/libpod-") + k_id + ".scope";
  auto dirs = container_cgroup("0::" + scope + "/container\n", k_id, "/sys/fs/cgroup");
  REQUIRE(dirs);
  CHECK(dirs->version == 2);
  CHECK(dirs->memory == "/sys/fs/cgroup" + scope);
  CHECK(dirs->cpu == dirs->memory);
  // docker with systemd
  CHECK(container_cgroup(std::string("0::/system.slice/docker-") + k_id + ".scope\n", k_id));
}

TEST_CASE("container_cgroup refuses a process that is not in the container's cgroup", "[cgroup_usage]") {
  // The container ended and its pid is another process's now.
  CHECK_FALSE(container_cgroup(podman_v1(k_other), k_id));
  CHECK_FALSE(container_cgroup("0::/user.slice/user-1001.slice/session-3.scope\n", k_id));
  CHECK_FALSE(container_cgroup("", k_id));
  // Only one of memory and cpuacct is the container's: no figures rather than wrong ones.
  const std::string p = std::string("/libpod_parent/libpod-") + k_id;
  CHECK_FALSE(container_cgroup("4:memory:" + p + "\n2:cpuacct:/other\n", k_id));
}

TEST_CASE("container_cgroup refuses ids and lines that are not what they should be", "[cgroup_usage]") {
  const std::string good = podman_v1(k_id);
  for (const std::string& id : std::vector<std::string>{std::string(""), std::string("645499bc"), std::string(64, 'G'), std::string(64, 'A'),
                               std::string(k_id) + "0", std::string(k_id).substr(0, 63) + "/"})
    CHECK_FALSE(container_cgroup(good, id));
  const std::string p = std::string("/libpod_parent/libpod-") + k_id;
  for (const std::string& bad : std::vector<std::string>{
         "memory:" + p + "\n",                                                  // no hierarchy id
         "x:memory:" + p + "\n",                                                // not a number
         "4:memory\n",                                                          // no path
         "4:memory:libpod_parent/libpod-" + std::string(k_id) + "\n",           // relative
         "4:memory:/../../etc/" + std::string(k_id) + "\n2:cpuacct:" + p + "\n", // ..
         "4:memory:/a//" + std::string(k_id) + "\n2:cpuacct:" + p + "\n",       // empty component
         "4:memory:/./" + std::string(k_id) + "\n2:cpuacct:" + p + "\n",        // .
         "4:Memory/../x:" + p + "\n",                                           // a controller list with '/'
         "4:memory:" + p + "/\n",                                               // trailing '/'
       })
    CHECK_FALSE(container_cgroup(bad, k_id));
}

TEST_CASE("read_usage reads cgroup v1 figures", "[cgroup_usage]") {
  test::TempDir dir;
  const auto memory = dir.path() / "memory", cpu = dir.path() / "cpuacct";
  write(memory / "memory.max_usage_in_bytes", "41943040\n");
  write(cpu / "cpuacct.usage", "2500000000\n");
  const long hz = ::sysconf(_SC_CLK_TCK);
  write(cpu / "cpuacct.stat", "user " + std::to_string(2 * hz) + "\nsystem " + std::to_string(hz / 2) + "\n");
  auto usage = read_usage(CgroupDirs{1, memory.string(), cpu.string()}, std::nullopt);
  REQUIRE(usage);
  CHECK(*usage == Usage{41943040, std::nullopt, 2500, 2000, 500, "cgroup v1"});
  // With memory.stat: what the kernel could not drop (hierarchical counts first).
  write(memory / "memory.stat", "cache 30000000\nrss 1000\nshmem 2000\ntotal_cache 30000000\ntotal_rss 10000000\ntotal_shmem 1000000\n");
  CHECK(read_usage(CgroupDirs{1, memory.string(), cpu.string()}, std::nullopt)->peak_resident == 11000000);
  write(memory / "memory.stat", "cache 30000000\nrss 1000\nshmem 2000\n");
  CHECK(read_usage(CgroupDirs{1, memory.string(), cpu.string()}, std::nullopt)->peak_resident == 3000);
  // Several cgroup v1 clock ticks near 10^18 do not overflow.
  write(cpu / "cpuacct.stat", "user 999999999999999999\nsystem 0\n");
  CHECK(*read_usage(CgroupDirs{1, memory.string(), cpu.string()}, std::nullopt)->cpu_user_ms > 0);
}

TEST_CASE("read_usage reads cgroup v2 figures, and the highest memory.current without memory.peak", "[cgroup_usage]") {
  test::TempDir dir;
  const auto cg = dir.path() / "cg";
  write(cg / "cpu.stat", "usage_usec 1500000\nuser_usec 1200000\nsystem_usec 300000\nnr_periods 0\n");
  write(cg / "memory.peak", "1048576\n");
  const CgroupDirs dirs{2, cg.string(), cg.string()};
  auto usage = read_usage(dirs, std::nullopt);
  REQUIRE(usage);
  CHECK(*usage == Usage{1048576, std::nullopt, 1500, 1200, 300, "cgroup v2"});
  write(cg / "memory.stat", "anon 600000\nfile 400000\nshmem 100000\n");
  usage = read_usage(dirs, std::nullopt);
  CHECK(usage->peak_resident == 700000);
  // The resident peak is the highest sampled.
  write(cg / "memory.stat", "anon 1\nfile 400000\nshmem 1\n");
  CHECK(read_usage(dirs, usage)->peak_resident == 700000);
  // Before Linux 5.19: memory.current only; the peak is the highest sampled.
  std::filesystem::remove(cg / "memory.peak");
  write(cg / "memory.current", "4096\n");
  auto lower = read_usage(dirs, usage);
  REQUIRE(lower);
  CHECK(lower->peak_memory == 1048576);
}

TEST_CASE("read_usage says nothing once the cgroup is gone, or for files that are not numbers", "[cgroup_usage]") {
  test::TempDir dir;
  const auto memory = dir.path() / "memory", cpu = dir.path() / "cpuacct";
  const CgroupDirs dirs{1, memory.string(), cpu.string()};
  CHECK_FALSE(read_usage(dirs, std::nullopt)); // gone
  write(cpu / "cpuacct.usage", "1\n");
  write(cpu / "cpuacct.stat", "user 1\nsystem 1\n");
  for (const std::string bad : {"", "-1\n", "12 34\n", "0x10\n", "9999999999999999999\n", "1e9\n", " 1\n", "1\n\n"}) {
    write(memory / "memory.max_usage_in_bytes", bad);
    CHECK_FALSE(read_usage(dirs, std::nullopt));
  }
  write(memory / "memory.max_usage_in_bytes", "1\n");
  CHECK(read_usage(dirs, std::nullopt));
  for (const std::string bad : {"user\n", "user x\n", "user -1\nsystem 1\n"}) {
    write(cpu / "cpuacct.stat", bad);
    CHECK_FALSE(read_usage(dirs, std::nullopt));
  }
  // A file too large to be the kernel's.
  write(cpu / "cpuacct.stat", std::string(100 << 10, '1'));
  CHECK_FALSE(read_usage(dirs, std::nullopt));
  // A symlink planted where a file should be is not followed.
  write(cpu / "cpuacct.stat", "user 1\nsystem 1\n");
  write(dir.path() / "elsewhere", "5\n");
  std::filesystem::remove(memory / "memory.max_usage_in_bytes");
  std::filesystem::create_symlink(dir.path() / "elsewhere", memory / "memory.max_usage_in_bytes");
  CHECK_FALSE(read_usage(dirs, std::nullopt));
  CHECK_FALSE(read_usage(CgroupDirs{0, memory.string(), cpu.string()}, std::nullopt));
}

TEST_CASE("read_usage never lowers what an earlier sample saw", "[cgroup_usage]") {
  test::TempDir dir;
  const auto cg = dir.path() / "cg";
  write(cg / "cpu.stat", "usage_usec 1000\n");
  write(cg / "memory.peak", "100\n");
  Usage earlier;
  earlier.peak_memory = 500;
  earlier.cpu_ms = 7;
  auto usage = read_usage(CgroupDirs{2, cg.string(), cg.string()}, earlier);
  REQUIRE(usage);
  CHECK(usage->peak_memory == 500);
  CHECK(usage->cpu_ms == 7);
}

TEST_CASE("read_proc_cgroup reads a live process's cgroups, and nothing for a bad pid", "[cgroup_usage]") {
  CHECK(read_proc_cgroup(::getpid()));
  CHECK_FALSE(read_proc_cgroup(0));
  CHECK_FALSE(read_proc_cgroup(-1));
  CHECK_FALSE(read_proc_cgroup(::getpid(), "/nonexistent"));
}

TEST_CASE("usage_lines and read_usage_line agree, and read_usage_line takes nothing else", "[cgroup_usage]") {
  const Usage usage{41943040, 4000000, 2500, 2000, std::nullopt, "cgroup v1"};
  CHECK(usage_lines(usage) == "peak_memory=41943040\npeak_resident=4000000\ncpu_ms=2500\ncpu_user_ms=2000\nusage_source=cgroup v1\n");
  Usage back;
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
         {"peak_memory", "41943040"}, {"peak_resident", "4000000"}, {"cpu_ms", "2500"}, {"cpu_user_ms", "2000"}, {"usage_source", "cgroup v1"}})
    CHECK(read_usage_line(key, value, back));
  CHECK(back == usage);
  Usage untouched;
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{{"exit", "0"},
                                                                                   {"peak_memory", "-1"},
                                                                                   {"peak_memory", ""},
                                                                                   {"cpu_ms", "12345678901234567890"},
                                                                                   {"usage_source", "cgroup v3"},
                                                                                   {"usage_source", "cgroup v1\n"}})
    CHECK_FALSE(read_usage_line(key, value, untouched));
  CHECK(untouched == Usage{});
}
