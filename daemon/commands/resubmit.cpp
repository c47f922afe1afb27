#include "common/array_spec.hpp"
#include "common/names.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/commands/submit.hpp"
#include "daemon/daemon.hpp"
#include "daemon/scheduler/queue_plan.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace jobman::daemon::commands {

namespace {
// "<name>-r2", or -r3 ... (the first one the user has no job of; a name that already ends
// in -rN counts on from it), within the 63 characters a name may have. Empty (a default
// name) when none fits or `name` is not a valid name (an odd image's default name).
std::string next_name(const store::JobStore& store, std::uint32_t uid, std::string name) {
  if (job_name_problem(name)) return {};
  int from = 2;
  if (auto dash = name.rfind("-r"); dash != std::string::npos && dash + 2 < name.size() &&
                                    name.find_first_not_of("0123456789", dash + 2) == std::string::npos && name.size() - dash <= 5) {
    from = std::stoi(name.substr(dash + 2)) + 1;
    name.resize(dash);
  }
  for (int n = from; n < from + 100; ++n) {
    const std::string suffix = fmt::format("-r{}", n);
    std::string candidate = name.substr(0, 63 - suffix.size()) + suffix;
    if (!job_name_problem(candidate) && store.find_by_name(candidate, uid).empty() && store.arrays_named(candidate, uid).empty())
      return candidate;
  }
  return {};
}
} // namespace

asio::awaitable<json> resubmit(CommandContext& ctx) {
  const std::string reference = ctx.args.required_string("job");
  const std::string flavor = ctx.args.optional_string("flavor");
  const std::string time = ctx.args.optional_string("time");
  const std::string name = ctx.args.optional_string("name");
  const bool latest_image = ctx.args.optional_bool("latest_image");
  const bool dry_run = ctx.args.optional_bool("dry_run");
  ctx.args.finish();
  const Job old = find_job(ctx.daemon.store, ctx.peer, reference);
  if (old.uid != ctx.peer.uid)
    throw Error(ErrorCode::PermissionDenied,
                fmt::format("job {} is {}'s: only its owner can resubmit it (a job runs as the user who submitted it)", old.id, old.user));

  // The same spec, checked again as a new submit: the platform's policy and the user's
  // mounts as they are now; the flavor and time limit as asked, else as before.
  policy::SubmitArgs again;
  again.request.image = old.spec.image;
  // An array's element "seg[7]" comes back as a job of its own, "seg-7-r2".
  const std::string old_name =
    old.array ? fmt::format("{}-{}", array_name(old.spec.name), old.array->index) : old.spec.name;
  again.request.name = name.empty() ? next_name(ctx.daemon.store, ctx.peer.uid, old_name) : name;
  again.request.args = old.spec.args;
  again.request.replace_entrypoint = old.spec.replace_entrypoint;
  for (const auto& [key, value] : old.spec.env) again.request.env.push_back(key + "=" + value);
  again.request.flavor = flavor.empty() ? old.spec.flavor : flavor;
  again.request.time = time.empty() && old.spec.resources.time_limit > 0 ? std::to_string(old.spec.resources.time_limit) : time;
  if (flavor.empty()) again.request.gpus = old.spec.resources.gpus; // another flavor: its own GPUs
  // As high as the caller may give now (an admin then may not be one now).
  constexpr int k_user_max = scheduler::k_max_user_priority;
  again.priority = std::clamp(old.spec.priority, -k_user_max, ctx.peer.admin ? policy::k_max_admin_priority : k_user_max);
  again.retries = std::min(old.spec.retries, ctx.daemon.config.limits.max_retries);
  again.notify = old.spec.notify; // checked again: refused if the platform has no hook now

  const JobId old_id = old.id;
  const std::string old_image_id = old.spec.image_id;
  auto same_image = [&](Job& job) {
    // The image id it ran, unless asked for what the name means now.
    if (!latest_image && job.spec.image_id != old_image_id)
      throw Error(ErrorCode::Conflict, fmt::format("image {} is no longer the one job {} ran ({} then, {} now); "
                                                   "resubmit with --latest-image to run what it is now",
                                                   job.spec.image, old_id, old_image_id.substr(0, 19), job.spec.image_id.substr(0, 19)));
    job.resubmit_of = old_id;
  };
  json reply = co_await submit_one(ctx, std::move(again), dry_run, same_image);
  reply["resubmit_of"] = old_id;
  co_return reply;
}

} // namespace jobman::daemon::commands
