#include "daemon/node_helper.hpp"

#include "common/atomic_file.hpp"
#include "common/file_descriptor.hpp"
#include "common/names.hpp"
#include "daemon/backend/cgroup_usage.hpp"
#include "daemon/engine/command_runner.hpp"
#include "daemon/images/image_home.hpp"
#include "daemon/mounts/node_plan.hpp"
#include "daemon/mounts/staging.hpp"
#include "daemon/policy/mount_policy.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <iostream>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace jobman::daemon {

namespace {
// How long filling one image copy may take on the node (a tar of at most images' copy limit).
constexpr std::chrono::seconds k_extract_timeout{300};

std::string node_name() {
  if (const char* slurm = std::getenv("SLURMD_NODENAME"); slurm && *slurm) return slurm;
  char host[256] = {};
  return ::gethostname(host, sizeof host - 1) == 0 ? host : "?";
}

int fail(const std::string& message) {
  // "Error: " first, as the engines print it: jobmand takes the job's reason from that line.
  std::cerr << "Error: jobman on node " << node_name() << ": " << message << "\n";
  return 1;
}

// `path` as a root-owned directory, not a link, with `mode` (created if missing).
bool root_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return false;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0) {
    errno = ENOTDIR;
    return false;
  }
  return ::chmod(path.c_str(), mode) == 0;
}

// Whether `dir` is one of the node's job directories: /run/jobman/slurm/<container name>.
bool is_node_dir(const std::string& dir) {
  const std::string prefix = std::string(mounts::k_node_staging_root) + "/";
  return dir.starts_with(prefix) && mounts::is_node_dir_name(std::string_view(dir).substr(prefix.size()));
}

boost::asio::awaitable<Result<Unit>> stage(mounts::NodePlan plan, engine::CommandRunner& runner) {
  std::vector<policy::PinnedSource> sources;
  for (const auto& m : plan.mounts) sources.push_back({m.root, m.path, m.target, m.read_only});
  policy::Submitter submitter{plan.uid, plan.gid, plan.user, "", plan.groups};
  auto opened = co_await policy::reopen_mounts_async(std::move(sources), std::move(submitter));
  if (!opened) co_return ErrorInfo{opened.error().code, "mount check on the node: " + opened.error().message};
  auto staged = mounts::stage_in(plan.dir, std::move(*opened));
  if (!staged) co_return ErrorInfo{staged.error().code, "mounts on the node: " + staged.error().message};
  for (const auto& home : plan.homes) {
    auto path = mounts::mount_home_tmpfs_in(plan.dir, home.index, plan.uid, plan.gid, home.size);
    if (!path) co_return ErrorInfo{path.error().code, "writable home on the node: " + path.error().message};
    if (home.tar.empty()) continue;
    std::string tar = home.tar, dir = *path; // named, then moved in (GCC 12)
    auto extracted = co_await images::extract_copy(runner, k_extract_timeout, std::move(tar), std::move(dir), plan.uid, plan.gid);
    if (!extracted) co_return ErrorInfo{extracted.error().code, "writable home on the node: " + extracted.error().message};
  }
  co_return Unit{};
}
} // namespace

int node_stage_main(const std::string& plan_path) {
  if (::geteuid() != 0) return fail("--node-stage runs as root (from jobman's batch script)");
  // Slurm's TERM (scancel, a time limit) reaches the whole job: finish (or undo) the pinning
  // rather than die halfway with mounts left; the batch script then unpins and ends.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGINT);
  ::sigprocmask(SIG_BLOCK, &term, nullptr);
  auto text = mounts::read_plan_file(plan_path);
  if (!text) return fail(text.error().message);
  auto plan = mounts::parse_plan(*text);
  if (!plan) return fail(fmt::format("{}: {}", plan_path, plan.error().message));
  const std::string root(mounts::k_node_staging_root);
  if (!root_dir(root.substr(0, root.rfind('/')), 0755) || !root_dir(root, 0700))
    return fail(fmt::format("cannot create {}: {}", root, std::strerror(errno)));
  mounts::unstage_dir(plan->dir); // an earlier attempt's, if it was not cleaned up
  if (!root_dir(plan->dir, 0700)) return fail(fmt::format("cannot create {}: {}", plan->dir, std::strerror(errno)));
  // Which Slurm job it is: the Epilog unstages it if the batch script cannot (a SIGKILL).
  if (const char* job = std::getenv("SLURM_JOB_ID"); job && *job && std::strspn(job, "0123456789") == std::strlen(job) && std::strlen(job) <= 18) {
    const std::string marker = plan->dir + "/slurm_job";
    FileDescriptor fd(::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    const std::string line = std::string(job) + "\n";
    if (fd.get() < 0 || ::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      mounts::unstage_dir(plan->dir);
      return fail(fmt::format("cannot write {}: {}", marker, std::strerror(errno)));
    }
  }
  boost::asio::io_context io;
  auto runner = engine::make_process_runner(io.get_executor(), "/");
  std::optional<Result<Unit>> done;
  mounts::NodePlan copy = *plan;
  boost::asio::co_spawn(
    io,
    [&]() -> boost::asio::awaitable<void> {
      try {
        auto result = co_await stage(std::move(copy), *runner);
        done = std::move(result);
      } catch (const std::exception& error) {
        done = ErrorInfo{ErrorCode::Internal, error.what()};
      }
    },
    boost::asio::detached);
  // Until staging is done, not until every task is: a check child stuck in a hung file
  // system is reaped by a task that may never end.
  while (!done && io.run_one()) {
  }
  if (!done || !*done) {
    mounts::unstage_dir(plan->dir);
    return fail(done ? done->error().message : "staging did not finish");
  }
  std::cout << plan->dir << "\n";
  return 0;
}

int node_unstage_main(const std::string& dir) {
  if (::geteuid() != 0) return fail("--node-unstage runs as root (from jobman's batch script)");
  if (!is_node_dir(dir)) return fail(fmt::format("'{}' is not a directory under {}", dir, mounts::k_node_staging_root));
  mounts::unstage_dir(dir);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) == 0) return fail(fmt::format("{} is still there (something in it is busy)", dir));
  return 0;
}

int node_exec_main(const std::string& env_path, const std::vector<std::string>& command) {
  if (command.empty()) return fail("--node-exec: no command to run");
  FileDescriptor fd(::open(env_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0)
    return fail(fmt::format("cannot read the job's environment {}: {}", env_path, std::strerror(errno)));
  // Only what jobmand wrote: root's own, for root only, and small.
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0 || st.st_size > (1 << 20))
    return fail(fmt::format("the job's environment {} is not a root-only file of jobmand's", env_path));
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(fmt::format("cannot read the job's environment {}: {}", env_path, n < 0 ? std::strerror(errno) : "short read"));
    got += static_cast<std::size_t>(n);
  }
  ::unlink(env_path.c_str()); // read: its values are in this process only now (jobmand removes it too)
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    const auto eq = word.find('=');
    const std::string name = word.substr(0, eq);
    if (eq == std::string::npos || !is_valid_env_name(name)) return fail(fmt::format("the job's environment {} is malformed", env_path));
    if (::setenv(name.c_str(), word.c_str() + eq + 1, 1) != 0) return fail(fmt::format("cannot set {}: {}", name, std::strerror(errno)));
    start = end + 1;
  }
  std::vector<char*> argv;
  for (const auto& word : command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  const int error = errno;
  fail(fmt::format("cannot run {}: {}", command.front(), std::strerror(error)));
  return 127;
}

std::string node_usage_path(const std::string& container) { return std::string(k_node_usage_root) + "/" + container; }

int node_usage_main(const std::string& pid_text, const std::string& container_id, const std::string& container) {
  if (pid_text.empty() || pid_text.size() > 9 || pid_text.find_first_not_of("0123456789") != std::string::npos)
    return fail(fmt::format("--node-usage: '{}' is not a process id", pid_text));
  if (!mounts::is_node_dir_name(container)) return fail(fmt::format("--node-usage: '{}' is not a jobman container name", container));
  if (::geteuid() != 0) return fail("--node-usage runs as root (from jobman's batch script)");
  // Ends with the batch script, whatever kills it; until then only its KILL ends this (the
  // script KILLs a pid it knows to be this process, never one reused since).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) return 0;
  const std::string root(k_node_usage_root);
  if (!root_dir(root.substr(0, root.rfind('/')), 0755) || !root_dir(root, 0700))
    return fail(fmt::format("cannot create {}: {}", root, std::strerror(errno)));
  const std::string out = node_usage_path(container);
  const int pid = std::stoi(pid_text);
  auto cgroups = backend::read_proc_cgroup(pid);
  // The container's id in its cgroup's path, or nothing is measured (it ended already).
  auto dirs = cgroups ? backend::container_cgroup(*cgroups, container_id) : std::nullopt;
  std::optional<Usage> usage;
  while (dirs) {
    auto sample = backend::read_usage(*dirs, usage);
    if (!sample) break; // the cgroup is gone: the container ended; `out` has the last sample
    usage = sample;
    // Replaced whole: the script's KILL leaves the last sample, never half of one.
    auto written = write_file(out, backend::usage_lines(*usage), 0600);
    if (!written) return fail(written.error().message);
    std::this_thread::sleep_for(backend::k_usage_sample_interval);
  }
  for (;;) ::pause();
}

} // namespace jobman::daemon
