#include "common/size.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"

namespace jobman::daemon::commands {

asio::awaitable<json> resources_flavors(CommandContext& ctx) {
  ctx.args.finish();
  const Config& config = ctx.daemon.config;
  json flavors = json::array();
  for (const auto& f : config.flavors)
    flavors.push_back({{"name", f.name}, {"description", f.description}, {"cpus", f.cpus}, {"memory", f.memory}, {"shm", f.shm},
                       {"gpus", f.gpus}, {"max_time", f.max_time.count()}, {"default", f.name == config.default_flavor}});
  co_return json{{"flavors", flavors},
                 {"default_time", config.limits.default_time.count()},
                 {"gpus", {{"total", ctx.daemon.gpus.total()}, {"free", ctx.daemon.gpus.free_count()}}}};
}

} // namespace jobman::daemon::commands
