#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

int queue(Client& client, const Global& global) {
  json result = client.request("queue", json::object());
  if (printed_as_json(global, result)) return exit_code::ok;
  std::cout << fmt::format("{} running of {} slots, {} queued; GPUs {} free of {}\n\n", result.value("running", 0),
                           result.value("max_running", 0), result.value("queued", 0), result.at("gpus").value("free", 0),
                           result.at("gpus").value("total", 0));
  Table flavors{{"FLAVOR", "SLOTS", "RUNNING", "QUEUED", "YOURS RUNNING", "YOURS QUEUED"}, {}};
  for (const auto& f : result.at("flavors"))
    flavors.rows.push_back({f.value("flavor", ""), slots_used(f.value("running", 0), f.value("slots", 0)), std::to_string(f.value("running", 0)),
                            std::to_string(f.value("queued", 0)), std::to_string(f.value("yours_running", 0)),
                            std::to_string(f.value("yours_queued", 0))});
  flavors.print();
  if (result.at("yours").empty()) return exit_code::ok;
  std::cout << "\nYour queued jobs:\n";
  Table yours{{"POSITION", "ID", "NAME", "FLAVOR", "WAITS FOR"}, {}};
  for (const auto& j : result.at("yours")) {
    std::string detail = j.value("detail", "");
    std::string name = j.value("name", "");
    if (j.contains("array") && j["array"].is_object()) // an array's queued jobs, one row: what the next of them waits for
      name += fmt::format(" ({} queued)", j["array"].value("queued", 0));
    yours.rows.push_back({std::to_string(j.value("position", 0)), std::to_string(j.value("id", 0)), name, j.value("flavor", ""),
                          detail.empty() ? j.value("waits_for", "") : j.value("waits_for", "") + ": " + detail});
  }
  yours.print();
  return exit_code::ok;
}

} // namespace jobman::cli::commands
