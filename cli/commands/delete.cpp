#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

int remove(Client& client, const Global& global, const std::string& job, bool all) {
  json args = json::object();
  if (all) args["all"] = true;
  else args["job"] = job;
  json result = client.request("delete", args);
  if (printed_as_json(global, result)) return exit_code::ok;
  for (const auto& item : result.at("deleted")) {
    bool active = item.value("was", "") == "QUEUED" || item.value("was", "") == "STARTING" || item.value("was", "") == "RUNNING";
    std::cout << fmt::format("Deleted job {} ({}){}\n", item.value("id", 0), item.value("name", ""), active ? ", cancelling it" : "");
  }
  if (result.at("deleted").empty()) std::cout << "No jobs to delete\n";
  return exit_code::ok;
}

} // namespace jobman::cli::commands
