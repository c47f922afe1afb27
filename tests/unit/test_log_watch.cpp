// Tests for daemon/logs/log_watch.hpp: a write to a followed log wakes its followers (and
// not its job's state waiters) through a real inotify instance; one watch per log.

#include "daemon/logs/log_watch.hpp"

#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <fstream>

using namespace jobman;
using namespace jobman::daemon;
namespace asio = boost::asio;

namespace {
void append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
}
} // namespace

TEST_CASE("a write to a followed log wakes its followers, not the job's state waiters", "[log_watch]") {
  test::TempDir dir;
  const std::string path = dir.file("7.log");
  append(path, "");
  asio::io_context io;
  scheduler::JobWatch jobs;
  logs::LogWatch watch(io.get_executor(), jobs);
  logs::LogWatch::Interest interest(watch, 7, path);
  REQUIRE(interest.watched());
  CHECK(interest.poll() == logs::k_poll_with_watch);
  bool follower_woke = false, waiter_woke = false, waiter_woke_before_follower = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await jobs.changed(7, std::chrono::seconds(20), true);
        follower_woke = true;
        waiter_woke_before_follower = waiter_woke;
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await jobs.changed(7, std::chrono::seconds(20));
        waiter_woke = true;
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io, std::chrono::milliseconds(50));
        co_await timer.async_wait(asio::use_awaitable);
        append(path, "a line\n");
      },
      asio::detached);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!follower_woke && std::chrono::steady_clock::now() < until) io.run_for(std::chrono::milliseconds(10));
  CHECK(follower_woke); // well before its 20 s timeout
  CHECK_FALSE(waiter_woke_before_follower);
  CHECK_FALSE(waiter_woke);
  jobs.notify(7); // a state change wakes both kinds
  io.run_for(std::chrono::milliseconds(50));
  CHECK(waiter_woke);
}

TEST_CASE("one watch per log however many follow it; none once the last has left", "[log_watch]") {
  test::TempDir dir;
  const std::string path = dir.file("3.log");
  asio::io_context io;
  scheduler::JobWatch jobs;
  logs::LogWatch watch(io.get_executor(), jobs);
  {
    logs::LogWatch::Interest early(watch, 3, path); // the log does not exist yet: it polls
    CHECK_FALSE(early.watched());
    CHECK(early.poll() == logs::k_poll_without_watch);
    CHECK(watch.watches() == 0);
    append(path, "started\n");
    CHECK(early.retry());
    logs::LogWatch::Interest second(watch, 3, path);
    CHECK(second.watched());
    CHECK(watch.watches() == 1);
  }
  CHECK(watch.watches() == 0);
}

TEST_CASE("a followed log that is replaced (rewritten at the job's end) wakes its followers", "[log_watch]") {
  test::TempDir dir;
  const std::string path = dir.file("5.log");
  append(path, "x\n");
  asio::io_context io;
  scheduler::JobWatch jobs;
  logs::LogWatch watch(io.get_executor(), jobs);
  logs::LogWatch::Interest interest(watch, 5, path);
  REQUIRE(interest.watched());
  bool woke = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await jobs.changed(5, std::chrono::seconds(20), true);
        woke = true;
      },
      asio::detached);
  io.run_for(std::chrono::milliseconds(20));
  append(path + ".compact", "x\n");
  std::filesystem::rename(path + ".compact", path);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!woke && std::chrono::steady_clock::now() < until) io.run_for(std::chrono::milliseconds(10));
  CHECK(woke);
  io.run_for(std::chrono::milliseconds(50)); // IN_IGNORED: the kernel dropped the watch
  CHECK(watch.watches() == 0);
}
