#pragma once
// One job through submit's whole path, for the commands that queue a job of their own
// making (resubmit): the default image, the catalogue, the image's home, the mounts, the
// policy, the per-user limits, then the store and the scheduler.

#include "common/array_spec.hpp"
#include "common/job.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/policy/submit_args.hpp"

#include <functional>

namespace jobman::daemon::commands {

// Validates `asked` as `submit` does, lets `adjust` (if any) check or amend the built job
// (throwing Error refuses it), then queues it, or with `dry_run` only describes it. The
// reply is submit's.
// With `array`, it queues one job per index of it instead (submit --array).
asio::awaitable<json> submit_one(CommandContext& ctx, policy::SubmitArgs asked, bool dry_run, const std::function<void(Job&)>& adjust,
                                 const ArraySpec* array = nullptr);

} // namespace jobman::daemon::commands
