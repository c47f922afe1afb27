// Tests for daemon/store/stats.hpp and report_thread.hpp: what a usage report adds up, over
// a real database; and that the report thread answers off the event loop, one report per
// user at a time, and stops a report whose client left or that ran too long.

#include "daemon/store/report_thread.hpp"
#include "daemon/store/job_store.hpp"
#include "daemon/store/stats.hpp"

#include "job_fixtures.hpp"
#include "matchers.hpp"
#include "temp_dir.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <limits>
#include <thread>

using namespace jobman;
using namespace jobman::daemon::store;
using namespace jobman::test;
namespace asio = boost::asio;

namespace {
constexpr TimePoint k_hour = 3600 * 1000;

// A database with ended jobs whose times and usage the test sets.
struct History {
  TempDir dir;
  std::string path = (dir.path() / "jobman.db").string();
  JobStore store{path};

  // A job of `uid` on `flavor` (`cpus` CPUs, `gpus` devices) that ran from `started` to
  // `ended` (ms) and ended in `state`; `cpu_ms` and `peak` as measured, if measured.
  JobId add(std::uint32_t uid, JobState state, TimePoint started, TimePoint ended, std::optional<std::int64_t> cpu_ms = {},
            std::optional<std::int64_t> peak = {}, const std::string& flavor = "small", double cpus = 2, int gpus = 0,
            const std::string& image = "app:1.0") {
    Job job = new_job(uid, {}, image);
    job.spec.flavor = flavor;
    job.spec.resources.cpus = cpus;
    const Job inserted = store.insert(job, fake_argv);
    std::vector<std::string> devices;
    for (int i = 0; i < gpus; ++i) devices.push_back("nvidia.com/gpu=" + std::to_string(i));
    store.set_launch(inserted.id, {}, devices, {});
    store.transition(inserted.id, JobState::Starting, "slot free");
    store.transition(inserted.id, JobState::Running, "started");
    TransitionFields fields;
    if (cpu_ms || peak) fields.usage = Usage{peak, peak, cpu_ms, cpu_ms, 0, "cgroup v2"};
    store.transition(inserted.id, state, "ended", fields);
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "UPDATE jobs SET started_at = ?, ended_at = ? WHERE id = ?");
    q.bind(1, started);
    q.bind(2, ended);
    q.bind(3, inserted.id);
    q.exec();
    return inserted.id;
  }

  StatsReport report(const StatsQuery& query) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return run_stats(db, query);
  }
};

StatsQuery window(TimePoint since, TimePoint until, StatsKey by = StatsKey::None, std::optional<std::uint32_t> uid = {}) {
  StatsQuery q;
  q.since = since;
  q.until = until;
  q.by = by;
  q.uid = uid;
  return q;
}
} // namespace

TEST_CASE("a report adds up wall, CPU, allocated CPU and GPU time and counts end states", "[stats]") {
  History h;
  h.add(1001, JobState::Succeeded, 0, 2 * k_hour, k_hour, 100, "small", 2);         // 2 h wall, 1 CPU-h, 4 alloc
  h.add(1001, JobState::Failed, k_hour, 2 * k_hour, {}, {}, "gpu", 8, 2);             // 1 h wall, 8 alloc, 2 GPU-h
  h.add(1002, JobState::OomKilled, 0, k_hour / 2, k_hour / 4, 300, "small", 2);       // 0.5 h, 0.25, 1 alloc
  const StatsReport r = h.report(window(0, 10 * k_hour));
  REQUIRE(r.groups.size() == 1);
  const StatsGroup& t = r.total;
  CHECK(t.jobs == 3);
  CHECK(t.states.at(JobState::Succeeded) == 1);
  CHECK(t.states.at(JobState::Failed) == 1);
  CHECK(t.states.at(JobState::OomKilled) == 1);
  CHECK(t.states.count(JobState::Timeout) == 0);
  CHECK(t.wall_ms == 2 * k_hour + k_hour + k_hour / 2);
  CHECK(t.cpu_ms == k_hour + k_hour / 4);
  CHECK(t.cpu_measured == 2);
  CHECK(t.cpu_allocated_ms == Approx(4.0 * k_hour + 8.0 * k_hour + 1.0 * k_hour));
  CHECK(t.gpu_ms == 2 * k_hour);
  CHECK(t.peaks == std::vector<std::int64_t>{100, 300});
}

TEST_CASE("a report counts the jobs that ended in its window, deleted ones too", "[stats]") {
  History h;
  h.add(1001, JobState::Succeeded, 0, 1 * k_hour);
  const JobId deleted = h.add(1001, JobState::Succeeded, 0, 2 * k_hour);
  h.store.mark_deleted(deleted);
  h.add(1001, JobState::Succeeded, 0, 3 * k_hour);
  CHECK(h.report(window(0, 10 * k_hour)).total.jobs == 3);
  CHECK(h.report(window(2 * k_hour, 3 * k_hour)).total.jobs == 1); // since inclusive, until exclusive
  CHECK(h.report(window(2 * k_hour, 3 * k_hour + 1)).total.jobs == 2);
  CHECK(h.report(window(4 * k_hour, 10 * k_hour)).total.jobs == 0);
  CHECK(h.report(window(4 * k_hour, 10 * k_hour)).groups.empty());
  // Active jobs have not ended: not in any report.
  h.store.insert(new_job(1001), fake_argv);
  CHECK(h.report(window(0, std::numeric_limits<TimePoint>::max())).total.jobs == 3);
}

TEST_CASE("the accounting outlives the job's row, until its own retention", "[stats]") {
  History h;
  const JobId purged = h.add(1001, JobState::Failed, 0, k_hour, 1000, 4096, "small", 2, 1);
  h.add(1001, JobState::Succeeded, 0, 5 * k_hour);
  h.store.remove_jobs({purged}); // cleanup after retention.days
  CHECK_FALSE(h.store.get(purged));
  const StatsReport r = h.report(window(0, 10 * k_hour));
  CHECK(r.total.jobs == 2);
  CHECK(r.total.states.at(JobState::Failed) == 1);
  CHECK(r.total.cpu_ms == 1000); // its usage, recorded after its end in the same transaction
  CHECK(r.total.gpu_ms == k_hour);
  CHECK(r.total.peaks == std::vector<std::int64_t>{4096});
  // retention.accounting_days: cleanup removes what ended before the cut.
  CHECK(h.store.count_accounting_before(2 * k_hour) == 1);
  CHECK(h.store.remove_accounting_before(2 * k_hour, 100) == 1);
  CHECK(h.store.remove_accounting_before(2 * k_hour, 100) == 0);
  CHECK(h.report(window(0, 10 * k_hour)).total.jobs == 1);
}

TEST_CASE("a report groups by user, flavor, image or state, and keeps to one user's jobs when asked", "[stats]") {
  History h;
  h.add(1001, JobState::Succeeded, 0, k_hour, {}, {}, "small", 1, 0, "app:1.0");
  h.add(1001, JobState::Failed, 0, k_hour, {}, {}, "large", 1, 0, "other:2.0");
  h.add(1002, JobState::Failed, 0, k_hour, {}, {}, "large", 1, 0, "app:1.0");
  auto keys = [](const StatsReport& r) {
    std::vector<std::pair<std::string, std::int64_t>> out;
    for (const auto& g : r.groups) out.emplace_back(g.key, g.jobs);
    return out;
  };
  using Keys = std::vector<std::pair<std::string, std::int64_t>>;
  CHECK(keys(h.report(window(0, 2 * k_hour, StatsKey::User))) == Keys{{"user1001", 2}, {"user1002", 1}});
  CHECK(keys(h.report(window(0, 2 * k_hour, StatsKey::Flavor))) == Keys{{"large", 2}, {"small", 1}});
  CHECK(keys(h.report(window(0, 2 * k_hour, StatsKey::Image))) == Keys{{"app:1.0", 2}, {"other:2.0", 1}});
  CHECK(keys(h.report(window(0, 2 * k_hour, StatsKey::State))) == Keys{{"FAILED", 2}, {"SUCCEEDED", 1}});
  CHECK(keys(h.report(window(0, 2 * k_hour, StatsKey::None))) == Keys{{"", 3}});
  CHECK(keys(h.report(window(0, 2 * k_hour, StatsKey::Flavor, 1002))) == Keys{{"large", 1}});
  CHECK(h.report(window(0, 2 * k_hour, StatsKey::None, 4242)).total.jobs == 0);
}

TEST_CASE("peak memory percentiles are nearest-rank over the measured jobs", "[stats]") {
  StatsTally tally;
  for (std::int64_t v : {50, 10, 40, 30, 20, 60, 70, 80, 90, 100}) {
    StatsRow row;
    row.peak_memory = v;
    tally.add(row);
  }
  StatsRow unmeasured;
  tally.add(unmeasured);
  const StatsReport r = std::move(tally).finish();
  CHECK(r.total.jobs == 11);
  CHECK(r.total.peaks.size() == 10);
  CHECK(r.total.peak_percentile(50) == 50);
  CHECK(r.total.peak_percentile(90) == 90);
  CHECK(r.total.peak_percentile(99) == 100);
  CHECK(r.total.peak_percentile(100) == 100);
  CHECK(r.total.peak_percentile(1) == 10);
  CHECK_FALSE(StatsGroup{}.peak_percentile(50));
}

TEST_CASE("odd rows add nothing negative: no start, an end before the start, negative figures", "[stats]") {
  StatsTally tally;
  StatsRow never_started; // cancelled while queued
  never_started.state = JobState::Cancelled;
  never_started.ended_at = 5000;
  never_started.cpus = 4;
  tally.add(never_started);
  StatsRow backwards;
  backwards.started_at = 9000;
  backwards.ended_at = 1000;
  backwards.cpu_ms = -5;
  backwards.cpus = -3;
  backwards.gpus = -1;
  tally.add(backwards);
  const StatsReport r = std::move(tally).finish();
  CHECK(r.total.wall_ms == 0);
  CHECK(r.total.cpu_ms == 0);
  CHECK(r.total.cpu_allocated_ms == 0);
  CHECK(r.total.gpu_ms == 0);
}

TEST_CASE("stats keys are the four groupings or none", "[stats]") {
  CHECK(stats_key_from_string("") == StatsKey::None);
  CHECK(stats_key_from_string("user") == StatsKey::User);
  CHECK(stats_key_from_string("state") == StatsKey::State);
  for (const char* bad : {"User", "uid", "image;DROP", "flavor ", "name"}) CHECK_FALSE(stats_key_from_string(bad));
  CHECK(to_string(StatsKey::Image) == "image");
}

namespace {
// Runs `io` until `done` or 20 s, counting 5 ms ticks meanwhile: a report that blocked
// the loop would let none through.
int run_counting_ticks(asio::io_context& io, const bool& done) {
  int ticks = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io);
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!done && std::chrono::steady_clock::now() < give_up) {
          timer.expires_after(std::chrono::milliseconds(5));
          co_await timer.async_wait(asio::use_awaitable);
          ++ticks;
        }
      },
      asio::detached);
  io.run();
  return ticks;
}

// A database of `n` ended jobs, written in one transaction (fast), for reports that take a while.
void add_many(const std::string& path, int n) {
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  db.exec("PRAGMA synchronous = OFF");
  db.exec("PRAGMA temp_store = MEMORY"); // the statement journals the triggers need: not a file
  SQLite::Transaction tx(db);
  SQLite::Statement q(db, "INSERT INTO jobs (name, uid, gid, user, image, image_id, state, submitted_at, started_at, ended_at, "
                          "cpu_ms, peak_resident, usage_source) VALUES (?, 1001, 1101, 'user1001', 'app:1.0', 'x', 'SUCCEEDED', 0, 0, ?, 10, ?, 'cgroup v2')");
  for (int i = 0; i < n; ++i) {
    q.bind(1, "bulk-" + std::to_string(i));
    q.bind(2, static_cast<std::int64_t>(1000 + i));
    q.bind(3, static_cast<std::int64_t>(i));
    q.exec();
    q.reset();
  }
  tx.commit();
}
} // namespace

TEST_CASE("the report thread answers on the caller's loop, which keeps running meanwhile", "[stats][report_thread]") {
  History h;
  add_many(h.path, 100000);
  asio::io_context io;
  ReportThread thread(h.path);
  bool done = false;
  std::optional<StatsReport> report;
  std::thread::id answered_on;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        report = co_await thread.stats(1001, window(0, std::numeric_limits<TimePoint>::max()));
        answered_on = std::this_thread::get_id();
        done = true;
      },
      asio::detached);
  const int ticks = run_counting_ticks(io, done);
  REQUIRE(report);
  CHECK(report->total.jobs == 100000);
  CHECK(report->total.peak_percentile(100) == 99999);
  CHECK(answered_on == std::this_thread::get_id());
  CHECK(ticks > 0); // the loop ran while the report was read (100,000 rows take well over 5 ms)
}

TEST_CASE("one report per user at a time; another user's is not refused", "[stats][report_thread]") {
  History h;
  add_many(h.path, 100000);
  asio::io_context io;
  ReportThread thread(h.path);
  int finished = 0;
  std::optional<ErrorInfo> refused;
  bool done = false;
  const auto all = window(0, std::numeric_limits<TimePoint>::max());
  for (std::uint32_t uid : {1001u, 1001u, 1002u})
    asio::co_spawn(
        io,
        [&, uid]() -> asio::awaitable<void> {
          try {
            co_await thread.stats(uid, all);
            ++finished;
          } catch (const Error& e) {
            refused = e.info();
          }
          if (finished + (refused ? 1 : 0) == 3) done = true;
        },
        asio::detached);
  run_counting_ticks(io, done);
  CHECK(finished == 2);
  REQUIRE(refused);
  CHECK_THAT(*refused, IsErrorInfo(ErrorCode::LimitExceeded, {"one at a time"}));
  // Once it has answered, the same user may ask again.
  done = false;
  io.restart();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await thread.stats(1001, all);
        done = true;
      },
      asio::detached);
  run_counting_ticks(io, done);
  CHECK(done);
}

TEST_CASE("a report that reads past its time limit is stopped with a message", "[stats][report_thread]") {
  History h;
  add_many(h.path, 100000);
  asio::io_context io;
  ReportThread thread(h.path, std::chrono::milliseconds(1));
  std::optional<ErrorInfo> error;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await thread.stats(1001, window(0, std::numeric_limits<TimePoint>::max()));
        } catch (const Error& e) {
          error = e.info();
        }
        done = true;
      },
      asio::detached);
  run_counting_ticks(io, done);
  REQUIRE(error);
  CHECK_THAT(*error, IsErrorInfo(ErrorCode::Unavailable, {"jobmand's limit", "--since"}));
}

TEST_CASE("a report whose waiter is cancelled is interrupted, and the thread serves the next", "[stats][report_thread]") {
  using namespace asio::experimental::awaitable_operators;
  History h;
  add_many(h.path, 150000);
  asio::io_context io;
  ReportThread thread(h.path);
  bool done = false;
  bool report_won = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io);
        timer.expires_after(std::chrono::milliseconds(2));
        auto first = co_await (thread.stats(1001, window(0, std::numeric_limits<TimePoint>::max())) || timer.async_wait(asio::use_awaitable));
        report_won = first.index() == 0;
        const auto again = window(0, 2000); // a small one: 1000 jobs
        StatsReport next = co_await thread.stats(1001, again);
        CHECK(next.total.jobs == 1000);
        done = true;
      },
      asio::detached);
  run_counting_ticks(io, done);
  CHECK(done);
  CHECK_FALSE(report_won);
  CHECK(thread.interrupted() == 1); // stopped in SQLite, not read to its end and thrown away
}
