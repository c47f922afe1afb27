#pragma once
// What a job used against what its flavor gave it, seff-style, for `details`: memory peak
// and CPU time as shares of the flavor's, and a hint naming a better flavor for a job that
// ran at k_memory_hint_percent of its memory or at most k_cpu_hint_percent of its CPUs.

#include "common/config.hpp"
#include "common/job.hpp"

#include <nlohmann/json.hpp>

namespace jobman::daemon::policy {

constexpr int k_memory_hint_percent = 95;
constexpr int k_cpu_hint_percent = 5;
// A job shorter than this is not told its CPUs were too many: its start-up is most of it.
constexpr std::int64_t k_cpu_hint_min_wall_ms = 10'000;

// Null for a job with no usage recorded. Otherwise (a figure not measured is left out):
//   {"memory": {"peak": B, "limit": B, "percent": P}, "cpu": {"used_ms": N, "wall_ms": N,
//    "cpus": C, "percent": P}, "gpus": [...], "source": "cgroup v1", "hints": ["..."]}
nlohmann::json usage_report(const Job& job, const Config& config);

} // namespace jobman::daemon::policy
