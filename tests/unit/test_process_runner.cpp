// Tests for daemon/engine/process_runner.cpp (the real CommandRunner): output and status,
// timeouts, and cancellation: a cancelled capture kills and reaps its command, a cancelled
// wait leaves the process running to be waited for again.

#include "daemon/engine/command_runner.hpp"
#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>

using namespace jobman;
using namespace jobman::daemon::engine;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
asio::awaitable<void> sleep_for(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

template <class F> void run_coroutine(asio::io_context& io, F f) {
  bool done = false;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { co_await f(); done = true; }, asio::detached);
  io.run();
  REQUIRE(done);
}

// Whether `pid` is gone from /proc (neither running nor left a zombie), within 5 s.
bool gone_soon(asio::io_context& io, pid_t pid) {
  bool gone = false;
  io.restart();
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 100 && !gone; ++i) {
      gone = ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0;
      if (!gone) co_await sleep_for(50ms);
    }
  });
  return gone;
}

pid_t pid_in(const std::string& path) {
  for (int i = 0; i < 100; ++i) {
    std::ifstream in(path);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(20ms);
  }
  FAIL("no pid written to " << path);
  return -1;
}
} // namespace

TEST_CASE("capture returns a command's output and exit status") {
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    std::vector<std::string> argv{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}; // (named: GCC 12)
    auto result = co_await runner->capture(std::move(argv), 10s);
    REQUIRE(result);
    CHECK(result->out == "out\n");
    CHECK(result->err == "err\n");
    CHECK(result->status.code == 3);
  });
}

TEST_CASE("capture past its timeout kills the command and says so") {
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    std::vector<std::string> argv{"/bin/sleep", "30"};
    auto result = co_await runner->capture(std::move(argv), 200ms);
    REQUIRE(!result);
    CHECK(result.error().code == ErrorCode::Unavailable);
    CHECK(result.error().message.find("did not answer") != std::string::npos);
  });
}

TEST_CASE("a cancelled capture kills its command and reaps it") {
  using namespace asio::experimental::awaitable_operators;
  test::TempDir dir;
  const std::string pid_file = dir.file("pid");
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    // The command writes its pid and runs on; the timer wins the `||` and cancels it.
    std::vector<std::string> argv{"/bin/sh", "-c", "echo $$ > " + pid_file + "; exec sleep 30"};
    auto raced = co_await (runner->capture(std::move(argv), std::nullopt) || sleep_for(300ms));
    CHECK(raced.index() == 1);
  });
  const pid_t pid = pid_in(pid_file);
  CHECK(gone_soon(io, pid)); // killed, and reaped: no zombie
}

TEST_CASE("a cancelled wait leaves the process running, to be waited for again") {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  auto spawned = runner->spawn({"/bin/sleep", "30"}, null);
  ::close(null);
  REQUIRE(spawned);
  auto& process = **spawned;
  const pid_t pid = process.pid();
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    auto raced = co_await (process.wait() || sleep_for(200ms));
    CHECK(raced.index() == 1);
    CHECK(::kill(pid, 0) == 0); // still there
    process.send_signal(SIGKILL);
    auto status = co_await process.wait();
    CHECK(status.signal == SIGKILL);
  });
  CHECK(::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0); // reaped
}
