#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"

#include <fmt/format.h>

namespace jobman::daemon::commands {

namespace {
// Holds or releases the caller's queued job (an admin's: anyone's); the reply is the job.
json set_held(CommandContext& ctx, bool held) {
  const std::string reference = ctx.args.required_string("job");
  ctx.args.finish();
  Job job = find_job(ctx.daemon.store, ctx.peer, reference);
  const std::string by = job.uid == ctx.peer.uid ? ctx.peer.user : fmt::format("{} (admin)", ctx.peer.user);
  const std::string reason = fmt::format("{} by {}", held ? "held" : "released", by);
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
