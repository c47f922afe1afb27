#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"

#include <filesystem>

namespace jobman::daemon::commands {

asio::awaitable<json> details(CommandContext& ctx) {
  Job job = find_job(ctx.daemon.store, ctx.peer, ctx.args.required_string("job"));
  ctx.args.finish();
  json events = json::array();
  for (const auto& event : ctx.daemon.store.events(job.id)) {
    events.push_back({{"at", event.at},
                      {"from", event.from ? json(to_string(*event.from)) : json(nullptr)},
                      {"to", to_string(event.to)},
                      {"reason", event.reason}});
  }
  std::error_code ec;
  auto log_bytes = std::filesystem::file_size(ctx.daemon.scheduler.log_path(job.id), ec);
  co_return json{{"job", protocol::job_to_json(job)}, {"events", events}, {"log_bytes", ec ? 0 : log_bytes}};
}

} // namespace jobman::daemon::commands
