#pragma once
// Reaping a child process without ever blocking the event loop.
//
// Boost.Process's async_wait calls a blocking waitpid(pid, 0) as soon as its wait on the
// child's pidfd completes. Here that wait has completed while the child still ran (seen in
// CI and reproduced under load with the ASan build: gdb showed jobmand in that waitpid on a
// running `podman run` client; boostorg/process#564 reports the same on Linux 6.12). The
// whole daemon then stood still until that child ended: for a job's run client, its whole
// run (the job stuck in STARTING, its time limit never enforced). Why the wait completed is
// not settled (a stale epoll event for a descriptor closed in the same batch, whose state
// asio reuses, fits). So a wake-up here is a hint only: children are reaped with WNOHANG
// after each wake-up of the pidfd and at each recheck, never with a blocking wait.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <sys/types.h>

namespace jobman::daemon::engine {

namespace asio = boost::asio;

inline constexpr std::chrono::milliseconds k_reap_recheck{2000};

// A pidfd on `pid`, a child not yet reaped (so its pid is still the child's); closed (not
// open) where the kernel has no pidfd_open: then reap_child relies on its rechecks alone.
asio::posix::stream_descriptor child_pidfd(const asio::any_io_executor& executor, pid_t pid);

// Waits until child `pid` has ended and reaps it; its wait status, or nullopt when it is
// not this process's child to reap. `ready` is read as "may have ended" only: each wake-up
// is checked with waitpid(WNOHANG), and so is each `recheck` interval.
asio::awaitable<std::optional<int>> reap_child(pid_t pid, asio::posix::stream_descriptor ready,
                                               std::chrono::milliseconds recheck = k_reap_recheck);

// For a child nobody will wait for (a cancelled engine command): kills its process group
// (SIGKILL) and leaves it to be reaped, without waiting, by later calls of reap_child and
// abandon_child. Never blocks: a child stuck in uninterruptible sleep stays listed until it dies.
void abandon_child(pid_t pid);

// How many abandoned children are not reaped yet (after reaping those that have ended).
std::size_t abandoned_children();

} // namespace jobman::daemon::engine
