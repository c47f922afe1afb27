#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"

#include <fmt/format.h>

namespace jobman::daemon::commands {

namespace {
// Holds or releases the caller's queued job (an admin's: anyone's); the reply is the job.
// A whole array: each of its queued elements (the others are left as they are), the reply
// counting those changed.
json set_held(CommandContext& ctx, bool held) {
  const std::string reference = ctx.args.required_string("job");
  ctx.args.finish();
  Targets found = find_targets(ctx.daemon.store, ctx.peer, reference);
  const Job& owner = found.jobs.front();
  const std::string by = owner.uid == ctx.peer.uid ? ctx.peer.user : fmt::format("{} (admin)", ctx.peer.user);
  const std::string reason = fmt::format("{} by {}", held ? "held" : "released", by);
  if (found.array) {
    int changed = 0, queued = 0;
    for (const auto& job : found.jobs) {
      if (job.state != JobState::Queued) continue;
      ++queued;
      if (ctx.daemon.store.set_held(job.id, held, reason)) {
        ++changed;
        ctx.daemon.watch.notify(job.id);
      }
    }
    if (queued == 0)
      throw Error(ErrorCode::Conflict, fmt::format("array {} has no queued job to {}", *found.array, held ? "hold" : "release"));
    log_info("array {} ({}): {} of its jobs {}", *found.array, owner.user, changed, reason);
    if (!held && changed) ctx.daemon.scheduler.queued();
    return json{{"array", *found.array}, {"changed", changed}, {"queued", queued}};
  }
  Job job = std::move(found.jobs.front());
  auto changed = ctx.daemon.store.set_held(job.id, held, reason);
  if (changed) {
    job = *changed;
    log_info("job {} ({}, {}): {}", job.id, job.spec.name, job.user, reason);
    ctx.daemon.watch.notify(job.id);
    if (!held) ctx.daemon.scheduler.queued(); // it may start now
  }
  return json{{"job", protocol::job_to_json(job)}, {"changed", changed.has_value()}};
}
} // namespace

asio::awaitable<json> hold(CommandContext& ctx) { co_return set_held(ctx, true); }
asio::awaitable<json> release(CommandContext& ctx) { co_return set_held(ctx, false); }

} // namespace jobman::daemon::commands
