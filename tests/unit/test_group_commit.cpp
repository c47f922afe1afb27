// Tests for daemon/store/group_commit.hpp: submits of one turn of the event loop share one
// transaction; each gets its own job or its own error.

#include "daemon/store/group_commit.hpp"

#include "job_fixtures.hpp"
#include "matchers.hpp"
#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

using namespace jobman;
using namespace jobman::daemon::store;
using namespace jobman::test;
namespace asio = boost::asio;

TEST_CASE("concurrent submits share one commit; a taken name fails alone", "[group_commit]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  asio::io_context io;
  GroupCommit inserts(io.get_executor(), store);
  int planned = 0;
  inserts.after_commit([&planned] { return ++planned > 0; }); // once per group
  std::vector<std::optional<Job>> stored(5);
  std::vector<std::string> errors(5);
  const std::vector<std::string> names{"a", "b", "a", "", "c"}; // the second "a" is taken by the first
  for (std::size_t i = 0; i < names.size(); ++i) {
    asio::co_spawn(
      io,
      [&, i]() -> asio::awaitable<void> {
        try {
          Job job = new_job(1001, names[i]);
          JobStore::ArgvFor argv_for = fake_argv;
          stored[i] = (co_await inserts.insert(std::move(job), std::move(argv_for))).job;
        } catch (const Error& e) {
          errors[i] = e.what();
        }
      },
      asio::detached);
  }
  io.run();
  CHECK(inserts.groups() == 1);
  CHECK(inserts.jobs() == 5);
  CHECK(planned == 1);
  REQUIRE(stored[0]);
  CHECK(stored[0]->spec.name == "a");
  CHECK_FALSE(stored[2]);
  CHECK_THAT(errors[2], Catch::Contains("already have a job named 'a'"));
  REQUIRE(stored[3]);
  CHECK(stored[3]->spec.name == "app-" + std::to_string(stored[3]->id)); // a default name
  REQUIRE(stored[4]);
  // What was told is what is stored: four jobs, the failed one's rollback left no trace.
  CHECK(store.list({}).size() == 4);
  CHECK(store.get(stored[4]->id)->spec.name == "c");
  CHECK(store.events(stored[4]->id).size() == 1);

  // A later turn is a group of its own; pending_of counts a user's waiting jobs.
  asio::co_spawn(
    io,
    [&]() -> asio::awaitable<void> {
      Job job = new_job(1002, "d");
      JobStore::ArgvFor argv_for = fake_argv;
      auto waiting = inserts.insert(std::move(job), std::move(argv_for));
      co_await std::move(waiting);
    },
    asio::detached);
  io.restart();
  io.run_one(); // the coroutine starts and waits for the commit
  CHECK(inserts.pending_of(1002) == 1);
  CHECK(inserts.pending_of(1001) == 0);
  io.run();
  CHECK(inserts.groups() == 2);
  CHECK(planned == 2);
  CHECK(inserts.pending_of(1002) == 0);
  CHECK(store.list({}).size() == 5);
}
