#include "daemon/engine/reap.hpp"

#include "daemon/log.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <csignal>
#include <vector>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace jobman::daemon::engine {

using boost::system::error_code;

asio::posix::stream_descriptor child_pidfd(const asio::any_io_executor& executor, pid_t pid) {
  asio::posix::stream_descriptor ready(executor);
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); // close-on-exec
  if (fd >= 0) {
    error_code ec;
    ready.assign(fd, ec);
    if (ec) ::close(fd);
  }
  return ready;
}

namespace {
std::vector<pid_t>& abandoned() {
  static std::vector<pid_t> pids; // unreaped children: their pids cannot have been reused
  return pids;
}

void reap_abandoned() {
  auto& pids = abandoned();
  std::erase_if(pids, [](pid_t pid) {
    int status = 0;
    const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    return reaped == pid || (reaped < 0 && errno != EINTR); // ended, or not ours any more
  });
}
} // namespace

void abandon_child(pid_t pid) {
  if (pid <= 0) return;
  ::kill(-pid, SIGKILL); // its group: the child set it up as its own (setpgid in ChildSetup)
  ::kill(pid, SIGKILL);  // and the child itself, should it have left that group
  abandoned().push_back(pid);
  reap_abandoned();
}

std::size_t abandoned_children() {
  reap_abandoned();
  return abandoned().size();
}

asio::awaitable<std::optional<int>> reap_child(pid_t pid, asio::posix::stream_descriptor ready, std::chrono::milliseconds recheck) {
  using namespace asio::experimental::awaitable_operators;
  if (pid <= 0) co_return std::nullopt; // waitpid would take it for "any child"
  static bool spurious_logged = false; // once per daemon: it says the workaround is needed here
  bool woken_by_pidfd = false;
  for (;;) {
    reap_abandoned();
    int status = 0;
    const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid) co_return status;
    if (reaped < 0 && errno == EINTR) continue;
    if (reaped < 0) co_return std::nullopt;
    if (woken_by_pidfd && !spurious_logged) {
      spurious_logged = true;
      log_warn("the wait on child {} woke while it still ran; jobmand waits on (see daemon/engine/reap.hpp)", pid);
    }
    asio::steady_timer timer(ready.get_executor(), recheck);
    error_code woken = asio::error::operation_aborted, timed;
    if (ready.is_open())
      co_await (ready.async_wait(asio::posix::descriptor_base::wait_read, asio::redirect_error(asio::use_awaitable, woken)) ||
                timer.async_wait(asio::redirect_error(asio::use_awaitable, timed)));
    else
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, timed));
    woken_by_pidfd = !woken;
  }
}

} // namespace jobman::daemon::engine
