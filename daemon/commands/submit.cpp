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
  const bool dry_run = ctx.args.optional_bool("dry_run");
  ctx.args.finish();
  if (ctx.daemon.scheduler.is_shutting_down()) throw Error(ErrorCode::Unavailable, "jobmand is shutting down; submit again in a moment");

  const policy::Submitter submitter{ctx.peer.uid, ctx.peer.gid, ctx.peer.user};
  auto catalogue = co_await ctx.daemon.catalogue.get();
  auto job = policy::build_job(*catalogue, submitter, request);
  if (!job && job.error().code == ErrorCode::ImageNotFound) {
    // Perhaps the image arrived since the catalogue was cached.
    catalogue = co_await ctx.daemon.catalogue.get(true);
    job = policy::build_job(*catalogue, submitter, request);
  }
  const Config& config = ctx.daemon.config;
  auto argv_for = [&config](const Job& j) { return backend::container_argv(config, j); };
  if (dry_run) {
    Job preview = job.value();
    if (preview.spec.name.empty()) preview.spec.name = "(assigned at submit)";
    preview.instance = ctx.daemon.store.instance();
    preview.container = container_name(preview.instance, 0);
    preview.argv = argv_for(preview);
    co_return json{{"dry_run", true}, {"job", protocol::job_to_json(preview)}};
  }
  Job queued = ctx.daemon.store.insert(std::move(job.value()), argv_for);
  ctx.daemon.scheduler.schedule();
  co_return json{{"job", protocol::job_to_json(ctx.daemon.store.get(queued.id).value_or(queued))}};
}

} // namespace jobman::daemon::commands
