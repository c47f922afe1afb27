#include "daemon/scheduler/outcome.hpp"

#include "common/duration.hpp"
#include "common/size.hpp"

#include <fmt/format.h>

namespace jobman::daemon::scheduler {

namespace {
std::string bigger_flavors(const Config& config, const Job& job) {
  std::string names;
  for (const auto& f : config.flavors)
    if (f.memory > job.spec.resources.memory) names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", f.name, format_size(f.memory));
  return names.empty() ? "ask the platform admin for a flavor with more memory" : "try a flavor with more memory: " + names;
}
} // namespace

namespace {
Outcome decide_state(const Job& job, StopCause cause, const std::string& cancel_reason, const backend::ContainerExit& exit,
                     const Config& config) {
  if (cause == StopCause::Cancelled) return {JobState::Cancelled, cancel_reason};
  if (cause == StopCause::TimedOut) {
    TimePoint ran = job.started_at ? now_ms() - *job.started_at : 0;
    return {JobState::Timeout, fmt::format("stopped after {} at its time limit of {}", format_duration(std::chrono::seconds(ran / 1000)),
                                           format_duration(std::chrono::seconds(job.spec.resources.time_limit)))};
  }
  if (exit.timed_out) { // the backend's own timer (Slurm: jobman's in the batch script, or Slurm's)
    return {JobState::Timeout, fmt::format("stopped at its time limit of {}{}", format_duration(std::chrono::seconds(job.spec.resources.time_limit)),
                                           exit.message.empty() ? "" : " (" + exit.message + ")")};
  }
  if (exit.cancelled) return {JobState::Cancelled, exit.message.empty() ? "cancelled outside jobman" : exit.message};
  if (exit.lost) return {JobState::Lost, exit.message.empty() ? "its node was lost" : exit.message};
  if (exit.oom_killed) {
    // The kernel killed it at the limit; its last sample, up to a second before, says how
    // far it had got.
    const std::optional<std::int64_t> sampled = exit.usage ? needed_memory(*exit.usage) : std::nullopt;
    const std::string peak = sampled ? fmt::format(" (peak sampled: {}, up to a second before the kill)", format_size(*sampled)) : "";
    return {JobState::OomKilled, fmt::format("out of memory: the job needed more than the {} of flavor '{}'{}; {}",
                                             format_size(job.spec.resources.memory), job.spec.flavor, peak, bigger_flavors(config, job))};
  }
  if (exit.engine_failed) return {JobState::Failed, "the container engine failed: " + exit.message};
  if (exit.status.success()) return {JobState::Succeeded, "the job exited with exit code 0"};
  return {JobState::Failed, "the job exited with " + exit.status.describe()};
}
} // namespace

Outcome decide_outcome(const Job& job, StopCause cause, const std::string& cancel_reason, const backend::ContainerExit& exit,
                       const Config& config) {
  Outcome outcome = decide_state(job, cause, cancel_reason, exit, config);
  outcome.usage = exit.usage;
  return outcome;
}

} // namespace jobman::daemon::scheduler
