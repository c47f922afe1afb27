// Tests for daemon/scheduler/scheduler.hpp: pick_jobs_to_start.

#include "daemon/scheduler/scheduler.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using jobman::daemon::scheduler::pick_jobs_to_start;
using Ids = std::vector<JobId>;

namespace {
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
  CHECK(pick_jobs_to_start({job(1, Q), job(2, Q), job(3, Q)}, 2) == Ids{1, 2});
  CHECK(pick_jobs_to_start({job(1, Q), job(2, Q), job(3, Q)}, 5) == Ids{1, 2, 3});
  // FIFO follows the order of `active`, not the ids.
  CHECK(pick_jobs_to_start({job(7, Q), job(3, Q), job(9, Q)}, 2) == Ids{7, 3});
}

TEST_CASE("pick_jobs_to_start counts STARTING and RUNNING jobs as busy", "[scheduler]") {
  CHECK(pick_jobs_to_start({job(1, R), job(2, Q), job(3, Q), job(4, Q)}, 3) == Ids{2, 3});
  CHECK(pick_jobs_to_start({job(1, S), job(2, Q), job(3, Q)}, 2) == Ids{2});
  // Busy jobs later in the list still count before anything is picked.
  CHECK(pick_jobs_to_start({job(1, Q), job(2, Q), job(3, R)}, 2) == Ids{1});
  CHECK(pick_jobs_to_start({job(1, Q), job(2, S), job(3, Q), job(4, R)}, 3) == Ids{1});
}

TEST_CASE("pick_jobs_to_start picks nothing when full", "[scheduler]") {
  CHECK(pick_jobs_to_start({job(1, R), job(2, S), job(3, Q)}, 2).empty());
  CHECK(pick_jobs_to_start({job(1, R), job(2, R), job(3, R), job(4, Q)}, 2).empty()); // over-full
  CHECK(pick_jobs_to_start({job(1, Q)}, 0).empty());
  CHECK(pick_jobs_to_start({}, 4).empty());
  CHECK(pick_jobs_to_start({job(1, R), job(2, S)}, 4).empty()); // nothing queued
}

TEST_CASE("pick_jobs_to_start ignores ended jobs", "[scheduler]") {
  CHECK(pick_jobs_to_start({job(1, JobState::Succeeded), job(2, JobState::Failed), job(3, Q), job(4, Q)}, 1) == Ids{3});
}
