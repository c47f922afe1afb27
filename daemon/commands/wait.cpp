#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"

namespace jobman::daemon::commands {

asio::awaitable<json> wait(CommandContext& ctx) {
  const std::string reference = ctx.args.required_string("job");
  ctx.args.finish(); // an unknown argument is refused before any lookup
  Job job = find_job(ctx.daemon.store, ctx.peer, reference);
  std::optional<JobState> reported;
  for (;;) {
    if (reported != job.state) {
      const json event = {{"state", to_string(job.state)}, {"reason", job.reason}};
      co_await ctx.emit(event);
      reported = job.state;
    }
    if (is_terminal(job.state)) break;
    co_await ctx.daemon.watch.changed(job.id, std::chrono::seconds(30));
    job = ctx.daemon.store.get(job.id).value_or(job);
  }
  co_return json{{"job", protocol::job_to_json(job)}};
}

} // namespace jobman::daemon::commands
