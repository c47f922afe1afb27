#include "daemon/mounts/source_opener.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <linux/openat2.h>
#include <map>
#include <optional>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace jobman::daemon::mounts {

namespace asio = boost::asio;

namespace {

// One answer per source, child to parent, with the descriptor as SCM_RIGHTS when opened.
struct Answer {
  std::int32_t step;
  std::int32_t error;
  std::int32_t is_directory;
  char root_path[PATH_MAX]; // the root's realpath, when opened
};

// In the child (a fork of the single-threaded daemon: realpath's malloc is safe there).
// With the source's and its root's descriptors as SCM_RIGHTS when opened.
void send_answer(int sock, OpenStep step, int error, int fd, int root, bool is_directory, const char* root_path = "") {
  Answer answer{static_cast<std::int32_t>(step), error, is_directory ? 1 : 0, {}};
  std::strncpy(answer.root_path, root_path, sizeof answer.root_path - 1);
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

// Whether this process has a tracer (TracerPid in /proc/self/status is not 0); true when
// that cannot be read.
bool traced() {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  char buffer[4096];
  const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (n <= 0) return true;
  buffer[n] = '\0';
  const char* line = std::strstr(buffer, "\nTracerPid:");
  if (!line) return true;
  line += std::strlen("\nTracerPid:");
  while (*line == ' ' || *line == '\t') ++line;
  return !(line[0] == '0' && line[1] == '\n');
}

[[noreturn]] void child(int sock, const std::vector<SourceRequest>& sources, const Opener& who, const gid_t* groups, std::size_t n_groups,
                        bool switch_identity) {
  // Nothing of the daemon's stays open here (the database, other users' logs, sockets):
  // the socket to the parent becomes fd 3 and everything above it is closed.
  if (::dup2(sock, 3) < 0) ::_exit(3);
  sock = 3;
  // Nor its stdin/stdout/stderr (on a Slurm node, the batch script's pipe: a child stuck in
  // a hung file system would hold it open).
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(null, 2) < 0) ::_exit(3);
  if (::syscall(SYS_close_range, 4U, ~0U, 0U) != 0) ::_exit(3); // never run as the user with the daemon's files
  if (switch_identity) {
    // Groups and gid before uid: after setuid there is no way back. Then not dumpable, so
    // the user cannot ptrace this process or read its memory whatever fs.suid_dumpable says:
    // the daemon trusts its answers.
    if (::setgroups(n_groups, groups) != 0 || ::setgid(who.gid) != 0 || ::setuid(who.uid) != 0 || ::prctl(PR_SET_DUMPABLE, 0) != 0) {
      send_answer(sock, OpenStep::Identity, errno, -1, -1, false);
      ::_exit(2);
    }
    // With fs.suid_dumpable=1 the user could attach between setuid and the prctl; none can
    // attach after it, so one tracer found now is refused for good.
    if (traced()) {
      send_answer(sock, OpenStep::Identity, EPERM, -1, -1, false);
      ::_exit(2);
    }
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
    if (::syscall(SYS_faccessat2, fd, "", mode, AT_EMPTY_PATH) != 0) {
      send_answer(sock, OpenStep::Access, errno, -1, -1, dir);
    } else {
      // Where the root is by its path now (the admin's symlinks followed), for the daemon
      // to compare with where the opened root really is. Resolved here, as the user, and not
      // by the daemon: the user's own FUSE mount on their root could hang it.
      char root_path[PATH_MAX] = {};
      if (!::realpath(source.root.c_str(), root_path)) root_path[0] = '\0';
      send_answer(sock, OpenStep::Done, 0, fd, root, dir, root_path);
    }
    ::close(fd);
    ::close(root);
  }
  ::_exit(0);
}

// One answer read without waiting: Answered, Empty (none yet) or Ended (EOF or error).
enum class Received { Answered, Empty, Ended };

Received receive_answer(int sock, OpenedSource& out) {
  Answer answer{};
  iovec iov{&answer, sizeof answer};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) < 0 && errno == EINTR) {
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Received::Empty;
  // Descriptors that came with it are ours to close, whatever else is wrong with it.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int fds[2] = {-1, -1};
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (i < 2) fds[i] = fd;
      else ::close(fd);
    }
    out.fd.reset(fds[0]);
    out.root.reset(fds[1]);
  }
  if (n != static_cast<ssize_t>(sizeof answer)) return Received::Ended;
  out.step = static_cast<OpenStep>(answer.step);
  out.error = answer.error;
  out.is_directory = answer.is_directory != 0;
  answer.root_path[sizeof answer.root_path - 1] = '\0';
  out.root_path = answer.root_path;
  if (out.step == OpenStep::Done && (out.fd.get() < 0 || out.root.get() < 0)) out = OpenedSource{OpenStep::Access, EBADF, {}, {}, false, {}};
  return Received::Answered;
}

// Checking children by uid, from fork to reap: how many live, and how many of those are
// stuck (killed, and not dead a second later).
struct Children {
  int live = 0;
  int stuck = 0;
};
std::map<std::uint32_t, Children>& children() {
  static std::map<std::uint32_t, Children> by_uid;
  return by_uid;
}

// The exit status of child `pid` once it has ended, asked at growing intervals (1 ms, then
// doubling to 1 s) for up to `limit` (none: until it ends); nothing if it has not ended.
asio::awaitable<std::optional<int>> wait_for_exit(pid_t pid, std::optional<std::chrono::milliseconds> limit) {
  auto executor = co_await asio::this_coro::executor;
  const auto start = std::chrono::steady_clock::now();
  std::chrono::milliseconds delay{1};
  for (;;) {
    int status = 0;
    const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid) co_return status;
    if (reaped < 0) co_return std::optional<int>(-1); // not ours any more (ECHILD): nothing to wait for
    if (limit && std::chrono::steady_clock::now() - start >= *limit) co_return std::nullopt;
    asio::steady_timer timer(executor, delay);
    co_await timer.async_wait(asio::use_awaitable);
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

// Reaps killed child `pid` of `uid` whenever it dies, counting it as stuck meanwhile once it
// has outlived its kill by a second. A task of its own (co_spawn, detached): a cancelled
// request does not cancel it. No object here touches anything at destruction: at shutdown
// the frame is destroyed unresumed.
asio::awaitable<void> reap(pid_t pid, std::uint32_t uid) {
  // (Each co_await a statement of its own, never inside a condition: with GCC 12 an earlier
  // form of this crashed under ASan.)
  const std::optional<int> soon = co_await wait_for_exit(pid, std::chrono::milliseconds(1000));
  if (!soon) {
    ++children()[uid].stuck;
    co_await wait_for_exit(pid, std::nullopt);
    --children()[uid].stuck;
  }
  if (--children()[uid].live <= 0) children().erase(uid);
}

Children counts_of(std::uint32_t uid) {
  auto it = children().find(uid);
  return it == children().end() ? Children{} : it->second;
}

std::string checks_of(int n, std::uint32_t uid) { return fmt::format("{} mount check{} for uid {}", n, n == 1 ? "" : "s", uid); }

asio::awaitable<bool> cancelled() {
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

// Waits until `uid` may fork one more checking child: at most k_max_checks_per_user at
// once, one more waiting up to k_open_timeout for one of them to be reaped; none at all
// with k_max_stuck_checks_per_user stuck, or for a request that was cancelled.
asio::awaitable<std::optional<ErrorInfo>> room_for_check(std::uint32_t uid) {
  auto executor = co_await asio::this_coro::executor;
  const auto give_up_at = std::chrono::steady_clock::now() + k_open_timeout;
  for (;;) {
    const Children counts = counts_of(uid);
    if (counts.stuck >= k_max_stuck_checks_per_user)
      co_return ErrorInfo{ErrorCode::Unavailable,
                          fmt::format("{} are stuck in a path that does not answer (a hung NFS or FUSE mount); jobmand checks "
                                      "no more for this user until they end",
                                      checks_of(counts.stuck, uid))};
    const bool gone = co_await cancelled();
    if (gone) co_return ErrorInfo{ErrorCode::Unavailable, "the request was cancelled before its mounts were checked"};
    if (counts.live < k_max_checks_per_user) co_return std::nullopt;
    if (std::chrono::steady_clock::now() >= give_up_at)
      co_return ErrorInfo{ErrorCode::Unavailable,
                          fmt::format("{} are running already (paths that answer slowly?); try again later", checks_of(counts.live, uid))};
    asio::steady_timer timer(executor, std::chrono::milliseconds(10));
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

} // namespace

int stuck_checks(std::uint32_t uid) { return counts_of(uid).stuck; }
int live_checks(std::uint32_t uid) { return counts_of(uid).live; }

namespace {

// open_sources_async, with the awaiting chain's throw_if_cancelled off.
asio::awaitable<Result<std::vector<OpenedSource>>> check_in_child(std::vector<SourceRequest> sources, Opener who) {
  std::vector<OpenedSource> opened(sources.size());
  auto executor = co_await asio::this_coro::executor;
  const std::uint32_t uid = who.uid;
  const std::optional<ErrorInfo> no_room = co_await room_for_check(uid);
  if (no_room) co_return *no_room;
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot check mounts: socketpair: {}", std::strerror(errno))};
  FileDescriptor parent_end(pair[0]), child_end(pair[1]);
  std::vector<gid_t> groups(who.groups.begin(), who.groups.end());
  const bool switch_identity = who.uid != ::geteuid() || who.gid != ::getegid();
  const pid_t pid = ::fork();
  if (pid < 0) co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot check mounts: fork: {}", std::strerror(errno))};
  if (pid == 0) child(child_end.get(), sources, who, groups.data(), groups.size(), switch_identity);
  child_end.reset();
  ++children()[uid].live;

  // From here to the kill below nothing may leave this function: no co_return, and every
  // await caught.
  std::size_t answered = 0;
  bool ended = false; // the child ended (or the request was cancelled) before answering all
  boost::system::error_code watch_error;
  {
    asio::posix::stream_descriptor socket(executor);
    socket.assign(parent_end.get(), watch_error);
    if (!watch_error) parent_end.release(); // the descriptor is the socket's now
    asio::steady_timer deadline(executor, k_open_timeout);
    try {
      while (!watch_error && answered < sources.size()) {
        const Received got = receive_answer(socket.native_handle(), opened[answered]);
        if (got == Received::Answered) {
          ++answered;
          continue;
        }
        if (got == Received::Ended) {
          ended = true;
          break;
        }
        using namespace asio::experimental::awaitable_operators;
        boost::system::error_code ec;
        auto first = co_await (socket.async_wait(asio::posix::stream_descriptor::wait_read, asio::redirect_error(asio::use_awaitable, ec)) ||
                               deadline.async_wait(asio::use_awaitable));
        if (first.index() == 1) break; // past k_open_timeout
        if (ec) {
          ended = true;
          break;
        }
      }
    } catch (const std::exception&) { // both awaits failed: the request was cancelled
      ended = true;
    }
  }
  // Always killed: the child runs as the user, who may stop it (SIGSTOP) or hang it in
  // their own FUSE file system, where even SIGKILL waits for the answer. It is reaped when
  // it dies, by a task of its own, never waited for here.
  ::kill(pid, SIGKILL);
  asio::co_spawn(executor, reap(pid, uid), asio::detached);
  if (watch_error) co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot check mounts: {}", watch_error.message())};
  for (std::size_t i = 0; i < answered; ++i)
    if (opened[i].step == OpenStep::Identity)
      co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot check mounts as uid {}: cannot take that identity: {}", uid,
                                                           std::strerror(opened[i].error))};
  // Not answered: in time (a path that hangs), or at all (the child was killed: by its user).
  for (std::size_t i = answered; i < sources.size(); ++i) opened[i] = OpenedSource{OpenStep::Path, ended ? ECANCELED : ETIMEDOUT, {}, {}, false, {}};
  co_return opened;
}

} // namespace

asio::awaitable<Result<std::vector<OpenedSource>>> open_sources_async(std::vector<SourceRequest> sources, Opener who) {
  if (sources.empty()) co_return std::vector<OpenedSource>{};
  // A request whose client has gone is cancelled (the server's wait for a closed peer).
  // Meanwhile its awaits complete with errors instead of throwing, so that a child, once
  // forked, is always killed and handed to reap(); the setting is the whole awaiting
  // chain's, so it is put back for the caller, whose next await then throws as before.
  co_await asio::this_coro::throw_if_cancelled(false);
  auto result = co_await check_in_child(std::move(sources), std::move(who));
  co_await asio::this_coro::throw_if_cancelled(true);
  co_return result;
}

Result<std::vector<OpenedSource>> open_sources(const std::vector<SourceRequest>& sources, const Opener& who) {
  asio::io_context io;
  std::optional<Result<std::vector<OpenedSource>>> result;
  std::exception_ptr failure;
  auto run = [&]() -> asio::awaitable<void> {
    auto opened = co_await open_sources_async(sources, who);
    result.emplace(std::move(opened));
  };
  asio::co_spawn(io, run(), [&failure](std::exception_ptr e) { failure = e; });
  while (!result && !failure && io.run_one() > 0) {
  }
  io.run_for(std::chrono::seconds(1)); // the child reaped (at once, unless it is stuck)
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
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
