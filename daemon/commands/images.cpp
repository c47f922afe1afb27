#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"

namespace jobman::daemon::commands {

asio::awaitable<json> images(CommandContext& ctx) {
  // Listing is where users look for new images: ask the engine, unless the caller prefers
  // speed to freshness (shell completion).
  const bool refresh = ctx.args.optional_bool("refresh", true);
  ctx.args.finish();
  auto catalogue = co_await ctx.daemon.catalogue.get(refresh);
  json out = json::array();
  for (const auto& entry : catalogue->entries) {
    if (out.empty() || out.back()["name"] != entry.name) {
      auto description = entry.image.labels.find("description");
      out.push_back({{"name", entry.name},
                     {"versions", json::array()},
                     {"description", description == entry.image.labels.end() ? "" : description->second},
                     {"reference", entry.reference},
                     {"tags", json::object()}});
    }
    auto& versions = out.back()["versions"];
    if (versions.empty() || versions.back() != entry.version) versions.push_back(entry.version);
    // Tag -> the version it names (a tag on two builds: the first, i.e. the highest, newest).
    auto& tags = out.back()["tags"];
    for (const auto& tag : entry.tags)
      if (tag != entry.version && !tags.contains(tag)) tags[tag] = entry.version;
  }
  co_return json{{"images", out}};
}

} // namespace jobman::daemon::commands
