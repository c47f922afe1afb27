// Tests for daemon/scheduler/scheduler.hpp (decide_outcome) and the start decisions of
// daemon/scheduler/queue_plan.hpp seen through a small adapter (fairness, priority,
// limits and dependencies are in test_queue_plan.cpp).

#include "daemon/scheduler/queue_plan.hpp"
#include "daemon/scheduler/scheduler.hpp"

#include "matchers.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using jobman::daemon::scheduler::decide_outcome;
using jobman::daemon::scheduler::Outcome;
using jobman::daemon::scheduler::StopCause;
using jobman::daemon::backend::ContainerExit;
using Ids = std::vector<JobId>;

namespace {
// Which jobs plan_queue starts, for jobs of one user.
Ids pick_jobs_to_start(const std::vector<Job>& active, int max_running, int free_gpus) {
  std::vector<jobman::daemon::store::QueueEntry> entries;
  for (const auto& j : active) {
    jobman::daemon::store::QueueEntry e;
    e.id = j.id;
    e.uid = j.uid;
    e.state = j.state;
    e.gpus = j.spec.resources.gpus;
    entries.push_back(e);
  }
  return jobman::daemon::scheduler::plan_queue(entries, {max_running, 0, free_gpus}).start;
}

Job job(JobId id, JobState state) {
  Job j;
  j.id = id;
  j.state = state;
  return j;
}
constexpr auto Q = JobState::Queued;
constexpr auto S = JobState::Starting;
constexpr auto R = JobState::Running;
} // namespace

TEST_CASE("pick_jobs_to_start fills free slots in the order given", "[scheduler]") {
  CHECK(pick_jobs_to_start({job(1, Q), job(2, Q), job(3, Q)}, 2, 0) == Ids{1, 2});
  CHECK(pick_jobs_to_start({job(1, Q), job(2, Q), job(3, Q)}, 5, 0) == Ids{1, 2, 3});
  // FIFO follows the order of `active`, not the ids.
  CHECK(pick_jobs_to_start({job(7, Q), job(3, Q), job(9, Q)}, 2, 0) == Ids{3, 7}); // oldest first
}

TEST_CASE("pick_jobs_to_start counts STARTING and RUNNING jobs as busy", "[scheduler]") {
  CHECK(pick_jobs_to_start({job(1, R), job(2, Q), job(3, Q), job(4, Q)}, 3, 0) == Ids{2, 3});
  CHECK(pick_jobs_to_start({job(1, S), job(2, Q), job(3, Q)}, 2, 0) == Ids{2});
  // Busy jobs later in the list still count before anything is picked.
  CHECK(pick_jobs_to_start({job(1, Q), job(2, Q), job(3, R)}, 2, 0) == Ids{1});
  CHECK(pick_jobs_to_start({job(1, Q), job(2, S), job(3, Q), job(4, R)}, 3, 0) == Ids{1});
}

TEST_CASE("pick_jobs_to_start picks nothing when full", "[scheduler]") {
  CHECK(pick_jobs_to_start({job(1, R), job(2, S), job(3, Q)}, 2, 0).empty());
  CHECK(pick_jobs_to_start({job(1, R), job(2, R), job(3, R), job(4, Q)}, 2, 0).empty()); // over-full
  CHECK(pick_jobs_to_start({job(1, Q)}, 0, 0).empty());
  CHECK(pick_jobs_to_start({}, 4, 0).empty());
  CHECK(pick_jobs_to_start({job(1, R), job(2, S)}, 4, 0).empty()); // nothing queued
}

TEST_CASE("pick_jobs_to_start ignores ended jobs", "[scheduler]") {
  CHECK(pick_jobs_to_start({job(1, JobState::Succeeded), job(2, JobState::Failed), job(3, Q), job(4, Q)}, 1, 0) == Ids{3});
}

// --- GPU backfill -----------------------------------------------------------------------

namespace {
Job gpu_job(JobId id, int gpus, JobState state = Q) {
  Job j = job(id, state);
  j.spec.resources.gpus = gpus;
  return j;
}
} // namespace

TEST_CASE("pick_jobs_to_start lets later jobs that fit pass a job waiting for GPUs", "[scheduler]") {
  const std::vector<Job> queue{gpu_job(1, 2), gpu_job(2, 1), gpu_job(3, 0)};
  CHECK(pick_jobs_to_start(queue, 5, 0) == Ids{3});
  CHECK(pick_jobs_to_start(queue, 5, 1) == Ids{2, 3});
  CHECK(pick_jobs_to_start(queue, 5, 2) == Ids{1, 3}); // job 1 takes both; job 2 waits
  CHECK(pick_jobs_to_start(queue, 5, 3) == Ids{1, 2, 3});
  CHECK(pick_jobs_to_start(queue, 5, 8) == Ids{1, 2, 3});
}

TEST_CASE("pick_jobs_to_start counts GPUs given to jobs picked earlier in the same call", "[scheduler]") {
  CHECK(pick_jobs_to_start({gpu_job(1, 1), gpu_job(2, 1), gpu_job(3, 1)}, 5, 2) == Ids{1, 2});
  CHECK(pick_jobs_to_start({gpu_job(1, 1), gpu_job(2, 2), gpu_job(3, 1)}, 5, 2) == Ids{1, 3});
  CHECK(pick_jobs_to_start({gpu_job(1, 3), gpu_job(2, 2), gpu_job(3, 2)}, 5, 4) == Ids{1});
}

TEST_CASE("pick_jobs_to_start backfill still respects max_running", "[scheduler]") {
  const std::vector<Job> queue{gpu_job(1, 2), gpu_job(2, 0), gpu_job(3, 0), gpu_job(4, 1)};
  CHECK(pick_jobs_to_start(queue, 1, 1) == Ids{2});
  CHECK(pick_jobs_to_start(queue, 2, 1) == Ids{2, 3});
  CHECK(pick_jobs_to_start(queue, 3, 1) == Ids{2, 3, 4});
  // Running GPU jobs use slots; their GPUs are already out of `free_gpus`.
  CHECK(pick_jobs_to_start({gpu_job(1, 2, R), gpu_job(2, 1), gpu_job(3, 0)}, 2, 0) == Ids{3});
}

// --- decide_outcome ---------------------------------------------------------------------

namespace {

const Config& outcome_config() {
  static const Config config = parse_config(R"({"flavors": [
    {"name": "small", "memory": "1G"},
    {"name": "medium", "memory": "8G"},
    {"name": "tiny", "memory": "512M"},
    {"name": "large", "memory": "1536M"}
  ]})", "test");
  return config;
}

Job ran_job(std::string flavor = "small", std::int64_t memory = 1LL << 30) {
  Job j = job(5, R);
  j.spec.flavor = std::move(flavor);
  j.spec.resources.memory = memory;
  j.spec.resources.time_limit = 60;
  j.started_at = now_ms() - 90'000;
  return j;
}

ContainerExit exited(std::optional<int> code, std::optional<int> signal = std::nullopt) {
  ContainerExit exit;
  exit.status.code = code;
  exit.status.signal = signal;
  return exit;
}

ContainerExit oom_killed() {
  ContainerExit exit = exited(137);
  exit.oom_killed = true;
  return exit;
}

ContainerExit engine_failed(std::string message) {
  ContainerExit exit = exited(125);
  exit.engine_failed = true;
  exit.message = std::move(message);
  return exit;
}

Outcome outcome(StopCause cause, const ContainerExit& exit, const Job& j = ran_job(), const std::string& cancel_reason = {}) {
  return decide_outcome(j, cause, cancel_reason, exit, outcome_config());
}

} // namespace

TEST_CASE("a job that exits 0 succeeded", "[scheduler]") {
  Outcome o = outcome(StopCause::None, exited(0));
  CHECK(o.state == JobState::Succeeded);
  CHECK(o.reason == "the job exited with exit code 0");
}

TEST_CASE("a job that exits otherwise failed, with its code or signal", "[scheduler]") {
  Outcome code = outcome(StopCause::None, exited(3));
  CHECK(code.state == JobState::Failed);
  CHECK(code.reason == "the job exited with exit code 3");
  Outcome killed = outcome(StopCause::None, exited(137));
  CHECK(killed.state == JobState::Failed); // 137 without the kernel's word is not OOM
  CHECK(killed.reason == "the job exited with exit code 137");
  Outcome signal = outcome(StopCause::None, exited(std::nullopt, 9));
  CHECK(signal.state == JobState::Failed);
  CHECK(signal.reason == "the job exited with signal 9");
  Outcome unknown = outcome(StopCause::None, exited(std::nullopt));
  CHECK(unknown.state == JobState::Failed);
  CHECK(unknown.reason == "the job exited with unknown status");
}

TEST_CASE("an engine failure is a failure in the engine's words", "[scheduler]") {
  Outcome o = outcome(StopCause::None, engine_failed("Error: runc: exec: \"python\": executable file not found in $PATH"));
  CHECK(o.state == JobState::Failed);
  CHECK(o.reason == "the container engine failed: Error: runc: exec: \"python\": executable file not found in $PATH");
}

TEST_CASE("an OOM kill names the flavor's memory and the flavors with more", "[scheduler]") {
  Outcome o = outcome(StopCause::None, oom_killed());
  CHECK(o.state == JobState::OomKilled);
  CHECK(o.reason == "out of memory: the job needed more than the 1G of flavor 'small'; "
                    "try a flavor with more memory: medium (8G), large (1536M)");
}

TEST_CASE("an OOM kill in the largest flavor points at the admin", "[scheduler]") {
  Outcome o = outcome(StopCause::None, oom_killed(), ran_job("medium", 8LL << 30));
  CHECK(o.state == JobState::OomKilled);
  CHECK(o.reason == "out of memory: the job needed more than the 8G of flavor 'medium'; "
                    "ask the platform admin for a flavor with more memory");
}

TEST_CASE("OOM wins over an engine failure and the exit code", "[scheduler]") {
  ContainerExit exit = engine_failed("container exited on signal 9");
  exit.oom_killed = true;
  CHECK(outcome(StopCause::None, exit).state == JobState::OomKilled);
  ContainerExit zero = exited(0);
  zero.oom_killed = true;
  CHECK(outcome(StopCause::None, zero).state == JobState::OomKilled);
}

TEST_CASE("a job stopped at its time limit timed out, whatever its exit", "[scheduler]") {
  for (const ContainerExit& exit : {exited(143), exited(0), oom_killed(), engine_failed("x")}) {
    Outcome o = outcome(StopCause::TimedOut, exit);
    CHECK(o.state == JobState::Timeout);
    CHECK(o.reason == "stopped after 1m 30s at its time limit of 1m");
  }
  Job never_started = ran_job();
  never_started.started_at.reset();
  never_started.spec.resources.time_limit = 7200;
  CHECK(outcome(StopCause::TimedOut, exited(143), never_started).reason == "stopped after 0s at its time limit of 2h");
}

TEST_CASE("a cancelled job is cancelled with the canceller's reason, whatever else happened", "[scheduler]") {
  for (const ContainerExit& exit : {exited(143), exited(0), oom_killed(), engine_failed("x")}) {
    Outcome o = outcome(StopCause::Cancelled, exit, ran_job(), "cancelled by alice");
    CHECK(o.state == JobState::Cancelled);
    CHECK(o.reason == "cancelled by alice");
  }
}

TEST_CASE("an OOM kill names the peak measured, and the outcome carries the usage", "[scheduler]") {
  ContainerExit exit = oom_killed();
  exit.usage = Usage{1020LL << 20, 1000LL << 20, 1200, 1000, 200, "cgroup v1"};
  Outcome o = outcome(StopCause::None, exit);
  CHECK(o.state == JobState::OomKilled);
  CHECK(o.reason == "out of memory: the job needed more than the 1G of flavor 'small' (peak sampled: 1000M, up to a second before the kill); "
                    "try a flavor with more memory: medium (8G), large (1536M)");
  CHECK(o.usage == exit.usage);
  ContainerExit ok = exited(0);
  ok.usage = Usage{1, 1, 2, 1, 1, "cgroup v2"};
  CHECK(outcome(StopCause::None, ok).usage == ok.usage);
  CHECK_FALSE(outcome(StopCause::None, exited(0)).usage);
}
