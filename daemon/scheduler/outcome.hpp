#pragma once
// How a job that ran ended: its end state and the reason in the user's terms, from why
// jobman stopped it (if it did) and what the backend saw.

#include "common/config.hpp"
#include "common/job.hpp"
#include "daemon/backend/backend.hpp"

#include <optional>
#include <string>

namespace jobman::daemon::scheduler {

// How a job that ran ended, given why it was stopped (if jobman stopped it) and what the
// engine saw. `reason` explains it in the user's terms.
struct Outcome {
  // Not an aggregate, on purpose: GCC 12 destroys an aggregate temporary twice when it is
  // passed by value to a coroutine inside co_await (`co_await record_end(id, Outcome{...})`
  // freed the reason twice).
  Outcome() = default;
  Outcome(JobState s, std::string r) : state(s), reason(std::move(r)) {}
  JobState state = JobState::Failed;
  std::string reason;
  std::optional<Usage> usage; // what the job used, recorded with its end
};
enum class StopCause { None, Cancelled, TimedOut };
Outcome decide_outcome(const Job& job, StopCause cause, const std::string& cancel_reason, const backend::ContainerExit& exit,
                       const Config& config);

} // namespace jobman::daemon::scheduler
