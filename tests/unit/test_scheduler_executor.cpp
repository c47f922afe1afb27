// The Scheduler (daemon/scheduler/scheduler.hpp) against a fake executor, as ninja tests
// its builder against a FakeCommandRunner: jobs start, run and end as the fake says, with
// no engine and no Slurm. What a real engine and a real cluster do is in the end-to-end
// suites; this is the scheduler's own logic: slots, states, reasons, time limits counted
// from RUNNING on a queueing backend, backend ids and nodes, recovery decisions.

#include "daemon/scheduler/scheduler.hpp"

#include "temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

using namespace jobman;
using namespace jobman::daemon;
namespace asio = boost::asio;
using backend::ContainerExit;
using backend::ContainerPresence;
using backend::StartState;

namespace {

// Scripted: what start answers, whether a job has started (and where, or what it waits
// for), and when and how it ends (end()). Every call is recorded.
class FakeExecutor final : public backend::Backend {
public:
  explicit FakeExecutor(asio::io_context& io) : m_io(io) {}
  bool queueing = false;
  std::optional<ErrorInfo> start_error;
  std::map<JobId, StartState> started; // default: started at once
  std::map<JobId, ContainerPresence> presences;
  std::vector<JobId> starts, stops;

  // Ends job `id` with `exit` (its wait() completes).
  void end(JobId id, ContainerExit exit) {
    m_exits[id] = std::move(exit);
    timer(id)->cancel();
  }
  bool waiting(JobId id) const { return m_waiting.contains(id); }

  bool hold_starts = false; // start() waits until release_starts()
  int in_start = 0, most_in_start = 0;
  void release_starts() {
    hold_starts = false;
    m_gate->cancel();
  }

  asio::awaitable<Result<std::string>> start(Job job, std::string log_path) override {
    starts.push_back(job.id);
    m_exits.erase(job.id); // a retried job's next attempt ends on its own
    ++in_start;
    most_in_start = std::max(most_in_start, in_start);
    while (hold_starts) {
      boost::system::error_code ec;
      co_await m_gate->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    --in_start;
    std::ofstream{log_path}; // the engine's output would go there
    if (start_error) co_return *start_error;
    co_return "fake-" + std::to_string(job.id);
  }
  asio::awaitable<ContainerExit> wait(Job job, std::string) override {
    m_waiting.insert(job.id);
    auto t = timer(job.id);
    while (!m_exits.contains(job.id)) {
      boost::system::error_code ec;
      co_await t->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    m_waiting.erase(job.id);
    ContainerExit exit = m_exits.at(job.id);
    co_return exit;
  }
  asio::awaitable<std::optional<StartState>> has_started(Job job) override {
    auto it = started.find(job.id);
    co_return it == started.end() ? StartState{true, "", ""} : it->second;
  }
  asio::awaitable<void> stop(Job job, std::chrono::seconds) override {
    stops.push_back(job.id);
    ContainerExit exit;
    exit.status.code = 143;
    end(job.id, exit);
    co_return;
  }
  asio::awaitable<void> remove(Job) override { co_return; }
  asio::awaitable<ContainerPresence> presence(Job job) override {
    auto it = presences.find(job.id);
    co_return it == presences.end() ? ContainerPresence::Missing : it->second;
  }
  asio::awaitable<Result<std::vector<policy::ImageInfo>>> list_images() override { co_return std::vector<policy::ImageInfo>{}; }
  asio::awaitable<Result<std::vector<std::string>>> list_containers(const std::string&) override { co_return std::vector<std::string>{}; }
  void detach_all() override {}
  std::vector<std::string> engine_argv(const Job& job) const override { return {"engine", "run", job.container}; }
  bool queues_jobs() const override { return queueing; }

private:
  std::shared_ptr<asio::steady_timer> timer(JobId id) {
    auto& t = m_timers[id];
    if (!t) t = std::make_shared<asio::steady_timer>(m_io, asio::steady_timer::time_point::max());
    return t;
  }
  asio::io_context& m_io;
  std::shared_ptr<asio::steady_timer> m_gate = std::make_shared<asio::steady_timer>(m_io, asio::steady_timer::time_point::max());
  std::map<JobId, std::shared_ptr<asio::steady_timer>> m_timers;
  std::map<JobId, ContainerExit> m_exits;
  std::set<JobId> m_waiting;
};

struct World {
  test::TempDir dir;
  asio::io_context io;
  Config config;
  std::unique_ptr<store::JobStore> store;
  FakeExecutor executor{io};
  scheduler::JobWatch watch;
  scheduler::GpuAllocator gpus;
  std::unique_ptr<scheduler::Scheduler> sched;

  explicit World(bool queueing = false, int max_running = 2) {
    config.state_dir = dir.path().string();
    std::filesystem::create_directories(dir.path() / "logs");
    config.limits.max_running = max_running;
    config.limits.kill_grace = std::chrono::seconds(1);
    config.engine.command_timeout = std::chrono::seconds(1);
    store = std::make_unique<store::JobStore>(dir.file("jobman.db"));
    executor.queueing = queueing;
    sched = std::make_unique<scheduler::Scheduler>(io.get_executor(), config, *store, executor, watch, gpus);
  }
  ~World() {
    sched->shutdown();
    io.run_for(std::chrono::milliseconds(50));
  }
  JobId submit(std::int64_t time_limit = 3600, int retries = 0) {
    Job job;
    job.spec.retries = retries;
    job.uid = ::getuid(); // the start-time mount check runs as the submitter (no templates here)
    job.gid = ::getgid();
    job.user = "tester";
    job.spec.image = "app:1.0";
    job.spec.image_id = "sha256:abc";
    job.spec.flavor = "default";
    job.spec.resources.time_limit = time_limit;
    Job stored = store->insert(std::move(job), [](const Job& j) { return std::vector<std::string>{"engine", "run", j.container}; });
    sched->queued();
    return stored.id;
  }
  Job job(JobId id) { return store->get(id).value(); }
  // A job a previous jobmand left STARTING (for recover()), not scheduled by this one.
  Job left_starting() {
    Job job;
    job.uid = ::getuid();
    job.gid = ::getgid();
    job.user = "tester";
    job.spec.image = "app:1.0";
    job.spec.image_id = "sha256:abc";
    job.spec.resources.time_limit = 3600;
    Job stored = store->insert(std::move(job), [](const Job& j) { return std::vector<std::string>{"engine", "run", j.container}; });
    return store->transition(stored.id, JobState::Starting, "a slot is free");
  }
  // Runs the loop until `done` or `limit` passes; whether `done` held.
  template <class F> bool run_until(F done, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
      io.restart(); // a run_for that ran out of work left the context stopped
      io.run_for(std::chrono::milliseconds(10));
    }
    return done();
  }
  bool reaches(JobId id, JobState state, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    return run_until([&] { return job(id).state == state; }, limit);
  }
};

ContainerExit exited(int code) {
  ContainerExit exit;
  exit.status.code = code;
  return exit;
}

} // namespace

TEST_CASE("scheduler + fake executor: a job runs, ends with its exit code, and keeps the backend's id", "[scheduler][executor]") {
  World w;
  JobId id = w.submit();
  REQUIRE(w.reaches(id, JobState::Running));
  CHECK(w.executor.starts == std::vector<JobId>{id});
  CHECK(w.job(id).backend_id == "fake-" + std::to_string(id));
  REQUIRE(w.run_until([&] { return w.executor.waiting(id); }));
  w.executor.end(id, exited(7));
  REQUIRE(w.reaches(id, JobState::Failed));
  CHECK(w.job(id).exit_code == 7);
  CHECK(w.job(id).reason == "the job exited with exit code 7");
}

TEST_CASE("scheduler + fake executor: max_running slots; the next starts when one ends", "[scheduler][executor]") {
  World w(false, 2);
  JobId a = w.submit(), b = w.submit(), c = w.submit();
  REQUIRE(w.reaches(b, JobState::Running));
  CHECK(w.job(c).state == JobState::Queued);
  REQUIRE(w.run_until([&] { return w.executor.waiting(a); }));
  w.executor.end(a, exited(0));
  REQUIRE(w.reaches(a, JobState::Succeeded));
  REQUIRE(w.reaches(c, JobState::Running));
  CHECK(w.executor.starts.size() == 3);
}

TEST_CASE("scheduler + fake executor: a start the backend refuses fails the job with its words", "[scheduler][executor]") {
  World w;
  w.executor.start_error = ErrorInfo{ErrorCode::EngineError, "Slurm refused the job: invalid partition"};
  JobId id = w.submit();
  REQUIRE(w.reaches(id, JobState::Failed));
  CHECK(w.job(id).reason == "Slurm refused the job: invalid partition");
}

TEST_CASE("scheduler + fake executor: a queueing backend's pending job stays STARTING with the backend's reason, untimed", "[scheduler][executor]") {
  World w(true);
  JobId id = w.submit(1); // a 1 s limit, counted from RUNNING
  w.executor.started[id] = StartState{false, "", "Slurm job 9: PENDING (Resources)"};
  REQUIRE(w.run_until([&] { return w.job(id).reason == "Slurm job 9: PENDING (Resources)"; }));
  // Past engine.command_timeout (1 s) and the time limit: still pending, never stopped.
  w.io.restart();
  w.io.run_for(std::chrono::milliseconds(2500));
  CHECK(w.job(id).state == JobState::Starting);
  CHECK(w.executor.stops.empty());
  // It runs: RUNNING with its node; the time limit counts from now.
  w.executor.started[id] = StartState{true, "n2", ""};
  REQUIRE(w.reaches(id, JobState::Running));
  CHECK(w.job(id).node == "n2");
  const TimePoint running_at = w.job(id).started_at.value();
  REQUIRE(w.reaches(id, JobState::Timeout));
  CHECK(w.executor.stops == std::vector<JobId>{id});
  CHECK(w.job(id).ended_at.value() - running_at >= 1000);
}

TEST_CASE("scheduler + fake executor: a local backend's hung start is stopped after engine.command_timeout", "[scheduler][executor]") {
  World w(false);
  JobId id = w.submit();
  w.executor.started[id] = StartState{false, "", ""};
  REQUIRE(w.run_until([&] { return !w.executor.stops.empty(); }, std::chrono::milliseconds(6000)));
  REQUIRE(w.reaches(id, JobState::Failed));
}

TEST_CASE("scheduler + fake executor: lost, cancelled outside, timed out by the backend", "[scheduler][executor]") {
  World w(true, 4);
  JobId lost = w.submit(), cancelled = w.submit(), timed = w.submit();
  REQUIRE(w.run_until([&] { return w.executor.waiting(lost) && w.executor.waiting(cancelled) && w.executor.waiting(timed); }));
  ContainerExit l;
  l.lost = true;
  l.message = "Slurm job 3 ended NODE_FAIL: node n2 failed";
  l.node = "n2";
  w.executor.end(lost, l);
  ContainerExit c = exited(143);
  c.cancelled = true;
  c.message = "Slurm job 4 was cancelled in Slurm (CANCELLED), not through jobman";
  w.executor.end(cancelled, c);
  ContainerExit t = exited(143);
  t.timed_out = true;
  w.executor.end(timed, t);
  REQUIRE(w.reaches(lost, JobState::Lost));
  CHECK(w.job(lost).reason == l.message);
  CHECK(w.job(lost).node == "n2");
  REQUIRE(w.reaches(cancelled, JobState::Cancelled));
  CHECK(w.job(cancelled).reason == c.message);
  REQUIRE(w.reaches(timed, JobState::Timeout));
}

TEST_CASE("scheduler + fake executor: recovery relaunches a STARTING job the backend never had, once", "[scheduler][executor]") {
  // As if jobmand had died before the backend took it: STARTING, and the backend says missing.
  World again(true);
  Job stored = again.left_starting();
  again.executor.presences[stored.id] = ContainerPresence::Missing;
  again.sched->recover();
  REQUIRE(again.reaches(stored.id, JobState::Running, std::chrono::milliseconds(15000)));
  CHECK(again.executor.starts == std::vector<JobId>{stored.id});
}

TEST_CASE("scheduler + fake executor: recovery keeps a job the queueing backend still holds STARTING", "[scheduler][executor]") {
  World w(true);
  Job stored = w.left_starting();
  w.executor.presences[stored.id] = ContainerPresence::Running; // pending in Slurm
  w.executor.started[stored.id] = StartState{false, "", "Slurm job 5: PENDING (Priority)"};
  w.sched->recover();
  REQUIRE(w.run_until([&] { return w.job(stored.id).reason == "Slurm job 5: PENDING (Priority)"; }));
  CHECK(w.job(stored.id).state == JobState::Starting);
  CHECK(w.executor.starts.empty()); // never submitted again
  w.executor.started[stored.id] = StartState{true, "n1", ""};
  REQUIRE(w.reaches(stored.id, JobState::Running));
  w.executor.end(stored.id, exited(0));
  REQUIRE(w.reaches(stored.id, JobState::Succeeded));
}

TEST_CASE("scheduler + fake executor: at most 4 launches at a time, however many slots are free", "[scheduler][executor]") {
  World w(true, 100); // Slurm-like: 100 slots
  w.executor.hold_starts = true;
  std::vector<JobId> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(w.submit());
  REQUIRE(w.run_until([&] { return w.executor.in_start == 4; }));
  w.io.restart();
  w.io.run_for(std::chrono::milliseconds(300));
  CHECK(w.executor.starts.size() == 4); // the other 6 wait QUEUED, none failed
  CHECK(w.job(ids.back()).state == JobState::Queued);
  w.executor.release_starts();
  REQUIRE(w.run_until([&] { return w.executor.starts.size() == 10; }));
  for (JobId id : ids) REQUIRE(w.reaches(id, JobState::Running));
  CHECK(w.executor.most_in_start <= 4);
}

TEST_CASE("scheduler + fake executor: a lost job with retries left is queued again, the same job, after the delay", "[scheduler][executor][retry]") {
  World w(true, 2);
  w.config.limits.retry_delay = std::chrono::seconds(1);
  JobId id = w.submit(3600, 1);
  REQUIRE(w.run_until([&] { return w.executor.waiting(id); }));
  ContainerExit lost;
  lost.lost = true;
  lost.message = "Slurm job 3 ended NODE_FAIL: node n2 failed";
  w.executor.end(id, lost);
  REQUIRE(w.reaches(id, JobState::Queued));
  const Job queued = w.job(id);
  CHECK(queued.attempt == 2);
  CHECK(queued.reason == "attempt 1 of 2 ended LOST: Slurm job 3 ended NODE_FAIL: node n2 failed; queued again to start in 1s");
  CHECK_FALSE(queued.started_at);
  CHECK(queued.backend_id.empty());
  REQUIRE(queued.not_before);
  // Not before its time, then started again by the wake-up alone (nothing else happens).
  w.io.restart();
  w.io.run_for(std::chrono::milliseconds(500));
  CHECK(w.job(id).state == JobState::Queued);
  CHECK(w.executor.starts.size() == 1);
  REQUIRE(w.run_until([&] { return w.executor.starts.size() == 2 && w.executor.waiting(id); }));
  CHECK(w.job(id).state != JobState::Queued);
  CHECK(now_ms() >= *queued.not_before);
  // Its retries spent, the next loss is final, and says which attempt it was.
  w.executor.end(id, lost);
  REQUIRE(w.reaches(id, JobState::Lost));
  CHECK(w.job(id).reason == "Slurm job 3 ended NODE_FAIL: node n2 failed (attempt 2 of 2)");
}

TEST_CASE("scheduler + fake executor: an engine failure is retried; the job's own exit, a cancel or a timeout never are", "[scheduler][executor][retry]") {
  World w(false, 4);
  w.config.limits.retry_delay = std::chrono::seconds(1);
  w.executor.start_error = ErrorInfo{ErrorCode::EngineError, "the container engine failed: no such runtime"};
  JobId refused = w.submit(3600, 1);
  REQUIRE(w.run_until([&] { return w.job(refused).attempt == 2; }));
  REQUIRE(w.reaches(refused, JobState::Failed));
  CHECK(w.job(refused).reason == "the container engine failed: no such runtime (attempt 2 of 2)");
  CHECK(w.executor.starts.size() == 2);

  w.executor.start_error.reset();
  JobId own = w.submit(3600, 3), gone = w.submit(3600, 3), slow = w.submit(1, 3);
  REQUIRE(w.run_until([&] { return w.executor.waiting(own) && w.executor.waiting(gone); }));
  w.executor.end(own, exited(3));
  REQUIRE(w.reaches(own, JobState::Failed));
  CHECK(w.job(own).attempt == 1);
  w.sched->cancel(w.job(gone), "deleted by tester"); // the fake's stop ends it (143)
  REQUIRE(w.reaches(gone, JobState::Cancelled));
  CHECK(w.job(gone).attempt == 1);
  REQUIRE(w.reaches(slow, JobState::Timeout)); // stopped at its 1 s limit
  CHECK(std::count(w.executor.stops.begin(), w.executor.stops.end(), slow) == 1);
  CHECK(w.job(slow).attempt == 1);
}
