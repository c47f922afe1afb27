#include "daemon/policy/usage_report.hpp"

#include "common/size.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace jobman::daemon::policy {

using nlohmann::json;

namespace {

// `part` of `whole` in whole percent, at most 1,000,000 (a 1 ms wall does not wrap).
int percent_of(double part, double whole) { return whole > 0 ? static_cast<int>(std::lround(std::min(part * 100.0 / whole, 1e6))) : 0; }

// The smallest flavor (by memory, then CPUs) with more memory than the job had and as many
// GPUs; nothing if there is none.
const Flavor* roomier_flavor(const Job& job, const Config& config) {
  const Flavor* best = nullptr;
  for (const auto& f : config.flavors) {
    if (f.memory <= job.spec.resources.memory || f.gpus < job.spec.resources.gpus) continue;
    if (!best || f.memory < best->memory || (f.memory == best->memory && f.cpus < best->cpus)) best = &f;
  }
  return best;
}

// Whether `a` is the better pick than `b` among flavors of as many CPUs for a job that had
// `memory`: the job's memory kept if one does (the smallest such), else the most there is.
bool keeps_memory_better(const Flavor& a, const Flavor& b, std::int64_t memory) {
  const bool a_keeps = a.memory >= memory, b_keeps = b.memory >= memory;
  if (a_keeps != b_keeps) return a_keeps;
  return a_keeps ? a.memory < b.memory : a.memory > b.memory;
}

// The flavor with the fewest CPUs, fewer than the job had, that still has the CPUs it kept
// busy, the memory it peaked at (with a quarter to spare) and its GPUs.
const Flavor* leaner_flavor(const Job& job, const Config& config, double busy_cpus, std::int64_t peak) {
  const Flavor* best = nullptr;
  for (const auto& f : config.flavors) {
    if (f.cpus >= job.spec.resources.cpus || f.cpus < busy_cpus || f.gpus < job.spec.resources.gpus) continue;
    if (static_cast<double>(f.memory) < static_cast<double>(peak) * 1.25) continue;
    if (!best || f.cpus < best->cpus || (f.cpus == best->cpus && keeps_memory_better(f, *best, job.spec.resources.memory))) best = &f;
  }
  return best;
}

} // namespace

json usage_report(const Job& job, const Config& config) {
  if (!job.usage) return nullptr;
  const Usage& usage = *job.usage;
  const Resources& r = job.spec.resources;
  json report{{"source", usage.source}, {"gpus", job.gpu_devices}, {"hints", json::array()}};
  const std::optional<std::int64_t> peak = needed_memory(usage);
  if (peak) {
    const int percent = percent_of(static_cast<double>(*peak), static_cast<double>(r.memory));
    report["memory"] = {{"peak", *peak}, {"limit", r.memory}};
    if (r.memory > 0) report["memory"]["percent"] = percent;
    if (usage.peak_resident && usage.peak_memory) report["memory"]["peak_with_cache"] = *usage.peak_memory;
    if (r.memory > 0 && (percent >= k_memory_hint_percent || job.state == JobState::OomKilled)) {
      const Flavor* roomier = roomier_flavor(job, config);
      // An OOM kill reached the limit, whatever the last sample (up to a second before) saw.
      const std::string used = job.state == JobState::OomKilled ? fmt::format("it ran out of its {} memory", format_size(r.memory))
                                                                : fmt::format("it peaked at {}% of its {} memory", percent, format_size(r.memory));
      report["hints"].push_back(roomier ? fmt::format("{}: flavor '{}' has {}", used, roomier->name, format_size(roomier->memory))
                                        : fmt::format("{}, and no flavor has more; ask the platform admin", used));
    }
  }
  if (usage.cpu_ms && job.started_at && job.ended_at) {
    const std::int64_t wall = std::max<std::int64_t>(0, *job.ended_at - *job.started_at);
    const int percent = percent_of(static_cast<double>(*usage.cpu_ms), static_cast<double>(wall) * r.cpus);
    report["cpu"] = {{"used_ms", *usage.cpu_ms}, {"wall_ms", wall}, {"cpus", r.cpus}};
    if (r.cpus > 0 && wall > 0) report["cpu"]["percent"] = percent;
    if (usage.cpu_user_ms) report["cpu"]["user_ms"] = *usage.cpu_user_ms;
    if (usage.cpu_system_ms) report["cpu"]["system_ms"] = *usage.cpu_system_ms;
    if (r.cpus > 1 && wall >= k_cpu_hint_min_wall_ms && percent <= k_cpu_hint_percent) {
      const double busy = static_cast<double>(*usage.cpu_ms) / static_cast<double>(wall);
      const Flavor* leaner = leaner_flavor(job, config, busy, peak.value_or(r.memory));
      report["hints"].push_back(leaner ? fmt::format("it kept {}% of its {:g} CPUs busy: flavor '{}' ({:g} CPUs) would do", percent, r.cpus,
                                                     leaner->name, leaner->cpus)
                                       : fmt::format("it kept {}% of its {:g} CPUs busy: a flavor with fewer CPUs would do", percent, r.cpus));
    }
  }
  return report;
}

} // namespace jobman::daemon::policy
