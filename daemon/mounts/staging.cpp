#include "daemon/mounts/staging.hpp"

#include "daemon/log.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace jobman::daemon::mounts {

namespace {
std::string mounts_root(const std::string& state_dir) { return state_dir + "/mounts"; }

// Creates `path` as a root-only directory; an existing one must be a real directory.
bool make_private_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return false;
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 && ::chmod(path.c_str(), 0700) == 0;
}

// Entry names of directory `path` (not . and ..).
std::vector<std::string> entries(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return names;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(dir);
  return names;
}

// Detaches whatever is mounted on `path` (once per stacked mount), then removes it.
void unmount_and_remove(const std::string& path) {
  for (int i = 0; i < 8 && ::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0; ++i) {
  }
  if (::rmdir(path.c_str()) != 0 && errno == ENOTDIR) ::unlink(path.c_str());
}
} // namespace

std::string staging_dir(const std::string& state_dir, JobId id) { return fmt::format("{}/{}", mounts_root(state_dir), id); }

Result<std::vector<Mount>> stage(const std::string& state_dir, JobId id, std::vector<policy::OpenedMount> opened) {
  if (!opened.empty() && !make_private_dir(mounts_root(state_dir)))
    return ErrorInfo{ErrorCode::Internal, fmt::format("cannot create the staging directory {}: {}", mounts_root(state_dir), std::strerror(errno))};
  return stage_in(staging_dir(state_dir, id), std::move(opened));
}

Result<std::vector<Mount>> stage_in(const std::string& dir, std::vector<policy::OpenedMount> opened) {
  if (!opened.empty() && !make_private_dir(dir))
    return ErrorInfo{ErrorCode::Internal, fmt::format("cannot create the staging directory {}: {}", dir, std::strerror(errno))};
  std::vector<Mount> staged;
  for (std::size_t i = 0; i < opened.size(); ++i) {
    auto& m = opened[i];
    const std::string path = fmt::format("{}/{}", dir, i);
    auto fail = [&](const char* what) {
      ErrorInfo error{ErrorCode::Internal, fmt::format("cannot {} {} for {}: {}", what, path, m.mount.source, std::strerror(errno))};
      unstage_dir(dir);
      return error;
    };
    unmount_and_remove(path); // left over from an earlier start of the same job
    if (m.is_directory) {
      if (::mkdir(path.c_str(), 0700) != 0) return fail("create");
    } else {
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd < 0) return fail("create");
      ::close(fd);
    }
    const std::string from = fmt::format("/proc/self/fd/{}", m.fd.get());
    if (::mount(from.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return fail("bind-mount");
    // Read-only all the way down (a dataset may hold other mounts), never set-uid or device
    // files, and private: nothing mounted under the user's directory later shows up.
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (m.mount.read_only ? MOUNT_ATTR_RDONLY : 0);
    attr.propagation = MS_PRIVATE;
    if (::mount_setattr(AT_FDCWD, path.c_str(), AT_RECURSIVE | AT_SYMLINK_NOFOLLOW, &attr, sizeof attr) != 0) return fail("restrict");
    Mount engine_mount = m.mount;
    engine_mount.origin = m.mount.source;
    engine_mount.source = path;
    staged.push_back(std::move(engine_mount));
  }
  return staged;
}

std::vector<Mount> node_mounts(const std::string& dir, const std::vector<policy::OpenedMount>& opened) {
  std::vector<Mount> planned;
  for (std::size_t i = 0; i < opened.size(); ++i) {
    Mount m = opened[i].mount;
    m.origin = m.source;
    m.root = opened[i].root;
    m.source = fmt::format("{}/{}", dir, i);
    planned.push_back(std::move(m));
  }
  return planned;
}

Result<std::string> mount_home_tmpfs(const std::string& state_dir, JobId id, std::size_t index, std::uint32_t uid, std::uint32_t gid,
                                     std::int64_t size) {
  if (!make_private_dir(mounts_root(state_dir)))
    return ErrorInfo{ErrorCode::Internal, fmt::format("cannot create the staging directory {}: {}", mounts_root(state_dir), std::strerror(errno))};
  return mount_home_tmpfs_in(staging_dir(state_dir, id), index, uid, gid, size);
}

Result<std::string> mount_home_tmpfs_in(const std::string& dir, std::size_t index, std::uint32_t uid, std::uint32_t gid, std::int64_t size) {
  const std::string path = fmt::format("{}/home{}", dir, index);
  auto fail = [&](const char* what) {
    ErrorInfo error{ErrorCode::Internal, fmt::format("cannot {} {}: {}", what, path, std::strerror(errno))};
    unmount_and_remove(path);
    return error;
  };
  if (!make_private_dir(dir)) return fail("create the staging directory for");
  unmount_and_remove(path); // left over from an earlier start of the same job
  if (::mkdir(path.c_str(), 0700) != 0) return fail("create");
  const std::string options = fmt::format("size={},mode=0700,uid={},gid={}", size, uid, gid);
  if (::mount("jobman-home", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) return fail("mount a tmpfs on");
  if (::mount(nullptr, path.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) return fail("make private");
  return path;
}

void unstage(const std::string& state_dir, JobId id) { unstage_dir(staging_dir(state_dir, id)); }

void unstage_dir(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
  // A node's marker (node_helper.cpp) last, once all else is gone: the Epilog tries again.
  for (const auto& name : entries(dir))
    if (name != "slurm_job") unmount_and_remove(dir + "/" + name);
  if (entries(dir) == std::vector<std::string>{"slurm_job"}) ::unlink((dir + "/slurm_job").c_str());
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) log_warn("cannot remove the staging directory {}: {}", dir, std::strerror(errno));
}

void sweep(const std::string& state_dir, const std::set<JobId>& active) {
  for (const auto& name : entries(mounts_root(state_dir))) {
    JobId id = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
    if (ec != std::errc{} || end != name.data() + name.size()) continue;
    if (active.contains(id)) continue;
    log_info("job {}: removing the mounts it was started with (it has ended)", id);
    unstage(state_dir, id);
  }
}

} // namespace jobman::daemon::mounts
