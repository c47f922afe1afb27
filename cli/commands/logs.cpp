#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <iostream>

namespace jobman::cli::commands {

int logs(Client& client, const Global& global, const LogsOptions& options) {
  json args = {{"job", options.job}};
  if (options.follow) args["follow"] = true;
  if (options.tail > 0) args["tail"] = options.tail;
  // The job's output as it wrote it, like cat(1): escapes included.
  client.escape_text(false);
  std::string collected;
  json result = client.request("logs", args, [&](const json& event) {
    const std::string data = event.value("data", std::string{});
    if (global.json) {
      collected += data;
    } else {
      std::cout << data << std::flush;
    }
  });
  if (global.json) {
    result["log"] = collected;
    print_json(result);
  }
  return exit_code::ok;
}

} // namespace jobman::cli::commands
