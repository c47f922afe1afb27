#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "common/size.hpp"
#include "common/when.hpp"

#include <fmt/format.h>
#include <iostream>
#include <pwd.h>

namespace jobman::cli::commands {

namespace {
TimePoint when_or_fail(const std::string& flag, const std::string& text) {
  auto at = parse_when(text, now_ms());
  if (!at)
    throw ClientError(ErrorCode::InvalidArgument,
                      fmt::format("{} '{}' is not a time; give a date (2026-11-01), a date and time (2026-11-01T08:30), "
                                  "a time ago (12h, 30d), now, or all",
                                  flag, text));
  return *at;
}

// The end states in the order jobman names them everywhere (JSON objects come sorted).
constexpr const char* k_end_states[] = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "OOM_KILLED", "LOST"};

std::string hours(const json& value) { return fmt::format("{:.2f}", value.get<double>()); }
std::string bytes_or_dash(const json& value) { return value.is_number() ? format_bytes(value.get<std::int64_t>()) : "-"; }

std::vector<std::string> row_of(const std::string& key, const json& group) {
  std::vector<std::string> row{key, std::to_string(group.at("jobs").get<std::int64_t>())};
  for (const char* state : k_end_states) row.push_back(std::to_string(group.at("states").value(state, std::int64_t{0})));
  row.push_back(hours(group.at("wall_hours")));
  row.push_back(hours(group.at("cpu_hours")));
  row.push_back(hours(group.at("cpu_hours_allocated")));
  row.push_back(hours(group.at("gpu_hours")));
  const json& peak = group.at("peak_memory");
  for (const char* p : {"p50", "p90", "p99", "max"}) row.push_back(bytes_or_dash(peak.at(p)));
  return row;
}
} // namespace

int stats(Client& client, const Global& global, const StatsOptions& options) {
  json args = json::object();
  if (!options.since.empty()) args["since"] = when_or_fail("--since", options.since);
  if (!options.until.empty()) args["until"] = when_or_fail("--until", options.until);
  if (!options.user.empty()) args["user"] = options.user;
  if (!options.by.empty()) args["by"] = options.by;
  json result = client.request("stats", args);
  if (printed_as_json(global, result)) return exit_code::ok;

  std::string whose = "all users";
  if (result.at("uid").is_number()) {
    const auto uid = result.at("uid").get<std::uint32_t>();
    const passwd* pw = ::getpwuid(uid);
    whose = pw ? fmt::format("user {}", pw->pw_name) : fmt::format("uid {}", uid);
  }
  const std::string by = result.value("by", "");
  std::cout << fmt::format("Jobs that ended from {} to {}, {}{}\n", format_time(result.at("since").get<TimePoint>()),
                           format_time(result.at("until").get<TimePoint>()), whose, by.empty() ? "" : ", by " + by);
  const json& total = result.at("total");
  if (total.at("jobs").get<std::int64_t>() == 0) {
    std::cout << "No jobs ended in that time.\n";
    return exit_code::ok;
  }
  Table table{{by.empty() ? "" : by, "JOBS"}, {}};
  for (auto& c : table.header[0]) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string state : k_end_states) table.header.push_back(state == "OOM_KILLED" ? "OOM" : state);
  for (const char* h : {"WALL-H", "CPU-H", "ALLOC CPU-H", "GPU-H", "MEM P50", "MEM P90", "MEM P99", "MEM MAX"}) table.header.push_back(h);
  for (const auto& group : result.at("groups"))
    if (!by.empty()) table.rows.push_back(row_of(group.at("key").get<std::string>(), group));
  table.rows.push_back(row_of("TOTAL", total));
  if (by.empty()) table.header[0] = "";
  table.print();
  const auto measured = total.at("peak_memory").at("measured_jobs").get<std::int64_t>();
  std::cout << fmt::format("CPU-H: CPU time used ({} of {} jobs measured); ALLOC CPU-H: the flavors' CPUs x wall time; "
                           "MEM: peak memory needed ({} jobs measured)\n",
                           total.at("cpu_measured_jobs").get<std::int64_t>(), total.at("jobs").get<std::int64_t>(), measured);
  return exit_code::ok;
}

} // namespace jobman::cli::commands
