#include "cli/commands/commands.hpp"

#include <iostream>

namespace jobman::cli::commands {

int complete(Client& client, const std::string& what) {
  try {
    if (what == "images") {
      json result = client.request("images", {{"refresh", false}}); // the cached catalogue: completion must be quick
      for (const auto& image : result.at("images")) {
        const std::string name = image.at("name").get<std::string>();
        std::cout << name << "\n";
        for (const auto& version : image.at("versions")) std::cout << name << ":" << version.get<std::string>() << "\n";
        const json tags = image.value("tags", json::object()); // named: items() refers to it
        for (const auto& [tag, version] : tags.items()) std::cout << name << ":" << tag << "\n";
      }
    } else if (what == "jobs") {
      json result = client.request("list", {{"limit", 200}, {"view", "table"}});
      for (const auto& job : result.at("jobs")) std::cout << job.at("name").get<std::string>() << "\n";
    } else if (what == "flavors") {
      json result = client.request("resources_flavors", json::object());
      for (const auto& flavor : result.at("flavors")) std::cout << flavor.at("name").get<std::string>() << "\n";
    } else if (what == "states") {
      for (const char* s : {"QUEUED", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "OOM_KILLED", "LOST"})
        std::cout << s << "\n";
    }
  } catch (const std::exception&) {
    // Completion must never print errors into the user's command line.
  }
  return exit_code::ok;
}

} // namespace jobman::cli::commands
