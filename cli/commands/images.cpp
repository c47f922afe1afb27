#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace jobman::cli::commands {

int images(Client& client, const Global& global) {
  json result = client.request("images", json::object());
  if (printed_as_json(global, result)) return exit_code::ok;
  Table table{{"NAME", "VERSIONS", "TAGS", "DESCRIPTION"}, {}};
  for (const auto& image : result.at("images")) {
    std::vector<std::string> tags;
    const json tag_map = image.value("tags", json::object()); // named: items() refers to it
    for (const auto& [tag, version] : tag_map.items())
      if (version.is_string()) tags.push_back(fmt::format("{}={}", tag, version.get<std::string>()));
    table.rows.push_back({image.at("name").get<std::string>(),
                          fmt::format("{}", fmt::join(image.at("versions").get<std::vector<std::string>>(), ", ")),
                          tags.empty() ? "-" : fmt::format("{}", fmt::join(tags, ", ")), image.value("description", std::string{})});
  }
  table.print();
  return exit_code::ok;
}

} // namespace jobman::cli::commands
