#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"

#include <fmt/format.h>

namespace jobman::daemon::commands {

asio::awaitable<json> remove(CommandContext& ctx) {
  const std::string reference = ctx.args.optional_string("job");
  const bool all = ctx.args.optional_bool("all");
  ctx.args.finish();
  if (all == !reference.empty()) throw Error(ErrorCode::InvalidArgument, "delete takes either a job (-j) or --all, not both or neither");

  std::vector<Job> jobs;
  if (all) {
    // --all means the caller's own jobs, admins included: never everyone's by accident.
    store::ListFilter filter;
    filter.uid = ctx.peer.uid;
    filter.limit = 1'000'000;
    jobs = ctx.daemon.store.list(filter);
  } else {
    jobs = find_targets(ctx.daemon.store, ctx.peer, reference).jobs; // a whole array: each element
  }
  json deleted = json::array();
  for (const auto& job : jobs) {
    if (!is_terminal(job.state)) ctx.daemon.scheduler.cancel(job, fmt::format("deleted by {}", ctx.peer.user));
    ctx.daemon.store.mark_deleted(job.id);
    deleted.push_back({{"id", job.id}, {"name", job.spec.name}, {"was", to_string(job.state)}});
  }
  ctx.daemon.scheduler.schedule(); // jobs waiting --after a cancelled one end now
  co_return json{{"deleted", deleted}};
}

} // namespace jobman::daemon::commands
