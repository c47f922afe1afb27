// Tests for daemon/engine/reap.hpp: a child is reaped with its status, and a wake-up that
// comes while the child still runs (as a pidfd gave here) never blocks the event loop.

#include "daemon/engine/reap.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace jobman::daemon::engine;
namespace asio = boost::asio;

namespace {
// A child that sleeps `ms` and exits with `code`.
pid_t sleeping_child(int ms, int code) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::usleep(static_cast<useconds_t>(ms) * 1000);
    ::_exit(code);
  }
  REQUIRE(pid > 0);
  return pid;
}

// Whether `pid` has ended, without reaping it.
bool has_ended(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != 0;
}

struct Run {
  std::optional<std::optional<int>> status; // set once reap_child returned
  int ticks_while_running = 0;              // timer ticks seen while the child still ran
};

// Reaps `pid` through `ready` while a 10 ms ticker counts the ticks the loop ran while the
// child had not ended: a reaper that blocked the loop lets none through. With `wake_fd`, each
// tick then writes to it (a wake-up of `ready`); with `kill_after`, that tick kills the child.
Run reap_with_ticker(pid_t pid, asio::io_context& io, asio::posix::stream_descriptor ready, std::chrono::milliseconds recheck,
                     int wake_fd = -1, int kill_after = 0) {
  Run run;
  asio::co_spawn(
      io,
      [&, pid, recheck, ready = std::move(ready)]() mutable -> asio::awaitable<void> {
        run.status = co_await reap_child(pid, std::move(ready), recheck);
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&, pid, wake_fd, kill_after]() -> asio::awaitable<void> {
        bool killed = false;
        while (!run.status) {
          asio::steady_timer timer(io, std::chrono::milliseconds(10));
          co_await timer.async_wait(asio::use_awaitable);
          if (!run.status && !killed && !has_ended(pid)) ++run.ticks_while_running;
          const std::uint64_t one = 1;
          if (wake_fd >= 0) REQUIRE(::write(wake_fd, &one, sizeof one) == sizeof one);
          if (kill_after > 0 && !killed && run.ticks_while_running == kill_after) {
            ::kill(pid, SIGKILL);
            killed = true; // not counted after: its death may take more than a tick
          }
        }
      },
      asio::detached);
  io.run();
  return run;
}
} // namespace

TEST_CASE("reap_child reaps a child with its status, the loop running meanwhile") {
  asio::io_context io;
  const pid_t pid = sleeping_child(300, 7);
  auto run = reap_with_ticker(pid, io, child_pidfd(io.get_executor(), pid), k_reap_recheck);
  REQUIRE(run.status);
  REQUIRE(*run.status);
  CHECK(WIFEXITED(**run.status));
  CHECK(WEXITSTATUS(**run.status) == 7);
  CHECK(run.ticks_while_running > 0);
  CHECK(::kill(pid, 0) != 0); // reaped: no zombie left
}

TEST_CASE("reap_child of no pid never waits for any child") {
  // waitpid(-1) would take another child's end: a pid not set is answered at once.
  asio::io_context io;
  const pid_t other = sleeping_child(200, 0);
  auto run = reap_with_ticker(-1, io, asio::posix::stream_descriptor(io), k_reap_recheck);
  REQUIRE(run.status);
  CHECK(!*run.status);
  int status = 0;
  CHECK(::waitpid(other, &status, 0) == other); // not reaped by it: still there to be reaped
}

TEST_CASE("an abandoned child is killed with its group and reaped later, never waited for") {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::pause();
    ::_exit(0);
  }
  REQUIRE(pid > 0);
  ::setpgid(pid, pid); // as the child does (either may run first)
  abandon_child(pid);  // returns at once
  bool reaped = false;
  for (int i = 0; i < 100 && !reaped; ++i) {
    reaped = abandoned_children() == 0;
    if (!reaped) ::usleep(20000);
  }
  CHECK(reaped);
  CHECK(::kill(pid, 0) != 0); // gone, not a zombie
}

TEST_CASE("a wake-up while the child still runs does not block the loop") {
  // An eventfd, written at each tick, stands for a pidfd that polled readable while its
  // child ran. The child would run 2 s; the 5th tick kills it. A reaper that took a wake-up
  // for the end (Boost's waitpid(pid, 0)) would hold the loop from the first tick until the
  // child ended by itself: then fewer than 5 ticks pass while it runs.
  asio::io_context io;
  const pid_t pid = sleeping_child(2000, 3);
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(wake >= 0);
  asio::posix::stream_descriptor ready(io, ::fcntl(wake, F_DUPFD_CLOEXEC, 0));
  auto run = reap_with_ticker(pid, io, std::move(ready), std::chrono::milliseconds(50), wake, 5);
  ::close(wake);
  REQUIRE(run.status);
  REQUIRE(*run.status);
  CHECK(WIFSIGNALED(**run.status));
  CHECK(WTERMSIG(**run.status) == SIGKILL);
  CHECK(run.ticks_while_running == 5);
}

TEST_CASE("reap_child without a pidfd finds the end at its rechecks") {
  asio::io_context io;
  const pid_t pid = sleeping_child(100, 0);
  auto run = reap_with_ticker(pid, io, asio::posix::stream_descriptor(io), std::chrono::milliseconds(50));
  REQUIRE(run.status);
  REQUIRE(*run.status);
  CHECK(WEXITSTATUS(**run.status) == 0);
}

TEST_CASE("reap_child of a process that is not a child answers nullopt at once") {
  asio::io_context io;
  auto run = reap_with_ticker(1, io, asio::posix::stream_descriptor(io), k_reap_recheck);
  REQUIRE(run.status);
  CHECK(!*run.status);
}
