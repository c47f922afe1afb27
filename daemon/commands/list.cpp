#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"

#include <fmt/format.h>

namespace jobman::daemon::commands {

asio::awaitable<json> list(CommandContext& ctx) {
  const bool all_users = ctx.args.optional_bool("all_users");
  const std::string state = ctx.args.optional_string("state");
  store::ListFilter filter;
  filter.limit = static_cast<int>(ctx.args.optional_int("limit", 50, 1, 10000));
  ctx.args.finish();
  if (all_users && !ctx.peer.admin)
    throw Error(ErrorCode::PermissionDenied, "--all-users is for root and the admin group; without it you see your own jobs");
  if (!all_users) filter.uid = ctx.peer.uid;
  if (!state.empty()) {
    filter.state = job_state_from_string(state);
    if (!filter.state)
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("unknown state '{}'; one of QUEUED, STARTING, RUNNING, SUCCEEDED, FAILED, CANCELLED, TIMEOUT, OOM_KILLED, LOST", state));
  }
  json jobs = json::array();
  for (const auto& job : ctx.daemon.store.list(filter)) jobs.push_back(protocol::job_to_json(job));
  co_return json{{"jobs", jobs}};
}

} // namespace jobman::daemon::commands
