// Tests for daemon/scheduler/queue_plan.hpp: fair order across users, priorities,
// per-user limits, GPUs and dependencies, and what each queued job waits for.

#include "daemon/scheduler/queue_plan.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using namespace jobman::daemon::scheduler;
using jobman::daemon::store::QueueEntry;
using Ids = std::vector<JobId>;

namespace {

QueueEntry entry(JobId id, std::uint32_t uid, JobState state = JobState::Queued, int priority = 0, int gpus = 0) {
  QueueEntry e;
  e.id = id;
  e.uid = uid;
  e.state = state;
  e.priority = priority;
  e.gpus = gpus;
  return e;
}

Ids order(const QueuePlan& plan) {
  Ids ids;
  for (const auto& p : plan.queued) ids.push_back(p.id);
  return ids;
}

const PlannedJob& planned(const QueuePlan& plan, JobId id) {
  for (const auto& p : plan.queued)
    if (p.id == id) return p;
  FAIL("job " << id << " not planned");
  throw;
}

} // namespace

TEST_CASE("a user with 500 queued jobs does not starve a user with one", "[queue_plan]") {
  std::vector<QueueEntry> active;
  for (JobId id = 1; id <= 500; ++id) active.push_back(entry(id, 1000));
  active.push_back(entry(501, 2000));
  auto plan = plan_queue(active, {2, 0, 0});
  CHECK(plan.start == Ids{1, 501}); // one each
  CHECK(planned(plan, 501).position == 2);
  CHECK(planned(plan, 2).position == 3);
  CHECK(planned(plan, 2).waits_for == WaitReason::Slot);
}

TEST_CASE("the user with the fewest running jobs goes first", "[queue_plan]") {
  std::vector<QueueEntry> active{entry(1, 1000, JobState::Running), entry(2, 1000, JobState::Running), entry(3, 1000),
                                 entry(4, 2000, JobState::Running), entry(5, 2000), entry(6, 3000)};
  auto plan = plan_queue(active, {5, 0, 0});
  CHECK(plan.start == Ids{6, 5});
  CHECK(order(plan) == Ids{6, 5, 3});
  CHECK(planned(plan, 3).waits_for == WaitReason::Slot);
}

TEST_CASE("FIFO within a user, reordered by priority", "[queue_plan]") {
  auto plan = plan_queue({entry(1, 1000), entry(2, 1000, JobState::Queued, 5), entry(3, 1000), entry(4, 1000, JobState::Queued, -1)}, {1, 0, 0});
  CHECK(order(plan) == Ids{2, 1, 3, 4});
  CHECK(plan.start == Ids{2});
}

TEST_CASE("a user's own priority does not jump other users; an admin's global one does", "[queue_plan]") {
  auto users = plan_queue({entry(1, 1000), entry(2, 2000), entry(3, 2000, JobState::Queued, 100)}, {3, 0, 0});
  CHECK(order(users) == Ids{1, 3, 2});
  auto admin = plan_queue({entry(1, 1000), entry(2, 1000), entry(3, 0, JobState::Queued, 500)}, {1, 0, 0});
  CHECK(order(admin) == Ids{3, 1, 2});
  CHECK(admin.start == Ids{3});
}

TEST_CASE("the per-user limit holds a user's jobs back but not others'", "[queue_plan]") {
  auto plan = plan_queue({entry(1, 1000, JobState::Running), entry(2, 1000), entry(3, 2000)}, {4, 1, 0});
  CHECK(plan.start == Ids{3});
  CHECK(planned(plan, 2).waits_for == WaitReason::UserLimit);
  CHECK(planned(plan, 2).detail == "1 of this user's jobs are running; the per-user limit is 1");
}

TEST_CASE("GPU jobs wait for GPUs while jobs that fit pass", "[queue_plan]") {
  auto plan = plan_queue({entry(1, 1000, JobState::Queued, 0, 2), entry(2, 2000, JobState::Queued, 0, 0)}, {4, 0, 1});
  CHECK(plan.start == Ids{2});
  CHECK(planned(plan, 1).waits_for == WaitReason::Gpu);
  CHECK(planned(plan, 1).detail == "needs 2 GPUs, 1 free");
}

TEST_CASE("dependencies: wait until all succeeded, cancel when one ended otherwise", "[queue_plan]") {
  QueueEntry waiting = entry(3, 1000);
  waiting.dependencies = {{1, JobState::Succeeded}, {2, JobState::Running}};
  QueueEntry ready = entry(4, 1000);
  ready.dependencies = {{1, JobState::Succeeded}};
  QueueEntry doomed = entry(5, 1000);
  doomed.dependencies = {{1, JobState::Succeeded}, {6, JobState::Failed}};
  auto plan = plan_queue({entry(2, 1000, JobState::Running), waiting, ready, doomed}, {4, 0, 0});
  CHECK(plan.start == Ids{4});
  CHECK(planned(plan, 3).waits_for == WaitReason::Dependency);
  CHECK(planned(plan, 3).detail == "waits for job 2 to succeed");
  REQUIRE(plan.cancel.size() == 1);
  CHECK(plan.cancel[0] == std::pair<JobId, std::string>{5, "dependency 6 ended FAILED"});
  CHECK(order(plan) == Ids{3, 4});
}

TEST_CASE("dependency kinds: any waits for an end in whatever state, notok for an end other than success", "[queue_plan][after]") {
  using K = AfterKind;
  QueueEntry summary = entry(10, 1000); // after any: one failed, one still running
  summary.dependencies = {{1, JobState::Failed, K::Any}, {2, JobState::Running, K::Any}};
  QueueEntry cohort = entry(11, 1000); // after any: all ended, however
  cohort.dependencies = {{1, JobState::Failed, K::Any}, {3, JobState::Cancelled, K::Any}, {4, JobState::Succeeded, K::Any}};
  QueueEntry cleanup = entry(12, 1000); // after notok: it failed
  cleanup.dependencies = {{1, JobState::Failed, K::NotOk}};
  QueueEntry spared = entry(13, 1000); // after notok: it succeeded, so never
  spared.dependencies = {{4, JobState::Succeeded, K::NotOk}};
  QueueEntry mixed = entry(14, 1000);
  mixed.dependencies = {{2, JobState::Running, K::Ok}, {5, JobState::Queued, K::Any}, {6, JobState::Starting, K::NotOk},
                        {7, JobState::Running, K::Any}};
  auto plan = plan_queue({entry(2, 1000, JobState::Running), summary, cohort, cleanup, spared, mixed}, {8, 0, 0});
  CHECK(plan.start == Ids{11, 12});
  CHECK(planned(plan, 10).detail == "waits for job 2 to end");
  CHECK(planned(plan, 14).detail == "waits for job 2 to succeed, jobs 5, 7 to end, job 6 to fail");
  REQUIRE(plan.cancel.size() == 1);
  CHECK(plan.cancel[0] == std::pair<JobId, std::string>{13, "dependency 4 succeeded (it was to run only if that one did not)"});
}

TEST_CASE("dependency_met says, per kind, whether an ended job lets its dependent run", "[queue_plan][after]") {
  for (JobState active : {JobState::Queued, JobState::Starting, JobState::Running})
    for (AfterKind kind : {AfterKind::Ok, AfterKind::Any, AfterKind::NotOk}) CHECK_FALSE(dependency_met(kind, active));
  CHECK(dependency_met(AfterKind::Ok, JobState::Succeeded) == true);
  CHECK(dependency_met(AfterKind::Ok, JobState::Lost) == false);
  CHECK(dependency_met(AfterKind::NotOk, JobState::Succeeded) == false);
  for (JobState bad : {JobState::Failed, JobState::Cancelled, JobState::Timeout, JobState::OomKilled, JobState::Lost}) {
    CHECK(dependency_met(AfterKind::NotOk, bad) == true);
    CHECK(dependency_met(AfterKind::Any, bad) == true);
  }
  CHECK(after_kind_from_string("afterany") == AfterKind::Any);
  CHECK(after_kind_from_string("notok") == AfterKind::NotOk);
  CHECK(after_kind_from_string("ok") == AfterKind::Ok);
  for (const char* bad : {"", "OK", "after", "any ", "sideways"}) CHECK_FALSE(after_kind_from_string(bad));
}

TEST_CASE("slots count STARTING and RUNNING jobs of everyone", "[queue_plan]") {
  auto plan = plan_queue({entry(1, 1000, JobState::Starting), entry(2, 2000, JobState::Running), entry(3, 3000)}, {2, 0, 0});
  CHECK(plan.start.empty());
  CHECK(planned(plan, 3).detail == "all 2 slots are busy");
}

TEST_CASE("with one slot, users take turns: the one who started least recently goes first", "[queue_plan]") {
  std::vector<QueueEntry> active{entry(2, 1000), entry(3, 1000), entry(6, 2000)};
  // Alice's job 1 just ran; Bob never ran anything.
  auto plan = plan_queue(active, {1, 0, 0}, LastStarts{{1000, 5000}});
  CHECK(plan.start == Ids{6});
  CHECK(order(plan) == Ids{6, 2, 3});
  // Bob's turn came more recently than Alice's: Alice goes first, then they alternate.
  auto next = plan_queue({entry(2, 1000), entry(3, 1000), entry(7, 2000), entry(8, 2000)}, {1, 0, 0}, LastStarts{{1000, 5000}, {2000, 6000}});
  CHECK(order(next) == Ids{2, 7, 3, 8});
}

TEST_CASE("a flavor's slots cap its running jobs; other flavors go on (issue 10)", "[queue_plan]") {
  auto of = [](QueueEntry e, const char* flavor) {
    e.flavor = flavor;
    return e;
  };
  // no-gpu has 2 slots, one taken; small-gpu has none of its own.
  std::vector<QueueEntry> active{of(entry(1, 10, JobState::Running), "no-gpu"), of(entry(2, 11), "no-gpu"), of(entry(3, 12), "no-gpu"),
                                 of(entry(4, 13), "small-gpu")};
  QueueLimits limits{10, 0, 0, {{"no-gpu", 2}}};
  auto plan = plan_queue(active, limits);
  CHECK(plan.start == Ids{2, 4});
  const auto& waiting = planned(plan, 3);
  REQUIRE(waiting.waits_for == WaitReason::FlavorFull);
  CHECK(to_string(*waiting.waits_for) == "flavor_full");
  CHECK(waiting.detail == "all 2 slots of flavor no-gpu are busy (2/2)");

  // FIFO within the flavor: when one ends, the oldest waiting job of it starts.
  active[0].state = JobState::Succeeded;
  active[1].state = JobState::Running;
  active[3].state = JobState::Running;
  plan = plan_queue(active, limits);
  CHECK(plan.start == Ids{3});

  // Global max_running still holds whatever the flavor's slots say.
  QueueLimits tight{1, 0, 0, {{"no-gpu", 5}}};
  std::vector<QueueEntry> two{of(entry(5, 10), "no-gpu"), of(entry(6, 11), "no-gpu")};
  plan = plan_queue(two, tight);
  CHECK(plan.start == Ids{5});
  CHECK(planned(plan, 6).waits_for == WaitReason::Slot);
}

TEST_CASE("a retried job waits for its time without a slot, and the plan says when to look again", "[queue_plan][retry]") {
  std::vector<QueueEntry> entries(3);
  for (int i = 0; i < 3; ++i) {
    entries[i].id = i + 1;
    entries[i].uid = 1000;
  }
  entries[0].not_before = 5000; // in 4 s
  entries[1].not_before = 900;  // already past
  QueueLimits limits{1, 0, 0, {}, 1000};
  auto plan = plan_queue(entries, limits);
  CHECK(plan.start == std::vector<JobId>{2});
  REQUIRE(plan.queued.size() == 3);
  CHECK(plan.queued[0].waits_for == WaitReason::Retry);
  CHECK(plan.queued[0].detail == "retries in 4 s");
  CHECK(plan.queued[2].waits_for == WaitReason::Slot);
  CHECK(plan.wake_at == 5000);
  CHECK(to_string(WaitReason::Retry) == "retry");
  limits.now = 5000;
  plan = plan_queue(entries, limits);
  CHECK(plan.start == std::vector<JobId>{1});
  CHECK_FALSE(plan.wake_at);
}

TEST_CASE("a held job never starts and takes no slot; the jobs behind it do", "[queue_plan][hold]") {
  std::vector<QueueEntry> entries(2);
  entries[0].id = 1;
  entries[0].uid = 1000;
  entries[0].held = true;
  entries[1].id = 2;
  entries[1].uid = 1000;
  auto plan = plan_queue(entries, QueueLimits{1, 0, 0, {}, 0});
  CHECK(plan.start == std::vector<JobId>{2});
  REQUIRE(plan.queued.size() == 2);
  CHECK(plan.queued[0].waits_for == WaitReason::Held);
  CHECK(plan.queued[0].detail == "held: it starts once released (jobman release -j 1)");
  CHECK(to_string(WaitReason::Held) == "held");
  // Held and with a dependency that failed: still cancelled (it could never run).
  entries[0].dependencies = {{7, JobState::Failed}};
  plan = plan_queue(entries, QueueLimits{1, 0, 0, {}, 0});
  REQUIRE(plan.cancel.size() == 1);
  CHECK(plan.cancel[0].first == 1);
}

TEST_CASE("an array's limit holds its own elements back, not other jobs", "[queue_plan]") {
  auto element = [](JobId id, JobState state, int limit) {
    QueueEntry e = entry(id, 1001, state);
    e.array_id = 10;
    e.array_index = static_cast<int>(id - 10);
    e.array_limit = limit;
    return e;
  };
  // Array 10 (%2): one running, three queued; then a plain job of the same user.
  std::vector<QueueEntry> active{element(10, JobState::Running, 2), element(11, JobState::Queued, 2), element(12, JobState::Queued, 2),
                                 element(13, JobState::Queued, 2), entry(14, 1001)};
  QueueLimits limits;
  limits.max_running = 8;
  auto plan = plan_queue(active, limits);
  CHECK(plan.start == Ids{11, 14});
  CHECK(planned(plan, 12).waits_for == WaitReason::ArrayLimit);
  CHECK_THAT(planned(plan, 12).detail, Catch::Contains("2 of array 10's jobs are running, its limit (%2)"));
  CHECK(planned(plan, 13).waits_for == WaitReason::ArrayLimit);
  CHECK(to_string(WaitReason::ArrayLimit) == "array_limit");

  // No limit of its own: only the slots count.
  for (auto& e : active) e.array_limit = 0;
  plan = plan_queue(active, limits);
  CHECK(plan.start == Ids{11, 12, 13, 14});
}

TEST_CASE("a wait for many jobs names the first few", "[queue_plan]") {
  std::vector<QueueEntry> active;
  QueueEntry waiting = entry(100, 1001);
  for (JobId id = 1; id <= 8; ++id) {
    active.push_back(entry(id, 1001, JobState::Running));
    waiting.dependencies.push_back({id, JobState::Running, AfterKind::Any});
  }
  active.push_back(waiting);
  QueueLimits limits;
  limits.max_running = 100;
  const auto plan = plan_queue(active, limits);
  CHECK(planned(plan, 100).detail == "waits for jobs 1, 2, 3, 4, 5 and 3 more to end");
}
