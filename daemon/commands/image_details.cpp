#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"

namespace jobman::daemon::commands {

asio::awaitable<json> image_details(CommandContext& ctx) {
  std::string reference = ctx.args.required_string("image");
  ctx.args.finish();
  auto catalogue = co_await ctx.daemon.catalogue.get();
  auto entry = policy::resolve_image(*catalogue, reference);
  if (!entry && entry.error().code == ErrorCode::ImageNotFound) {
    catalogue = co_await ctx.daemon.catalogue.get(true);
    entry = policy::resolve_image(*catalogue, reference);
  }
  const auto& image = entry.value().image;
  co_return json{
    {"name", entry->name},         {"version", entry->version},   {"reference", entry->reference},
    {"id", image.id},              {"repo_tags", image.repo_tags}, {"digests", image.repo_digests},
    {"labels", image.labels},      {"created", image.created},     {"size", image.size},
    {"entrypoint", image.entrypoint}, {"cmd", image.cmd},          {"user", image.user},
    {"tags", entry->tags},         {"workdir", image.workdir},
  };
}

} // namespace jobman::daemon::commands
