#include "common/array_spec.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"

#include <fmt/format.h>
#include <limits>

namespace jobman::daemon::commands {

namespace {
// A list reply stops growing past this many bytes of jobs (issue 9, V4: 200 jobs with
// 256 KiB of args each made a 105 MB reply, built on the daemon's thread and held in
// memory for every client that did not read it). The rest is a `before` page away.
constexpr std::size_t k_max_list_bytes = 4 << 20;

json summary_json(const store::ArraySummary& s) {
  return json{{"listed", s.listed},
              {"indices", format_indices(s.indices)},
              {"states", states_json(s)},
              {"first_started", s.first_started ? json(*s.first_started) : json(nullptr)},
              {"last_ended", s.last_ended ? json(*s.last_ended) : json(nullptr)}};
}
} // namespace

asio::awaitable<json> list(CommandContext& ctx) {
  const bool all_users = ctx.args.optional_bool("all_users");
  const std::string state = ctx.args.optional_string("state");
  store::ListFilter filter;
  filter.limit = static_cast<int>(ctx.args.optional_int("limit", 50, 1, 10000));
  if (auto before = ctx.args.optional_int("before", 0, 0, std::numeric_limits<std::int64_t>::max()); before > 0) filter.before = before;
  // "full": every field of each job (--json); "table": what the table shows (issue 12,
  // item 9: 50 full jobs were ~118 KB for a 7-column table).
  const std::string view = ctx.args.optional_string("view", "full");
  const std::string array = ctx.args.optional_string("array");
  ctx.args.finish();
  if (view != "full" && view != "table")
    throw Error(ErrorCode::InvalidArgument, fmt::format("unknown view '{}'; one of full, table", view));
  filter.summary = view == "table";
  if (all_users && !ctx.peer.admin)
    throw Error(ErrorCode::PermissionDenied, "--all-users is for root and the admin group; without it you see your own jobs");
  if (!all_users) filter.uid = ctx.peer.uid;
  if (!state.empty()) {
    filter.state = job_state_from_string(state);
    if (!filter.state)
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("unknown state '{}'; one of QUEUED, STARTING, RUNNING, SUCCEEDED, FAILED, CANCELLED, TIMEOUT, OOM_KILLED, LOST", state));
  }
  if (!array.empty()) {
    // One array's elements, each a row (an admin's: anyone's array).
    Targets found = find_targets(ctx.daemon.store, ctx.peer, array);
    if (!found.array) throw Error(ErrorCode::InvalidArgument, fmt::format("--array {}: job {} is not an array", array, found.jobs.front().id));
    filter.array = *found.array;
    filter.uid.reset();
  }
  // Arrays as one row each, unless a state or an array is asked for (then each element).
  filter.group_arrays = state.empty() && array.empty();
  const auto listed = ctx.daemon.store.list(filter);
  std::map<JobId, store::ArraySummary> summaries;
  if (filter.group_arrays) {
    std::vector<JobId> arrays;
    for (const auto& job : listed)
      if (job.array) arrays.push_back(job.array->id);
    summaries = ctx.daemon.store.array_summaries(arrays);
  }
  json jobs = json::array();
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < listed.size(); ++i) {
    json item = filter.summary ? protocol::job_to_row_json(listed[i]) : protocol::job_to_json(listed[i]);
    if (!filter.summary) item.erase("argv"); // `details` has it; it repeats args and env
    if (listed[i].array && filter.group_arrays) item["array_summary"] = summary_json(summaries[listed[i].array->id]);
    bytes += item.dump(-1, ' ', false, json::error_handler_t::replace).size();
    if (bytes > k_max_list_bytes && !jobs.empty()) {
      co_return json{{"jobs", std::move(jobs)}, {"next_before", listed[i - 1].id}};
    }
    jobs.push_back(std::move(item));
  }
  json result{{"jobs", std::move(jobs)}};
  if (static_cast<int>(listed.size()) == filter.limit && !listed.empty()) result["next_before"] = listed.back().id;
  co_return result;
}

} // namespace jobman::daemon::commands
