#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"

namespace jobman::daemon::commands {

asio::awaitable<json> images(CommandContext& ctx) {
  ctx.args.finish();
  // Listing is where users look for new images: always ask the engine.
  auto catalogue = co_await ctx.daemon.catalogue.get(true);
  json out = json::array();
  for (const auto& entry : catalogue->entries) {
    if (out.empty() || out.back()["name"] != entry.name) {
      auto description = entry.image.labels.find("description");
      out.push_back({{"name", entry.name},
                     {"versions", json::array()},
                     {"description", description == entry.image.labels.end() ? "" : description->second},
                     {"reference", entry.reference}});
    }
    auto& versions = out.back()["versions"];
    if (versions.empty() || versions.back() != entry.version) versions.push_back(entry.version);
  }
  co_return json{{"images", out}};
}

} // namespace jobman::daemon::commands
