#pragma once
// Which queued jobs start now, in what order the rest would, and what each waits for.
// Pure: the scheduler acts on it and `jobman queue` shows it, so they cannot disagree.
//
// Order: fair across users, FIFO within a user. Each user's queued jobs are sorted by
// priority (higher first), then age. Users take turns: the one with the fewest running
// (and already placed) jobs first; among equals, the one whose last job started longest
// ago (so with one slot, users alternate), then the oldest job. Jobs with a priority above
// k_global_priority (only admins may set it) go before everyone else's.

#include "daemon/store/job_store.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobman::daemon::scheduler {

constexpr int k_max_user_priority = 100;
constexpr int k_global_priority = 100;

enum class WaitReason { Slot, UserLimit, Gpu, Dependency, FlavorFull, Retry, Held, ArrayLimit };
std::string_view to_string(WaitReason reason);

struct QueueLimits {
  int max_running = 1;
  int max_running_per_user = 0; // 0: none
  int free_gpus = 0;
  std::map<std::string, int> flavor_slots; // flavors[].slots: jobs of that flavor running at once (absent or 0: no cap)
  TimePoint now = 0;                       // a retried job waits until its not_before
};

// When each user's latest job started (users not in it: never, so first).
using LastStarts = std::map<std::uint32_t, TimePoint>;

struct PlannedJob {
  JobId id = 0;
  std::uint32_t uid = 0;
  int position = 0;                    // 1-based place among all queued jobs
  std::optional<WaitReason> waits_for; // nothing: starts now
  std::string detail;                  // in the user's words
};

struct QueuePlan {
  std::vector<JobId> start;                              // start now, in this order
  std::vector<PlannedJob> queued;                        // every QUEUED job, in start order
  std::vector<std::pair<JobId, std::string>> cancel;     // a dependency ended other than SUCCEEDED
  std::optional<TimePoint> wake_at;                      // the soonest not_before still to come: plan again then
};

QueuePlan plan_queue(const std::vector<store::QueueEntry>& active, const QueueLimits& limits, const LastStarts& last_starts = {});

} // namespace jobman::daemon::scheduler
