#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

int hold(Client& client, const Global& global, const std::string& job, bool held) {
  json result = client.request(held ? "hold" : "release", {{"job", job}});
  if (printed_as_json(global, result)) return exit_code::ok;
  if (result.contains("array")) {
    std::cout << fmt::format("Array {}: {} {} of its {} queued jobs\n", result.value("array", JobId{0}), held ? "held" : "released",
                             result.value("changed", 0), result.value("queued", 0));
    return exit_code::ok;
  }
  const Job got = protocol::job_from_json(result.at("job"));
  if (!result.value("changed", true))
    std::cout << fmt::format("Job {} ({}) was already {}\n", got.id, got.spec.name, held ? "held" : "released");
  else
    std::cout << fmt::format("Job {} ({}) {}\n", got.id, got.spec.name,
                             held ? "held: it stays queued until `jobman release`" : "released: it starts in its turn");
  return exit_code::ok;
}

} // namespace jobman::cli::commands
