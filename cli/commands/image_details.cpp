#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "common/size.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iostream>

namespace jobman::cli::commands {

int image_details(Client& client, const Global& global, const std::string& image) {
  json result = client.request("image_details", {{"image", image}});
  if (printed_as_json(global, result)) return exit_code::ok;
  auto list = [&](const char* key) { return fmt::format("{}", fmt::join(result.value(key, std::vector<std::string>{}), " ")); };
  std::cout << fmt::format("Name:        {}\nVersion:     {}\nReference:   {}\nId:          {}\nCreated:     {}\nSize:        {}\n"
                           "Entrypoint:  {}\nCmd:         {}\nUser:        {}\nTags:        {}\nDigests:     {}\n",
                           result.value("name", ""), result.value("version", ""), result.value("reference", ""), result.value("id", ""),
                           result.value("created", ""), format_bytes(result.value("size", std::int64_t{0})), list("entrypoint"),
                           list("cmd"), result.value("user", std::string{}).empty() ? "(image default: root; jobman runs jobs as you)" : result.value("user", ""),
                           list("repo_tags"), list("digests"));
  const json labels = result.value("labels", json::object());
  // What CHAIMELEON's images say about themselves, shown first when they say it.
  for (const char* key : {"description", "usage", "license"})
    if (auto it = labels.find(key); it != labels.end() && it->is_string()) {
      std::string title = key;
      title[0] = static_cast<char>(title[0] - 'a' + 'A');
      std::cout << fmt::format("{:<13}{}\n", title + ":", it->get<std::string>());
    }
  std::cout << "Labels:\n";
  for (const auto& [key, value] : labels.items())
    std::cout << "  " << key << "=" << value.get<std::string>() << "\n";
  return exit_code::ok;
}

} // namespace jobman::cli::commands
