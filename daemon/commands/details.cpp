#include "common/array_spec.hpp"
#include "daemon/commands/command.hpp"

#include "common/platform_env.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"
#include "daemon/logs/log_file.hpp"
#include "daemon/policy/usage_report.hpp"

namespace jobman::daemon::commands {

namespace {
// A whole array: its size, limit, states and elements (the first 1000), and its first
// element's job object (the spec they share, but for {index}).
json array_details(CommandContext& ctx, const Targets& found) {
  const Job& first = found.jobs.front();
  const auto summaries = ctx.daemon.store.array_summaries({*found.array});
  const store::ArraySummary& s = summaries.at(*found.array);
  json elements = json::array();
  for (std::size_t i = 0; i < found.jobs.size() && i < 1000; ++i) {
    const Job& e = found.jobs[i];
    elements.push_back({{"id", e.id}, {"index", e.array->index}, {"state", to_string(e.state)},
                        {"exit_code", e.exit_code ? json(*e.exit_code) : json(nullptr)}, {"held", e.held}});
  }
  return json{{"job", protocol::job_to_json(first)},
              {"array", {{"id", *found.array}, {"name", array_name(first.spec.name)}, {"count", first.array->count},
                         {"limit", first.array->limit}, {"listed", s.listed}, {"indices", format_indices(s.indices)}, {"states", states_json(s)},
                         {"elements", elements}}}};
}
} // namespace

asio::awaitable<json> details(CommandContext& ctx) {
  const std::string reference = ctx.args.required_string("job");
  ctx.args.finish(); // an unknown argument is refused before any lookup
  Targets found = find_targets(ctx.daemon.store, ctx.peer, reference);
  if (found.array) co_return array_details(ctx, found);
  Job job = std::move(found.jobs.front());
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
