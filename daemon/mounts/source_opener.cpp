#include "daemon/mounts/source_opener.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace jobman::daemon::mounts {

namespace {

// One answer per source, child to parent, with the descriptor as SCM_RIGHTS when opened.
struct Answer {
  std::int32_t step;
  std::int32_t error;
  std::int32_t is_directory;
};

// In the child: only async-signal-safe calls from here on.
// With the source's and its root's descriptors as SCM_RIGHTS when opened.
void send_answer(int sock, OpenStep step, int error, int fd, int root, bool is_directory) {
  Answer answer{static_cast<std::int32_t>(step), error, is_directory ? 1 : 0};
  iovec iov{&answer, sizeof answer};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  if (fd >= 0) {
    const int fds[2] = {fd, root};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  }
  while (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

int open_no_magic(const char* path, std::uint64_t extra_flags) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC | extra_flags;
  // Symlinks are followed (absolute ones too: "ln -s /home/alice/big/data ~/datasets"),
  // but never a /proc magic link (/proc/self/fd/N would hand over whatever it names).
  how.resolve = RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how));
}

[[noreturn]] void child(int sock, const std::vector<SourceRequest>& sources, const Opener& who, const gid_t* groups, std::size_t n_groups,
                        bool switch_identity) {
  // Nothing of the daemon's stays open here (the database, other users' logs, sockets):
  // the socket to the parent becomes fd 3 and everything above it is closed.
  if (::dup2(sock, 3) < 0) ::_exit(3);
  sock = 3;
  if (::syscall(SYS_close_range, 4U, ~0U, 0U) != 0) ::_exit(3); // never run as the user with the daemon's files
  if (switch_identity) {
    // Groups and gid before uid: after setuid there is no way back.
    if (::setgroups(n_groups, groups) != 0 || ::setgid(who.gid) != 0 || ::setuid(who.uid) != 0) ::_exit(2);
  }
  for (const auto& source : sources) {
    const int root = open_no_magic(source.root.c_str(), O_DIRECTORY);
    if (root < 0) {
      send_answer(sock, OpenStep::Root, errno, -1, -1, false);
      continue;
    }
    const int fd = open_no_magic(source.path.c_str(), 0);
    if (fd < 0) {
      send_answer(sock, OpenStep::Path, errno, -1, -1, false);
      ::close(root);
      continue;
    }
    struct stat st {};
    const bool dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    const int mode = (dir ? R_OK | X_OK : R_OK) | (source.write ? W_OK : 0);
    // faccessat2 on the descriptor itself: the permission of what was opened, as this user.
    if (::syscall(SYS_faccessat2, fd, "", mode, AT_EMPTY_PATH) != 0) send_answer(sock, OpenStep::Access, errno, -1, -1, dir);
    else send_answer(sock, OpenStep::Done, 0, fd, root, dir);
    ::close(fd);
    ::close(root);
  }
  ::_exit(0);
}

// Receives one answer; false on EOF, error or timeout (`deadline`).
bool receive_answer(int sock, OpenedSource& out, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{sock, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    break;
  }
  Answer answer{};
  iovec iov{&answer, sizeof answer};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof answer)) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(2 * sizeof(int))) {
      int fds[2] = {-1, -1};
      std::memcpy(fds, CMSG_DATA(c), sizeof fds);
      out.fd.reset(fds[0]);
      out.root.reset(fds[1]);
    }
  }
  out.step = static_cast<OpenStep>(answer.step);
  out.error = answer.error;
  out.is_directory = answer.is_directory != 0;
  if (out.step == OpenStep::Done && (out.fd.get() < 0 || out.root.get() < 0)) out = OpenedSource{OpenStep::Access, EBADF, {}, {}, false};
  return true;
}

// Children that did not die when killed (stuck in a user's FUSE request), reaped later.
std::vector<pid_t>& unreaped() {
  static std::vector<pid_t> pids;
  return pids;
}

void reap_earlier() {
  auto& pids = unreaped();
  std::erase_if(pids, [](pid_t p) {
    int status = 0;
    return ::waitpid(p, &status, WNOHANG) != 0;
  });
}

} // namespace

Result<std::vector<OpenedSource>> open_sources(const std::vector<SourceRequest>& sources, const Opener& who) {
  std::vector<OpenedSource> opened(sources.size());
  if (sources.empty()) return opened;
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return ErrorInfo{ErrorCode::Internal, fmt::format("cannot check mounts: socketpair: {}", std::strerror(errno))};
  FileDescriptor parent_end(pair[0]), child_end(pair[1]);
  std::vector<gid_t> groups(who.groups.begin(), who.groups.end());
  const bool switch_identity = who.uid != ::geteuid() || who.gid != ::getegid();
  pid_t pid = ::fork();
  if (pid < 0) return ErrorInfo{ErrorCode::Internal, fmt::format("cannot check mounts: fork: {}", std::strerror(errno))};
  if (pid == 0) child(child_end.get(), sources, who, groups.data(), groups.size(), switch_identity);
  child_end.reset();
  const auto deadline = std::chrono::steady_clock::now() + k_open_timeout;
  std::size_t answered = 0;
  while (answered < sources.size() && receive_answer(parent_end.get(), opened[answered], deadline)) ++answered;
  // Always killed, never waited for: the child runs as the user, who may stop it
  // (SIGSTOP) or hang it in their own FUSE file system, where even SIGKILL waits for the
  // answer. One that does not die at once is reaped by a later call.
  ::kill(pid, SIGKILL);
  int status = 0;
  pid_t reaped = 0;
  for (int i = 0; i < 20 && (reaped = ::waitpid(pid, &status, WNOHANG)) == 0; ++i) ::usleep(250); // at most 5 ms
  if (reaped == 0) unreaped().push_back(pid);
  reap_earlier();
  if (answered < sources.size() && reaped == pid && WIFEXITED(status) && WEXITSTATUS(status) == 2)
    return ErrorInfo{ErrorCode::Internal, fmt::format("cannot check mounts as uid {}: setuid failed", who.uid)};
  for (std::size_t i = answered; i < sources.size(); ++i) opened[i] = OpenedSource{OpenStep::Path, ETIMEDOUT, {}, {}, false};
  return opened;
}

std::string path_of(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char buffer[PATH_MAX];
  ssize_t n = ::readlink(link, buffer, sizeof buffer - 1);
  if (n <= 0) return "";
  return std::string(buffer, static_cast<std::size_t>(n));
}

} // namespace jobman::daemon::mounts
