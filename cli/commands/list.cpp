#include "common/array_spec.hpp"
#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

int list(Client& client, const Global& global, const ListOptions& options) {
  json args = {{"limit", options.limit}};
  if (options.all_users) args["all_users"] = true;
  if (!options.state.empty()) args["state"] = options.state;
  if (options.before > 0) args["before"] = options.before;
  if (!options.array.empty()) args["array"] = options.array;
  // The table needs a few fields of each job; --json prints them all.
  if (!global.json) args["view"] = "table";
  json result = client.request("list", args);
  if (printed_as_json(global, result)) return exit_code::ok;
  Table table{{"ID", "NAME", "IMAGE", "FLAVOR", "STATE", "EXIT", "SUBMITTED", "RUNTIME"}, {}};
  if (options.all_users) table.header.insert(table.header.begin() + 2, "USER");
  for (const auto& item : result.at("jobs")) {
    Job job = protocol::job_from_json(item);
    std::string state = paint_state(job.state) + (job.held && job.state == JobState::Queued ? " (held)" : "");
    std::string name = job.spec.name, exit = job.exit_code ? std::to_string(*job.exit_code) : "-";
    if (item.contains("array_summary") && item["array_summary"].is_object() && job.array) {
      // An array, one row: NAME[indices], its jobs' states, from its first start to its last end.
      const json& s = item["array_summary"];
      name = fmt::format("{}[{}]", array_name(name), s.value("indices", "")) +
             (job.array->limit > 0 ? fmt::format("%{}", job.array->limit) : "");
      state = format_array_states(s.value("states", json::object()));
      exit = "-";
      job.started_at = s.contains("first_started") && s["first_started"].is_number_integer() ? std::optional<TimePoint>(s["first_started"].get<TimePoint>()) : std::nullopt;
      job.ended_at = s.contains("last_ended") && s["last_ended"].is_number_integer() ? std::optional<TimePoint>(s["last_ended"].get<TimePoint>()) : std::nullopt;
    }
    std::vector<std::string> row{std::to_string(job.id), name, job.spec.image, job.spec.flavor, state,
                                 exit, format_time(job.submitted_at), format_elapsed(job)};
    if (options.all_users) row.insert(row.begin() + 2, job.user);
    table.rows.push_back(std::move(row));
  }
  table.print();
  // jobmand stopped early (its reply size cap) or there may be more: say how to go on.
  if (result.contains("next_before") && result.at("jobs").size() < static_cast<std::size_t>(options.limit))
    std::cerr << fmt::format("jobman: {} jobs shown (jobmand's reply size limit); older ones: jobman list --before {}\n",
                             result.at("jobs").size(), result.at("next_before").get<std::int64_t>());
  return exit_code::ok;
}

} // namespace jobman::cli::commands
