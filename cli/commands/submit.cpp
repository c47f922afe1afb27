#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

int submit(Client& client, const Global& global, const SubmitOptions& options) {
  json args = {{"image", options.image}, {"args", options.args}, {"env", options.env}};
  if (!options.name.empty()) args["name"] = options.name;
  if (options.replace_entrypoint) args["replace_entrypoint"] = true;
  if (options.dry_run) args["dry_run"] = true;
  json result = client.request("submit", args);
  Job job = protocol::job_from_json(result.at("job"));
  if (options.dry_run) {
    if (global.json) {
      print_json(result);
    } else {
      std::cout << fmt::format("Dry run: job would run image {} ({}) as {} ({}:{}).\nEngine command:\n", job.spec.image,
                               job.spec.image_id, job.user, job.uid, job.gid);
      for (const auto& word : job.argv) std::cout << "  " << word << "\n";
    }
    return exit_code::ok;
  }
  if (global.json && !options.wait) {
    print_json(result);
    return exit_code::ok;
  }
  if (!global.json) std::cout << fmt::format("Submitted job {} ({}) with image {}\n", job.id, job.spec.name, job.spec.image);
  if (!options.wait) return exit_code::ok;
  return wait_for(client, global, std::to_string(job.id));
}

} // namespace jobman::cli::commands
