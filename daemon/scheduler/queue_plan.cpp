#include "daemon/scheduler/queue_plan.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <limits>
#include <tuple>

namespace jobman::daemon::scheduler {

std::string_view to_string(WaitReason reason) {
  switch (reason) {
  case WaitReason::Slot: return "slot";
  case WaitReason::UserLimit: return "user_limit";
  case WaitReason::Gpu: return "gpu";
  case WaitReason::Dependency: return "dependency";
  case WaitReason::FlavorFull: return "flavor_full";
  case WaitReason::Retry: return "retry";
  case WaitReason::Held: return "held";
  case WaitReason::ArrayLimit: return "array_limit";
  }
  return "slot";
}

namespace {
// "waits for job 12 to succeed", "waits for jobs 12, 13 to succeed, job 14 to end".
std::string describe_wait(const std::vector<const store::QueueEntry::Dependency*>& deps) {
  std::string text;
  for (auto [kind, what] : {std::pair{AfterKind::Ok, "succeed"}, {AfterKind::Any, "end"}, {AfterKind::NotOk, "fail"}}) {
    std::vector<JobId> ids;
    for (const auto* dep : deps)
      if (dep->kind == kind) ids.push_back(dep->id);
    if (ids.empty()) continue;
    std::string list;
    // A whole array may be hundreds of jobs: the first few, and how many more.
    for (std::size_t i = 0; i < ids.size() && i < 5; ++i) list += fmt::format("{}{}", list.empty() ? "" : ", ", ids[i]);
    if (ids.size() > 5) list += fmt::format(" and {} more", ids.size() - 5);
    text += fmt::format("{}job{} {} to {}", text.empty() ? "waits for " : ", ", ids.size() > 1 ? "s" : "", list, what);
  }
  return text;
}
} // namespace

QueuePlan plan_queue(const std::vector<store::QueueEntry>& active, const QueueLimits& limits, const LastStarts& last_starts) {
  QueuePlan plan;
  int running = 0;
  std::map<std::uint32_t, int> running_of;
  std::map<std::string, int> running_in; // by flavor
  std::map<JobId, int> running_of_array;
  std::map<std::uint32_t, std::vector<const store::QueueEntry*>> queued_of;
  std::map<JobId, std::vector<const store::QueueEntry::Dependency*>> unmet;
  for (const auto& e : active) {
    if (e.state == JobState::Starting || e.state == JobState::Running) {
      ++running;
      ++running_of[e.uid];
      ++running_in[e.flavor];
      if (e.array_id) ++running_of_array[*e.array_id];
      continue;
    }
    if (e.state != JobState::Queued) continue;
    std::optional<std::string> doomed;
    for (const auto& dep : e.dependencies) {
      const std::optional<bool> met = dependency_met(dep.kind, dep.state);
      if (!met) unmet[e.id].push_back(&dep);
      else if (!*met && !doomed)
        doomed = dep.kind == AfterKind::NotOk ? fmt::format("dependency {} succeeded (it was to run only if that one did not)", dep.id)
                                              : fmt::format("dependency {} ended {}", dep.id, to_string(dep.state));
    }
    if (doomed) {
      plan.cancel.emplace_back(e.id, *doomed);
      continue;
    }
    queued_of[e.uid].push_back(&e);
  }
  for (auto& [uid, jobs] : queued_of)
    std::stable_sort(jobs.begin(), jobs.end(), [](auto* a, auto* b) { return std::tie(b->priority, a->id) < std::tie(a->priority, b->id); });

  // The order in which queued jobs would start: users take turns.
  std::vector<const store::QueueEntry*> order;
  std::map<std::uint32_t, std::size_t> next;
  std::map<std::uint32_t, int> placed;
  LastStarts turn = last_starts; // placing a job counts as its user's latest turn
  TimePoint next_turn = std::numeric_limits<TimePoint>::max() / 2;
  for (;;) {
    const store::QueueEntry* best = nullptr;
    std::tuple<int, int, TimePoint, JobId> best_key{};
    for (auto& [uid, jobs] : queued_of) {
      if (next[uid] >= jobs.size()) continue;
      const auto* head = jobs[next[uid]];
      auto last = turn.find(uid);
      std::tuple<int, int, TimePoint, JobId> key{head->priority > k_global_priority ? -head->priority : 0, running_of[uid] + placed[uid],
                                                 last == turn.end() ? 0 : last->second, head->id};
      if (!best || key < best_key) {
        best = head;
        best_key = key;
      }
    }
    if (!best) break;
    order.push_back(best);
    ++next[best->uid];
    ++placed[best->uid];
    turn[best->uid] = ++next_turn;
  }

  int free_slots = limits.max_running - running;
  int free_gpus = limits.free_gpus;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto& e = *order[i];
    PlannedJob p{e.id, e.uid, static_cast<int>(i + 1), std::nullopt, {}};
    if (e.held) {
      p.waits_for = WaitReason::Held;
      p.detail = fmt::format("held: it starts once released (jobman release -j {})", e.id);
    } else if (auto deps = unmet.find(e.id); deps != unmet.end()) {
      p.waits_for = WaitReason::Dependency;
      p.detail = describe_wait(deps->second);
    } else if (e.not_before && *e.not_before > limits.now) {
      p.waits_for = WaitReason::Retry;
      p.detail = fmt::format("retries in {} s", (*e.not_before - limits.now + 999) / 1000);
      plan.wake_at = std::min(plan.wake_at.value_or(*e.not_before), *e.not_before);
    } else if (e.array_id && e.array_limit > 0 && running_of_array[*e.array_id] >= e.array_limit) {
      p.waits_for = WaitReason::ArrayLimit;
      p.detail = fmt::format("{} of array {}'s jobs are running, its limit (%{})", running_of_array[*e.array_id], *e.array_id, e.array_limit);
    } else if (limits.max_running_per_user > 0 && running_of[e.uid] >= limits.max_running_per_user) {
      p.waits_for = WaitReason::UserLimit;
      p.detail = fmt::format("{} of this user's jobs are running; the per-user limit is {}", running_of[e.uid], limits.max_running_per_user);
    } else if (auto cap = limits.flavor_slots.find(e.flavor); cap != limits.flavor_slots.end() && cap->second > 0 &&
                                                                running_in[e.flavor] >= cap->second) {
      p.waits_for = WaitReason::FlavorFull;
      p.detail = fmt::format("all {} slots of flavor {} are busy ({}/{})", cap->second, e.flavor, running_in[e.flavor], cap->second);
    } else if (free_slots <= 0) {
      p.waits_for = WaitReason::Slot;
      p.detail = fmt::format("all {} slots are busy", limits.max_running);
    } else if (e.gpus > free_gpus) {
      p.waits_for = WaitReason::Gpu;
      p.detail = fmt::format("needs {} GPU{}, {} free", e.gpus, e.gpus == 1 ? "" : "s", free_gpus);
    } else {
      plan.start.push_back(e.id);
      if (e.array_id) ++running_of_array[*e.array_id];
      ++running_of[e.uid];
      ++running_in[e.flavor];
      --free_slots;
      free_gpus -= e.gpus;
    }
    plan.queued.push_back(std::move(p));
  }
  return plan;
}

} // namespace jobman::daemon::scheduler
