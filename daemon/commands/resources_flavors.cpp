#include "common/size.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"

#include <map>

namespace jobman::daemon::commands {

asio::awaitable<json> resources_flavors(CommandContext& ctx) {
  ctx.args.finish();
  const Config& config = ctx.daemon.config;
  std::map<std::string, int> running; // STARTING or RUNNING, by flavor
  for (const auto& e : ctx.daemon.store.queue_entries())
    if (e.state != JobState::Queued) ++running[e.flavor];
  json flavors = json::array();
  for (const auto& f : config.flavors)
    flavors.push_back({{"name", f.name}, {"description", f.description}, {"cpus", f.cpus}, {"memory", f.memory}, {"shm", f.shm},
                       {"gpus", f.gpus}, {"max_time", f.max_time.count()}, {"default", f.name == config.default_flavor},
                       {"slots", f.slots}, {"running", running[f.name]}});
  co_return json{{"flavors", flavors},
                 {"default_time", config.limits.default_time.count()},
                 {"gpus", {{"total", ctx.daemon.gpus.total()}, {"free", ctx.daemon.gpus.free_count()}}}};
}

} // namespace jobman::daemon::commands
