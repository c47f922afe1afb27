#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "common/size.hpp"

#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

int cleanup(Client& client, const Global& global, const std::string& older_than, bool dry_run) {
  json args = json::object();
  if (!older_than.empty()) args["older_than"] = older_than;
  if (dry_run) args["dry_run"] = true;
  json result = client.request("cleanup", args);
  if (printed_as_json(global, result)) return exit_code::ok;
  const char* verb = dry_run ? "Would remove" : "Removed";
  std::cout << fmt::format("{} {} leftover container(s), {} finished job(s) older than {} days with {} log file(s); {} {}\n", verb,
                           result.at("containers_removed").size(), result.value("jobs_removed", 0), result.value("older_than", 0) / 86400,
                           result.value("logs_removed", 0), format_bytes(result.value("bytes_freed", std::int64_t{0})),
                           dry_run ? "would be freed" : "freed");
  return exit_code::ok;
}

} // namespace jobman::cli::commands
