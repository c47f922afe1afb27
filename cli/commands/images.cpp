#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace jobman::cli::commands {

int images(Client& client, const Global& global) {
  json result = client.request("images", json::object());
  if (printed_as_json(global, result)) return exit_code::ok;
  Table table{{"NAME", "VERSIONS", "DESCRIPTION"}, {}};
  for (const auto& image : result.at("images"))
    table.rows.push_back({image.at("name").get<std::string>(),
                          fmt::format("{}", fmt::join(image.at("versions").get<std::vector<std::string>>(), ", ")),
                          image.value("description", std::string{})});
  table.print();
  return exit_code::ok;
}

} // namespace jobman::cli::commands
