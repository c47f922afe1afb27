#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "common/duration.hpp"
#include "common/size.hpp"

#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

int resources_flavors(Client& client, const Global& global) {
  json result = client.request("resources_flavors", json::object());
  if (printed_as_json(global, result)) return exit_code::ok;
  Table table{{"NAME", "CPUS", "MEMORY", "SHM", "GPUS", "MAX TIME", "SLOTS", "DESCRIPTION"}, {}};
  for (const auto& f : result.at("flavors"))
    table.rows.push_back({f.value("name", "") + (f.value("default", false) ? " (default)" : ""), fmt::format("{:g}", f.value("cpus", 0.0)),
                          format_size(f.value("memory", std::int64_t{0})), format_size(f.value("shm", std::int64_t{0})),
                          std::to_string(f.value("gpus", 0)), format_duration(std::chrono::seconds(f.value("max_time", std::int64_t{0}))),
                          slots_used(f.value("running", 0), f.value("slots", 0)), f.value("description", "")});
  table.print();
  const json gpus = result.value("gpus", json::object());
  std::cout << fmt::format("\nDefault time limit: {} (capped by the flavor's max time). GPUs: {} free of {}.\n",
                           format_duration(std::chrono::seconds(result.value("default_time", std::int64_t{0}))), gpus.value("free", 0),
                           gpus.value("total", 0));
  return exit_code::ok;
}

} // namespace jobman::cli::commands
