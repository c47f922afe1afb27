// Tests for daemon/engine/process_runner.cpp (the real CommandRunner): output and status,
// timeouts, and cancellation: a cancelled capture kills and reaps its command, a cancelled
// wait leaves the process running to be waited for again.

#include "daemon/engine/command_runner.hpp"
#include "daemon/engine/reap.hpp"
#include "temp_dir.hpp"

#include <algorithm>
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

TEST_CASE("a cancelled capture kills its command's whole group and reaps it") {
  using namespace asio::experimental::awaitable_operators;
  test::TempDir dir;
  const std::string pid_file = dir.file("pid");
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  pid_t grandchild = -1;
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    // The command leaves a child of its own in its group and waits; the other side of the
    // `||` ends once that child is known, and so cancels the capture.
    std::vector<std::string> argv{"/bin/sh", "-c", "sleep 30 & echo $! > " + pid_file + "; wait"};
    auto known = [&]() -> asio::awaitable<void> {
      for (int i = 0; i < 500 && grandchild <= 0; ++i) {
        std::ifstream in(pid_file);
        if (!(in >> grandchild)) grandchild = -1;
        if (grandchild <= 0) co_await sleep_for(20ms);
      }
    };
    auto raced = co_await (runner->capture(std::move(argv), std::nullopt) || known());
    CHECK(raced.index() == 1);
  });
  REQUIRE(grandchild > 0);
  CHECK(gone_soon(io, grandchild)); // the whole group was killed (sleep is reaped by init)
  // The shell, the runner's own child, is reaped by the next reaping (no zombie left).
  bool reaped = false;
  for (int i = 0; i < 100 && !reaped; ++i) {
    reaped = abandoned_children() == 0;
    if (!reaped) std::this_thread::sleep_for(50ms);
  }
  CHECK(reaped);
}

TEST_CASE("a cancelled wait leaves the process running, to be waited for again") {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  auto spawned = runner->spawn({"/bin/sleep", "30"}, null, {});
  ::close(null);
  REQUIRE(spawned);
  auto& process = **spawned;
  const pid_t pid = process.pid();
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    auto raced = co_await (process.wait() || sleep_for(200ms));
    CHECK(raced.index() == 1);
    // Still running, not killed: it ends by the signal sent now, and says so.
    process.send_signal(SIGTERM);
    auto status = co_await process.wait();
    CHECK(status.signal == SIGTERM);
    auto again = co_await process.wait(); // a wait after the end answers the same
    CHECK(again.signal == SIGTERM);
  });
  CHECK(::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0); // reaped
}

TEST_CASE("spawn gives the child `env` over the daemon's own environment, and nothing in its argv", "[process_runner][platform_env]") {
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  test::TempDir dir;
  const std::string out = dir.file("env.txt");
  ::setenv("JOBMAN_UNIT_SHADOWED", "the daemon's", 1);
  ::setenv("JOBMAN_UNIT_KEPT", "kept", 1);
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  // Values exactly as given: spaces, quotes, $, backslashes, a '#', '=' and braces.
  const std::string value = " a 'b' \"c\" $HOME \\n #d =e {user} ";
  auto spawned = runner->spawn({"/usr/bin/env"}, fd, {{"JOBMAN_UNIT_SHADOWED", "the job's"}, {"GC_TOKEN", value}});
  ::close(fd);
  REQUIRE(spawned);
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    auto status = co_await (*spawned)->wait();
    CHECK(status.success());
  });
  ::unsetenv("JOBMAN_UNIT_SHADOWED");
  ::unsetenv("JOBMAN_UNIT_KEPT");
  std::ifstream in(out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  auto count = [&](const std::string& line) { return std::count(lines.begin(), lines.end(), line); };
  CHECK(count("GC_TOKEN=" + value) == 1);
  CHECK(count("JOBMAN_UNIT_SHADOWED=the job's") == 1);
  CHECK(count("JOBMAN_UNIT_SHADOWED=the daemon's") == 0);
  CHECK(count("JOBMAN_UNIT_KEPT=kept") == 1);
}

TEST_CASE("capture_with: `environment` is the child's whole environment, stdin from the given fd", "[process_runner][notify]") {
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  ::setenv("JOBMAN_UNIT_DAEMONS", "the daemon's", 1);
  test::TempDir dir;
  const std::string input = dir.file("in.txt");
  { std::ofstream(input) << "line from stdin\n"; }
  const int in_fd = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(in_fd >= 0);
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    ChildOptions options;
    options.stdin_fd = in_fd;
    options.environment = std::vector<std::string>{"PATH=/usr/bin:/bin", "ONLY=this"};
    std::vector<std::string> argv{"/bin/sh", "-c", "cat; env | sort"};
    auto result = co_await runner->capture_with(std::move(argv), std::move(options), 10s);
    REQUIRE(result);
    CHECK(result->out.find("line from stdin\n") == 0);
    CHECK(result->out.find("ONLY=this\n") != std::string::npos);
    CHECK(result->out.find("JOBMAN_UNIT_DAEMONS") == std::string::npos);
  });
  ::close(in_fd);
  ::unsetenv("JOBMAN_UNIT_DAEMONS");
}

TEST_CASE("capture_with: with cut_output, output past the cap is dropped and the status kept", "[process_runner][notify]") {
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    ChildOptions options;
    options.cut_output = true;
    std::vector<std::string> argv{"/bin/sh", "-c", "head -c 100000 /dev/zero; head -c 100000 /dev/zero >&2; exit 3"};
    auto result = co_await runner->capture_with(std::move(argv), std::move(options), 10s, 100);
    REQUIRE(result);
    CHECK(result->out.size() == 100);
    CHECK(result->err.size() == 100);
    CHECK(result->status.code == 3);
    std::vector<std::string> again{"/bin/sh", "-c", "head -c 100000 /dev/zero"};
    auto refused = co_await runner->capture(std::move(again), 10s, 100); // without: an error, as before
    CHECK(!refused);
  });
}

TEST_CASE("capture_with: past its timeout the child's whole group is killed, the loop never held", "[process_runner][notify]") {
  test::TempDir dir;
  const std::string pid_file = dir.file("pid");
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  pid_t grandchild = -1;
  int ticks = 0;
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    auto ticking = [&]() -> asio::awaitable<void> { // the loop keeps running meanwhile
      for (; ticks < 1000; ++ticks) co_await sleep_for(10ms);
    };
    std::vector<std::string> argv{"/bin/sh", "-c", "sleep 30 & echo $! > " + pid_file + "; wait"};
    ChildOptions options;
    const auto started = std::chrono::steady_clock::now();
    auto raced = co_await (runner->capture_with(std::move(argv), std::move(options), 500ms) || ticking());
    REQUIRE(raced.index() == 0);
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    auto& result = std::get<0>(raced);
    REQUIRE(!result);
    CHECK(result.error().code == ErrorCode::Unavailable);
    std::ifstream in(pid_file);
    in >> grandchild;
  });
  CHECK(ticks >= 20);
  REQUIRE(grandchild > 0);
  CHECK(gone_soon(io, grandchild));
}

TEST_CASE("capture_with: uid and gid drop every group before exec", "[process_runner][notify][root]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: changing uid needs root");
    return;
  }
  asio::io_context io;
  auto runner = make_process_runner(io.get_executor(), "/");
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    ChildOptions options;
    options.working_dir = "/";
    options.uid = 65534;
    options.gid = 65534;
    std::vector<std::string> argv{"/bin/sh", "-c", "id -u; id -g; id -G; grep -E '^(Uid|Gid|Groups):' /proc/self/status"};
    auto result = co_await runner->capture_with(std::move(argv), std::move(options), 10s);
    REQUIRE(result);
    CHECK(result->status.code == 0);
    CHECK(result->out.find("65534\n65534\n65534\n") == 0);
    CHECK(result->out.find("Uid:\t65534\t65534\t65534\t65534") != std::string::npos);
    CHECK(result->out.find("Groups:\t \n") != std::string::npos); // none
    // A working directory it cannot enter: the child ends 126 before exec (as root it could).
    ChildOptions unreachable;
    unreachable.working_dir = "/nonexistent-jobman-dir";
    unreachable.uid = 65534;
    unreachable.gid = 65534;
    std::vector<std::string> id{"/usr/bin/id", "-u"};
    auto refused = co_await runner->capture_with(std::move(id), std::move(unreachable), 10s);
    REQUIRE(refused);
    CHECK(refused->status.code == 126);
    CHECK(refused->out.empty());
  });
}
