#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"

namespace jobman::daemon::commands {

namespace {
// A whole array: until every listed element has ended, an event each time how many have
// ended changes; the reply counts them by state and names those that did not succeed.
asio::awaitable<json> wait_array(CommandContext& ctx, JobId array) {
  std::optional<int> reported;
  // At function scope: they live across suspensions (GCC 12, see local_backend.cpp).
  json event;
  std::vector<Job> elements;
  store::ArraySummary summary;
  for (;;) {
    elements = ctx.daemon.store.array_elements(array, true);
    int ended = 0;
    std::optional<JobId> next; // the first element still active: its change wakes us
    for (const auto& e : elements) {
      if (is_terminal(e.state)) ++ended;
      else if (!next) next = e.id;
    }
    summary = ctx.daemon.store.array_summaries({array}).at(array);
    if (reported != ended) {
      event = {{"array", array}, {"ended", ended}, {"listed", elements.size()}, {"states", states_json(summary)}};
      co_await ctx.emit(event);
      reported = ended;
    }
    if (!next) {
      json failed = json::array();
      for (const auto& e : elements)
        if (e.state != JobState::Succeeded && failed.size() < 100) failed.push_back({{"id", e.id}, {"index", e.array->index}, {"state", to_string(e.state)}});
      co_return json{{"array", {{"id", array}, {"listed", elements.size()}, {"states", states_json(summary)}}}, {"not_succeeded", failed}};
    }
    // Woken by the first active element's change, or in 2 s: the others' ends count too.
    co_await ctx.daemon.watch.changed(*next, std::chrono::seconds(2));
  }
}

// One job: an event per state seen, until it has ended.
asio::awaitable<json> wait_one(CommandContext& ctx, Job job) {
  std::optional<JobState> reported;
  for (;;) {
    if (reported != job.state) {
      const json event = {{"state", to_string(job.state)}, {"reason", job.reason}};
      co_await ctx.emit(event);
      reported = job.state;
    }
    if (is_terminal(job.state)) break;
    co_await ctx.daemon.watch.changed(job.id, std::chrono::seconds(30));
    job = ctx.daemon.store.get(job.id).value_or(job);
  }
  co_return json{{"job", protocol::job_to_json(job)}};
}
} // namespace

asio::awaitable<json> wait(CommandContext& ctx) {
  const std::string reference = ctx.args.required_string("job");
  ctx.args.finish(); // an unknown argument is refused before any lookup
  Targets found = find_targets(ctx.daemon.store, ctx.peer, reference);
  // One awaitable at function scope, whichever it is (no co_await in a skipped branch: GCC 12).
  asio::awaitable<json> waiting = found.array ? wait_array(ctx, *found.array) : wait_one(ctx, std::move(found.jobs.front()));
  co_return co_await std::move(waiting);
}

} // namespace jobman::daemon::commands
