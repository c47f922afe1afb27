#include "daemon/backend/container_args.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"
#include "daemon/policy/submit_policy.hpp"

namespace jobman::daemon::commands {

asio::awaitable<json> submit(CommandContext& ctx) {
  policy::SubmitRequest request;
  request.image = ctx.args.required_string("image");
  request.name = ctx.args.optional_string("name");
  request.args = ctx.args.optional_string_list("args");
  request.replace_entrypoint = ctx.args.optional_bool("replace_entrypoint");
  request.env = ctx.args.optional_string_list("env");
  request.flavor = ctx.args.optional_string("flavor");
  request.time = ctx.args.optional_string("time");
  if (auto gpus = ctx.args.optional_int("gpus", -1, -1, 64); gpus >= 0) request.gpus = static_cast<int>(gpus);
  const bool dry_run = ctx.args.optional_bool("dry_run");
  ctx.args.finish();
  if (ctx.daemon.scheduler.is_shutting_down()) throw Error(ErrorCode::Unavailable, "jobmand is shutting down; submit again in a moment");

  const Config& config = ctx.daemon.config;
  const policy::Submitter submitter{ctx.peer.uid, ctx.peer.gid, ctx.peer.user, ctx.peer.home,
                                    std::vector<std::uint32_t>(ctx.peer.groups.begin(), ctx.peer.groups.end())};
  auto mounts = [&config](const policy::Submitter& who) { return policy::resolve_mounts(config.mounts, who); };
  auto catalogue = co_await ctx.daemon.catalogue.get();
  auto job = policy::build_job({config, *catalogue, ctx.daemon.gpus.total(), mounts}, submitter, request);
  if (!job && job.error().code == ErrorCode::ImageNotFound) {
    // Perhaps the image arrived since the catalogue was cached.
    catalogue = co_await ctx.daemon.catalogue.get(true);
    job = policy::build_job({config, *catalogue, ctx.daemon.gpus.total(), mounts}, submitter, request);
  }
  auto argv_for = [&config](const Job& j) { return backend::container_argv(config, j); };
  if (dry_run) {
    Job preview = job.value();
    if (preview.spec.name.empty()) preview.spec.name = "(assigned at submit)";
    preview.instance = ctx.daemon.store.instance();
    // The devices it would get if it started now (they are picked when it starts).
    const int gpus = preview.spec.resources.gpus;
    preview.gpu_devices = ctx.daemon.gpus.peek(gpus).value_or(std::vector<std::string>(static_cast<std::size_t>(gpus), "?"));
    preview.container = container_name(preview.instance, 0);
    preview.argv = argv_for(preview);
    co_return json{{"dry_run", true}, {"job", protocol::job_to_json(preview)}};
  }
  Job queued = ctx.daemon.store.insert(std::move(job.value()), argv_for);
  ctx.daemon.scheduler.schedule();
  co_return json{{"job", protocol::job_to_json(ctx.daemon.store.get(queued.id).value_or(queued))}};
}

} // namespace jobman::daemon::commands
