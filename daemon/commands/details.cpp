#include "daemon/commands/command.hpp"

#include "common/platform_env.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"
#include "daemon/logs/log_file.hpp"
#include "daemon/policy/usage_report.hpp"

namespace jobman::daemon::commands {

asio::awaitable<json> details(CommandContext& ctx) {
  const std::string reference = ctx.args.required_string("job");
  ctx.args.finish(); // an unknown argument is refused before any lookup
  Job job = find_job(ctx.daemon.store, ctx.peer, reference);
  json events = json::array();
  for (const auto& event : ctx.daemon.store.events(job.id)) {
    events.push_back({{"at", event.at},
                      {"from", event.from ? json(to_string(*event.from)) : json(nullptr)},
                      {"to", to_string(event.to)},
                      {"reason", event.reason}});
  }
  const auto log_bytes = logs::log_data_bytes(ctx.daemon.scheduler.log_path(job.id)); // what a capped log keeps
  json reply{{"job", protocol::job_to_json(job)}, {"events", events}, {"log_bytes", log_bytes}};
  if (json described = ctx.daemon.backend->describe(job); !described.is_null()) reply["backend"] = std::move(described);
  reply["usage"] = policy::usage_report(job, ctx.daemon.config);
  // As the configuration now resolves them (what the job got at its start, unless a reload
  // changed `env` since); secrets as ***.
  reply["platform_env"] = protocol::platform_env_to_json(resolve_platform_env(ctx.daemon.config, job));
  reply["resubmitted_as"] = ctx.daemon.store.resubmits_of(job.id);
  co_return reply;
}

} // namespace jobman::daemon::commands
